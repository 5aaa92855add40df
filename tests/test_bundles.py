"""save_runtime / restore_runtime: whole runtimes restored by classifier name."""

from __future__ import annotations

import os
import struct
import zipfile

import numpy as np
import pytest

import tfshare
from tfshare import bundles
from tfshare._tf import keras


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(1).random((6, 16), dtype=np.float32)


@pytest.fixture(scope="module")
def saved(tmp_path_factory, x):
    """Three heads on a shared trunk plus one classifier of its own, trained, saved, closed."""
    rng = np.random.default_rng(2)
    with tfshare.GraphSession(device="cpu") as gs:
        trunk = tfshare.SharedTrunk(gs, 16, (8,), seed=0)
        heads = [tfshare.DenseClassifier(trunk=trunk, num_classes=3, name=n, seed=i)
                 for i, n in enumerate(["cats", "dogs", "birds"])]
        solo = tfshare.DenseClassifier(16, 4, (8,), runtime=gs, name="solo", seed=7)
        y = rng.integers(0, 3, 64)
        xs = rng.random((64, 16), dtype=np.float32)
        for clf in heads + [solo]:
            clf.fit(xs, y, epochs=2, batch_size=16)  # moves the shared trunk too
        path = tfshare.save_runtime(heads + [solo], tmp_path_factory.mktemp("saved") / "runtime.npz")
        expected = {clf.name: clf.predict_proba(x) for clf in heads + [solo]}
    return path, expected


def test_shared_trunk_is_stored_once(saved):
    path, _ = saved
    with np.load(path) as archive:
        keys = sorted(k for k in archive.files if not k.startswith("__"))
    assert keys == sorted(
        ["trunks/shared_trunk/hidden_0/kernel", "trunks/shared_trunk/hidden_0/bias"]
        + [f"classifiers/{n}/head/{w}" for n in ("cats", "dogs", "birds") for w in ("kernel", "bias")]
        + [f"classifiers/solo/{layer}/{w}" for layer in ("hidden_0", "head") for w in ("kernel", "bias")]
    )


def test_restores_into_another_order_with_other_trunk_names(saved, x):
    path, expected = saved
    with tfshare.GraphSession(device="cpu") as gs:
        solo = tfshare.DenseClassifier(16, 4, (8,), runtime=gs, name="solo", seed=99)
        tfshare.SharedTrunk(gs, 16, (8,), seed=5)  # takes the name "shared_trunk"
        trunk = tfshare.TemplateTrunk(gs, 16, (8,), name="another_trunk", seed=5)
        birds, cats, dogs = (tfshare.DenseClassifier(trunk=trunk, num_classes=3, name=n, seed=9)
                             for n in ("birds", "cats", "dogs"))
        assert tfshare.restore_runtime([dogs, solo, birds, cats], path) == ["dogs", "solo", "birds", "cats"]
        for clf in (birds, cats, dogs, solo):
            np.testing.assert_array_equal(clf.predict_proba(x), expected[clf.name])


def test_restores_a_subset(saved, x):
    path, expected = saved
    with tfshare.GraphSession(device="cpu") as gs:
        trunk = tfshare.SharedTrunk(gs, 16, (8,), seed=5)
        dogs = tfshare.DenseClassifier(trunk=trunk, num_classes=3, name="dogs", seed=9)
        tfshare.restore_runtime([dogs], path)
        np.testing.assert_array_equal(dogs.predict_proba(x), expected["dogs"])


def test_trunk_weights_restore_into_own_hidden_layers(saved, x):
    path, expected = saved
    with tfshare.DenseClassifier(16, 3, (8,), name="cats", seed=9) as cats:  # isolated, no trunk
        tfshare.restore_runtime([cats], path)
        np.testing.assert_array_equal(cats.predict_proba(x), expected["cats"])


def test_restore_works_on_a_finalized_graph_and_adds_no_ops(saved, x, tmp_path):
    path, expected = saved
    with tfshare.GraphSession(device="cpu") as gs:
        trunk = tfshare.SharedTrunk(gs, 16, (8,), seed=5)
        cats = tfshare.DenseClassifier(trunk=trunk, num_classes=3, name="cats", seed=9)
        gs.finalize()
        ops = len(gs.graph.get_operations())
        for _ in range(3):
            tfshare.restore_runtime([cats], path)
            tfshare.save_runtime([cats], tmp_path / "again.npz")
        assert len(gs.graph.get_operations()) == ops
        np.testing.assert_array_equal(cats.predict_proba(x), expected["cats"])


