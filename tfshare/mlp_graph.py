"""The graph ops of DenseClassifier's MLP: layers, prediction, loss, and a guarded train step.

Pure builders: each takes tensors and returns tensors, and is called by
``DenseClassifier`` inside its runtime's ``building()`` scope, once.
"""

from __future__ import annotations

from typing import Any, Callable

from tfshare._tf import keras, tf, tf1, v2_layers
from tfshare.initial_values import FedInitializer, glorot_uniform


def kernel_initializer(seed: int | None, offset: int) -> FedInitializer:
    """Glorot-uniform, seeded per layer (``seed + offset``) when a seed is given.

    The graph holds a placeholder for the initial value (one op instead of a
    nine-op random subgraph); the runtime feeds it the same keras
    initializer's values, computed eagerly (see ``tfshare.initial_values``).
    """
    return FedInitializer(kernel_maker(seed, offset))


def kernel_maker(seed: int | None, offset: int) -> Callable[[], Any]:
    """Returns a function making layer ``offset``'s keras Glorot-uniform initializer."""
    layer_seed = None if seed is None else seed + offset
    return lambda: glorot_uniform(layer_seed)


def kernel_offsets(hidden_units: tuple[int, ...]) -> dict[str, int]:
    """{"hidden_0/kernel": 0, ..., "head/kernel": len(hidden_units)}: each kernel's seed offset."""
    offsets = {f"hidden_{i}/kernel": i for i in range(len(hidden_units))}
    offsets["head/kernel"] = len(hidden_units)
    return offsets


def make_layers(
    hidden_units: tuple[int, ...], num_classes: int, seed: int | None, with_hidden: bool
) -> tuple[list[Any], Any]:
    """Constructs the tf_keras Dense layer objects (hidden ReLU layers and the head).

    They are constructed in eager mode (see ``tfshare._tf.v2_layers``) and
    later called on graph tensors.

    Args:
      hidden_units: units per hidden layer.
      num_classes: the head's units.
      seed: base seed of the kernels' initializers.
      with_hidden: False when a trunk supplies the hidden layers.

    Returns:
      (hidden layers, head layer).
    """
    with v2_layers():
        hidden = [
            keras.layers.Dense(units, activation="relu", kernel_initializer=kernel_initializer(seed, i), name=f"hidden_{i}")
            for i, units in enumerate(hidden_units)
        ] if with_hidden else []
        head = keras.layers.Dense(num_classes, kernel_initializer=kernel_initializer(seed, len(hidden_units)), name="head")
    return hidden, head


def build(
    trunk: Any, input_dim: int, hidden_units: tuple[int, ...], num_classes: int, seed: int | None
) -> tuple[list[Any], Any, dict[str, Any]]:
    """Builds a classifier's prediction ops with tf_keras layers, in the current graph and scope.

    Args:
      trunk: the trunk whose input and features to read, or None for an own
        float32 placeholder "x" of shape [batch, input_dim] and own hidden layers.
      input_dim, hidden_units, num_classes, seed: the architecture and base seed.

    Returns:
      (hidden layers, head layer, {"x", "logits", "probabilities", "class_ids": tensor}).
    """
    hidden, head = make_layers(hidden_units, num_classes, seed, with_hidden=trunk is None)
    if trunk is not None:
        x, features = trunk.input, trunk.output
    else:
        x = features = tf1.placeholder(tf.float32, [None, input_dim], name="x")
    logits, proba, class_ids = prediction(features, hidden, head)
    return hidden, head, {"x": x, "logits": logits, "probabilities": proba, "class_ids": class_ids}


def fed_initial_values(hidden: list[Any], head: Any) -> dict[str, FedInitializer]:
    """{"hidden_0/kernel": its FedInitializer, ..., "head/kernel": ...} of the built layers."""
    fed = {f"hidden_{i}/kernel": layer.kernel_initializer for i, layer in enumerate(hidden)}
    fed["head/kernel"] = head.kernel_initializer
    return fed


