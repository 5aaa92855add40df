"""The embedded data set and the .npz loader."""

from __future__ import annotations

import numpy as np
import pytest

import tfshare


def test_synthetic_is_deterministic_and_mnist_shaped():
    a = tfshare.synthetic(num_train=300, num_test=100, seed=7)
    b = tfshare.synthetic(num_train=300, num_test=100, seed=7)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert a.x_train.shape == (300, 784) and a.x_train.dtype == np.float32
    assert a.y_train.dtype == np.int64 and a.num_classes == 10 and a.input_dim == 784
    assert 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0
    assert set(np.unique(a.y_train)) == set(range(10))
    c = tfshare.synthetic(num_train=300, num_test=100, seed=8)
    assert not np.array_equal(a.x_train, c.x_train)


def test_load_npz_flattens_and_scales_images(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(
        path,
        x_train=rng.integers(0, 256, (20, 8, 8, 3), dtype=np.uint8),
        y_train=rng.integers(0, 4, 20),
        x_test=rng.integers(0, 256, (5, 8, 8, 3), dtype=np.uint8),
        y_test=np.array([0, 1, 2, 3, 3]),
    )
    d = tfshare.load_npz(path)
    assert d.x_train.shape == (20, 192) and d.x_train.dtype == np.float32
    assert d.x_train.max() <= 1.0 and d.num_classes == 4
    with tfshare.DenseClassifier(input_dim=d.input_dim, num_classes=d.num_classes, seed=0) as clf:
        clf.fit(d.x_train, d.y_train)
        assert clf.predict(d.x_test).shape == (5,)


def test_load_npz_float_features_are_cast_and_checked(tmp_path):
    path = tmp_path / "f.npz"
    np.savez(path, x_train=np.ones((4, 3)), y_train=np.array([0, 1, 0, 1]), x_test=np.ones((2, 3)), y_test=np.array([0, 1]))
    d = tfshare.load_npz(path)
    assert d.x_train.dtype == np.float32 and d.input_dim == 3


@pytest.mark.parametrize(
    "arrays, match",
    [
        ({"x_train": np.ones((4, 3)), "y_train": np.zeros(4, int)}, r"lacks keys \['x_test', 'y_test'\]"),
        (
            {"x_train": np.ones((4, 3)), "y_train": np.zeros(4, int), "x_test": np.ones((2, 5)), "y_test": np.zeros(2, int)},
            "x_test must have the same features per row as x_train",
        ),
        (
            {"x_train": np.ones((4, 3)), "y_train": np.zeros(3, int), "x_test": np.ones((2, 3)), "y_test": np.array([0, 1])},
            "y_train must have one label per row of x: expected 4 labels, got 3",
        ),
        (
            {"x_train": np.ones((4, 3)), "y_train": np.full(4, 0.5), "x_test": np.ones((2, 3)), "y_test": np.zeros(2)},
            "y_train/y_test must have an integer dtype",
        ),
    ],
    ids=["missing-keys", "width-mismatch", "label-count", "float-labels"],
)
def test_load_npz_errors(tmp_path, arrays, match):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(tfshare.InputError, match=match):
        tfshare.load_npz(path)


def test_load_npz_missing_file(tmp_path):
    with pytest.raises(tfshare.InputError, match="cannot read"):
        tfshare.load_npz(tmp_path / "nope.npz")
