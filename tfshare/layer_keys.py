"""What identifies a body's layers and weights by architecture, never by graph name.

* ``config_key``: a digest of the layers' classes and configurations (their
  generated names left out), which decides whether two factories build the
  same ops (graph copies) and whether a checkpoint is the same body's;
* ``weight_keys``: each variable keyed by its layer's name or position and the
  name the layer gave it ("hidden_0/kernel", "layer_1/gamma"), so a graph
  classifier, its trunk and its eager twin key alike;
* ``frozen_keys`` and ``own_weights``: which of them Keras would train.

Part of ``tfshare.architectures``, which re-exports them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Sequence

from tfshare import initial_values
from tfshare.errors import InputError


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



__all__ = ["config_key", "frozen_keys", "own_weights", "weight_keys"]
