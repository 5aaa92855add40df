"""Claims of the README's and docs' "how it works" sections that no other test proved.

docs/claims.md maps every such claim to the test that fails when it is false.
"""

from __future__ import annotations

import pathlib
import re

import numpy as np
import pytest

import tfshare
from tfshare import validation
from tfshare._tf import tf


def _counting(monkeypatch, module, name):
    calls = []
    real = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(args[1:] if name == "labels" else args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


@pytest.mark.parametrize("kind", ["graph", "eager"])
def test_fit_validates_its_data_once_per_call(monkeypatch, rng, kind):
    # README, "Training ... validates once per fit": not once per epoch or batch.
    make = tfshare.DenseClassifier if kind == "graph" else tfshare.EagerDenseClassifier
    x, y = rng.random((100, 6), dtype=np.float32), rng.integers(0, 3, 100)
    with make(6, 3, (4,), seed=0) as clf:
        clf.fit(x[:8], y[:8])  # the first fit builds what it needs
        inputs, labels = _counting(monkeypatch, validation, "inputs"), _counting(monkeypatch, validation, "labels")
        clf.fit(x, y, epochs=3, batch_size=10)  # 30 steps
    assert inputs == [(6,)] and len(labels) == 1


def test_all_pending_variables_are_initialized_in_one_session_call(runtime, monkeypatch, rng):
    # README, "Construction: all pending variables are initialized in one run".
    trunk = tfshare.SharedTrunk(runtime, 6, (5,), seed=0)
    classifiers = [tfshare.DenseClassifier(6, 3, (4,), runtime=runtime, seed=i) for i in range(3)]
    classifiers += [tfshare.DenseClassifier(trunk=trunk, num_classes=3, seed=10 + i) for i in range(2)]
    session = runtime.session
    runs = []  # the sorted names of the ops each Session call ran as targets, by either way of calling
    real_run, real_make = session.run, session._make_callable_from_options

    def run(fetches, *args, **kwargs):
        runs.append(sorted(op.name for op in fetches if isinstance(op, tf.Operation)))
        return real_run(fetches, *args, **kwargs)

    def make(options, *args, **kwargs):
        fn = real_make(options, *args, **kwargs)
        return lambda *values: (runs.append(sorted(options.target)), fn(*values))[1]

    monkeypatch.setattr(session, "run", run)
    monkeypatch.setattr(session, "_make_callable_from_options", make)
    variables = runtime.global_variables()
    assert len(variables) == 3 * 4 + 2 + 2 * 2 and runtime.pending_variables() == variables
    classifiers[-1].predict_proba(rng.random((2, 6), dtype=np.float32))  # the first call of any of them
    initializing = [targets for targets in runs if targets]
    assert len(initializing) == 1, f"{len(initializing)} Session calls initialized the variables"
    assert initializing[0] == sorted(v.initializer.name for v in variables)
    assert runtime.pending_variables() == [] and runtime.initialize() == 0
    # A classifier added later is initialized alone, in one more call, and nothing else is re-initialized.
    before = [c.get_weights() for c in classifiers]
    late = tfshare.DenseClassifier(6, 3, (4,), runtime=runtime, seed=7)
    runs.clear()
    assert runtime.initialize() == 4 and len(runs) == 1
    assert runs[0] == sorted(v.initializer.name for v in late.variables)
    assert all(all(np.array_equal(w[k], c.get_weights()[k]) for k in w) for c, w in zip(classifiers, before))


def test_probabilities_are_exp_of_log_softmax_never_the_softmax_op(runtime):
    # README: "probabilities are exp(log_softmax(logits))" (oneDNN rewrites Softmax, not LogSoftmax).
    trunk = tfshare.SharedTrunk(runtime, 6, (5,), seed=0)
    heads = [tfshare.DenseClassifier(trunk=trunk, num_classes=3, name=f"h{i}", seed=i) for i in range(2)]
    plain = tfshare.DenseClassifier(6, 3, (4,), runtime=runtime, seed=3)
    for clf in heads + [plain]:
        assert clf.probabilities_tensor.op.type == "Exp"
        assert clf.probabilities_tensor.op.inputs[0].op.type == "LogSoftmax"
    tfshare.predict_many(heads + [plain], np.zeros((2, 6), np.float32))  # the fused ops too
    assert "Softmax" not in {op.type for op in runtime.graph.get_operations()}


def test_checkpoint_files_are_fsynced_before_they_are_renamed_into_place(tmp_path, monkeypatch):
    # docs/reliability.md: "tfshare fsyncs its own files" (the sidecar; save_runtime's whole file).
    import os

    synced, renamed = [], []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (renamed.append((str(a), str(b))), real_replace(a, b))[1])
    with tfshare.DenseClassifier(6, 3, (4,), name="c", seed=0) as clf:
        prefix = clf.save(tmp_path / "ckpt")
        tfshare.save_runtime([clf], tmp_path / "all.npz")
    assert [b for _, b in renamed] == [prefix + ".tfshare.json", str(tmp_path / "all.npz")]
    assert [s for s in synced] == [a for a, _ in renamed]  # each temporary file, synced before its rename


def test_fit_feeds_contiguous_views_of_one_shuffled_copy_per_epoch(runtime, monkeypatch, rng):
    # README: "Training feeds contiguous views of one shuffled copy per epoch".
    clf = tfshare.DenseClassifier(6, 3, (4,), runtime=runtime, seed=0)
    x, y = rng.random((50, 6), dtype=np.float32), rng.integers(0, 3, 50)
    fed = []
    real_callable = runtime.callable

    def spying_callable(fetches, feeds=(), targets=(), read_only=False):
        made = real_callable(fetches, feeds, targets, read_only)
        if not targets:
            return made
        raw = made.unwrap()

        class Spy:
            def unwrap(self):
                return lambda xb, yb, lr: (fed.append((xb, yb)), raw(xb, yb, lr))[1]

        return Spy()

    monkeypatch.setattr(runtime, "callable", spying_callable)
    clf.fit(x, y, epochs=2, batch_size=16)
    assert [len(xb) for xb, _ in fed] == [16, 16, 16, 2] * 2
    for epoch in (fed[:4], fed[4:]):
        bases = {id(xb.base) for xb, _ in epoch}
        assert len(bases) == 1 and all(xb.flags.c_contiguous and xb.base is not x for xb, _ in epoch)
        rows = np.concatenate([xb for xb, _ in epoch])
        order = [int(np.flatnonzero((x == row).all(axis=1))[0]) for row in rows]
        assert sorted(order) == list(range(50)) and order != list(range(50))  # a permutation, not the order given
        np.testing.assert_array_equal(np.concatenate([yb for _, yb in epoch]), y[order])  # labels travel with rows
    assert fed[0][0].base is not fed[4][0].base  # a new copy each epoch


def test_every_test_docs_claims_md_names_exists():
    """A claim whose test was renamed or removed would be proved by nothing: each name must be a test."""
    tests = pathlib.Path(__file__).parent
    text = (tests.parent / "docs" / "claims.md").read_text()
    named = 0
    for row in (line for line in text.splitlines() if line.startswith("| ") and "`" in line):
        current = None
        for ref in re.findall(r"`([^`]*(?:\.py|::)[^`]*)`", row.split("|")[3] if row.count("|") > 3 else ""):
            file, _, name = ref.partition("::")
            current = file or current
            source = (tests / current).read_text()
            if name:
                assert re.search(rf"^def {re.escape(name.split('[')[0])}\(", source, re.M), f"{ref} in: {row[:80]}"
            named += 1
    assert named > 50
