"""The two models every benchmark, drill and script can run: ``--model=mlp|cnn``.

* "mlp": ``DenseClassifier`` on flat rows of the embedded set (784 features),
  hidden units from ``--hidden_units`` (default 64).
* "cnn": ``ConvClassifier``'s default on 28x28x1 images of the embedded set:
  Conv(32)-BN-ReLU-MaxPool, Conv(64)-BN-ReLU-GlobalAvgPool, Dropout, Dense.

A ``Model`` makes each kind of object the apps compare (isolated, shared
runtime, trunk heads, template trunk, eager twin) and the data in the shape
the model takes, so an app is written once for both.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from tfshare import architectures
from tfshare.architectures import Architecture
from tfshare.classifier import Classifier
from tfshare.classifiers import ConvClassifier, DenseClassifier
from tfshare.data import Dataset, synthetic
from tfshare.eager import EagerClassifier, EagerConvClassifier, EagerDenseClassifier, EagerTrunk
from tfshare.errors import InputError
from tfshare.runtime import GraphSession
from tfshare.trunks import SharedTrunk, TemplateTrunk

MODELS = ("mlp", "cnn")


@dataclasses.dataclass(frozen=True)
class Model:
    """One of ``MODELS`` with its sizes.

    Attributes:
      name: "mlp" or "cnn".
      hidden_units: the MLP's units per hidden layer.
      filters: the CNN's filters per block.
    """

    name: str
    hidden_units: tuple[int, ...] = (64,)
    filters: tuple[int, ...] = (32, 64)

    @property
    def architecture(self) -> Architecture:
        """The body (what trunks and ``Classifier(architecture=...)`` take)."""
        if self.name == "mlp":
            return architectures.dense(784, self.hidden_units)
        return architectures.conv((28, 28, 1), self.filters)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example: (784,) or (28, 28, 1)."""
        return self.architecture.input_shape

    def describe(self) -> dict[str, Any]:
        """What results record about the model."""
        return {"model": self.name, **self.architecture.config}

    def to_json(self) -> dict[str, Any]:
        """What result files write for a config's ``model`` field (``describe()``)."""
        return self.describe()

    def inputs(self, batch: int, seed: int = 0) -> np.ndarray:
        """Uniform [0, 1) float32 inputs of shape [batch, *input_shape], from ``seed``."""
        return np.random.default_rng(seed).random((batch, *self.input_shape), dtype=np.float32)

    def data(self, num_train: int, num_test: int, seed: int = 1234) -> Dataset:
        """The embedded set, flat for the MLP, as 28x28x1 images for the CNN."""
        return synthetic(num_train=num_train, num_test=num_test, seed=seed, flatten=self.name == "mlp")

    def classifier(self, num_classes: int = 10, **kwargs: Any) -> Classifier:
        """A graph classifier (``runtime=``, ``name=``, ``seed=`` as ``Classifier``)."""
        if self.name == "mlp":
            return DenseClassifier(784, num_classes, self.hidden_units, **kwargs)
        return ConvClassifier((28, 28, 1), num_classes, self.filters, **kwargs)

    def head(self, trunk: Any, num_classes: int = 10, **kwargs: Any) -> Classifier:
        """A classifier on ``trunk`` (``name=``, ``seed=``); the MLP's is a ``DenseClassifier`` (its default name)."""
        if self.name == "mlp":
            return DenseClassifier(num_classes=num_classes, trunk=trunk, **kwargs)
        return Classifier(trunk=trunk, num_classes=num_classes, **kwargs)

    def shared_trunk(self, runtime: GraphSession, **kwargs: Any) -> SharedTrunk:
        """The body as a ``SharedTrunk`` (``name=``, ``seed=``)."""
        if self.name == "mlp":
            return SharedTrunk(runtime, 784, self.hidden_units, **kwargs)
        return SharedTrunk(runtime, layers=self.architecture, **kwargs)

    def template_trunk(self, runtime: GraphSession, **kwargs: Any) -> TemplateTrunk:
        """The body as a ``TemplateTrunk`` (its weights through ``get_variable``)."""
        if self.name == "mlp":
            return TemplateTrunk(runtime, 784, self.hidden_units, **kwargs)
        return TemplateTrunk(runtime, layers=self.architecture, **kwargs)

    def eager(self, num_classes: int = 10, **kwargs: Any) -> EagerClassifier:
        """The eager twin (``use_tf_function=``, ``name=``, ``seed=``, ``trunk=``)."""
        trunk = kwargs.pop("trunk", None)
        if trunk is not None:
            cls = EagerDenseClassifier if self.name == "mlp" else EagerClassifier
            return cls(num_classes=num_classes, trunk=trunk, **kwargs)
        if self.name == "mlp":
            return EagerDenseClassifier(784, num_classes, self.hidden_units, **kwargs)
        return EagerConvClassifier((28, 28, 1), num_classes, self.filters, **kwargs)

    def eager_trunk(self, **kwargs: Any) -> EagerTrunk:
        """The body as an ``EagerTrunk`` (``name=``, ``seed=``)."""
        if self.name == "mlp":
            return EagerTrunk(784, self.hidden_units, **kwargs)
        return EagerTrunk(layers=self.architecture, **kwargs)


def model(name: str, hidden_units: Sequence[int] = (64,), filters: Sequence[int] = (32, 64)) -> Model:
    """The ``Model`` of ``--model``.

    Raises:
      InputError: name is not one of ``MODELS``.
    """
    if name not in MODELS:
        raise InputError(f"model must be one of {list(MODELS)}, got {name!r}")
    return Model(name, tuple(hidden_units), tuple(filters))


#: The default model of every app (``--model=mlp``).
MLP = Model("mlp")

__all__ = ["MLP", "MODELS", "Model", "model"]
