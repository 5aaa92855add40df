"""Named public data sets: scikit-learn's 8x8 digits, and tf_keras's MNIST, Fashion-MNIST and CIFAR-10.

Digits ships inside scikit-learn (1,797 images, no download), so it is the
real-image set that works offline. The tf_keras sets are downloaded once by
``tf_keras.datasets.<name>.load_data()`` into tf_keras's cache and read from
there afterwards. That cache is ``<cache_dir>/datasets`` with cache_dir
``~/.keras`` by default, or ``/tmp/.keras`` when that directory is missing or
not writable. tf_keras reads ``$KERAS_HOME`` only for its keras.json, never
for downloads. Without a network, fill the cache by hand: the DataError of a
failed load names each file's exact path and URL.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import numbers
import os
from typing import Any

import numpy as np

from tfshare import validation
from tfshare._tf import KERAS_VERSION, keras_datasets
from tfshare.data import Dataset, images_to_float32, labelled
from tfshare.errors import DataError, InputError

NUM_CLASSES = 10  # of every set here
_DIGITS_MAX_PIXEL = 16.0  # scikit-learn's digits hold pixel counts 0..16
_GCS = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


@dataclasses.dataclass(frozen=True)
class _KerasSet:
    """What tf_keras's loader of one set downloads, and where it caches it.

    Attributes:
      subdir: the cache subdirectory, relative to cache_dir.
      files: (file name in the cache, URL) pairs. tf_keras saves CIFAR-10's
        archive under a name other than the URL's.
      sha256: the hash tf_keras checks the (single) file against, or None.
    """

    subdir: str
    files: tuple[tuple[str, str], ...]
    sha256: str | None


# Taken from tf_keras/src/datasets/{mnist,fashion_mnist,cifar10}.py (2.16-2.21).
_KERAS_SETS = {
    "cifar10": _KerasSet(
        "datasets",
        (("cifar-10-batches-py.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),),
        "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
    ),
    "fashion_mnist": _KerasSet(
        os.path.join("datasets", "fashion-mnist"),
        tuple(
            (name, _GCS + name)
            for name in (
                "train-labels-idx1-ubyte.gz",
                "train-images-idx3-ubyte.gz",
                "t10k-labels-idx1-ubyte.gz",
                "t10k-images-idx3-ubyte.gz",
            )
        ),
        None,
    ),
    "mnist": _KerasSet(
        "datasets",
        (("mnist.npz", _GCS + "mnist.npz"),),
        "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
    ),
}
KERAS_DATASETS = tuple(sorted(_KERAS_SETS))


def load_digits(flatten: bool = False, test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """Loads scikit-learn's 8x8 handwritten digits with a fixed stratified split.

    The 1,797 images come with scikit-learn (no download). The split is
    ``sklearn.model_selection.train_test_split(..., stratify=y,
    random_state=seed)``: the same arguments give the same split, and every
    class is in both parts in proportion. The defaults give 1,437 training
    and 360 test examples.

    Args:
      flatten: False for images, True for rows of 64 features.
      test_fraction: the share of examples in the test split, in (0, 1);
        each split must keep at least one example per class.
      seed: the split's random_state, an int in [0, 2**31).

    Returns:
      A Dataset named "digits" with 10 classes, int64 labels of shape [n] and
      float32 features in [0, 1] (pixel counts 0..16 divided by 16): images
      [n, 8, 8, 1] (channels-last), or rows [n, 64] with flatten=True.

    Raises:
      ImportError: scikit-learn is not installed.
      TypeError: an argument has the wrong type.
      InputError: test_fraction is outside (0, 1) or leaves a split with
        fewer than 10 examples.
    """
    flatten = validation.boolean(flatten, "flatten")
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, numbers.Real):
        raise TypeError(
            f"test_fraction must be a float in (0, 1), got {type(test_fraction).__name__} {test_fraction!r}"
        )
    if not 0.0 < test_fraction < 1.0:  # NaN fails too
        raise InputError(f"test_fraction must be a float in (0, 1), got {test_fraction}")
    test_fraction = float(test_fraction)  # scikit-learn refuses NumPy floats (np.float32) as test_size
    seed = validation.seed(seed, allow_none=False)
    try:
        from sklearn import datasets as sk_datasets
        from sklearn import model_selection
    except ImportError as exc:
        raise ImportError(
            "load_digits needs scikit-learn, which is not installed: "
            "`pip install 'tfshare[digits]'` (or `pip install scikit-learn`)"
        ) from exc
    bunch = sk_datasets.load_digits()
    images, labels = bunch.images, bunch.target  # float64 [1797, 8, 8], int [1797]
    total = labels.shape[0]
    num_test = math.ceil(test_fraction * total)  # as train_test_split rounds it
    if min(num_test, total - num_test) < NUM_CLASSES:
        raise InputError(
            f"test_fraction must leave at least {NUM_CLASSES} of the {total} examples (one per "
            f"class) in each split, i.e. be in [{NUM_CLASSES / total:.4f}, "
            f"{1 - NUM_CLASSES / total:.4f}]; got {test_fraction} ({num_test} test examples)"
        )
    x_train, x_test, y_train, y_test = model_selection.train_test_split(
        images, labels, test_size=test_fraction, stratify=labels, random_state=seed
    )
    x_train, x_test = [
        (x / _DIGITS_MAX_PIXEL).astype(np.float32).reshape((x.shape[0], -1) if flatten else x.shape + (1,))
        for x in (x_train, x_test)
    ]
    return labelled(x_train, y_train, x_test, y_test, NUM_CLASSES, "digits")


def load_keras_dataset(name: str, flatten: bool = False, cache_dir: str | os.PathLike | None = None) -> Dataset:
    """Loads MNIST, Fashion-MNIST or CIFAR-10 through ``tf_keras.datasets``.

    tf_keras downloads the set on first use and reads its cache afterwards
    (see the module docstring for where). MNIST's and CIFAR-10's files must
    match tf_keras's sha256: on a mismatch tf_keras downloads them again, and
    deletes the local file if that download fails.

    Args:
      name: "mnist", "fashion_mnist" or "cifar10".
      flatten: False for images, True for rows [n, H * W * C].
      cache_dir: the directory whose ``datasets`` subdirectory holds the
        cache; None for tf_keras's default, ``~/.keras``. tf_keras 2.16's
        loaders take none: there it must be None.

    Returns:
      A Dataset named ``name`` with 10 classes, int64 labels of shape [n] and
      float32 features in [0, 1] (uint8 pixels divided by 255): channels-last
      images [n, 28, 28, 1] (mnist, fashion_mnist) or [n, 32, 32, 3]
      (cifar10), or rows of 784 / 3072 features with flatten=True.

    Raises:
      TypeError: flatten is not a bool, or cache_dir is not a path.
      InputError: name is not one of the three, cache_dir is empty, or
        given to a tf_keras whose loaders take none (2.16).
      DataError: a file is neither cached nor downloadable (the message names
        the exact path to fill and the URL tried), the cache directory cannot
        be created, or a cached file cannot be read.
    """
    validation.choice(name, "name", KERAS_DATASETS)
    flatten = validation.boolean(flatten, "flatten")
    load_data = getattr(keras_datasets, name).load_data
    kwargs = {}
    if cache_dir is not None:
        kwargs["cache_dir"] = cache_dir = _make_cache_dir(cache_dir)
        if "cache_dir" not in inspect.signature(load_data).parameters:
            raise InputError(
                f"cache_dir needs a tf_keras whose dataset loaders take one; tf_keras {KERAS_VERSION}'s do not "
                "(they cache under ~/.keras): leave cache_dir=None"
            )
    spec = _KERAS_SETS[name]
    paths = [os.path.join(_cache_root(cache_dir), spec.subdir, file) for file, _ in spec.files]
    present_before = [os.path.exists(path) for path in paths]
    try:
        (x_train, y_train), (x_test, y_test) = load_data(**kwargs)
    except Exception as exc:  # tf_keras raises a bare Exception when a download fails
        raise DataError(_explain_failure(name, spec, paths, present_before, exc)) from exc
    return labelled(
        images_to_float32(x_train, "x_train", flatten),
        y_train,
        images_to_float32(x_test, "x_test", flatten),
        y_test,
        NUM_CLASSES,
        name,
    )


def _make_cache_dir(cache_dir: Any) -> str:
    """Returns ``cache_dir`` as an absolute path, created if missing (as tf_keras would)."""
    if not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError(f"cache_dir must be a path (str or os.PathLike) or None, got {type(cache_dir).__name__}")
    path = os.fspath(cache_dir)
    if not path:
        raise InputError("cache_dir must be a non-empty path or None, got ''")
    path = os.path.abspath(os.path.expanduser(path))
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cache_dir {path!r} cannot be created: {exc}") from exc
    return path


def _cache_root(cache_dir: str | None) -> str:
    """The directory tf_keras's get_file caches under, resolved as get_file resolves it."""
    root = os.path.expanduser(cache_dir if cache_dir is not None else os.path.join("~", ".keras"))
    return root if os.access(root, os.W_OK) else os.path.join("/tmp", ".keras")