def named_variables(trunk: Any, hidden: list[Any], head: Any) -> dict[str, Any]:
    """Maps architecture-level keys ("hidden_0/kernel", "head/bias") to variables."""
    named: dict[str, Any] = dict(trunk.named_variables()) if trunk is not None else {}
    for i, layer in enumerate(hidden):
        named[f"hidden_{i}/kernel"] = layer.kernel
        named[f"hidden_{i}/bias"] = layer.bias
    named["head/kernel"] = head.kernel
    named["head/bias"] = head.bias
    return named


def softmax(logits: Any, name: str | None = None) -> Any:
    """Softmax over the last axis as ``exp(log_softmax(logits))``.

    Same values as ``tf.nn.softmax`` to within 1.3e-6 relative (measured), but
    TensorFlow's oneDNN build rewrites ``Softmax`` to ``_MklSoftmax``, which
    on the 2-core CPU took 40 us at [32, 10] against 5 us for these two
    Eigen ops (and 57 vs 31 us at [1024, 10]); LogSoftmax is not rewritten.

    Args:
      logits: float32 tensor [..., num_classes].
      name: name of the output op.

    Returns:
      float32 tensor of the same shape: probabilities summing to 1 over the last axis.
    """
    return tf.exp(tf.nn.log_softmax(logits), name=name)


def prediction(features: Any, hidden: list[Any], head: Any) -> tuple[Any, Any, Any]:
    """Builds the forward pass.

    Args:
      features: float32 tensor [batch, input_dim] (or the trunk's output).
      hidden, head: from ``make_layers``.

    Returns:
      (logits float32 [batch, num_classes], probabilities float32
      [batch, num_classes], class ids int64 [batch]).
    """
    for layer in hidden:
        features = layer(features)
    logits = head(features)
    proba = softmax(logits, name="probabilities")
    class_ids = tf.argmax(logits, axis=1, output_type=tf.int64, name="class_ids")
    return logits, proba, class_ids


def evaluation(logits: Any, class_ids: Any) -> tuple[Any, Any, Any]:
    """Builds the label placeholder, mean cross-entropy and accuracy.

    Returns:
      (y int64 placeholder [batch], loss float32 scalar, accuracy float32 scalar).
    """
    y = tf1.placeholder(tf.int64, [None], name="y")
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
    loss = tf.reduce_mean(losses, name="loss")
    accuracy = tf.reduce_mean(tf.cast(tf.equal(class_ids, y), tf.float32), name="accuracy")
    return y, loss, accuracy


def train_step(loss: Any, var_list: list[Any], optimizer_name: str) -> tuple[Any, Any, Any]:
    """Builds an Adam step that is skipped when the loss or a gradient is not finite.

    Args:
      loss: float32 scalar to minimize.
      var_list: the variables to update.
      optimizer_name: unique name of the optimizer (its slot variables' suffix).

    Returns:
      (learning-rate float32 scalar placeholder, train op, bool scalar "the
      step was finite and applied").
    """
    learning_rate = tf1.placeholder(tf.float32, [], name="learning_rate")
    optimizer = tf1.train.AdamOptimizer(learning_rate, name=optimizer_name)
    grads = tf.gradients(loss, var_list)
    finite = tf.reduce_all(
        tf.stack([tf.reduce_all(tf.math.is_finite(g)) for g in grads] + [tf.math.is_finite(loss)]),
        name="step_is_finite",
    )
    # A non-finite loss or gradient skips the update: the weights from before
    # the failing step stay in place, and fit() raises.
    with tf1.variable_scope("optimizer", reuse=tf1.AUTO_REUSE):
        op = tf.cond(
            finite,
            lambda: tf.group(optimizer.apply_gradients(zip(grads, var_list))),
            tf.no_op,
            name="train_step",
        )
    return learning_rate, op, finite
