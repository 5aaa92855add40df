"""The Dataset record, the embedded data set, the .npz loader and the named public sets."""

from __future__ import annotations

import gzip
import importlib
import inspect
import os
import re
import socket
import struct
import sys
import urllib.error

import numpy as np
import pytest

import tfshare
from tfshare._tf import KERAS_VERSION, keras_datasets


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


@pytest.mark.parametrize("seed, error, match", [
    (-1, tfshare.InputError, re.escape("seed must be in [0, 2**31), got -1")),
    (1.5, TypeError, re.escape("seed must be an int in [0, 2**31), got float 1.5")),
    (None, TypeError, re.escape("seed must be an int in [0, 2**31), got None")),
], ids=["negative", "float", "none"])
def test_synthetic_seed_is_checked(seed, error, match):
    with pytest.raises(error, match=match):
        tfshare.synthetic(num_train=5, num_test=5, seed=seed)


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
            "y_train must have an integer dtype, got float64",
        ),
    ],
    ids=["missing-keys", "width-mismatch", "label-count", "float-labels"],
)
def test_load_npz_errors(tmp_path, arrays, match):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(tfshare.InputError, match=match):
        tfshare.load_npz(path)


def _save_labels(path, y_train, y_test):
    np.savez(path, x_train=np.ones((len(y_train), 3)), y_train=y_train, x_test=np.ones((len(y_test), 3)), y_test=y_test)


def test_load_npz_mixed_integer_label_dtypes_infer_the_class_count(tmp_path):
    _save_labels(tmp_path / "mix.npz", np.array([1, 2], np.int64), np.array([1], np.uint64))
    d = tfshare.load_npz(tmp_path / "mix.npz")
    assert d.num_classes == 3 and d.y_train.dtype == d.y_test.dtype == np.int64
    assert d.y_train.tolist() == [1, 2] and d.y_test.tolist() == [1]


def test_load_npz_uint64_labels_beyond_int64_are_refused(tmp_path):
    _save_labels(tmp_path / "u64.npz", np.array([2**63, 2], np.uint64), np.array([1], np.uint64))
    with pytest.raises(tfshare.InputError, match=r"y_train must hold class ids that fit int64 .* got 9223372036854775808"):
        tfshare.load_npz(tmp_path / "u64.npz")


@pytest.mark.parametrize("y_train, y_test, match", [
    (np.zeros(4, int), np.zeros(2, int),
     r"num_classes was not given, so it is taken from the labels as max label \+ 1 = 1 \(the largest label in "
     r"y_train and y_test is 0\); it must be >= 2"),
    (np.zeros(0, int), np.zeros(0, int), "num_classes was not given and y_train and y_test are empty"),
], ids=["all-zero", "empty"])
def test_load_npz_inferred_class_count_says_where_it_came_from(tmp_path, y_train, y_test, match):
    _save_labels(tmp_path / "d.npz", y_train, y_test)
    with pytest.raises(tfshare.InputError, match=match):
        tfshare.load_npz(tmp_path / "d.npz")


def test_load_npz_missing_file(tmp_path):
    with pytest.raises(tfshare.InputError, match="cannot read"):
        tfshare.load_npz(tmp_path / "nope.npz")


def test_load_npz_an_npy_file_is_an_input_error(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((2, 3)))
    with pytest.raises(tfshare.InputError, match=r"cannot read .*a\.npy' as an \.npz file: it holds a single "
                                                 r"float64 array of shape \(2, 3\) \(an \.npy file\)"):
        tfshare.load_npz(tmp_path / "a.npy")


def test_load_npz_a_corrupt_zip_is_an_input_error(tmp_path):
    path = tmp_path / "bad.npz"
    path.write_bytes(b"PK\x03\x04garbage" * 3)
    with pytest.raises(tfshare.InputError, match=r"cannot read .*bad\.npz' as an \.npz file: File is not a zip file"):
        tfshare.load_npz(path)


# --- flatten=False, Dataset.input_shape / flatten / subset -----------------------------------


def test_synthetic_flatten_true_is_unchanged():
    # Pinned from the arrays before flatten= existed: the labels exactly (PCG64 integers are
    # the same on every platform), the features to float32 precision (np.exp may differ by an ulp).
    d = tfshare.synthetic(num_train=300, num_test=100, seed=7)
    assert d.y_train[:12].tolist() == [4, 6, 2, 6, 2, 1, 7, 5, 3, 0, 2, 8]
    np.testing.assert_allclose(d.x_train[:2].astype(np.float64).sum(), 266.53486647992395, rtol=1e-6)
    assert d.input_shape == (784,) and d.flatten() is d


