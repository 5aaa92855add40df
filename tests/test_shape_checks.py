"""Every variable's shape is checked before anything is assigned, one variable at a time.

For each variable in turn, a checkpoint that holds the classifier's own
configuration and values, except that this one variable has another shape,
must be refused with a ``CheckpointError`` naming the variable and both
shapes, and the weights trained since the save must stay as they were. The
same files with every shape right restore, so each refusal is the shape's.
"""

from __future__ import annotations

import os
import re
import shutil

import numpy as np
import pytest

import tfshare
from tfshare._tf import tf, tf1

from conftest import small_cnn_body


def _grown(value):
    """The value with one more row along its first axis: the same variable, another shape."""
    return np.concatenate([value, value[:1]], axis=0)


def _write_checkpoint(directory, values, sidecar_of):
    """A V2 checkpoint of ``values`` (key -> array) at directory/ckpt-1, with ``sidecar_of``'s sidecar."""
    os.makedirs(directory)
    with tf.Graph().as_default() as graph:
        variables = {k: tf1.Variable(v, name=f"v{i}") for i, (k, v) in enumerate(values.items())}
        saver = tf1.train.Saver(var_list=variables)
        with tf1.Session(graph=graph) as session:
            session.run([v.initializer for v in variables.values()])
            prefix = saver.save(session, os.path.join(str(directory), "ckpt-1"), write_meta_graph=False)
    shutil.copy(sidecar_of + ".tfshare.json", prefix + ".tfshare.json")
    return prefix


def _same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def _mlp(gs):
    return tfshare.DenseClassifier(6, 3, (5,), runtime=gs, seed=0)


def _head_on_trunk(gs):
    trunk = tfshare.SharedTrunk(gs, 6, (5, 4), seed=0)
    return tfshare.DenseClassifier(trunk=trunk, num_classes=3, seed=1)


def _cnn(gs):
    return tfshare.Classifier(layers=small_cnn_body, input_shape=(6, 6, 1), num_classes=3, runtime=gs, seed=0)


@pytest.mark.parametrize("make", [_mlp, _head_on_trunk, _cnn], ids=["mlp", "head_on_trunk", "cnn_with_batchnorm"])
def test_restore_refuses_a_checkpoint_where_any_one_variable_has_another_shape(runtime, tmp_path, rng, make):
    clf = make(runtime)
    x = rng.random((16, *clf.input_shape), dtype=np.float32)
    y = rng.integers(0, 3, 16)
    clf.fit(x, y, batch_size=8)
    saved_prefix = clf.save(tmp_path / "saved")
    saved = clf.get_weights()
    clf.fit(x, y, batch_size=8, learning_rate=0.05)  # trained since the save
    trained = clf.get_weights()
    assert not _same(trained, saved)
    assert any(k.startswith("head/") for k in saved) and len(saved) >= 4
    for i, key in enumerate(saved):
        values = dict(saved, **{key: _grown(saved[key])})
        prefix = _write_checkpoint(tmp_path / f"bad{i}", values, saved_prefix)
        message = (
            rf"variable '{re.escape(key)}': checkpoint '.*bad{i}/ckpt-1' holds shape "
            rf"{re.escape(str(list(values[key].shape)))}, the classifier expects shape "
            rf"{re.escape(str(list(saved[key].shape)))}"
        )
        with pytest.raises(tfshare.CheckpointError, match=message):
            clf.restore(prefix)
        assert _same(clf.get_weights(), trained), f"refusing {key!r} changed the weights"
    # The same file with every shape right restores: the refusals were the shapes'.
    clf.restore(_write_checkpoint(tmp_path / "good", saved, saved_prefix))
    assert _same(clf.get_weights(), saved)


def test_restore_runtime_refuses_a_file_where_any_one_variable_has_another_shape(runtime, tmp_path, rng):
    trunk = tfshare.SharedTrunk(runtime, 6, (5,), seed=0)
    classifiers = [
        tfshare.DenseClassifier(trunk=trunk, num_classes=3, name="a", seed=1),
        tfshare.DenseClassifier(trunk=trunk, num_classes=3, name="b", seed=2),
        tfshare.DenseClassifier(6, 3, (4,), runtime=runtime, name="plain", seed=3),
    ]
    x, y = rng.random((16, 6), dtype=np.float32), rng.integers(0, 3, 16)
    path = tfshare.save_runtime(classifiers, tmp_path / "saved.npz")
    saved = [c.get_weights() for c in classifiers]
    for clf in classifiers:
        clf.fit(x, y, batch_size=8, learning_rate=0.05)
    trained = [c.get_weights() for c in classifiers]
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    keys = [k for k in arrays if k != "__tfshare_runtime__"]
    assert sorted(keys) == sorted(
        [f"trunks/{trunk.name}/hidden_0/{p}" for p in ("kernel", "bias")]
        + [f"classifiers/{n}/head/{p}" for n in ("a", "b", "plain") for p in ("kernel", "bias")]
        + [f"classifiers/plain/hidden_0/{p}" for p in ("kernel", "bias")]
    )
    for i, array_key in enumerate(keys):
        bad = tmp_path / f"bad{i}.npz"
        np.savez(bad, **dict(arrays, **{array_key: _grown(arrays[array_key])}))
        variable = array_key.rsplit("/", 2)[-2] + "/" + array_key.rsplit("/", 1)[-1]
        message = (
            rf"variable '{re.escape(variable)}': runtime checkpoint '.*bad{i}\.npz' holds shape "
            rf"{re.escape(str([arrays[array_key].shape[0] + 1, *arrays[array_key].shape[1:]]))} \(float32\), "
            rf"the classifier expects shape {re.escape(str(list(arrays[array_key].shape)))}"
        )
        with pytest.raises(tfshare.CheckpointError, match=message):
            tfshare.restore_runtime(classifiers, bad)
        assert all(_same(c.get_weights(), w) for c, w in zip(classifiers, trained)), array_key
    good = tmp_path / "good.npz"
    np.savez(good, **arrays)
    tfshare.restore_runtime(classifiers, good)
    assert all(_same(c.get_weights(), w) for c, w in zip(classifiers, saved))


def test_restore_refuses_a_checkpoint_missing_any_one_variable(runtime, tmp_path):
    clf = _head_on_trunk(runtime)
    saved_prefix = clf.save(tmp_path / "saved")
    saved = clf.get_weights()
    assert any(k.startswith("head/") for k in saved) and any(k.startswith("hidden_") for k in saved)
    for i, key in enumerate(saved):
        prefix = _write_checkpoint(tmp_path / f"bad{i}", {k: v for k, v in saved.items() if k != key}, saved_prefix)
        message = (
            rf"^checkpoint '.*bad{i}/ckpt-1' has no variable '{re.escape(key)}' "
            rf"\(shape {re.escape(str(list(saved[key].shape)))}\)$"
        )
        with pytest.raises(tfshare.CheckpointError, match=message):
            clf.restore(prefix)
