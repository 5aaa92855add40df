"""The two models every benchmark, drill and script can run (``--model=mlp|cnn``), on ``--data``.

* "mlp": ``DenseClassifier`` on flat rows, hidden units from
  ``--hidden_units`` (default 64).
* "cnn": ``ConvClassifier`` on channels-last images:
  Conv(32)-BN-ReLU-MaxPool, Conv(64)-BN-ReLU-GlobalAvgPool, Dropout, Dense.

The data (``DATA``, or the path of a ``.npz`` file) gives the shape of one
example and the number of classes: "synthetic" is the embedded MNIST-shaped
set (784 features, or 28x28x1 images; timed inputs are uniform noise of
that shape), "digits" scikit-learn's 8x8 digits (64 features or 8x8x1),
"mnist" MNIST through ``tf_keras.datasets`` (it needs a network or a cached
file), and a path ``load_npz``'s arrays. The MLP flattens images; the CNN
needs them.

A ``Model`` makes each kind of object the apps compare (isolated, shared
runtime, trunk heads, template trunk, eager twin) and the inputs and data in
the shape the model takes, so an app is written once for both.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Sequence

import numpy as np

from tfshare import architectures
from tfshare.architectures import Architecture
from tfshare.classifier import Classifier
from tfshare.classifiers import ConvClassifier, DenseClassifier
from tfshare.data import Dataset, load_npz, synthetic
from tfshare.datasets import load_digits, load_keras_dataset
from tfshare.eager import EagerClassifier, EagerConvClassifier, EagerDenseClassifier, EagerTrunk
from tfshare.errors import InputError
from tfshare.runtime import GraphSession
from tfshare.trunks import SharedTrunk, TemplateTrunk

MODELS = ("mlp", "cnn")
#: The named data sets of ``--data`` (any other value is a ``.npz`` path).
DATA = ("synthetic", "digits", "mnist")
_SYNTHETIC_SHAPE = {"mlp": (784,), "cnn": (28, 28, 1)}


@functools.lru_cache(maxsize=4)
def load_data(data: str, flatten: bool) -> Dataset:
    """The data set ``data`` ("digits", "mnist" or a ``.npz`` path), loaded once per process.

    Raises:
      DataError: it cannot be loaded (MNIST without network or cache).
      InputError, OSError: a path that is not a readable ``.npz`` of the expected arrays.
    """
    if data == "digits":
        return load_digits(flatten=flatten)
    if data == "mnist":
        return load_keras_dataset("mnist", flatten=flatten)
    if not str(data).endswith(".npz"):
        raise InputError(f"data must be one of {list(DATA)} or the path of a .npz file, got {data!r}")
    return load_npz(data, flatten=flatten)


def _cycle(x: np.ndarray, rows: int, start: int = 0) -> np.ndarray:
    """``rows`` rows of ``x`` from row ``start`` on, wrapping around: contiguous, [rows, *x.shape[1:]]."""
    return np.ascontiguousarray(np.take(x, np.arange(start, start + rows) % len(x), axis=0))


@dataclasses.dataclass(frozen=True)
class Model:
    """One of ``MODELS`` with its sizes and data.

    Attributes:
      name: "mlp" or "cnn".
      hidden_units: the MLP's units per hidden layer.
      filters: the CNN's filters per block.
      data: one of ``DATA`` or a ``.npz`` path.
    """

    name: str
    hidden_units: tuple[int, ...] = (64,)
    filters: tuple[int, ...] = (32, 64)
    data: str = "synthetic"

    def _loaded(self) -> Dataset | None:
        return None if self.data == "synthetic" else load_data(self.data, self.name == "mlp")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example: (784,) or (28, 28, 1) on the synthetic data, else the data's.

        Raises:
          InputError: the CNN on data of flat rows.
        """
        loaded = self._loaded()
        if loaded is None:
            return _SYNTHETIC_SHAPE[self.name]
        if self.name == "cnn" and len(loaded.input_shape) != 3:
            raise InputError(
                f"model 'cnn' needs images [height, width, channels]; data {self.data!r} holds rows of "
                f"shape {loaded.input_shape}"
            )
        return loaded.input_shape

    @property
    def num_classes(self) -> int:
        """Classes of the data (10 on the synthetic data)."""
        loaded = self._loaded()
        return 10 if loaded is None else loaded.num_classes

    @property
    def architecture(self) -> Architecture:
        """The body (what trunks and ``Classifier(architecture=...)`` take)."""
        if self.name == "mlp":
            return architectures.dense(math.prod(self.input_shape), self.hidden_units)
        return architectures.conv(self.input_shape, self.filters)

    def describe(self) -> dict[str, Any]:
        """What results record about the model."""
        return {"model": self.name, **self.architecture.config, "data": self.data}

    def to_json(self) -> dict[str, Any]:
        """What result files write for a config's ``model`` field (``describe()``)."""
        return self.describe()

    def inputs(self, batch: int, seed: int = 0) -> np.ndarray:
        """float32 [batch, *input_shape]: uniform [0, 1) noise from ``seed`` on synthetic data, else test rows."""
        loaded = self._loaded()
        if loaded is None:
            return random_inputs(self, batch, np.random.default_rng(seed))
        return _cycle(loaded.x_test, batch, start=seed)

    def dataset(self, num_train: int, num_test: int, seed: int = 1234) -> Dataset:
        """``num_train`` training and ``num_test`` test rows (rows repeat when the data has fewer)."""
        loaded = self._loaded()
        if loaded is None:
            return synthetic(num_train=num_train, num_test=num_test, seed=seed, flatten=self.name == "mlp")
        return dataclasses.replace(
            loaded, x_train=_cycle(loaded.x_train, num_train), y_train=_cycle(loaded.y_train, num_train),
            x_test=_cycle(loaded.x_test, num_test), y_test=_cycle(loaded.y_test, num_test),
        )

    def classifier(self, num_classes: int = 10, **kwargs: Any) -> Classifier:
        """A graph classifier (``runtime=``, ``name=``, ``seed=`` as ``Classifier``)."""
        if self.name == "mlp":
            return DenseClassifier(math.prod(self.input_shape), num_classes, self.hidden_units, **kwargs)
        return ConvClassifier(self.input_shape, num_classes, self.filters, **kwargs)

    def head(self, trunk: Any, num_classes: int = 10, **kwargs: Any) -> Classifier:
        """A classifier on ``trunk`` (``name=``, ``seed=``); the MLP's is a ``DenseClassifier`` (its default name)."""
        if self.name == "mlp":
            return DenseClassifier(num_classes=num_classes, trunk=trunk, **kwargs)
        return Classifier(trunk=trunk, num_classes=num_classes, **kwargs)

    def shared_trunk(self, runtime: GraphSession, **kwargs: Any) -> SharedTrunk:
        """The body as a ``SharedTrunk`` (``name=``, ``seed=``)."""
        if self.name == "mlp":
            return SharedTrunk(runtime, math.prod(self.input_shape), self.hidden_units, **kwargs)
        return SharedTrunk(runtime, layers=self.architecture, **kwargs)

    def template_trunk(self, runtime: GraphSession, **kwargs: Any) -> TemplateTrunk:
        """The body as a ``TemplateTrunk`` (its weights through ``get_variable``)."""
        if self.name == "mlp":
            return TemplateTrunk(runtime, math.prod(self.input_shape), self.hidden_units, **kwargs)
        return TemplateTrunk(runtime, layers=self.architecture, **kwargs)

    def eager(self, num_classes: int = 10, **kwargs: Any) -> EagerClassifier:
        """The eager twin (``use_tf_function=``, ``name=``, ``seed=``, ``trunk=``)."""
        trunk = kwargs.pop("trunk", None)
        if trunk is not None:
            cls = EagerDenseClassifier if self.name == "mlp" else EagerClassifier
            return cls(num_classes=num_classes, trunk=trunk, **kwargs)
        if self.name == "mlp":
            return EagerDenseClassifier(math.prod(self.input_shape), num_classes, self.hidden_units, **kwargs)
        return EagerConvClassifier(self.input_shape, num_classes, self.filters, **kwargs)

    def eager_trunk(self, **kwargs: Any) -> EagerTrunk:
        """The body as an ``EagerTrunk`` (``name=``, ``seed=``)."""
        if self.name == "mlp":
            return EagerTrunk(math.prod(self.input_shape), self.hidden_units, **kwargs)
        return EagerTrunk(layers=self.architecture, **kwargs)