def _explain_failure(
    name: str, spec: _KerasSet, paths: list[str], present_before: list[bool], exc: Exception
) -> str:
    """The DataError message: which files to put where, or which cached file is unreadable."""
    missing = [
        (path, url, before)
        for path, (_, url), before in zip(paths, spec.files, present_before)
        if not os.path.exists(path)
    ]
    if not missing:
        return f"cannot load {name!r}: its cached files {paths} cannot be read: {type(exc).__name__}: {exc}"
    if len(paths) == 1:
        what = "its file is not in tf_keras's cache, and downloading it failed. Download it"
    else:
        what = (
            f"{len(missing)} of its {len(paths)} files are not in tf_keras's cache, and downloading failed. "
            "Download each"
        )
    lines = [f"cannot load {name!r}: {what} on a machine with a network and save it at exactly this path:"]
    for path, url, before in missing:
        lines.append(f"  {url} -> {path}")
        if before:
            lines.append(
                f"    (a file was there, but its sha256 is not {spec.sha256}; tf_keras tried to download a "
                "fresh copy and deleted the local file when that failed)"
            )
    if spec.sha256 is not None:
        lines.append(f"tf_keras checks the file's sha256: {spec.sha256}.")
    lines.append(f"Cause: {type(exc).__name__}: {exc}")
    return "\n".join(lines)
