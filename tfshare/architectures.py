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

``from_factory(layers, input_shape)`` wraps a user's own factory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from typing import Any, Callable, Hashable, Mapping, Sequence

from tfshare import initial_values, validation
from tfshare._tf import keras, v2_layers
from tfshare.errors import InputError

#: A zero-argument callable returning a new tf_keras layer or a list of them.
LayerFactory = Callable[[], Any]

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


def check_float32_policy() -> None:
    """Raises unless tf_keras's global dtype policy is float32 (tfshare builds float32 classifiers).

    Raises:
      InputError: the policy is e.g. "mixed_float16".
    """
    policy = keras.mixed_precision.global_policy().name
    if policy != "float32":
        raise InputError(
            f"tf_keras's global dtype policy must be 'float32' for tfshare classifiers, got {policy!r}; "
            "call tf_keras.mixed_precision.set_global_policy('float32') before building them"
        )


def check_factory(factory: Any, arg: str = "layers") -> LayerFactory:
    """Returns ``factory`` if it is callable.

    Raises:
      TypeError: it is not (a list of layer objects, say: those could not be
        made anew for each classifier).
    """
    if not callable(factory) or isinstance(factory, keras.layers.Layer):
        raise TypeError(
            f"{arg} must be a zero-argument callable returning tf_keras layers (e.g. {arg}=lambda: "
            f"[tf_keras.layers.Dense(64, activation='relu')]), got {validation.describe(factory)}; "
            "each classifier needs layer objects of its own"
        )
    return factory


def is_keras3(obj: Any) -> bool:
    module = type(obj).__module__ or ""
    return module == "keras" or module.startswith("keras.")


def check_not_mixed(layer: Any, where: str) -> None:
    """Raises if ``layer`` computes in another dtype than its variables' (a mixed-precision policy).

    Args:
      layer: a tf_keras layer (a model's sublayers are checked too).
      where: how error messages name it, e.g. "layers()[1]".

    Raises:
      InputError: e.g. ``dtype="mixed_float16"`` (tfshare builds float32
        classifiers; such a layer's variables are wrapped, and no fed initial
        value or variable order finds them).
    """
    for sub in [layer, *(layer._flatten_layers(include_self=False) if hasattr(layer, "_flatten_layers") else ())]:
        policy = getattr(sub, "dtype_policy", None)
        if policy is not None and policy.compute_dtype != policy.variable_dtype:
            named = f"{layer.name!r}" if sub is layer else f"{layer.name!r}, its layer {sub.name!r}"
            raise InputError(
                f"{where} ({named}) must compute in its variables' dtype (tfshare builds float32 "
                f"classifiers, without mixed precision), got the dtype policy {policy.name!r}; make it "
                "without dtype=, or with dtype='float32'"
            )


def check_layers(made: Any, arg: str = "layers", allow_empty: bool = False) -> list[Any]:
    """Checks what a layer factory returned and returns it as a flat list of layers.

    Args:
      made: a tf_keras layer, or a list or tuple of them.
      arg: the factory's argument name, for error messages.
      allow_empty: accept no layers (the MLP without hidden layers).

    Returns:
      The layers; unbuilt ``Sequential`` models are replaced by their layers
      (calling one in a graph would construct an ``InputLayer`` there and
      switch that class to its TF1 base, breaking eager models).

    Raises:
      TypeError: something is not a tf_keras layer (Keras 3 objects get an
        error that names tf_keras).
      InputError: no layers, a layer that is already built, or one with a
        mixed-precision dtype policy (e.g. ``dtype="mixed_float16"``).
    """
    items = list(made) if isinstance(made, (list, tuple)) else [made]
    if made is None or (not items and not allow_empty):
        raise InputError(f"{arg}() must return at least one tf_keras layer, got {made!r}")
    layers: list[Any] = []
    for i, layer in enumerate(items):
        where = f"{arg}()[{i}]" if isinstance(made, (list, tuple)) else f"{arg}()"
        if is_keras3(layer):
            raise TypeError(
                f"{where} is a Keras 3 object ({validation.describe(layer)}); tfshare builds TF1 graphs, "
                "which need Keras 2: make the layer with tf_keras.layers (`import tf_keras`), "
                "not keras.layers (which tf.keras is on TF >= 2.16)"
            )
        if not isinstance(layer, keras.layers.Layer):
            raise TypeError(f"{where} must be a tf_keras layer, got {validation.describe(layer)}")
        if any(layer is seen for seen in layers):
            raise InputError(
                f"{where} ({layer.name!r}) appears twice; {arg}() must return each layer once "
                "(to apply one layer twice, write a layer whose call() does)"
            )
        if isinstance(layer, keras.Sequential) and not layer.built:
            for inner in check_layers(list(layer.layers), f"{arg}()[{i}].layers"):
                if any(inner is seen for seen in layers):
                    raise InputError(
                        f"{where}.layers holds {inner.name!r}, which {arg}() also returns; {arg}() must return "
                        "each layer once (to apply one layer twice, write a layer whose call() does)"
                    )
                layers.append(inner)
            continue
        if layer.built and layer.weights:
            raise InputError(
                f"{where} ({layer.name!r}) is already built, with variables of its own; {arg}() must make "
                "new, unbuilt layers on every call (a complete built model goes in model_fn=)"
            )
        check_not_mixed(layer, where)
        layers.append(layer)
    return layers


_WIRING_KEYS = ("inbound_nodes", "input_layers", "output_layers")