def test_synthetic_images_are_the_rows_reshaped():
    rows = tfshare.synthetic(num_train=30, num_test=10, seed=5)
    images = tfshare.synthetic(num_train=30, num_test=10, seed=5, flatten=False)
    assert images.x_train.shape == (30, 28, 28, 1) and images.x_test.shape == (10, 28, 28, 1)
    assert images.x_train.dtype == np.float32 and images.x_train.flags.c_contiguous
    assert images.input_shape == (28, 28, 1) and images.input_dim == 784
    np.testing.assert_array_equal(images.x_train.reshape(30, 784), rows.x_train)
    np.testing.assert_array_equal(images.y_test, rows.y_test)


def test_dataset_flatten_is_a_view_of_the_images():
    images = tfshare.synthetic(num_train=8, num_test=4, seed=1, flatten=False)
    flat = images.flatten()
    assert flat.x_train.shape == (8, 784) and flat.x_test.shape == (4, 784)
    assert flat.input_shape == (784,) and flat.input_dim == 784 and flat.name == images.name
    assert np.shares_memory(flat.x_train, images.x_train)
    np.testing.assert_array_equal(flat.x_test, images.x_test.reshape(4, -1))
    assert flat.flatten() is flat


def test_dataset_subset_keeps_the_first_rows():
    d = tfshare.synthetic(num_train=20, num_test=10, seed=2, flatten=False)
    s = d.subset(5, 3)
    assert s.x_train.shape == (5, 28, 28, 1) and s.y_test.shape == (3,)
    np.testing.assert_array_equal(s.x_train, d.x_train[:5])
    np.testing.assert_array_equal(s.y_test, d.y_test[:3])
    assert s.num_classes == d.num_classes and s.name.startswith(d.name)
    with pytest.raises(tfshare.InputError, match=r"num_train must be an int in \[1, 20\] .*, got 21"):
        d.subset(21, 3)
    with pytest.raises(tfshare.InputError, match="num_test must be an int >= 1, got 0"):
        d.subset(5, 0)


@pytest.mark.parametrize("call", [tfshare.synthetic, tfshare.load_digits], ids=["synthetic", "digits"])
def test_flatten_must_be_a_bool(call):
    with pytest.raises(TypeError, match="flatten must be a bool, got str 'no'"):
        call(flatten="no")


def _save_npz(path, x_train, x_test, y_train=None, y_test=None):
    y_train = np.arange(len(x_train)) % 2 if y_train is None else y_train
    y_test = np.arange(len(x_test)) % 2 if y_test is None else y_test
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


@pytest.mark.parametrize(
    "shape, expected",
    [((6, 5, 4), (5, 4, 1)), ((6, 5, 4, 3), (5, 4, 3)), ((6, 7), (7,))],
    ids=["gray-gets-channel", "color-kept", "rows-kept"],
)
def test_load_npz_keeps_the_image_shape(tmp_path, shape, expected):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, shape, dtype=np.uint8)
    _save_npz(tmp_path / "d.npz", x, x[:4])
    d = tfshare.load_npz(tmp_path / "d.npz", flatten=False)
    assert d.input_shape == expected and d.x_test.shape == (4,) + expected
    assert d.x_train.dtype == np.float32 and d.x_train.flags.c_contiguous
    flat = tfshare.load_npz(tmp_path / "d.npz")
    np.testing.assert_array_equal(d.flatten().x_train, flat.x_train)


@pytest.mark.parametrize("flatten", [True, False], ids=["rows", "images"])
def test_load_npz_scales_uint8_by_1_over_255(tmp_path, flatten):
    x = np.array([[[0, 51], [255, 1]]] * 2, np.uint8)  # [2, 2, 2]
    _save_npz(tmp_path / "u.npz", x, x)
    d = tfshare.load_npz(tmp_path / "u.npz", flatten=flatten)
    first = d.x_train[0].ravel()
    assert first[0] == 0.0 and first[2] == 1.0
    assert abs(float(first[1]) - 0.2) <= 1e-7 and abs(float(first[3]) - 1 / 255) <= 1e-7
    assert d.x_train.dtype == np.float32


def test_load_npz_float_images_are_not_scaled(tmp_path):
    x = np.full((3, 2, 2), 7.5)
    _save_npz(tmp_path / "f.npz", x, x)
    d = tfshare.load_npz(tmp_path / "f.npz", flatten=False)
    assert d.x_train.shape == (3, 2, 2, 1) and d.x_train.dtype == np.float32 and d.x_train.max() == 7.5


