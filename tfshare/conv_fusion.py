"""Conv2D + BatchNorm (+ ReLU) as TensorFlow's own fused CPU op, on graph inference paths.

Grappler's remapper rewrites ``Conv2D -> FusedBatchNorm (-> Relu)`` into
one ``_FusedConv2D`` op with ``fused_ops=["FusedBatchNorm"(, "Relu")]``,
and oneDNN's layout pass then runs it as one kernel
(``_MklNativeFusedConv2D``), which applies the normalization and the ReLU
to the convolution's output as it writes it. Grappler skips the pruned
graphs tfshare's runtimes run (``GraphSession``, ``place_pruned_graph``),
so tfshare builds that op itself: the same op and attributes the remapper
would give the graph (``grappler/optimizers/remapper.cc``), its inputs the
layers' variables, read at every call (they follow training and restores).

The op has CPU kernels only for the FusedBatchNorm fusions (with oneDNN
and without, measured on TF 2.16 and 2.21): its GPU kernel refuses them
when it is constructed ("Unsupported fusion", ``conv_ops_fused_impl.h``).
So it is built only for ops placed explicitly on a CPU device (``usable``):
on GPU, on a device left to a placer (a remote worker may have GPUs), and
inside ``portable()`` (a SavedModel export, whose devices are cleared for
the server to place), ``forward`` folds the normalization into the kernel
with ordinary ops instead (``forward.folded_conv``).
"""

from __future__ import annotations

import contextlib
import functools
import threading
from typing import Any, Iterator

from tfshare._tf import keras, op_def_library, op_def_registry, tf

#: TensorFlow's (internal) fused convolution op, registered in core (nn_ops.cc).
OP = "_FusedConv2D"

_local = threading.local()  # .portable: depth of portable() blocks in this thread


@functools.lru_cache(maxsize=None)
def _defaults() -> tuple[tuple[str, Any], ...]:
    """The op's attributes with a default value that the op helper wants named, as Python values.

    TensorFlow's Python op helper needs every attribute of an internal op
    passed (it fills no default); which exist depends on the version
    (``filter_format`` and the host arguments are newer than some).
    """
    op_def = op_def_registry.get(OP)
    values = []
    for attr in op_def.attr:
        if not attr.HasField("default_value") or attr.name == "num_host_args":  # inferred from host_args
            continue
        value = attr.default_value
        kind = value.WhichOneof("value")
        if kind == "list":
            values.append((attr.name, [*value.list.i, *value.list.s, *value.list.f]))
        else:
            values.append((attr.name, getattr(value, kind)))
    return tuple(values)


@functools.lru_cache(maxsize=None)
def _has_host_args() -> bool:
    return any(arg.name == "host_args" for arg in op_def_registry.get(OP).input_arg)


@contextlib.contextmanager
def portable() -> Iterator[None]:
    """Builds graphs whose device is not known yet (e.g. for export) without the CPU-only op, in this thread."""
    _local.portable = getattr(_local, "portable", 0) + 1
    try:
        yield
    finally:
        _local.portable -= 1


def usable(tensor: Any) -> bool:
    """Whether the fused op may replace the layers that produced ``tensor`` (a graph tensor).

    True only when that tensor's op is placed explicitly on a CPU device
    (every in-process CPU ``GraphSession`` builds under "/device:CPU:0"),
    and not inside ``portable()``.
    """
    if getattr(_local, "portable", 0) or not hasattr(tensor, "op"):  # eager tensors have no op
        return False
    return tf.DeviceSpec.from_string(tensor.op.device).device_type == "CPU"


def plain_relu(layer: Any) -> bool:
    """Whether ``layer`` is exactly ``max(x, 0)``: a default ``ReLU`` or ``Activation("relu")``, float32."""
    if layer.compute_dtype != "float32":
        return False
    if type(layer) is keras.layers.ReLU:
        return layer.max_value is None and float(layer.negative_slope) == 0.0 and float(layer.threshold) == 0.0
    return type(layer) is keras.layers.Activation and layer.activation is keras.activations.relu


def conv_batch_norm(conv: Any, norm: Any, x: Any, relu: bool) -> Any:
    """``norm(conv(x), training=False)``, then ``max(., 0)`` if ``relu``, as one ``_FusedConv2D`` op.

    Args:
      conv: a built ``Conv2D`` that ``forward.foldable`` accepts with ``norm``.
      norm: the built ``BatchNormalization`` after it.
      x: float32 graph tensor [batch, height, width, channels], the conv's input,
        on a device where ``usable`` holds.
      relu: whether a plain ReLU (``plain_relu``) follows ``norm``.

    Returns:
      float32 tensor [batch, out_height, out_width, conv.filters].
    """
    channels = conv.filters
    with tf.name_scope(f"{norm.name}_fused"):
        gamma = norm.gamma if norm.gamma is not None else tf.ones([channels], tf.float32)
        beta = norm.beta if norm.beta is not None else tf.zeros([channels], tf.float32)
        # (conv + bias - mean) * s + beta: the bias moves the mean the normalization subtracts.
        mean = norm.moving_mean - conv.bias if conv.use_bias else norm.moving_mean
        kwargs = dict(_defaults())
        kwargs.update(
            input=x,
            filter=conv.kernel,
            args=[gamma, beta, mean, norm.moving_variance],
            num_args=4,
            strides=[1, *conv.strides, 1],
            padding=conv.padding.upper(),
            dilations=[1, *conv.dilation_rate, 1],
            data_format="NHWC",
            fused_ops=["FusedBatchNorm", "Relu"] if relu else ["FusedBatchNorm"],
            epsilon=float(norm.epsilon),
        )
        if _has_host_args():
            kwargs["host_args"] = []
        op = op_def_library._apply_op_helper(OP, name="conv", **kwargs)[2]  # (output structure, is stateful, op, outputs)
        return op.outputs[0]


__all__ = ["OP", "conv_batch_norm", "plain_relu", "portable", "usable"]
