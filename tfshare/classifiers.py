"""The shipped graph classifiers: thin forms of ``Classifier`` with a fixed architecture.

* ``DenseClassifier``: the MLP on flat rows (``tfshare.architectures.dense``).
* ``ConvClassifier``: the CNN on channels-last images (``tfshare.architectures.conv``):
  Conv-BN-ReLU-MaxPool blocks, global average pooling, Dropout.

Both keep every sharing mode and method of ``Classifier``.
"""

from __future__ import annotations

from typing import Sequence

from tfshare import architectures
from tfshare.architectures import CONV_MOMENTUM
from tfshare.base import dense_form
from tfshare.classifier import Classifier
from tfshare.runtime import GraphSession
from tfshare.trunk_base import _Trunk


class DenseClassifier(Classifier):
    """Dense(relu) hidden layers, then Dense(num_classes, softmax), in graph mode.

    Args:
      input_dim: features per row; default 784, or the trunk's when a trunk is given.
      num_classes: number of classes (>= 2).
      hidden_units: units per hidden layer; default (64,), or the trunk's.
        Must match the trunk's when a trunk is given.
      runtime: a GraphSession to share; None gives the classifier its own.
      trunk: a SharedTrunk or TemplateTrunk whose hidden layers to share.
      name: the name scope in the graph (unique per runtime); default
        "dense_classifier", made unique.
      seed: seed for the initial weights and for shuffling; None for random.

    Raises:
      TypeError: an argument has the wrong type.
      InputError: an argument is out of range, or conflicts with the trunk.
    """

    _default_name = "dense_classifier"

    def __init__(
        self,
        input_dim: int | None = None,
        num_classes: int = 10,
        hidden_units: Sequence[int] | None = None,
        *,
        runtime: GraphSession | None = None,
        trunk: _Trunk | None = None,
        name: str | None = None,
        seed: int | None = None,
    ) -> None:
        form = dense_form(input_dim, hidden_units, trunk)
        super().__init__(num_classes=num_classes, runtime=runtime, name=name, seed=seed, **form)


class ConvClassifier(Classifier):
    """The shipped CNN: Conv-BN-ReLU-MaxPool blocks, global average pooling, Dropout, Dense head.

    With the defaults, on 28x28x1 images: Conv(32)-BN-ReLU-MaxPool,
    Conv(64)-BN-ReLU-GlobalAvgPool, Dropout(0.25), Dense(num_classes); 19,754
    parameters at 10 classes, 192 of them BatchNorm moving statistics. Its
    BatchNorm momentum is 0.9, not Keras's 0.99, so that inference statistics
    settle within a few dozen steps (see ``tfshare.architectures.CONV_MOMENTUM``).

    Args:
      input_shape: (height, width, channels), channels-last.
      num_classes: number of classes (>= 2).
      filters: filters per block.
      dropout: dropout rate before the head, in [0, 1).
      momentum: BatchNorm momentum, in (0, 1).
      runtime, name, seed: as ``Classifier``; default name "conv_classifier".

    Raises:
      TypeError, InputError: bad arguments.
    """

    _default_name = "conv_classifier"

    def __init__(
        self,
        input_shape: Sequence[int] = (28, 28, 1),
        num_classes: int = 10,
        filters: Sequence[int] = (32, 64),
        dropout: float = 0.25,
        momentum: float = CONV_MOMENTUM,
        *,
        runtime: GraphSession | None = None,
        name: str | None = None,
        seed: int | None = None,
    ) -> None:
        arch = architectures.conv(input_shape, filters, dropout, momentum)
        super().__init__(num_classes=num_classes, architecture=arch, runtime=runtime, name=name, seed=seed)


__all__ = ["ConvClassifier", "DenseClassifier"]