@pytest.mark.parametrize(
    "x_train, x_test, match",
    [
        (np.zeros((3, 4, 4), np.uint8), np.zeros((2, 4, 5), np.uint8),
         re.escape("x_test must have the same shape per example as x_train ((4, 4, 1)), got (4, 5, 1)")),
        (np.zeros((3, 2, 2, 2, 2), np.uint8), np.zeros((2, 2, 2, 2, 2), np.uint8),
         re.escape("x_train must have shape [n, features], [n, H, W] or [n, H, W, C] to keep its image shape "
                   "(flatten=False), got 5-D shape (3, 2, 2, 2, 2)")),
    ],
    ids=["shape-mismatch", "5-D"],
)
def test_load_npz_image_errors(tmp_path, x_train, x_test, match):
    _save_npz(tmp_path / "bad.npz", x_train, x_test)
    with pytest.raises(tfshare.InputError, match=match):
        tfshare.load_npz(tmp_path / "bad.npz", flatten=False)


# --- load_digits -------------------------------------------------------------------------------


def test_load_digits_images_and_split():
    pytest.importorskip("sklearn")
    d = tfshare.load_digits()
    assert d.name == "digits" and d.num_classes == 10
    assert d.x_train.shape == (1437, 8, 8, 1) and d.x_test.shape == (360, 8, 8, 1)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64 and d.y_train.shape == (1437,)
    assert d.input_shape == (8, 8, 1) and d.input_dim == 64
    assert d.x_train.min() == 0.0 and d.x_train.max() == 1.0
    # pixel counts 0..16 divided by 16: every value is a multiple of 1/16
    np.testing.assert_array_equal(d.x_test * 16, np.round(d.x_test * 16))


def test_load_digits_flatten_is_the_images_reshaped():
    pytest.importorskip("sklearn")
    images, rows = tfshare.load_digits(), tfshare.load_digits(flatten=True)
    assert rows.x_train.shape == (1437, 64) and rows.x_test.shape == (360, 64)
    np.testing.assert_array_equal(rows.x_train, images.x_train.reshape(1437, -1))
    np.testing.assert_array_equal(rows.x_test, images.x_test.reshape(360, -1))
    np.testing.assert_array_equal(rows.y_train, images.y_train)


def test_load_digits_split_is_deterministic_and_stratified():
    pytest.importorskip("sklearn")
    a, b = tfshare.load_digits(seed=3), tfshare.load_digits(seed=3)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    c = tfshare.load_digits(seed=4)
    assert not np.array_equal(a.y_train, c.y_train)
    for d, fraction in ((a, 0.2), (tfshare.load_digits(test_fraction=0.5), 0.5)):
        train_counts = np.bincount(d.y_train, minlength=10)
        test_counts = np.bincount(d.y_test, minlength=10)
        total = train_counts + test_counts
        assert total.sum() == 1797 and (train_counts > 0).all() and (test_counts > 0).all()
        # each class's share of the test split is the test fraction, to within one example
        assert np.all(np.abs(test_counts - fraction * total) <= 1), (test_counts, total)


def test_load_digits_takes_a_numpy_float_fraction():
    pytest.importorskip("sklearn")
    a, b = tfshare.load_digits(test_fraction=np.float32(0.3)), tfshare.load_digits(test_fraction=0.3)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert a.x_test.shape == b.x_test.shape == (540, 8, 8, 1)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"test_fraction": 0}, tfshare.InputError, re.escape("test_fraction must be a float in (0, 1), got 0")),
        ({"test_fraction": float("nan")}, tfshare.InputError, re.escape("test_fraction must be a float in (0, 1), got nan")),
        ({"test_fraction": 1.0}, tfshare.InputError, re.escape("test_fraction must be a float in (0, 1), got 1.0")),
        ({"test_fraction": 0.001}, tfshare.InputError,
         r"test_fraction must leave at least 10 of the 1797 examples .*got 0.001 \(2 test examples\)"),
        ({"test_fraction": "0.2"}, TypeError, re.escape("test_fraction must be a float in (0, 1), got str '0.2'")),
        ({"seed": None}, TypeError, "seed must be an int"),
        ({"seed": 1.5}, TypeError, re.escape("seed must be an int in [0, 2**31), got float 1.5")),
        ({"seed": -1}, tfshare.InputError, re.escape("seed must be in [0, 2**31), got -1")),
    ],
    ids=["fraction-0", "fraction-nan", "fraction-1", "fraction-tiny", "fraction-str", "seed-none", "seed-float", "seed-negative"],
)
def test_load_digits_bad_arguments(kwargs, error, match):
    pytest.importorskip("sklearn")
    with pytest.raises(error, match=match):
        tfshare.load_digits(**kwargs)


