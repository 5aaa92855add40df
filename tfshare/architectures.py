"""Architectures: what a classifier's body is, independent of how it is run or shared.

An ``Architecture`` is a small object: a factory of tf_keras layers (the
body; the classifier adds its own ``Dense(num_classes)`` head), the shape of
one input example, and what identifies it (for graph copies and checkpoint
compatibility). The graph classifier, both trunks and the eager twin take
one and run its layers with ``tfshare.forward``: the forward pass is written
once, by the layers themselves.

Two are shipped:

* ``dense(input_dim, hidden_units)``: the MLP, ``Dense(relu)`` layers named
  ``hidden_i``;
* ``conv(input_shape, filters, ...)``: Conv-BN-ReLU-MaxPool blocks, the last
  one with global average pooling, then Dropout.

``from_factory(layers, input_shape)`` wraps a user's own factory. The checks
of a factory and its layers live in ``tfshare.layer_checks``, the keys of
layers and weights in ``tfshare.layer_keys``; both are re-exported here.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Hashable, Mapping, Sequence

from tfshare import validation
from tfshare._tf import keras, v2_layers
from tfshare.errors import InputError
# Re-exported: what a body's factory and layers must be, and how its layers and weights are keyed.
from tfshare.layer_checks import (LayerFactory, check_factory, check_float32_policy, check_layers, check_not_mixed,
                                  is_keras3)
from tfshare.layer_keys import config_key, frozen_keys, own_weights, weight_keys

#: BatchNormalization momentum of ``conv_body``: Keras's 0.99 needs several
#: hundred steps before inference statistics are usable (on the 8x8 digits,
#: 45 steps per epoch at batch 32, a CNN scored near chance in inference mode
#: after 3 epochs); 0.9 settles in a few dozen.
CONV_MOMENTUM = 0.9


@dataclasses.dataclass(frozen=True)
class Architecture:
    """A classifier body: how to make its layers, the input shape, and what identifies it.

    Attributes:
      factory: zero-argument callable returning new, unbuilt tf_keras layers
        (None for a ``TemplateTrunk`` built by a TF1 function).
      input_shape: shape of one example, without the batch axis, e.g. (784,)
        or (28, 28, 1).
      config: what checkpoints store and compare (JSON-ready), e.g.
        {"input_dim": 784, "hidden_units": [64]}.
      key: identifies the architecture for graph copies (hashable); None
        derives it from the layers' configurations (``config_key``).
      named: weights are keyed by layer name ("hidden_0/kernel"): the shipped
        architectures name their layers. False keys them by position
        ("layer_0/kernel"), since tf_keras's generated names differ per object.
      allow_empty: the factory may return no layers (the MLP without hidden
        layers: a linear classifier).
    """

    factory: LayerFactory | None
    input_shape: tuple[int, ...]
    config: Mapping[str, Any]
    key: Hashable | None = None
    named: bool = False
    allow_empty: bool = False

    def make_layers(self, arg: str = "layers") -> list[Any]:
        """Calls the factory in eager mode (see ``tfshare._tf.v2_layers``) and checks what it returned.

        Returns:
          A non-empty list of unbuilt tf_keras layers (an unbuilt
          ``Sequential`` is replaced by its layers).

        Raises:
          TypeError, InputError: see ``check_layers``.
        """
        with v2_layers():
            made = self.factory()
        return check_layers(made, arg, self.allow_empty)


class Described:
    """The architecture properties of anything with a body (classifiers and trunks, graph or eager).

    Subclasses set ``self._input_shape`` (one example's shape) and
    ``self._config`` (the checkpoint config, see ``checkpoint_config``).
    """

    _input_shape: tuple[int, ...]
    _config: dict[str, Any]

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input example, e.g. (784,) or (28, 28, 1); inputs are [batch, *input_shape]."""
        return self._input_shape

    @property
    def input_dim(self) -> int:
        """Features per flattened input example (the product of ``input_shape``)."""
        return math.prod(self._input_shape)

    @property
    def hidden_units(self) -> tuple[int, ...] | None:
        """Units per hidden layer of a Dense body; None for other architectures."""
        units = self._config.get("hidden_units")
        return None if units is None else tuple(units)

    @property
    def config(self) -> dict[str, Any]:
        """The architecture as checkpoints store it (a classifier's adds num_classes).

        {"input_dim", "hidden_units"} for the MLP; {"architecture": "conv",
        "input_shape", "filters"} for the shipped CNN; {"input_shape",
        "layers"} for a user's body ("layers": a digest of its layers'
        classes and configurations); {"architecture": "model", ...} for a
        model_fn model.
        """
        return dict(self._config)


def checkpoint_config(architecture: Architecture, layers: Sequence[Any] = ()) -> dict[str, Any]:
    """What checkpoints of this body store and compare: the architecture's config, plus
    the layers' ``config_key`` for a user's body (so that another body's checkpoint is refused)."""
    config = dict(architecture.config)
    if architecture.key is None and layers:
        key = config_key(layers)
        if key is not None:
            config["layers"] = key
    return config


# --------------------------------------------------------------- shipped
def dense_body(hidden_units: Sequence[int]) -> LayerFactory:
    """A factory of ``Dense(units, relu)`` layers named "hidden_0", "hidden_1", ...

    Args:
      hidden_units: units per hidden layer, e.g. (64,).
    """
    units = validation.hidden_units(hidden_units)
    return lambda: [keras.layers.Dense(u, activation="relu", name=f"hidden_{i}") for i, u in enumerate(units)]


def dense(input_dim: int, hidden_units: Sequence[int]) -> Architecture:
    """The MLP: ``Dense(relu)`` hidden layers on rows of ``input_dim`` features.

    Args:
      input_dim: features per row (>= 1).
      hidden_units: units per hidden layer; () for a linear classifier.

    Returns:
      An Architecture whose checkpoint config is {"input_dim", "hidden_units"}.
    """
    input_dim = validation.positive_int(input_dim, "input_dim")
    units = validation.hidden_units(hidden_units)
    return Architecture(
        factory=dense_body(units),
        input_shape=(input_dim,),
        config={"input_dim": input_dim, "hidden_units": list(units)},
        key=("dense", input_dim, units),
        named=True,
        allow_empty=True,
    )


def conv_body(
    filters: Sequence[int] = (32, 64), dropout: float = 0.25, momentum: float = CONV_MOMENTUM
) -> LayerFactory:
    """A factory of the shipped CNN body.

    Each block is ``Conv2D(f, 3, same, no bias)``-``BatchNormalization``-``ReLU``,
    followed by ``MaxPool2D(2)`` in all but the last block, which ends in
    ``GlobalAveragePooling2D``; then ``Dropout(dropout)``. Layers are named
    "conv_i", "bn_i", "relu_i", "pool_i", "global_pool" and "dropout".

    Args:
      filters: filters per block (at least one).
      dropout: dropout rate in [0, 1); 0 leaves the Dropout layer out.
      momentum: BatchNormalization momentum in (0, 1); see ``CONV_MOMENTUM``.
    """
    filters = validation.hidden_units(filters, "filters")
    if not filters:
        raise InputError("filters must name at least one block, got ()")
    dropout, momentum = _unit_interval(dropout, "dropout", 0.0), _unit_interval(momentum, "momentum", None)

    def make() -> list[Any]:
        layers: list[Any] = []
        for i, f in enumerate(filters):
            layers += [
                keras.layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"conv_{i}"),
                keras.layers.BatchNormalization(momentum=momentum, name=f"bn_{i}"),
                keras.layers.ReLU(name=f"relu_{i}"),
            ]
            last = i == len(filters) - 1
            layers.append(keras.layers.GlobalAveragePooling2D(name="global_pool") if last else keras.layers.MaxPool2D(name=f"pool_{i}"))
        if dropout:
            layers.append(keras.layers.Dropout(dropout, name="dropout"))
        return layers

    return make