def random_inputs(model: Model, rows: int, rng: np.random.Generator) -> np.ndarray:
    """float32 [rows, *model.input_shape], uniform in [0, 1), drawn from ``rng``."""
    return rng.random((rows, *model.input_shape), dtype=np.float32)


def model(
    name: str, hidden_units: Sequence[int] = (64,), filters: Sequence[int] = (32, 64), data: str = "synthetic"
) -> Model:
    """The ``Model`` of ``--model`` on ``--data``.

    Raises:
      InputError: name is not one of ``MODELS``, or data is neither one of ``DATA`` nor a ``.npz`` path.
    """
    if name not in MODELS:
        raise InputError(f"model must be one of {list(MODELS)}, got {name!r}")
    if data not in DATA and not str(data).endswith(".npz"):
        raise InputError(f"data must be one of {list(DATA)} or the path of a .npz file, got {data!r}")
    return Model(name, tuple(hidden_units), tuple(filters), str(data))


#: What a drill's ``model`` argument takes: "mlp", "cnn", or a ``Model`` of other sizes.
ModelLike = str | Model


def as_model(model_like: ModelLike) -> Model:
    """The ``Model`` a drill runs: ``model_like`` itself, or the default sizes of "mlp"/"cnn".

    Raises:
      InputError: model_like is a name other than "mlp" or "cnn".
    """
    return model_like if isinstance(model_like, Model) else model(model_like)


#: The default model of every app (``--model=mlp``).
MLP = Model("mlp")

__all__ = ["DATA", "MLP", "MODELS", "Model", "ModelLike", "as_model", "load_data", "model", "random_inputs"]