def test_load_digits_without_scikit_learn_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # `import sklearn` now raises ImportError
    with pytest.raises(ImportError, match=re.escape("pip install 'tfshare[digits]'")):
        tfshare.load_digits()


# --- load_keras_dataset ------------------------------------------------------------------------

_URLS = {
    "mnist": "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
    "fashion_mnist": "https://storage.googleapis.com/tensorflow/tf-keras-datasets/train-labels-idx1-ubyte.gz",
    "cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
}
_CACHED = {
    "mnist": os.path.join("datasets", "mnist.npz"),
    "fashion_mnist": os.path.join("datasets", "fashion-mnist", "train-labels-idx1-ubyte.gz"),
    "cifar10": os.path.join("datasets", "cifar-10-batches-py.tar.gz"),
}


@pytest.fixture
def offline(monkeypatch) -> str:
    """Makes every download fail.

    On a machine without a network (DNS fails), downloads really fail and
    nothing is patched. Where the hosts resolve, tf_keras's urlretrieve is
    patched to raise URLError, so the test never downloads.
    """
    try:
        socket.getaddrinfo("storage.googleapis.com", 443)
    except OSError:
        return "really offline"
    data_utils = importlib.import_module("tf_keras.src.utils.data_utils")

    def refuse(url, *args, **kwargs):
        raise urllib.error.URLError(f"download refused by the test's offline fixture: {url}")

    monkeypatch.setattr(data_utils, "urlretrieve", refuse)
    return "simulated offline"


# tf_keras 2.16's dataset loaders take no cache_dir (later ones do): the tests that point them at a
# temporary cache run where they can, and on 2.16 the refusal is tested instead.
_LOADERS_TAKE_CACHE_DIR = "cache_dir" in inspect.signature(keras_datasets.mnist.load_data).parameters
needs_cache_dir = pytest.mark.skipif(
    not _LOADERS_TAKE_CACHE_DIR, reason=f"tf_keras {KERAS_VERSION}'s dataset loaders take no cache_dir"
)


@pytest.mark.skipif(_LOADERS_TAKE_CACHE_DIR, reason=f"tf_keras {KERAS_VERSION}'s dataset loaders take cache_dir")
def test_load_keras_dataset_refuses_a_cache_dir_the_loaders_cannot_take(tmp_path):
    with pytest.raises(tfshare.InputError, match=rf"cache_dir needs a tf_keras whose dataset loaders take one; "
                                                 rf"tf_keras {re.escape(KERAS_VERSION)}'s do not"):
        tfshare.load_keras_dataset("mnist", cache_dir=tmp_path)


@needs_cache_dir
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_load_keras_dataset_offline_names_the_file_to_fill(tmp_path, offline, name):
    with pytest.raises(tfshare.DataError) as info:
        tfshare.load_keras_dataset(name, cache_dir=tmp_path)
    message = str(info.value)
    path = str(tmp_path / _CACHED[name])
    assert f"{_URLS[name]} -> {path}" in message, message
    assert message.startswith(f"cannot load {name!r}: ") and "downloading" in message
    # The URL in tfshare's table is the one tf_keras tried (the chained cause is tf_keras's error).
    assert _URLS[name] in str(info.value.__cause__)
    assert isinstance(info.value, tfshare.TfshareError) and not os.path.exists(path)


def test_load_keras_dataset_default_cache_is_home_dot_keras(tmp_path, offline, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # os.path.expanduser("~") reads $HOME
    (tmp_path / ".keras").mkdir()
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "ignored"))  # tf_keras's downloads do not read it
    expected = tmp_path / ".keras" / "datasets" / "mnist.npz"
    with pytest.raises(tfshare.DataError, match=re.escape(f"-> {expected}")):
        tfshare.load_keras_dataset("mnist")


@needs_cache_dir
def test_load_keras_dataset_mnist_hash_mismatch_loses_the_file(tmp_path, offline):
    # tf_keras checks mnist.npz's sha256: a file that does not match is re-downloaded, and when
    # that fails tf_keras deletes it. So a hand-made mnist.npz cannot stand in for the real one.
    path = tmp_path / "datasets" / "mnist.npz"
    path.parent.mkdir()
    x = np.zeros((3, 28, 28), np.uint8)
    np.savez(path, x_train=x, y_train=np.zeros(3, np.uint8), x_test=x, y_test=np.zeros(3, np.uint8))
    with pytest.raises(tfshare.DataError, match="a file was there, but its sha256 is not 731c5ac6"):
        tfshare.load_keras_dataset("mnist", cache_dir=tmp_path)
    assert not path.exists()


