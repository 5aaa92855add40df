"""Checkpoints under faults: kills mid-save, mismatches, corruption, rotation, creation order."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

import tfshare
from tfshare import checkpoints
from tfshare._tf import tf, tf1
from tfshare.drills import crash


def _weights(clf):
    return [np.array(v) for v in clf.runtime.run(clf.variables)]


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b))


@pytest.fixture
def trained(runtime, rng):
    clf = tfshare.DenseClassifier(16, 3, (8,), runtime=runtime, name="clf", seed=0)
    x = rng.random((64, 16), dtype=np.float32)
    clf.fit(x, rng.integers(0, 3, 64), epochs=2, batch_size=16)
    return clf


@pytest.mark.slow
def test_kill_mid_save_leaves_the_last_complete_checkpoint(tmp_path):
    # Real child processes, SIGKILLed at random moments while saving in a loop.
    for figures in crash.crash_drill(runs=3, workdir=str(tmp_path), seed=7):
        assert figures.model == "mlp"
        assert figures.runs == 3
        assert figures.saves >= 3
        assert figures.losses == 0, figures
        assert figures.restored == 3
        assert figures.predictions_restored == 3
        assert figures.statistics == 0
        # Each save removes the temporaries of killed writers; only the last kill's may remain.
        assert figures.leftover_files <= 2


@pytest.mark.slow
@pytest.mark.parametrize("runs, error, match", [
    (0, tfshare.InputError, "runs must be an int >= 1, got 0"),
    ("3", TypeError, "runs must be an int >= 1, got str '3'"),
], ids=["zero", "str"])
def test_crash_drill_checks_runs_before_starting(tmp_path, runs, error, match):
    with pytest.raises(error, match=match):
        crash.crash_drill(runs=runs, workdir=str(tmp_path / "wd"))
    assert not (tmp_path / "wd").exists()  # nothing was created


def test_kill_mid_save_of_a_cnn_keeps_its_batchnorm_statistics(tmp_path):
    # The children train a ConvClassifier, so every checkpoint holds moving statistics that fit moved.
    save, bundle = crash.crash_drill(runs=2, workdir=str(tmp_path), seed=3, model="cnn")
    assert save.target == "ConvClassifier.save" and bundle.target == "save_runtime"
    for figures in (save, bundle):
        assert figures.model == "cnn"
        assert figures.losses == 0, figures
        assert figures.restored == 2
        assert figures.statistics == 4  # two BatchNorm layers: moving mean and variance each
        assert figures.statistics_restored == 2
        assert figures.predictions_restored == 2
        assert figures.passed


@pytest.mark.parametrize("how", ["save", "save_runtime"])
def test_cnn_checkpoints_hold_the_batchnorm_statistics_fit_moved(tmp_path, rng, how):
    x = rng.random((32, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 3, 32)
    small = dict(input_shape=(28, 28, 1), num_classes=3, filters=(4,))
    with tfshare.ConvClassifier(**small, name="cnn", seed=0) as clf:
        clf.fit(x, y, epochs=2, batch_size=16)
        saved, expected = clf.get_weights(), clf.predict_proba(x)
        assert np.abs(saved["bn_0/moving_mean"]).max() > 0
        path = clf.save(tmp_path) if how == "save" else tfshare.save_runtime([clf], tmp_path / "r.npz")
        clf.fit(x, y, epochs=1, batch_size=16)  # moves them again, away from the checkpoint
        assert not np.array_equal(clf.get_weights()["bn_0/moving_mean"], saved["bn_0/moving_mean"])
        for target in (clf, tfshare.ConvClassifier(**small, name="cnn", seed=9)):
            if how == "save":
                target.restore(path)
            else:
                tfshare.restore_runtime([target], path)
            restored = target.get_weights()
            for key in ("bn_0/moving_mean", "bn_0/moving_variance"):
                np.testing.assert_array_equal(restored[key], saved[key])
            assert all(np.array_equal(restored[k], saved[k]) for k in saved)
            np.testing.assert_array_equal(target.predict_proba(x), expected)
            if target is not clf:
                target.close()


def test_save_removes_temporaries_of_killed_writers(trained, tmp_path):
    trained.save(tmp_path)
    orphans = ["checkpoint.tmp0123abcd", "ckpt-2.data-00000-of-00001.tempstate42", ".tmp-xyz.tfshare.tmp"]
    for name in orphans:
        (tmp_path / name).write_bytes(b"partial")
    trained.save(tmp_path)
    left = set(os.listdir(tmp_path))
    assert not left & set(orphans)
    assert {"ckpt-1.index", "ckpt-2.index", "ckpt-2.tfshare.json"} <= left


def test_save_leaves_other_programs_temporaries_and_folders_alone(trained, tmp_path):
    # A killed export leaves a folder ".tmp-<pid>-<hex>-<name>/"; another program may write ".tmp-*" files.
    folder = tmp_path / ".tmp-4242-0123abcd-model"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"partial")
    (tmp_path / ".tmp-notes").write_bytes(b"theirs")
    (tmp_path / "model.ckpt-1.index.tempstate7").write_bytes(b"theirs")
    assert os.path.basename(trained.save(tmp_path)) == "ckpt-1"
    assert os.path.basename(trained.save(tmp_path)) == "ckpt-2"
    assert os.listdir(folder) == ["saved_model.pb"]
    assert {".tmp-notes", "model.ckpt-1.index.tempstate7"} <= set(os.listdir(tmp_path))


def test_saving_to_another_directory_never_deletes_checkpoints_here(trained, tmp_path):
    first, other = tmp_path / "best", tmp_path / "latest"
    trained.save(first)
    kept = _weights(trained)
    for _ in range(5):  # more than the 3 checkpoints a directory keeps
        trained.save(other)
    assert sorted(p for p in os.listdir(first) if p.endswith(".index")) == ["ckpt-1.index"]
    assert sorted(p for p in os.listdir(other) if p.endswith(".index")) == [
        "ckpt-3.index", "ckpt-4.index", "ckpt-5.index"
    ]
    with tfshare.DenseClassifier(16, 3, (8,), seed=1) as fresh:
        fresh.restore(first)
        assert _same(_weights(fresh), kept)


def test_a_foreign_checkpoint_in_the_directory_is_neither_numbered_from_nor_rotated(trained, tmp_path):
    graph = tf.Graph()
    with graph.as_default():
        tf1.Variable(1.0, name="theirs")
        with tf1.Session(graph=graph) as session:
            session.run(tf1.global_variables_initializer())
            theirs = tf1.train.Saver().save(session, str(tmp_path / "model.ckpt"), global_step=100)
    foreign = sorted(p for p in os.listdir(tmp_path) if p.startswith("model.ckpt-100"))
    assert foreign
    saved = [os.path.basename(trained.save(tmp_path)) for _ in range(5)]  # more than the 3 a directory keeps
    assert saved == ["ckpt-1", "ckpt-2", "ckpt-3", "ckpt-4", "ckpt-5"]
    assert sorted(p for p in os.listdir(tmp_path) if p.startswith("model.ckpt-100")) == foreign
    assert sorted(p for p in os.listdir(tmp_path) if p.endswith(".index")) == [
        "ckpt-3.index", "ckpt-4.index", "ckpt-5.index", "model.ckpt-100.index"
    ]
    assert tf1.train.load_variable(theirs, "theirs") == 1.0


def test_rotation_continues_across_processes(trained, tmp_path):
    # A new Saver (as in a new process) still deletes the checkpoints an earlier one wrote.
    for _ in range(3):
        trained.save(tmp_path)
    with tfshare.DenseClassifier(16, 3, (8,), seed=1) as other_process:
        for _ in range(3):
            other_process.save(tmp_path)
    assert sorted(p for p in os.listdir(tmp_path) if p.endswith(".index")) == [
        "ckpt-4.index", "ckpt-5.index", "ckpt-6.index"
    ]
    assert sorted(p for p in os.listdir(tmp_path) if p.endswith(".json")) == [
        "ckpt-4.tfshare.json", "ckpt-5.tfshare.json", "ckpt-6.tfshare.json"
    ]


def test_shape_mismatch_is_caught_before_anything_is_assigned(trained, tmp_path, runtime):
    prefix = trained.save(tmp_path)
    # Make the configuration check pass, so only the shapes differ (as TF's
    # Saver would see them: it may restore mismatched resource variables silently).
    sidecar = prefix + ".tfshare.json"
    metadata = json.loads(open(sidecar).read())
    metadata["config"]["hidden_units"] = [5]
    open(sidecar, "w").write(json.dumps(metadata))
    narrow = tfshare.DenseClassifier(16, 3, (5,), runtime=runtime, seed=3)
    before = _weights(narrow)
    with pytest.raises(tfshare.CheckpointError, match=(
        r"variable 'hidden_0/kernel': checkpoint '.*ckpt-1' holds shape \[16, 8\], "
        r"the classifier expects shape \[16, 5\]"
    )):
        narrow.restore(tmp_path)
    assert _same(_weights(narrow), before)


@pytest.mark.parametrize("field,kwargs,message", [
    ("input_dim", dict(input_dim=17, num_classes=3, hidden_units=(8,)), r"input_dim=16, but this classifier has input_dim=17"),
    ("hidden_units", dict(input_dim=16, num_classes=3, hidden_units=(8, 8)), r"hidden_units=\[8\], but this classifier has hidden_units=\[8, 8\]"),
    ("num_classes", dict(input_dim=16, num_classes=4, hidden_units=(8,)), r"num_classes=3, but this classifier has num_classes=4"),
], ids=["input_dim", "hidden_units", "num_classes"])
def test_config_mismatch_raises_naming_the_field(trained, tmp_path, runtime, field, kwargs, message):
    trained.save(tmp_path)
    other = tfshare.DenseClassifier(**kwargs, runtime=runtime, seed=3)
    before = _weights(other)
    with pytest.raises(tfshare.CheckpointError, match=rf"saved with {message}"):
        other.restore(tmp_path)
    assert _same(_weights(other), before)


def _corrupt_data(prefix):
    path = prefix + ".data-00000-of-00001"
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(path, "wb").write(bytes(data))


def _truncate_data(prefix):
    path = prefix + ".data-00000-of-00001"
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 3)


def _garble_index(prefix):
    open(prefix + ".index", "wb").write(b"\x00" * 64)


def _garble_sidecar(prefix):
    open(prefix + ".tfshare.json", "w").write("{not json")


def _remove_sidecar(prefix):
    os.unlink(prefix + ".tfshare.json")


def _remove_data(prefix):
    os.unlink(prefix + ".data-00000-of-00001")


@pytest.mark.parametrize("damage,message", [
    (_corrupt_data, r"restoring '.*ckpt-1' failed: .*Checksum does not match"),
    (_truncate_data, r"restoring '.*ckpt-1' failed: \S"),
    (_remove_data, r"restoring '.*ckpt-1' failed: .*ckpt-1\.data-00000-of-00001"),
    (_garble_index, r"checkpoint '.*ckpt-1' is corrupt or unreadable: not an sstable \(bad magic number\)$"),
    (_garble_sidecar, r"checkpoint metadata of '.*ckpt-1' is corrupt"),
    (_remove_sidecar, r"has no 'ckpt-1.tfshare.json'; it was not written by tfshare"),
], ids=["flipped_byte", "truncated_data", "missing_data", "garbled_index", "garbled_metadata", "missing_metadata"])
def test_corrupt_checkpoint_raises_and_keeps_weights(trained, tmp_path, damage, message):
    prefix = trained.save(tmp_path)
    kept = _weights(trained)
    trained.fit(np.ones((4, 16), np.float32), np.zeros(4, np.int64))  # move away from the checkpoint
    moved = _weights(trained)
    assert not _same(moved, kept)
    damage(prefix)
    with pytest.raises(tfshare.CheckpointError, match=message):
        trained.restore(tmp_path)
    assert _same(_weights(trained), moved)


@pytest.mark.parametrize("make,message", [
    (lambda p: str(p / "missing"), r"no checkpoint at '.*missing': it is neither a checkpoint directory nor a prefix"),
    (lambda p: str(p), r"no checkpoint in directory"),
    (lambda p: (p / "checkpoint").write_text("garbage {{{") and str(p), r"no checkpoint in directory"),
    (lambda p: (p / "file.txt").write_text("hello") and str(p / "file.txt"), r"no checkpoint at '.*file\.txt'"),
], ids=["missing_path", "empty_directory", "garbled_state_file", "plain_file"])
def test_missing_or_foreign_path_raises_checkpoint_error(trained, tmp_path, make, message):
    with pytest.raises(tfshare.CheckpointError, match=message):
        trained.restore(make(tmp_path))


def test_a_directory_whose_newest_checkpoint_lost_its_files_says_so_naming_them(trained, tmp_path):
    prefix = trained.save(tmp_path)
    for name in os.listdir(tmp_path):
        if name.startswith("ckpt-1.") and not name.endswith(".tfshare.json"):
            os.unlink(tmp_path / name)
    with pytest.raises(tfshare.CheckpointError, match=(
        rf"^the newest checkpoint in directory '.*', '{re.escape(prefix)}' \(its 'checkpoint' state file names it\), "
        rf"has no files: {re.escape(prefix)}\.index and {re.escape(prefix)}\.data-\* are missing$"
    )):
        trained.restore(tmp_path)


def test_restore_is_independent_of_creation_order(tmp_path, rng):
    x = rng.random((6, 16), dtype=np.float32)
    with tfshare.GraphSession(device="cpu") as gs:
        trunk = tfshare.SharedTrunk(gs, 16, (8,), seed=0)
        a = tfshare.DenseClassifier(trunk=trunk, num_classes=3, name="a", seed=1)
        b = tfshare.DenseClassifier(16, 3, (8,), runtime=gs, name="b", seed=2)
        expected = {c.name: c.predict_proba(x) for c in (a, b)}
        for c in (a, b):
            c.save(tmp_path / c.name)
    with tfshare.GraphSession(device="cpu") as gs:
        # Built in the other order, b first, with different seeds and names.
        b2 = tfshare.DenseClassifier(16, 3, (8,), runtime=gs, name="first", seed=9)
        trunk = tfshare.TemplateTrunk(gs, 16, (8,), seed=9)
        a2 = tfshare.DenseClassifier(trunk=trunk, num_classes=3, name="second", seed=9)
        b2.restore(tmp_path / "b")
        a2.restore(tmp_path / "a")
        np.testing.assert_array_equal(a2.predict_proba(x), expected["a"])
        np.testing.assert_array_equal(b2.predict_proba(x), expected["b"])


# ------------------------------------------- details that mutation testing found untested
class _WithMessage(Exception):
    message = "the message"

    def __str__(self):
        return "the str"


_TRACED = (
    "Graph execution error:\n\nDetected at node 'a'\nNode: 'a'\nKey x not found\nNode: 'b' is mentioned\n"
    "\t [[{{node a}}]]\n\t [[{{node b}}]]\n\nOriginal stack trace for 'a':\n  File one"
)


@pytest.mark.parametrize("exc, reason", [
    (_WithMessage(), "the message"),  # TensorFlow's errors: .message, without the stack trace str() adds
    (OSError(2, "No such file"), "[Errno 2] No such file"),
    (tf.errors.NotFoundError(None, None, _TRACED), "Key x not found\nNode: 'b' is mentioned"),
    (tf.errors.NotFoundError(None, None, "bad\nNode: 'a'"), "'a'"),
    (tf.errors.DataLossError(None, None, "Checksum does not match\n\nOriginal stack trace for 'a':\n  File one"
                             "\n\nOriginal stack trace for 'b':\n  File two"), "Checksum does not match"),
], ids=["message_attribute", "os_error", "node_context_and_ops", "node_at_the_end", "two_stack_traces"])
def test_error_reasons_keep_tensorflows_message_without_its_context(exc, reason):
    assert checkpoints._reason(exc) == reason


@pytest.mark.parametrize("path", [None, 3, ["ckpt"]], ids=["none", "int", "list"])
def test_save_and_restore_name_a_bad_path_type(path):
    with tfshare.DenseClassifier(4, 2, (3,), seed=0) as clf:
        kind = type(path).__name__
        with pytest.raises(TypeError, match=rf"^path must be a str or os.PathLike, got {kind}$"):
            clf.save(path)
        with pytest.raises(TypeError, match=rf"^path must be a str or os.PathLike, got {kind}$"):
            clf.restore(path)


def test_a_state_file_that_lists_only_its_latest_checkpoint_continues_its_numbering(tmp_path, rng):
    # Older or hand-written state files may name model_checkpoint_path without listing it.
    with tfshare.DenseClassifier(4, 2, (3,), seed=0) as clf:
        first = clf.save(tmp_path)
        os.rename(first + ".index", str(tmp_path / "ckpt-7.index"))
        os.rename(first + ".data-00000-of-00001", str(tmp_path / "ckpt-7.data-00000-of-00001"))
        os.rename(first + ".tfshare.json", str(tmp_path / "ckpt-7.tfshare.json"))
        (tmp_path / "checkpoint").write_text('model_checkpoint_path: "ckpt-7"\n')
        assert os.path.basename(clf.save(tmp_path)) == "ckpt-8"
        x = rng.random((2, 4), dtype=np.float32)
        expected = clf.predict_proba(x)
    with tfshare.DenseClassifier(4, 2, (3,), seed=5) as other:
        assert os.path.basename(other.restore(tmp_path)) == "ckpt-8"
        np.testing.assert_array_equal(other.predict_proba(x), expected)


def test_a_checkpoint_is_tensorflows_files_and_a_stable_readable_sidecar(tmp_path):
    with tfshare.DenseClassifier(4, 2, (3,), seed=0) as clf:
        prefix = clf.save(tmp_path)
        shapes = {k: v.shape.as_list() for k, v in clf.named_variables.items()}
        config = clf.config
    # No meta graph: restoring needs the classifier, not a graph.
    assert sorted(os.listdir(tmp_path)) == [
        "checkpoint", "ckpt-1.data-00000-of-00001", "ckpt-1.index", "ckpt-1.tfshare.json"]
    text = open(prefix + ".tfshare.json").read()
    metadata = {"format": 1, "config": config, "variables": shapes}
    assert json.loads(text) == metadata
    assert text == json.dumps(metadata, indent=1, sort_keys=True)  # equal checkpoints, equal sidecars


def test_a_directory_that_cannot_be_made_is_a_checkpoint_error_with_the_reason(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    with tfshare.DenseClassifier(4, 2, (3,), seed=0) as clf:
        with pytest.raises(tfshare.CheckpointError, match=r"^cannot write a checkpoint to '.*file/sub': \S.*"
                           r"(exists|[Nn]ot a directory)"):
            clf.save(tmp_path / "file" / "sub")


@pytest.mark.parametrize("path, local", [
    ("/tmp/x/ckpt", True), ("relative/ckpt", True), ("file:///tmp/x/ckpt", True),
    ("ram://x/ckpt", False), ("gs://bucket/x", False),
], ids=["absolute", "relative", "file_url", "ram", "gcs"])
def test_local_paths_are_told_from_other_filesystems(path, local):
    # Local files are fsynced and renamed with os.replace; others go through tf.io.gfile.
    assert checkpoints.is_local(path) is local


def test_atomic_write_takes_a_file_url(tmp_path):
    target = tmp_path / "out.bin"
    checkpoints.atomic_write(f"file://{target}", lambda f: f.write(b"payload"))
    assert target.read_bytes() == b"payload" and os.listdir(tmp_path) == ["out.bin"]


def test_atomic_write_fills_a_temporary_beside_the_target_and_removes_it_when_the_write_fails(tmp_path):
    target = tmp_path / "out.bin"
    seen = []
    checkpoints.atomic_write(str(target), lambda f: (seen.append(os.listdir(tmp_path)), f.write(b"one")))
    assert len(seen[0]) == 1 and seen[0][0].startswith(".tmp-")  # the default prefix, no suffix
    checkpoints.atomic_write(
        str(target), lambda f: (seen.append(os.listdir(tmp_path)), f.write(b"two")), prefix="p-", suffix=".part"
    )
    temporary = [n for n in seen[1] if n != "out.bin"]
    assert len(temporary) == 1 and temporary[0].startswith("p-") and temporary[0].endswith(".part")
    assert target.read_bytes() == b"two" and os.listdir(tmp_path) == ["out.bin"]

    def fail(f):
        f.write(b"half")
        raise ValueError("the writer failed")

    with pytest.raises(ValueError, match=r"^the writer failed$"):
        checkpoints.atomic_write(str(target), fail)
    assert target.read_bytes() == b"two" and os.listdir(tmp_path) == ["out.bin"]


def test_atomic_write_on_another_filesystem_renames_a_named_temporary_over_the_target(monkeypatch):
    # ram:// is TensorFlow's in-memory filesystem: nothing of this test is on disk.
    base = f"ram://tfshare-atomic-{os.getpid()}"
    renames, rename = [], tf.io.gfile.rename

    def spy(src, dst, overwrite=False):
        renames.append((src, dst))
        if dst.endswith("refused.bin"):
            raise tf.errors.PermissionDeniedError(None, None, "rename refused")
        return rename(src, dst, overwrite=overwrite)

    monkeypatch.setattr(tf.io.gfile, "rename", spy)
    tf.io.gfile.makedirs(f"{base}/d")
    try:
        for payload in (b"one", b"two"):  # the second write replaces the first
            checkpoints.atomic_write(f"{base}/d/out.bin", lambda f: f.write(payload))
        checkpoints.atomic_write(f"{base}/d/named.bin", lambda f: f.write(b"3"), prefix="p-", suffix=".part")
        with tf.io.gfile.GFile(f"{base}/d/out.bin", "rb") as f:
            assert f.read() == b"two"
        for src, dst in renames:
            assert src.rsplit("/", 1)[0] == f"{base}/d"
        names = [src.rsplit("/", 1)[1] for src, _ in renames]
        assert all(re.fullmatch(r"\.tmp-[0-9a-f]{12}", n) for n in names[:2]) and names[0] != names[1]
        assert re.fullmatch(r"p-[0-9a-f]{12}\.part", names[2])
        with pytest.raises(ValueError, match=r"^the writer failed$"):
            checkpoints.atomic_write(f"{base}/d/failed.bin", lambda f: (_ for _ in ()).throw(ValueError("the writer failed")))
        with pytest.raises(tf.errors.PermissionDeniedError, match=r"rename refused"):
            checkpoints.atomic_write(f"{base}/d/refused.bin", lambda f: f.write(b"4"))
        assert sorted(tf.io.gfile.listdir(f"{base}/d")) == ["named.bin", "out.bin"]  # no temporary left
    finally:
        tf.io.gfile.rmtree(base)


def test_a_classifier_checkpoints_to_another_tensorflow_filesystem(rng):
    base = f"ram://tfshare-ckpt-{os.getpid()}"
    x = rng.random((3, 4), dtype=np.float32)
    try:
        with tfshare.DenseClassifier(4, 2, (3,), seed=0) as clf:
            expected = clf.predict_proba(x)
            prefix = clf.save(f"{base}/run")
            assert prefix == f"{base}/run/ckpt-1"
        assert sorted(tf.io.gfile.listdir(f"{base}/run")) == [
            "checkpoint", "ckpt-1.data-00000-of-00001", "ckpt-1.index", "ckpt-1.tfshare.json"]
        with tfshare.DenseClassifier(4, 2, (3,), seed=5) as other:
            assert other.restore(f"{base}/run") == prefix
            np.testing.assert_array_equal(other.predict_proba(x), expected)
    finally:
        tf.io.gfile.rmtree(base)


@pytest.mark.parametrize("name", ["endsX", "ends "], ids=["letter", "space"])
def test_save_removes_temporaries_whatever_the_directory_name_ends_with(tmp_path, name):
    directory = tmp_path / name
    with tfshare.DenseClassifier(4, 2, (3,), seed=0) as clf:
        clf.save(directory)
        for spelling in (str(directory), str(directory) + "/"):
            (directory / ".tmp-orphan.tfshare.tmp").write_bytes(b"partial")
            clf.save(spelling)
            assert ".tmp-orphan.tfshare.tmp" not in os.listdir(directory)
    assert "ckpt-3.index" in os.listdir(directory)


def test_a_checkpoint_directory_restores_after_it_was_moved(tmp_path, rng):
    # The state file names its checkpoints relative to its directory.
    x = rng.random((3, 4), dtype=np.float32)
    with tfshare.DenseClassifier(4, 2, (3,), seed=0) as clf:
        clf.save(tmp_path / "old")
        expected = clf.predict_proba(x)
    os.rename(tmp_path / "old", tmp_path / "new")
    with tfshare.DenseClassifier(4, 2, (3,), seed=5) as other:
        assert other.restore(tmp_path / "new") == str(tmp_path / "new" / "ckpt-1")
        np.testing.assert_array_equal(other.predict_proba(x), expected)


def _rewrite_sidecar(prefix, change):
    path = prefix + ".tfshare.json"
    metadata = json.loads(open(path).read())
    open(path, "w").write(json.dumps(change(metadata)))


@pytest.mark.parametrize("change,message", [
    (lambda m: dict(m, format=2), r"^checkpoint '.*ckpt-1' has metadata format 2, expected 1$"),
    (lambda m: [m], r"^checkpoint '.*ckpt-1' has metadata format None, expected 1$"),
    (lambda m: {k: v for k, v in m.items() if k != "config"},
     r"^checkpoint '.*ckpt-1' was saved with input_dim=None, but this classifier has input_dim=4$"),
], ids=["newer_format", "not_an_object", "no_configuration"])
def test_a_sidecar_of_another_format_or_without_configuration_is_refused(tmp_path, change, message):
    with tfshare.DenseClassifier(4, 2, (3,), seed=0) as clf:
        prefix = clf.save(tmp_path)
        _rewrite_sidecar(prefix, change)
        with pytest.raises(tfshare.CheckpointError, match=message):
            clf.restore(tmp_path)


def test_an_unreadable_state_file_is_a_checkpoint_error_with_tensorflows_reason(tmp_path):
    (tmp_path / "checkpoint").write_text("")  # parses, but names no checkpoint
    with tfshare.DenseClassifier(4, 2, (3,), seed=0) as clf:
        with pytest.raises(tfshare.CheckpointError, match=(
            r"^cannot read the checkpoint state in '.*': Invalid checkpoint state loaded from .*"
        )):
            clf.restore(tmp_path)