def _unit_interval(value: Any, arg: str, closed_low: float | None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{arg} must be a float, got {validation.describe(value)} {value!r}")
    low_ok = value >= 0 if closed_low is not None else value > 0
    if not (low_ok and value < 1):
        interval = "[0, 1)" if closed_low is not None else "(0, 1)"
        raise InputError(f"{arg} must be in {interval}, got {value}")
    return float(value)


def conv(
    input_shape: Sequence[int] = (28, 28, 1),
    filters: Sequence[int] = (32, 64),
    dropout: float = 0.25,
    momentum: float = CONV_MOMENTUM,
) -> Architecture:
    """The shipped CNN (see ``conv_body``) on channels-last images.

    Args:
      input_shape: (height, width, channels).
      filters, dropout, momentum: see ``conv_body``.

    Returns:
      An Architecture whose checkpoint config is {"architecture": "conv",
      "input_shape", "filters"}.
    """
    shape = validation.input_shape(input_shape)
    if len(shape) != 3:
        raise InputError(f"input_shape must be (height, width, channels) for a CNN, got {shape}")
    factory = conv_body(filters, dropout, momentum)
    filters = validation.hidden_units(filters, "filters")
    return Architecture(
        factory=factory,
        input_shape=shape,
        config={"architecture": "conv", "input_shape": list(shape), "filters": list(filters)},
        key=("conv", shape, filters, float(dropout), float(momentum)),
        named=True,
    )


def from_factory(factory: Any, input_shape: Any, arg: str = "layers") -> Architecture:
    """A user's body: any factory of tf_keras layers, on inputs of ``input_shape``.

    The key and the checkpoint config are derived from the layers' classes and
    configurations when the first classifier makes them (``config_key``).
    ``factory`` may also be an ``Architecture`` (e.g. ``conv()``), which is
    returned as it is: its layers keep their names in weight keys.

    Raises:
      TypeError, InputError: the factory is not callable, or input_shape is
        invalid (or differs from the Architecture's).
    """
    if isinstance(factory, Architecture):
        if input_shape is not None:
            given = validation.input_shape(input_shape)  # an int n is (n,)
            if given != factory.input_shape:
                raise InputError(f"input_shape must be the architecture's {factory.input_shape}, got {given}")
        return factory
    factory = check_factory(factory, arg)
    shape = validation.input_shape(input_shape)
    return Architecture(factory=factory, input_shape=shape, config={"input_shape": list(shape)})


__all__ = [
    "CONV_MOMENTUM", "Architecture", "Described", "LayerFactory", "check_factory", "check_float32_policy", "check_layers", "checkpoint_config",
    "config_key", "conv", "conv_body", "dense", "dense_body", "from_factory", "frozen_keys", "is_keras3", "own_weights",
    "weight_keys",
]
