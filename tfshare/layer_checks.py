"""Checks of what a user hands tfshare as a body: layer factories, the layers they make, the dtype policy.

A body is made by a zero-argument factory of tf_keras layers (``LayerFactory``).
These checks run before any graph sees the layers, so that a list of layer
objects, a Keras 3 layer, a built layer, a layer returned twice or a
mixed-precision policy is an error naming the argument, not a TensorFlow
failure later. Part of ``tfshare.architectures``, which re-exports them.
"""

from __future__ import annotations

from typing import Any, Callable

from tfshare import validation
from tfshare._tf import tf_keras  # Keras 2, never tf.keras: see tfshare._tf
from tfshare.errors import InputError

#: A zero-argument callable returning a new tf_keras layer or a list of them.
LayerFactory = Callable[[], Any]


def check_float32_policy() -> None:
    """Raises unless tf_keras's global dtype policy is float32 (tfshare builds float32 classifiers).

    Raises:
      InputError: the policy is e.g. "mixed_float16".
    """
    policy = tf_keras.mixed_precision.global_policy().name
    if policy != "float32":
        raise InputError(
            f"tf_keras's global dtype policy must be 'float32' for tfshare classifiers, got {policy!r}; "
            "call tf_keras.mixed_precision.set_global_policy('float32') before building them"
        )


def check_factory(factory: Any, arg: str = "layers") -> LayerFactory:
    """Returns ``factory`` if it is callable and not a layer object.

    Raises:
      TypeError: it is not callable (a list of layer objects, say: those could
        not be made anew for each classifier), or it is a layer (tf_keras's or
        Keras 3's: a layer is callable, but not without arguments).
    """
    if not callable(factory) or isinstance(factory, tf_keras.layers.Layer) or is_keras3(factory):
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
        if not isinstance(layer, tf_keras.layers.Layer):
            raise TypeError(f"{where} must be a tf_keras layer, got {validation.describe(layer)}")
        if any(layer is seen for seen in layers):
            raise InputError(
                f"{where} ({layer.name!r}) appears twice; {arg}() must return each layer once "
                "(to apply one layer twice, write a layer whose call() does)"
            )
        if isinstance(layer, tf_keras.Sequential) and not layer.built:
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



__all__ = ["LayerFactory", "check_factory", "check_float32_policy", "check_layers", "check_not_mixed", "is_keras3"]
