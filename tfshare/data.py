"""Data: the Dataset record, an embedded MNIST-shaped default set, and a loader for the user's .npz files.

The default set needs no download. It is generated deterministically from a
seed: ten 28x28 class prototypes made of random Gaussian strokes; each sample
is its class's prototype, shifted by up to two pixels, scaled, blended with a
random other prototype and noised, then clipped to [0, 1]. A 784-64-10 MLP
learns it to about 95% test accuracy in a few epochs; a linear model does
worse, so the hidden layer matters.

Features are float32, either flattened rows [n, features] (the default of
``synthetic`` and ``load_npz``, what a dense network reads) or channels-last
images [n, H, W, C] (``flatten=False``, what a CNN reads). Named public data
sets (scikit-learn's digits, tf_keras's MNIST, Fashion-MNIST and CIFAR-10)
are loaded by ``tfshare.datasets``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import zipfile
import zlib
from typing import Any

import numpy as np

from tfshare import validation
from tfshare.errors import InputError

IMAGE_SIDE = 28
INPUT_DIM = IMAGE_SIDE * IMAGE_SIDE
NUM_CLASSES = 10
DEFAULT_SEED = 1234


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A train/test split of float32 features and int64 labels.

    Attributes:
      x_train: float32 array of shape [n_train, *input_shape]: flattened rows
        ([n_train, input_dim]) or channels-last images ([n_train, H, W, C]).
      y_train: int64 array of shape [n_train].
      x_test: float32 array of shape [n_test, *input_shape].
      y_test: int64 array of shape [n_test].
      num_classes: number of classes.
      name: where the data came from.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    name: str

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one example, ``x_train.shape[1:]``: e.g. (784,) or (28, 28, 1)."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def input_dim(self) -> int:
        """Features per flattened row: the product of ``input_shape``."""
        return math.prod(self.input_shape)

    def flatten(self) -> Dataset:
        """Returns the same data with features flattened to rows.

        Returns:
          A Dataset whose x_train and x_test are float32 of shape
          [n, input_dim] (views of these arrays, no copy); ``self`` when the
          features already are rows.
        """
        if self.x_train.ndim == 2 and self.x_test.ndim == 2:
            return self
        return dataclasses.replace(
            self,
            x_train=self.x_train.reshape(self.x_train.shape[0], self.input_dim),
            x_test=self.x_test.reshape(self.x_test.shape[0], self.input_dim),
        )

    def subset(self, num_train: int, num_test: int) -> Dataset:
        """Returns the first ``num_train`` training and ``num_test`` test examples.

        Cheap (views, no copy): for quick runs on a large set. The rows keep
        their order, so a subset is as class-balanced as the set's first rows.

        Args:
          num_train: training examples to keep, in [1, n_train].
          num_test: test examples to keep, in [1, n_test].

        Returns:
          A Dataset with x_train of shape [num_train, *input_shape] and x_test
          of shape [num_test, *input_shape], named after this one.

        Raises:
          TypeError: a count is not an int.
          InputError: a count is < 1 or larger than the rows available.
        """
        for value, arg, available in (
            (num_train, "num_train", len(self.y_train)),
            (num_test, "num_test", len(self.y_test)),
        ):
            validation.positive_int(value, arg)
            if value > available:
                raise InputError(f"{arg} must be an int in [1, {available}] (the rows of {self.name!r}), got {value}")
        return dataclasses.replace(
            self,
            x_train=self.x_train[:num_train],
            y_train=self.y_train[:num_train],
            x_test=self.x_test[:num_test],
            y_test=self.y_test[:num_test],
            name=f"{self.name}[:{num_train}, test :{num_test}]",
        )


def _prototypes(rng: np.random.Generator, num_classes: int) -> np.ndarray:
    """Returns float64 [num_classes, 28, 28] stroke images in [0, 1]."""
    yy, xx = np.mgrid[0:IMAGE_SIDE, 0:IMAGE_SIDE].astype(np.float64)
    protos = np.zeros((num_classes, IMAGE_SIDE, IMAGE_SIDE))
    for c in range(num_classes):
        for _ in range(4):  # four strokes, each a chain of Gaussian dots
            start = rng.uniform(6, 22, size=2)
            direction = rng.normal(size=2)
            direction /= np.linalg.norm(direction)
            for t in np.linspace(0.0, rng.uniform(6, 12), 8):
                cy, cx = start + t * direction
                protos[c] += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 1.6**2))
        protos[c] /= protos[c].max()
    return protos


def synthetic(
    num_train: int = 6000,
    num_test: int = 1000,
    seed: int = DEFAULT_SEED,
    num_classes: int = NUM_CLASSES,
    flatten: bool = True,
) -> Dataset:
    """Generates the embedded MNIST-shaped data set (28x28 images, 10 classes).

    The same arguments always give the same arrays, and flatten=False gives
    the same values as flatten=True, reshaped.

    Args:
      num_train: training rows (>= 1).
      num_test: test rows (>= 1).
      seed: generator seed, an int in [0, 2**31) (not None: the data must
        be the same on each call).
      num_classes: number of classes (>= 2).
      flatten: True for rows of 784 features, False for images.

    Returns:
      A Dataset with int64 labels and float32 features in [0, 1]: shape
      [n, 784] with flatten=True, channels-last images [n, 28, 28, 1] with
      flatten=False.

    Raises:
      TypeError: a count or seed is not an int, or flatten is not a bool.
      InputError: a count is below its minimum, or seed is outside
        [0, 2**31).
    """
    flatten = validation.boolean(flatten, "flatten")
    num_train = validation.positive_int(num_train, "num_train")
    num_test = validation.positive_int(num_test, "num_test")
    num_classes = validation.positive_int(num_classes, "num_classes", minimum=2)
    seed = validation.seed(seed, allow_none=False)  # None would give different arrays on each call
    rng = np.random.default_rng(seed)
    protos = _prototypes(rng, num_classes)
    n = num_train + num_test
    labels = rng.integers(0, num_classes, size=n)
    others = (labels + rng.integers(1, num_classes, size=n)) % num_classes
    shifts = rng.integers(-2, 3, size=(n, 2))
    images = np.empty((n, IMAGE_SIDE, IMAGE_SIDE), np.float32)
    blend = rng.uniform(0.0, 0.45, size=n)
    scale = rng.uniform(0.7, 1.0, size=n)
    for i in range(n):
        img = scale[i] * ((1.0 - blend[i]) * protos[labels[i]] + blend[i] * protos[others[i]])
        images[i] = np.roll(img, tuple(shifts[i]), axis=(0, 1))
    images += rng.normal(0.0, 0.25, size=images.shape).astype(np.float32)
    np.clip(images, 0.0, 1.0, out=images)
    x = images.reshape(n, INPUT_DIM) if flatten else images.reshape(n, IMAGE_SIDE, IMAGE_SIDE, 1)
    y = labels.astype(np.int64)
    return Dataset(x[:num_train], y[:num_train], x[num_train:], y[num_train:], num_classes, f"synthetic(seed={seed})")


def images_to_float32(array: np.ndarray, arg: str, flatten: bool) -> np.ndarray:
    """Returns numeric images or feature rows as float32 features.

    uint8 values are divided by 255 (0 -> 0.0, 255 -> 1.0); other numeric
    values are checked (finite, within float32's range) and cast, unscaled.

    Args:
      array: numeric array of shape [n, features], [n, H, W] or [n, H, W, C]
        (with flatten=True, any shape [n, ...]).
      arg: the array's name, used in error messages.
      flatten: True for rows [n, prod(shape[1:])]; False to keep the image
        shape channels-last: [n, H, W] becomes [n, H, W, 1], [n, H, W, C] and
        [n, features] are kept.

    Returns:
      A C-contiguous float32 array of shape [n, features] or [n, H, W, C].

    Raises:
      InputError: array is not numeric, has fewer than 2 dimensions, holds
        NaN/Inf, or (with flatten=False) has more than 4 dimensions.
    """
    if array.dtype.kind not in "iuf":
        raise InputError(f"{arg} must be numeric, got dtype {array.dtype}")
    if array.ndim < 2:
        raise InputError(f"{arg} must have shape [n, ...features], got shape {array.shape}")
    if flatten or array.ndim == 2:
        shape = (array.shape[0], math.prod(array.shape[1:]))
    elif array.ndim == 3:
        shape = array.shape + (1,)
    elif array.ndim == 4:
        shape = array.shape
    else:
        raise InputError(
            f"{arg} must have shape [n, features], [n, H, W] or [n, H, W, C] to keep its image shape "
            f"(flatten=False), got {array.ndim}-D shape {array.shape}"
        )
    flat = array.reshape(array.shape[0], math.prod(array.shape[1:]))
    if array.dtype == np.uint8:
        rows = flat.astype(np.float32)
        rows /= 255.0  # in float32, as `rows / 255.0` would be, without a second copy
    else:
        rows = validation.features(flat, flat.shape[1], arg=arg)
    return rows.reshape(shape)


def _same_example_shape(x_train: np.ndarray, x_test: np.ndarray) -> None:
    """Raises InputError unless x_train and x_test have the same shape per example."""
    if x_train.shape[1:] != x_test.shape[1:]:
        if x_train.ndim == x_test.ndim == 2:
            raise InputError(
                f"x_test must have the same features per row as x_train ({x_train.shape[1]}), "
                f"got {x_test.shape[1]}"
            )
        raise InputError(
            f"x_test must have the same shape per example as x_train ({x_train.shape[1:]}), "
            f"got {x_test.shape[1:]}"
        )


def labelled(
    x_train: np.ndarray,
    y_train: Any,
    x_test: np.ndarray,
    y_test: Any,
    num_classes: int,
    name: str,
) -> Dataset:
    """Checks the labels against float32 features and returns the Dataset.

    Args:
      x_train: float32 array of shape [n_train, *input_shape].
      y_train: integer labels of n_train elements (shape [n_train] or, as
        CIFAR's, [n_train, 1]; raveled).
      x_test: float32 array of shape [n_test, *input_shape].
      y_test: integer labels of n_test elements.
      num_classes: the number of classes (>= 2).
      name: where the data came from.

    Returns:
      A Dataset with int64 labels of shape [n].

    Raises:
      InputError: the example shapes of x_train and x_test differ, or labels
        are float, of the wrong count, or outside [0, num_classes).
    """
    _same_example_shape(x_train, x_test)
    num_classes = validation.positive_int(num_classes, "num_classes", minimum=2)
    y_train = validation.labels(np.ravel(y_train), num_classes, x_train.shape[0], "y_train")
    y_test = validation.labels(np.ravel(y_test), num_classes, x_test.shape[0], "y_test")
    return Dataset(x_train, y_train, x_test, y_test, num_classes, name)


def _classes_from_labels(y_train: np.ndarray, y_test: np.ndarray) -> int:
    """The class count a file's labels imply: their max + 1 (each array checked on its own).

    Raises:
      InputError: labels of a non-integer dtype, no labels at all, or a
        max + 1 below 2.
    """
    highest: int | None = None
    for arg, y in (("y_train", y_train), ("y_test", y_test)):
        if y.dtype.kind not in "iu":  # checked apart: int64 and uint64 together would become float64
            raise InputError(f"{arg} must have an integer dtype, got {y.dtype}")
        if y.size:
            highest = int(y.max()) if highest is None else max(highest, int(y.max()))
    if highest is None:
        raise InputError("num_classes was not given and y_train and y_test are empty, so it cannot be "
                         "taken from the labels; pass num_classes")
    if highest + 1 < 2:
        raise InputError(
            f"num_classes was not given, so it is taken from the labels as max label + 1 = {highest + 1} "
            f"(the largest label in y_train and y_test is {highest}); it must be >= 2: "
            "pass num_classes or check the labels"
        )
    return highest + 1


def load_npz(
    path: str | os.PathLike,
    num_classes: int | None = None,
    flatten: bool = True,
) -> Dataset:
    """Loads a user's data set from an .npz file.

    The file holds ``x_train``, ``y_train``, ``x_test`` and ``y_test``.
    uint8 images are scaled to [0, 1] (divided by 255); other numeric
    features are cast to float32 (after range and finiteness checks).

    Args:
      path: the .npz file.
      num_classes: the number of classes; default max(label) + 1.
      flatten: True to flatten images of any shape ([n, 28, 28],
        [n, 32, 32, 3], ...) to rows [n, features]; False to keep them as
        channels-last images: [n, H, W] becomes [n, H, W, 1], while
        [n, H, W, C] and [n, features] are kept.

    Returns:
      A Dataset with float32 features of shape [n, features] (flatten=True)
      or [n, H, W, C] / [n, features] (flatten=False), and int64 labels of
      shape [n].

    Raises:
      TypeError: flatten is not a bool.
      InputError: the file cannot be read, a key is missing, shapes
        disagree, or labels are invalid.
    """
    flatten = validation.boolean(flatten, "flatten")
    keys = ("x_train", "y_train", "x_test", "y_test")
    try:
        loaded = np.load(os.fspath(path), allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # an .npy file: one bare array
            raise InputError(
                f"cannot read {os.fspath(path)!r} as an .npz file: it holds a single "
                f"{getattr(loaded, 'dtype', '')} array of shape {getattr(loaded, 'shape', '?')} (an .npy file), "
                "not the arrays x_train, y_train, x_test, y_test; save them with np.savez"
            )
        with loaded as archive:
            missing = [k for k in keys if k not in archive.files]
            if missing:
                raise InputError(f"{os.fspath(path)!r} lacks keys {missing}; it has {sorted(archive.files)}")
            arrays: dict[str, Any] = {k: archive[k] for k in keys}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"cannot read {os.fspath(path)!r} as an .npz file: {exc}") from exc
    x_train = images_to_float32(arrays["x_train"], "x_train", flatten)
    x_test = images_to_float32(arrays["x_test"], "x_test", flatten)
    if num_classes is None:
        _same_example_shape(x_train, x_test)  # the features' error first, as with num_classes given
        num_classes = _classes_from_labels(arrays["y_train"], arrays["y_test"])
    return labelled(x_train, arrays["y_train"], x_test, arrays["y_test"], num_classes, os.fspath(path))