def test_unknown_name_raises_listing_the_saved_ones(saved):
    path, _ = saved
    with tfshare.DenseClassifier(16, 3, (8,), name="horses") as horses:
        with pytest.raises(tfshare.CheckpointError, match=(
            r"has no classifier named 'horses'; it holds \['birds', 'cats', 'dogs', 'solo'\]"
        )):
            tfshare.restore_runtime([horses], path)


def test_config_mismatch_raises_before_anything_is_assigned(saved, x):
    path, _ = saved
    with tfshare.GraphSession(device="cpu") as gs:
        cats = tfshare.DenseClassifier(16, 3, (8,), runtime=gs, name="cats", seed=1)
        solo = tfshare.DenseClassifier(16, 5, (8,), runtime=gs, name="solo", seed=1)
        before = cats.predict_proba(x)
        with pytest.raises(tfshare.CheckpointError, match=(
            r"classifier 'solo': runtime checkpoint '.*' was saved with num_classes=4, "
            r"but this classifier has num_classes=5"
        )):
            tfshare.restore_runtime([cats, solo], path)
        np.testing.assert_array_equal(cats.predict_proba(x), before)  # cats came first, yet untouched


def test_shape_mismatch_names_the_variable_and_both_shapes(tmp_path, x):
    path = tmp_path / "r.npz"
    with tfshare.DenseClassifier(16, 3, (8,), name="cats", seed=0) as cats:
        tfshare.save_runtime([cats], path)
        before = cats.predict_proba(x)
        with np.load(path) as archive:
            arrays = {k: archive[k] for k in archive.files}
        arrays["classifiers/cats/head/bias"] = np.zeros(4, np.float32)  # tampered
        np.savez(path, **arrays)
        with pytest.raises(tfshare.CheckpointError, match=(
            r"classifier 'cats', variable 'head/bias': runtime checkpoint '.*' holds shape \[4\] "
            r"\(float32\), the classifier expects shape \[3\] \(float32\)"
        )):
            tfshare.restore_runtime([cats], path)
        np.testing.assert_array_equal(cats.predict_proba(x), before)


def test_shared_here_but_separate_in_the_file_raises(tmp_path):
    path = tmp_path / "r.npz"
    with tfshare.GraphSession(device="cpu") as gs:
        a = tfshare.DenseClassifier(16, 3, (8,), runtime=gs, name="a", seed=0)
        b = tfshare.DenseClassifier(16, 3, (8,), runtime=gs, name="b", seed=1)
        tfshare.save_runtime([a, b], path)
    with tfshare.GraphSession(device="cpu") as gs:
        trunk = tfshare.SharedTrunk(gs, 16, (8,), seed=0)
        a, b = (tfshare.DenseClassifier(trunk=trunk, num_classes=3, name=n) for n in "ab")
        with pytest.raises(tfshare.CheckpointError, match=(
            r"classifier 'b', variable 'hidden_0/kernel': it is shared here with another classifier, "
            r"but .* stores separate copies \('classifiers/a/hidden_0/kernel' and 'classifiers/b/hidden_0/kernel'\)"
        )):
            tfshare.restore_runtime([a, b], path)