def _write_idx(path, array):
    """Writes an IDX file (gzipped) as Fashion-MNIST's: big-endian magic, dims, then uint8 data."""
    header = struct.pack(">I", 0x800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


@needs_cache_dir
@pytest.mark.parametrize("flatten", [False, True], ids=["images", "rows"])
def test_load_keras_dataset_reads_a_cached_fashion_mnist(tmp_path, offline, flatten):
    # Fashion-MNIST is the one set tf_keras does not hash-check, so a small valid cache
    # stands in for it; loading succeeds only if tf_keras reads it without downloading.
    rng = np.random.default_rng(0)
    folder = tmp_path / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    x_train = rng.integers(0, 256, (12, 28, 28), dtype=np.uint8)
    x_test = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    x_train[0, 0, :3] = [0, 51, 255]
    y_train, y_test = np.arange(12, dtype=np.uint8) % 10, np.array([9, 0, 1, 2, 3], np.uint8)
    _write_idx(folder / "train-images-idx3-ubyte.gz", x_train)
    _write_idx(folder / "train-labels-idx1-ubyte.gz", y_train)
    _write_idx(folder / "t10k-images-idx3-ubyte.gz", x_test)
    _write_idx(folder / "t10k-labels-idx1-ubyte.gz", y_test)
    d = tfshare.load_keras_dataset("fashion_mnist", flatten=flatten, cache_dir=tmp_path)
    shape = (784,) if flatten else (28, 28, 1)
    assert d.name == "fashion_mnist" and d.num_classes == 10 and d.input_shape == shape
    assert d.x_train.shape == (12,) + shape and d.x_test.shape == (5,) + shape
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64
    np.testing.assert_array_equal(d.y_test, [9, 0, 1, 2, 3])
    np.testing.assert_array_equal(d.x_test.reshape(5, 28, 28), x_test.astype(np.float32) / np.float32(255))
    first = d.x_train[0].ravel()
    assert first[0] == 0.0 and abs(float(first[1]) - 0.2) <= 1e-7 and first[2] == 1.0


@needs_cache_dir
def test_load_keras_dataset_unreadable_cache(tmp_path, offline):
    folder = tmp_path / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    for name in ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"):
        (folder / name).write_bytes(b"not gzip")
    with pytest.raises(tfshare.DataError, match="cannot load 'fashion_mnist': its cached files .* cannot be read"):
        tfshare.load_keras_dataset("fashion_mnist", cache_dir=tmp_path)


def test_load_keras_dataset_real_mnist_if_cached():
    path = os.path.join(os.path.expanduser("~"), ".keras", "datasets", "mnist.npz")
    if not os.path.exists(path):
        pytest.skip(f"no real MNIST cached at {path} (it downloads on a machine with a network)")
    d = tfshare.load_keras_dataset("mnist")
    assert d.x_train.shape == (60000, 28, 28, 1) and d.x_test.shape == (10000, 28, 28, 1)
    assert d.x_train.dtype == np.float32 and 0.0 <= d.x_train.min() and d.x_train.max() == 1.0
    assert d.y_train.dtype == np.int64 and set(np.unique(d.y_test)) == set(range(10))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"name": "mnist2"}, tfshare.InputError,
         re.escape("name must be one of ['cifar10', 'fashion_mnist', 'mnist'], got 'mnist2'")),
        ({"name": "mnist", "flatten": 1}, TypeError, "flatten must be a bool, got int 1"),
        ({"name": "mnist", "cache_dir": ""}, tfshare.InputError, "cache_dir must be a non-empty path or None, got ''"),
        ({"name": "mnist", "cache_dir": 3}, TypeError, r"cache_dir must be a path \(str or os.PathLike\) or None, got int"),
    ],
    ids=["name", "flatten", "cache-empty", "cache-int"],
)
def test_load_keras_dataset_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        tfshare.load_keras_dataset(**kwargs)


def test_load_keras_dataset_cache_dir_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(tfshare.DataError, match=f"cache_dir {re.escape(repr(str(blocker / 'sub')))} cannot be created"):
        tfshare.load_keras_dataset("mnist", cache_dir=blocker / "sub")
