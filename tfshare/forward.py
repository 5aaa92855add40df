"""The forward pass, written once: tf_keras layers called in training or inference mode.

The graph classifier, the trunks and the eager twin all run their layers
through ``apply``, in a graph (on placeholders) or eagerly. ``training`` is
a Python bool, never a tensor: a classifier builds an inference path
(``training=False``: Dropout off, BatchNorm on its moving statistics) at
construction, and a training path only on its first ``fit``, and only when a
layer behaves differently in training (``training_sensitive``).

Graph inference paths fuse BatchNorm into the convolution before it
(``fold_batch_norm``), as TensorFlow's Grappler would (remapper: Conv2D +
FusedBatchNorm + ReLU in one oneDNN op) if it optimized the pruned graphs
tfshare's runtimes run (``place_pruned_graph``, see ``GraphSession``). A
``Conv2D`` followed by a ``BatchNormalization`` of its channels (and a
plain ReLU after it, if there is one) runs on CPU as the one op the
remapper makes (``tfshare.conv_fusion``), elsewhere as one convolution with
the kernel scaled by ``gamma / sqrt(moving_variance + epsilon)`` and one
bias (``folded_conv``). Both read the variables in every call, so they
follow training and restores.

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

from tfshare import conv_fusion, validation
from tfshare._tf import base_layer_utils, keras, tf
from tfshare.errors import InputError


def _sublayers(layers: Sequence[Any]) -> Iterator[Any]:
    for top in layers:
        yield from top._flatten_layers(include_self=True)  # pylint: disable=protected-access


def training_sensitive(layers: Sequence[Any]) -> bool:
    """Whether any layer (nested ones included) takes a ``training`` argument.

    Models are skipped: they take ``training`` only to pass it on. So are
    ``InputLayer``s (a ``keras.Input`` in a Sequential or functional model):
    tf_keras marks them as taking ``training`` too, but they never run.
    """
    return any(
        getattr(layer, "_expects_training_arg", False) and not isinstance(layer, (keras.Model, keras.layers.InputLayer))
        for layer in _sublayers(layers)
    )


def apply(
    layers: Sequence[Any], x: Any, training: bool, arg: str = "layers", fold_batch_norm: bool = False
) -> Any:
    """Calls ``layers`` in order on ``x`` (a graph tensor or an eager one).

    Args:
      layers: tf_keras layers.
      x: float32 tensor [batch, *input_shape].
      training: the Python bool every layer that takes ``training`` gets
        (tf_keras drops it for layers that do not).
      arg: the factory's name, for error messages.
      fold_batch_norm: with ``training=False``, run each ``Conv2D`` followed
        by a ``BatchNormalization`` of its channels as one convolution with
        the normalization folded in (``foldable`` says which pairs), and on
        CPU a plain ReLU after them in the same op (``tfshare.conv_fusion``).
        Every layer is still called, so it is built and owns its variables
        as always; the unfused ops they add are never run.

    Returns:
      The last layer's output.

    Raises:
      InputError: a layer failed on its input, with a ValueError or TypeError
        (or, run eagerly, an op's InvalidArgumentError); the message names
        the layer, the input shape and the cause.
    """
    fold = fold_batch_norm and not training
    conv: tuple[Any, Any] | None = None  # (the Conv2D just called, its input) when it may fold
    with_relu: tuple[Any, Any, Any] | None = None  # (conv, norm, conv input) fused with the next ReLU
    for i, layer in enumerate(layers):
        shape = x.shape
        try:
            output = layer(x, training=training)
        except (ValueError, TypeError, tf.errors.InvalidArgumentError) as exc:  # the last: an eager op's
            raise InputError(
                f"{arg}()[{i}] ({type(layer).__name__} {layer.name!r}) failed on an input of shape "
                f"{_shape(shape)}: {_cause(exc)}"
            ) from exc
        if with_relu is not None:  # this layer is the plain ReLU the fused op takes in
            output, with_relu = conv_fusion.conv_batch_norm(*with_relu, relu=True), None
        elif conv is not None and foldable(conv[0], layer):
            if not conv_fusion.usable(output):
                output = folded_conv(conv[0], layer, conv[1])
            elif i + 1 < len(layers) and conv_fusion.plain_relu(layers[i + 1]):
                with_relu = (conv[0], layer, conv[1])  # the ReLU is called on the unfused output first
            else:
                output = conv_fusion.conv_batch_norm(conv[0], layer, conv[1], relu=False)
        conv = (layer, x) if fold and type(layer) is keras.layers.Conv2D else None
        x = output
    return x


def _cause(exc: BaseException) -> str:
    """The first line of ``exc``'s message that says what went wrong.

    tf_keras re-raises an error of a layer's ``call`` with a first line of its
    own ("Exception encountered when calling layer ..."), the cause on the
    lines after it; an error of its input checks has the cause first.
    """
    lines = [line for line in str(exc).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("Exception encountered when calling"):
        return lines[1]
    return lines[0] if lines else type(exc).__name__


def foldable(conv: Any, norm: Any) -> bool:
    """Whether ``norm`` after ``conv`` folds into one convolution at inference.

    Both float32; ``conv`` a plain ``Conv2D`` (not a subclass: transposed,
    depthwise and separable convolutions compute differently) with no
    activation, one group and channels last; ``norm`` a
    ``BatchNormalization`` over the channels (axis 3 or -1) without renorm,
    virtual batches or an adjustment. Anything else runs as the layers do.
    """
    return (
        type(conv) is keras.layers.Conv2D
        and type(norm) is keras.layers.BatchNormalization
        and conv.activation is keras.activations.linear
        and conv.groups == 1
        and conv.data_format == "channels_last"
        and list(tf.nest.flatten(norm.axis)) in ([3], [-1])  # an int until built, then [3]
        and not norm.renorm
        and norm.virtual_batch_size is None
        and norm.adjustment is None
        and all(layer.compute_dtype == "float32" and layer.variable_dtype == "float32" for layer in (conv, norm))
    )


def folded_conv(conv: Any, norm: Any, x: Any) -> Any:
    """``norm(conv(x), training=False)`` as one convolution and one bias add (both layers built).

    With ``s = gamma * rsqrt(moving_variance + epsilon)``: the kernel
    [kh, kw, in, out] times ``s`` [out], and the bias
    ``(conv.bias - moving_mean) * s + beta`` [out]; the same value as the two
    layers (within float32 rounding), and what Grappler's remapper computes
    when it fuses them. Computed from the variables in every call.

    Args:
      conv: a built ``Conv2D`` (see ``foldable``).
      norm: the built ``BatchNormalization`` after it.
      x: float32 tensor [batch, height, width, channels], the conv's input.

    Returns:
      float32 tensor [batch, out_height, out_width, conv.filters].
    """
    with tf.name_scope(f"{norm.name}_folded"):
        scale = tf.math.rsqrt(norm.moving_variance + norm.epsilon)
        if norm.gamma is not None:
            scale = scale * norm.gamma
        shift = conv.bias - norm.moving_mean if conv.use_bias else -norm.moving_mean
        bias = shift * scale if norm.beta is None else shift * scale + norm.beta
        return tf.nn.bias_add(conv.convolution_op(x, conv.kernel * scale), bias)


def _shape(shape: Any) -> str:
    """"[batch, 8, 8, 1]": the batch axis by name (a graph's is None, the eager twin builds on one example).

    ``shape`` is a ``tf.TensorShape`` or a plain tuple (a NumPy array's).
    """
    shape = tf.TensorShape(shape)
    if shape.rank is None:
        return "unknown"
    dims = shape.as_list()
    return "[" + ", ".join(["batch"] + ["?" if d is None else str(d) for d in dims[1:]]) + "]"


def check_features(features: Any, arg: str = "layers") -> Any:
    """Returns the body's output if a Dense head can take it: [batch, features], as float32.

    A float64 (or float16) body's output is cast: the heads, and the head
    bank's fused matmul over a trunk's features, are float32.

    Raises:
      InputError: it is not one tensor (a layer with several outputs ends
        the body), or not 2-D (e.g. a conv feature map without Flatten or pooling).
    """
    if not tf.is_tensor(features):
        parts = tf.nest.flatten(features)
        shapes = ", ".join(_shape(p.shape) if tf.is_tensor(p) else validation.describe(p) for p in parts)
        got = f"a {validation.describe(features)} of {len(parts)} ({shapes})" if tf.nest.is_nested(features) else (
            validation.describe(features))
        raise InputError(
            f"the output of {arg}() must be one tensor [batch, features] to feed the Dense head, got {got}; "
            "end the body with a layer of one output"
        )
    if features.shape.rank != 2 or features.shape[-1] is None:
        raise InputError(
            f"the output of {arg}() must be [batch, features] to feed the Dense head, got shape "
            f"{_shape(features.shape)}; end the body with Flatten() or GlobalAveragePooling2D()"
        )
    return tf.cast(features, tf.float32)


def logits_of(output: Any) -> tuple[Any, bool]:
    """A whole model's output as logits: the softmax's input when the model ends in softmax.

    tf_keras's softmax activation keeps its input as ``_keras_logits`` (as
    Keras's own cross-entropy uses it); a graph ``Softmax`` op is read back
    to its input.

    Returns:
      (float32 logits tensor, cast if the model's output is another float
      type, e.g. of a float64 last layer; whether a softmax was removed).
    """
    logits = getattr(output, "_keras_logits", None)
    if logits is not None:
        return tf.cast(logits, tf.float32), True
    op = getattr(output, "op", None)
    if op is not None and not tf.executing_eagerly() and op.type == "Softmax":
        return tf.cast(op.inputs[0], tf.float32), True
    return tf.cast(output, tf.float32), False


_local = threading.local()  # this thread's active collections, innermost last
_install_lock = threading.Lock()
_installed: list[Any] = []  # [tf_keras's own add_update], once installed


def _install() -> None:
    """Wraps tf_keras ``Layer.add_update`` once: inside a collection, this thread's updates go to it.

    Outside one (any other thread, any other time), the wrapper calls
    tf_keras's own method: Keras behaves as it always does. The wrapper is on
    the class, not on layer objects, so sublayers a layer makes while it is
    built are caught too.
    """
    with _install_lock:
        if _installed:
            return
        layer_class = keras.layers.Layer
        original = layer_class.add_update

        def add_update(self: Any, updates: Any) -> None:
            active = getattr(_local, "active", None)
            if not active:
                return original(self, updates)
            if not base_layer_utils.call_context().frozen:  # as Keras: a frozen layer hands over nothing
                active[-1].extend(tf.nest.flatten(updates))
            return None

        add_update.__doc__ = original.__doc__
        layer_class.add_update = add_update
        _installed.append(original)


@contextlib.contextmanager
def collecting_updates() -> Iterator[list[Any]]:
    """Catches the updates layers hand to ``add_update`` in this thread, instead of running them.

    Inside, every tf_keras layer called in this thread (the body's layers and
    any sublayer, also one made while its parent is built) appends its updates
    to the yielded list: zero-argument callables (BatchNormalization's
    moving-average updates) or ops. Frozen layers (``trainable=False``) hand
    over nothing, as in Keras. Other threads calling the same layers meanwhile
    are not affected. Call only the layers whose updates you want inside.

    Yields:
      The list of updates.
    """
    _install()
    updates: list[Any] = []
    active = getattr(_local, "active", None)
    if active is None:
        active = _local.active = []
    active.append(updates)
    try:
        yield updates
    finally:
        active[:] = [u for u in active if u is not updates]


def weight_penalties(layers: Sequence[Any], arg: str = "layers") -> list[Any]:
    """The weight regularization losses of ``layers`` (``kernel_regularizer=``...), built now.

    tf_keras keeps them as callables (``add_loss`` of a regularizer in
    ``add_weight``); each call builds the penalty in the current graph (or
    computes it eagerly). fit adds their sum to the training loss, as
    ``Model.fit`` does; ``evaluate`` reports the cross-entropy alone.

    Returns:
      float32 scalars, one per regularized weight (a float64 layer's penalty
      is cast: the loss is float32).

    Raises:
      InputError: a layer has an activity regularizer (a loss of its call's
        inputs, which tfshare does not collect).
    """
    penalties = []
    for layer in _sublayers(layers):
        if getattr(layer, "activity_regularizer", None) is not None:
            raise InputError(
                f"{arg}: layer {layer.name!r} has an activity_regularizer, which tfshare does not add to the "
                "loss; weight regularizers (kernel_regularizer=, bias_regularizer=) are added"
            )
        penalties += [loss() for loss in getattr(layer, "_callable_losses", ())]  # pylint: disable=protected-access
    return [tf.cast(p, tf.float32) for p in penalties if p is not None]


def weight_penalties_declared(layers: Sequence[Any]) -> bool:
    """Whether any layer (nested ones included) has a weight regularizer (before or after it is built)."""
    names = ("kernel_regularizer", "bias_regularizer", "depthwise_regularizer", "pointwise_regularizer",
             "recurrent_regularizer", "beta_regularizer", "gamma_regularizer", "embeddings_regularizer")
    return any(getattr(layer, "_callable_losses", None) or any(getattr(layer, n, None) is not None for n in names)
               for layer in _sublayers(layers))


def losses_declared(layers: Sequence[Any]) -> bool:
    """Whether ``weight_penalties(layers)`` has anything to build or to refuse (a weight or an activity regularizer)."""
    return weight_penalties_declared(layers) or any(
        getattr(layer, "activity_regularizer", None) is not None for layer in _sublayers(layers))


def run_updates(updates: Sequence[Any]) -> list[Any]:
    """Calls the callable updates (in the current graph or branch) and returns every update op."""
    return [update() if callable(update) else update for update in updates]


__all__ = [
    "apply", "check_features", "collecting_updates", "foldable", "folded_conv", "logits_of", "losses_declared",
    "run_updates", "training_sensitive", "weight_penalties", "weight_penalties_declared",
]