def _truncate(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def _flip(path):
    data = bytearray(open(path, "rb").read())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("classifiers/cats/head/kernel.npy")
    local = info.header_offset  # local file header: 30 bytes, the name, then an extra field
    name_len, extra_len = struct.unpack("<HH", data[local + 26 : local + 30])
    data[local + 30 + name_len + extra_len + info.file_size - 1] ^= 0xFF  # the array's last byte
    open(path, "wb").write(bytes(data))


@pytest.mark.parametrize("damage,message", [
    (_truncate, r"runtime checkpoint '.*' is corrupt or unreadable"),
    (_flip, r"runtime checkpoint '.*' is corrupt or unreadable: Bad CRC-32"),
    (lambda p: open(p, "wb").write(b"not a zip"), r"runtime checkpoint '.*' is corrupt or unreadable"),
    (os.unlink, r"no runtime checkpoint at '.*': the file does not exist"),
], ids=["truncated", "flipped_byte", "garbage", "missing"])
def test_corrupt_or_missing_file_raises_and_keeps_weights(tmp_path, x, damage, message):
    path = tmp_path / "r.npz"
    with tfshare.DenseClassifier(16, 3, (8,), name="cats", seed=0) as cats:
        tfshare.save_runtime([cats], path)
        cats.fit(x, np.zeros(len(x), np.int64))
        before = cats.predict_proba(x)
        damage(path)
        with pytest.raises(tfshare.CheckpointError, match=message):
            tfshare.restore_runtime([cats], path)
        np.testing.assert_array_equal(cats.predict_proba(x), before)


def test_a_directory_or_foreign_file_is_not_a_runtime_checkpoint(tmp_path):
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with tfshare.DenseClassifier(16, 3, (8,), name="cats", seed=0) as cats:
        with pytest.raises(tfshare.CheckpointError, match=r"^no runtime checkpoint at '.*': it is a directory \(save_runtime "
                           r"writes a file; a directory written by Classifier\.save restores with Classifier\.restore\)$"):
            tfshare.restore_runtime([cats], tmp_path)
        with pytest.raises(tfshare.CheckpointError, match=r"is not a tfshare runtime checkpoint of format 1"):
            tfshare.restore_runtime([cats], tmp_path / "plain.npz")


def test_save_replaces_atomically_and_removes_orphans_of_dead_writers(tmp_path):
    path = tmp_path / "r.npz"
    dead = tmp_path / ".r.npz.999999999.abc.tmp"  # no such process
    live = tmp_path / f".r.npz.{os.getpid()}.abc.tmp"  # a concurrent writer in this process
    dead.write_bytes(b"partial")
    live.write_bytes(b"partial")
    with tfshare.DenseClassifier(16, 3, (8,), name="cats", seed=0) as cats:
        tfshare.save_runtime([cats], path)
        tfshare.save_runtime([cats], path)
    assert sorted(os.listdir(tmp_path)) == sorted(["r.npz", live.name])


@pytest.mark.parametrize("make,error,message", [
    (lambda a, b: a, TypeError, r"^classifiers must be a sequence of graph classifiers, got DenseClassifier"),
    (lambda a, b: [], tfshare.InputError, r"^classifiers must hold at least one classifier"),
    (lambda a, b: [a, "b"], TypeError, r"^classifiers\[1\] must be a graph classifier \(Classifier, .*\), got str"),
    (lambda a, b: [a, b], tfshare.InputError, r"^classifiers must have unique names .*got duplicates \['dense_classifier'\]"),
], ids=["not_a_sequence", "empty", "not_a_classifier", "duplicate_names"])
def test_bad_arguments(tmp_path, make, error, message):
    with tfshare.DenseClassifier(4, 2, (4,)) as a, tfshare.DenseClassifier(4, 2, (4,)) as b:
        for fn in (tfshare.save_runtime, tfshare.restore_runtime):
            with pytest.raises(error, match=message):
                fn(make(a, b), tmp_path / "r.npz")


def test_closed_classifier_raises_closed_error(tmp_path):
    clf = tfshare.DenseClassifier(4, 2, (4,), name="c")
    tfshare.save_runtime([clf], tmp_path / "r.npz")
    clf.close()
    for fn in (tfshare.save_runtime, tfshare.restore_runtime):
        with pytest.raises(tfshare.ClosedError):
            fn([clf], tmp_path / "r.npz")


def test_same_trunk_name_in_two_runtimes_cannot_be_saved_together(tmp_path):
    with tfshare.GraphSession(device="cpu") as g1, tfshare.GraphSession(device="cpu") as g2:
        a = tfshare.DenseClassifier(trunk=tfshare.SharedTrunk(g1, 4, (4,)), num_classes=2, name="a")
        b = tfshare.DenseClassifier(trunk=tfshare.SharedTrunk(g2, 4, (4,)), num_classes=2, name="b")
        with pytest.raises(tfshare.InputError, match=r"^two different trunks are named 'shared_trunk' \(in different runtimes\); "
                           r"give them distinct names to save them together$"):
            tfshare.save_runtime([a, b], tmp_path / "r.npz")


def test_format_version_is_recorded(saved):
    path, _ = saved
    metadata, _ = bundles._read(path)
    assert metadata["format"] == bundles.FORMAT_VERSION
    assert metadata["classifiers"]["cats"]["trunk"] == "shared_trunk"
    assert metadata["classifiers"]["solo"]["trunk"] is None


def test_classifiers_of_several_runtimes_save_and_restore_together_one_call_per_runtime(tmp_path, x, monkeypatch):
    def counted_runs(gs):
        calls = []
        real = gs.session.run
        monkeypatch.setattr(gs.session, "run", lambda *a, **k: (calls.append(a), real(*a, **k))[1])
        return calls

    with tfshare.GraphSession(device="cpu") as g1, tfshare.GraphSession(device="cpu") as g2:
        trunk = tfshare.SharedTrunk(g1, 16, (8,), seed=0, name="t")
        made = [tfshare.DenseClassifier(trunk=trunk, num_classes=3, name="a", seed=1),
                tfshare.DenseClassifier(trunk=trunk, num_classes=3, name="b", seed=2),
                tfshare.DenseClassifier(16, 3, (8,), runtime=g2, name="c", seed=3),
                tfshare.DenseClassifier(16, 3, (5,), runtime=g2, name="d", seed=4)]
        expected = {c.name: c.predict_proba(x) for c in made}
        calls = [counted_runs(g1), counted_runs(g2)]
        tfshare.save_runtime(made, tmp_path / "r.npz")
        assert [len(c) for c in calls] == [1, 1]  # every value of a runtime read in one call
    with tfshare.GraphSession(device="cpu") as g1, tfshare.GraphSession(device="cpu") as g2:
        trunk = tfshare.SharedTrunk(g2, 16, (8,), seed=9, name="other")  # other runtimes, names and seeds
        fresh = [tfshare.DenseClassifier(16, 3, (5,), runtime=g1, name="d", seed=9),
                 tfshare.DenseClassifier(trunk=trunk, num_classes=3, name="b", seed=9),
                 tfshare.DenseClassifier(16, 3, (8,), runtime=g1, name="c", seed=9),
                 tfshare.DenseClassifier(trunk=trunk, num_classes=3, name="a", seed=9)]
        for c in fresh:
            c.predict_proba(x)  # initialized: the restore is the only write below
        calls = [counted_runs(g1), counted_runs(g2)]
        assert tfshare.restore_runtime(fresh, tmp_path / "r.npz") == ["d", "b", "c", "a"]
        assert [len(c) for c in calls] == [1, 1]  # every variable of a runtime assigned in one call
        for c in fresh:
            np.testing.assert_array_equal(c.predict_proba(x), expected[c.name])


def test_a_file_of_another_format_or_without_metadata_is_refused(tmp_path):
    with tfshare.DenseClassifier(4, 2, (3,), name="c", seed=0) as clf:
        path = tfshare.save_runtime([clf], tmp_path / "r.npz")
        with np.load(path) as archive:
            arrays = {k: archive[k] for k in archive.files}
        meta = arrays.pop(bundles._METADATA_KEY)
        np.savez(tmp_path / "none.npz", **arrays)
        np.savez(tmp_path / "v2.npz", **arrays, **{bundles._METADATA_KEY: np.array(
            str(meta).replace('"format": 1', '"format": 2'))})
        np.savez(tmp_path / "garbled.npz", **arrays, **{bundles._METADATA_KEY: np.array("{not json")})
        for name in ("none", "v2"):
            with pytest.raises(tfshare.CheckpointError, match=rf"^'.*{name}\.npz' is not a tfshare runtime checkpoint "
                               r"of format 1 \(written by tfshare.save_runtime\)$"):
                tfshare.restore_runtime([clf], tmp_path / f"{name}.npz")
        with pytest.raises(tfshare.CheckpointError, match=r"^runtime checkpoint '.*garbled\.npz' has corrupt metadata: "):
            tfshare.restore_runtime([clf], tmp_path / "garbled.npz")


def test_save_runtime_writes_to_another_tensorflow_filesystem_making_its_folders(x):
    # ram:// is TensorFlow's in-memory filesystem: everything goes through tf.io.gfile.
    from tfshare._tf import tf

    base = f"ram://tfshare-bundles-{os.getpid()}"
    path = f"{base}/a/b/r.npz"
    try:
        with tfshare.DenseClassifier(16, 3, (8,), name="c", seed=0) as clf:
            expected = clf.predict_proba(x)
            assert tfshare.save_runtime([clf], path) == path
            assert tf.io.gfile.listdir(f"{base}/a/b") == ["r.npz"]  # no temporary file left
        with tfshare.DenseClassifier(16, 3, (8,), name="c", seed=5) as other:
            tfshare.restore_runtime([other], path)
            np.testing.assert_array_equal(other.predict_proba(x), expected)
    finally:
        tf.io.gfile.rmtree(base)


def test_the_temporary_file_names_its_writer_and_checking_a_live_writer_signals_nothing(tmp_path, monkeypatch):
    import signal
    import subprocess
    import sys

    renamed = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (renamed.append(os.path.basename(a)), real_replace(a, b))[1])
    # A live writer in another process, which any signal but 0 would end.
    writer = subprocess.Popen([sys.executable, "-c", "import signal, time\n"
                               "for s in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM): signal.signal(s, signal.SIG_DFL)\n"
                               "print('ready', flush=True)\ntime.sleep(120)"], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline() == "ready\n"
        theirs = tmp_path / f".r.npz.{writer.pid}.abc.tmp"
        theirs.write_bytes(b"partial")
        with tfshare.DenseClassifier(4, 2, (3,), name="c", seed=0) as clf:
            tfshare.save_runtime([clf], tmp_path / "r.npz")
        assert writer.poll() is None, "checking whether the writer lives signalled it"
        assert theirs.exists()
        assert len(renamed) == 1 and renamed[0].startswith(f".r.npz.{os.getpid()}.") and renamed[0].endswith(".tmp")
    finally:
        writer.kill()
        writer.wait(timeout=60)
        writer.stdout.close()


def test_only_the_temporaries_of_dead_writers_of_this_file_are_removed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a bare file name: the folder is the current one
    real_listdir = os.listdir
    monkeypatch.setattr(os, "listdir", lambda d: sorted(real_listdir(d)))  # a fixed order: others come first
    keep = [".r.npz.999999999.abc", ".a.npz.999999999.abc.tmp", ".aaa", "r.npz.999999999.tmp"]
    for name in keep + [".r.npz.999999999.abc.tmp"]:  # the last one: a dead writer's temporary of r.npz
        (tmp_path / name).write_bytes(b"x")
    with tfshare.DenseClassifier(4, 2, (3,), name="c", seed=0) as clf:
        assert tfshare.save_runtime([clf], "r.npz") == "r.npz"
    assert sorted(real_listdir(tmp_path)) == sorted(keep + ["r.npz"])


def test_a_runtime_file_that_cannot_be_written_is_a_checkpoint_error_with_the_reason(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    with tfshare.DenseClassifier(4, 2, (3,), name="c", seed=0) as clf:
        with pytest.raises(tfshare.CheckpointError, match=r"^cannot write a runtime checkpoint to '.*file/r\.npz': "
                           r".*(exists|[Nn]ot a directory)"):
            tfshare.save_runtime([clf], tmp_path / "file" / "r.npz")


def _rewritten(path, target, drop=(), metadata=None):
    """A copy of a runtime file without the arrays ``drop``, with other metadata if given."""
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files if k not in drop}
    if metadata is not None:
        arrays[bundles._METADATA_KEY] = np.array(metadata)
    np.savez(target, **arrays)
    return target


def test_classifiers_of_different_input_shapes_share_one_file(tmp_path, rng):
    narrow = tfshare.DenseClassifier(4, 2, (3,), name="narrow", seed=0)
    wide = tfshare.DenseClassifier(6, 3, (5,), name="wide", seed=1)
    with narrow, wide:
        tfshare.save_runtime([narrow, wide], tmp_path / "r.npz")
        metadata, _ = bundles._read(str(tmp_path / "r.npz"))
        entries = metadata["classifiers"]
        assert (entries["narrow"]["trunk"], entries["wide"]["trunk"]) == (None, None)
        assert entries["wide"]["variables"]["head/kernel"] == "classifiers/wide/head/kernel"
        assert tfshare.restore_runtime([wide, narrow], tmp_path / "r.npz") == ["wide", "narrow"]


def test_the_metadata_does_not_depend_on_the_order_classifiers_are_given(tmp_path):
    with tfshare.GraphSession(device="cpu") as gs:
        trunk = tfshare.SharedTrunk(gs, 4, (3,), seed=0, name="t")
        a = tfshare.DenseClassifier(trunk=trunk, num_classes=2, name="a", seed=1)
        b = tfshare.DenseClassifier(4, 2, (3,), runtime=gs, name="b", seed=2)
        tfshare.save_runtime([a, b], tmp_path / "ab.npz")
        tfshare.save_runtime([b, a], tmp_path / "ba.npz")
    with np.load(tmp_path / "ab.npz") as ab, np.load(tmp_path / "ba.npz") as ba:
        assert str(ab[bundles._METADATA_KEY]) == str(ba[bundles._METADATA_KEY])
    assert bundles._read(str(tmp_path / "ab.npz"))[0]["classifiers"]["a"]["trunk"] == "t"


def test_a_file_missing_a_variable_or_the_classifier_list_is_refused(tmp_path):
    with tfshare.DenseClassifier(4, 2, (3,), name="c", seed=0) as clf:
        path = tfshare.save_runtime([clf], tmp_path / "r.npz")
        no_bias = _rewritten(path, tmp_path / "no_bias.npz", drop={"classifiers/c/head/bias.npy", "classifiers/c/head/bias"})
        with pytest.raises(tfshare.CheckpointError, match=r"^classifier 'c': runtime checkpoint '.*no_bias\.npz' has no "
                           r"variable 'head/bias' \(shape \[2\]\)$"):
            tfshare.restore_runtime([clf], no_bias)
        empty = _rewritten(path, tmp_path / "empty.npz", metadata='{"format": 1}')
        with pytest.raises(tfshare.CheckpointError, match=r"^runtime checkpoint '.*empty\.npz' has no classifier named "
                           r"'c'; it holds \[\]$"):
            tfshare.restore_runtime([clf], empty)


@pytest.mark.parametrize("path", [None, 3], ids=["none", "int"])
def test_runtime_files_name_a_bad_path_type(path):
    with tfshare.DenseClassifier(4, 2, (3,), name="c", seed=0) as clf:
        for fn in (tfshare.save_runtime, tfshare.restore_runtime):
            with pytest.raises(TypeError, match=rf"^path must be a str or os.PathLike, got {type(path).__name__}$"):
                fn([clf], path)


def test_the_temporary_of_a_writer_owned_by_another_user_is_kept(tmp_path, monkeypatch):
    # os.kill(pid, 0) on another user's process fails with EPERM: the writer exists, its file is not an orphan.
    theirs = tmp_path / ".r.npz.4242.abc.tmp"
    theirs.write_bytes(b"partial")

    def kill(pid, sig):
        assert (pid, sig) == (4242, 0)
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "kill", kill)
    with tfshare.DenseClassifier(4, 2, (3,), name="c", seed=0) as clf:
        tfshare.save_runtime([clf], tmp_path / "r.npz")
    assert sorted(os.listdir(tmp_path)) == [theirs.name, "r.npz"]


def test_a_model_with_an_integer_variable_round_trips(tmp_path):
    """Normalization's `count` is int64: restore_runtime checks each variable against its own dtype."""
    path = tmp_path / "r.npz"
    xs = np.random.default_rng(3).random((32, 4), dtype=np.float32)

    def model_fn():
        return keras.Sequential([keras.Input((4,)), keras.layers.Normalization(), keras.layers.Dense(3)])

    with tfshare.Classifier(model_fn=model_fn, name="n", seed=0) as saved:
        saved.fit(xs, np.arange(32) % 3, epochs=2)
        assert "int64" in {v.dtype.base_dtype.name for v in saved.named_variables.values()}
        tfshare.save_runtime([saved], path)
        expected = saved.predict_proba(xs)
    with tfshare.Classifier(model_fn=model_fn, name="n", seed=1) as restored:
        assert tfshare.restore_runtime([restored], path) == ["n"]
        np.testing.assert_allclose(restored.predict_proba(xs), expected, rtol=1e-6)