def _rename(value: Any, positions: dict[str, str]) -> Any:
    """``value`` with every string that names a layer replaced by that layer's position."""
    if isinstance(value, str):
        return positions.get(value, value)
    if isinstance(value, (list, tuple)):
        return [_rename(v, positions) for v in value]
    if isinstance(value, dict):
        return {k: _rename(v, positions) for k, v in value.items()}
    return value


def _strip_names(value: Any) -> Any:
    """``value`` (a layer's config) without its auto-generated layer names.

    Drops every "name" key; in a functional model's config, where the wiring
    (inbound_nodes, input_layers, output_layers) names layers too, it names
    each layer by its position in the model's layer list instead, so equal
    wiring gives equal configs and different wiring different ones.
    """
    if isinstance(value, dict):
        layers = value.get("layers")
        if isinstance(layers, list) and any(isinstance(v, dict) and "inbound_nodes" in v for v in layers):
            positions = {v["name"]: f"#{i}" for i, v in enumerate(layers) if isinstance(v, dict) and "name" in v}
            value = {k: _rename(v, positions) if k in _WIRING_KEYS else v for k, v in value.items()}
            value["layers"] = [
                {k: _rename(v, positions) if k in _WIRING_KEYS else v for k, v in layer.items()}
                if isinstance(layer, dict) else layer
                for layer in layers
            ]
        return {k: _strip_names(v) for k, v in value.items() if k != "name"}
    if isinstance(value, (list, tuple)):
        return [_strip_names(v) for v in value]
    return value


def config_key(layers: Sequence[Any]) -> str | None:
    """A digest of the layers' classes and configurations (names left out), or None if one has none.

    Two factories whose layers have equal digests build the same ops, so a
    classifier of one can be a graph copy of the other's.
    """
    try:
        described = [
            [f"{type(layer).__module__}.{type(layer).__qualname__}", _strip_names(layer.get_config())]
            for layer in layers
        ]
        text = json.dumps(described, sort_keys=True, default=repr)
    except (NotImplementedError, TypeError, ValueError):
        return None
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def frozen_keys(keyed: dict[str, Any], layers: Sequence[Any]) -> set[str]:
    """Keys of trainable variables that Keras would not train: their layer (or a parent) has ``trainable=False``.

    tf_keras keeps a frozen layer's variables ``trainable=True`` and leaves
    them out of ``layer.trainable_weights``; fit must do the same.
    """
    trained = {id(w) for layer in layers for w in layer.trainable_weights}
    return {key for key, variable in keyed.items() if variable.trainable and id(variable) not in trained
            and any(variable is w for layer in layers for w in layer.weights)}


def own_weights(layer: Any) -> list[Any]:
    # A layer's own variables, not its sublayers' (tf_keras keeps them apart).
    return list(layer._trainable_weights) + list(layer._non_trainable_weights)  # pylint: disable=protected-access


def weight_keys(layers: Sequence[Any], named: bool) -> dict[str, Any]:
    """Keys the variables of built layers by architecture, not by graph name.

    A key is the layer's prefix and the name the layer gave the weight when
    it made it ("w"; see ``initial_values.creation_name``), never the name a
    graph made unique ("d/w_1_1" when another layer named "d" made "d/w"
    first): a graph classifier and its eager twin key alike.

    Args:
      layers: built tf_keras layers, the body in order.
      named: key by layer name ("hidden_0/kernel"), else by the layer's
        position in the body ("layer_0/kernel", "layer_1/gamma", ...; a
        TemplateTrunk's get_variable names follow the same positions). A
        nested layer that owns weights adds its rank among them
        ("layer_3/0/kernel").

    Returns:
      {key: variable}, in layer order and, within a layer, as it created them.
      Weights a layer gave one name get numbered keys in creation order
      ("w", "w_1", ...), skipping the names of its other weights.

    Raises:
      InputError: two layers' weights would take one key (with ``named``,
        two layers of one name that both make a weight of one name).
    """
    keyed: dict[str, Any] = {}
    owner: dict[str, tuple[Any, int]] = {}  # key -> (the layer whose weight has it, its top layer's index)
    seen: set[int] = set()  # a variable two layers track (a model's own attribute, say) is keyed once
    for i, top in enumerate(layers):
        base = top.name if named else f"layer_{i}"
        owners = [sub for sub in top._flatten_layers(include_self=True) if own_weights(sub)]  # pylint: disable=protected-access
        for rank, layer in enumerate(owners):
            prefix = base if layer is top else f"{base}/{rank}"
            weights = []
            for variable in own_weights(layer):
                if id(variable) not in seen:
                    seen.add(id(variable))
                    weights.append(variable)
            given = {initial_values.creation_name(v) for v in weights}
            for variable in weights:
                short = initial_values.creation_name(variable)
                key, n = f"{prefix}/{short}", 1
                while key in keyed and owner[key][0] is layer:  # this layer gave two weights one name
                    while f"{short}_{n}" in given:  # a name the layer gave another weight is that weight's key
                        n += 1
                    key, n = f"{prefix}/{short}_{n}", n + 1
                if key in keyed:
                    other, j = owner[key]
                    raise InputError(
                        f"layers: the weight key {key!r} would name two variables, {keyed[key].name!r} of layer "
                        f"{other.name!r} (in layers()[{j}]) and {variable.name!r} of layer {layer.name!r} (in "
                        f"layers()[{i}]); weights keyed by layer name need layers of distinct names"
                    )
                keyed[key], owner[key] = variable, (layer, i)
    return keyed


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
