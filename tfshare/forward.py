"""The forward pass, written once: tf_keras layers called in training or inference mode.

The graph classifier, the trunks and the eager twin all run their layers
through ``apply``, in a graph (on placeholders) or eagerly. ``training`` is
a Python bool, never a tensor: a classifier builds an inference path
(``training=False``: Dropout off, BatchNorm on its moving statistics, which
lets Grappler fuse Conv2D + FusedBatchNorm) at construction, and a training
path only on its first ``fit``, and only when a layer behaves differently in
training (``training_sensitive``).

BatchNorm's moving statistics: tf_keras layers made in eager mode and called
in a TF1 graph create their update ops through ``Layer.add_update``, which in
that setting builds them and drops them (nothing reaches ``UPDATE_OPS`` and
``layer.updates`` is ``[]``), so the TF1 recipe of running ``UPDATE_OPS``
with the train op silently never updates the statistics.
``collecting_updates`` catches the update *callables* instead; the train
step calls them inside its "the step is finite" branch, so a step that is
not applied updates no statistic either (Sonnet 1 and
``tf.contrib.layers.batch_norm`` hand their updates over the same way).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator, Sequence

from tfshare._tf import base_layer_utils, keras, tf
from tfshare.errors import InputError


def _sublayers(layers: Sequence[Any]) -> Iterator[Any]:
    for top in layers:
        yield from top._flatten_layers(include_self=True)  # pylint: disable=protected-access


def training_sensitive(layers: Sequence[Any]) -> bool:
    """Whether any layer (nested ones included) takes a ``training`` argument.

    Models are skipped: they take ``training`` only to pass it on.
    """
    return any(
        getattr(layer, "_expects_training_arg", False) and not isinstance(layer, keras.Model)
        for layer in _sublayers(layers)
    )


def apply(layers: Sequence[Any], x: Any, training: bool, arg: str = "layers") -> Any:
    """Calls ``layers`` in order on ``x`` (a graph tensor or an eager one).

    Args:
      layers: tf_keras layers.
      x: float32 tensor [batch, *input_shape].
      training: the Python bool every layer that takes ``training`` gets
        (tf_keras drops it for layers that do not).
      arg: the factory's name, for error messages.

    Returns:
      The last layer's output.

    Raises:
      InputError: a layer cannot take its input (the message names it and the shape).
    """
    for i, layer in enumerate(layers):
        shape = x.shape
        try:
            x = layer(x, training=training)
        except (ValueError, TypeError) as exc:
            raise InputError(
                f"{arg}()[{i}] ({type(layer).__name__} {layer.name!r}) cannot take an input of shape "
                f"{_shape(shape)}: {str(exc).splitlines()[0]}"
            ) from exc
    return x


def _shape(shape: Any) -> str:
    """"[batch, 8, 8, 1]": the batch axis by name (a graph's is None, the eager twin builds on one example)."""
    dims = shape.as_list()
    return "[" + ", ".join(["batch"] + ["?" if d is None else str(d) for d in dims[1:]]) + "]"


def check_features(features: Any, arg: str = "layers") -> Any:
    """Returns the body's output if a Dense head can take it: [batch, features].

    Raises:
      InputError: it is not 2-D (e.g. a conv feature map without Flatten or pooling).
    """
    if features.shape.rank != 2 or features.shape[-1] is None:
        raise InputError(
            f"the output of {arg}() must be [batch, features] to feed the Dense head, got shape "
            f"{_shape(features.shape)}; end the body with Flatten() or GlobalAveragePooling2D()"
        )
    return features


def logits_of(output: Any) -> tuple[Any, bool]:
    """A whole model's output as logits: the softmax's input when the model ends in softmax.

    tf_keras's softmax activation keeps its input as ``_keras_logits`` (as
    Keras's own cross-entropy uses it); a graph ``Softmax`` op is read back
    to its input.

    Returns:
      (logits tensor, whether a softmax was removed).
    """
    logits = getattr(output, "_keras_logits", None)
    if logits is not None:
        return logits, True
    op = getattr(output, "op", None)
    if op is not None and not tf.executing_eagerly() and op.type == "Softmax":
        return op.inputs[0], True
    return output, False


_local = threading.local()  # this thread's active collections: [(ids of their layers, their list)]
_install_lock = threading.Lock()


def _route(layer: Any) -> None:
    """Gives ``layer`` an ``add_update`` that hands updates to this thread's collection, if any.

    Installed once per layer object and left in place: with no collection
    active in the calling thread (another thread's eager step, say), it does
    what tf_keras's own does.
    """
    if "add_update" in vars(layer):
        return

    def add_update(update: Any) -> None:
        for ids, updates in reversed(getattr(_local, "active", ())):
            if id(layer) in ids:
                if not base_layer_utils.call_context().frozen:  # as Keras: a frozen layer hands over nothing
                    updates.extend(tf.nest.flatten(update))
                return
        type(layer).add_update(layer, update)

    with _install_lock:
        if "add_update" not in vars(layer):
            # object.__setattr__: Keras's attribute tracking must not see it.
            object.__setattr__(layer, "add_update", add_update)


@contextlib.contextmanager
def collecting_updates(layers: Sequence[Any]) -> Iterator[list[Any]]:
    """Catches the updates ``layers`` (nested ones included) hand to ``add_update`` in this thread.

    Inside, each layer's ``add_update`` appends to the yielded list instead of
    running the update: zero-argument callables (tf_keras BatchNormalization's
    moving-average updates) or ops. Frozen layers (``trainable=False``) hand
    over nothing, as in Keras. Other threads calling the same layers meanwhile
    are not affected.

    Yields:
      The list of updates.
    """
    updates: list[Any] = []
    ids = set()
    for layer in _sublayers(layers):
        _route(layer)
        ids.add(id(layer))
    active = getattr(_local, "active", None)
    if active is None:
        active = _local.active = []
    entry = (ids, updates)
    active.append(entry)
    try:
        yield updates
    finally:
        active[:] = [e for e in active if e is not entry]


def run_updates(updates: Sequence[Any]) -> list[Any]:
    """Calls the callable updates (in the current graph or branch) and returns every update op."""
    return [update() if callable(update) else update for update in updates]


__all__ = [
    "apply", "check_features", "collecting_updates", "logits_of", "run_updates", "training_sensitive",
]
