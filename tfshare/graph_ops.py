"""The graph ops every classifier builds around its layers: prediction, loss, and a guarded train step.

Pure builders: each takes tensors and returns tensors, and is called by
``Classifier`` inside its runtime's ``building()`` scope, once. The layers'
own math is not here: ``tfshare.forward`` runs it.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

from tfshare._tf import tf, tf1
from tfshare.forward import run_updates

_log = logging.getLogger(__name__)


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


def prediction(logits: Any) -> tuple[Any, Any]:
    """Builds probabilities and class ids from logits.

    Args:
      logits: float32 tensor [batch, num_classes].

    Returns:
      (probabilities float32 [batch, num_classes] named "probabilities",
      class ids int64 [batch] named "class_ids").
    """
    proba = softmax(logits, name="probabilities")
    class_ids = tf.argmax(logits, axis=1, output_type=tf.int64, name="class_ids")
    return proba, class_ids


def labels() -> Any:
    """The int64 label placeholder "y" of shape [batch]."""
    return tf1.placeholder(tf.int64, [None], name="y")


def evaluation(logits: Any, y: Any, class_ids: Any = None, name_suffix: str = "") -> tuple[Any, Any]:
    """Builds the mean cross-entropy and the accuracy of ``logits`` against labels ``y``.

    Args:
      logits: float32 tensor [batch, num_classes].
      y: int64 tensor [batch].
      class_ids: int64 tensor [batch], the argmax of ``logits`` if already built.
      name_suffix: appended to the op names "loss" and "accuracy".

    Returns:
      (loss float32 scalar, accuracy float32 scalar).
    """
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
    loss = tf.reduce_mean(losses, name="loss" + name_suffix)
    if class_ids is None:
        class_ids = tf.argmax(logits, axis=1, output_type=tf.int64)
    accuracy = tf.reduce_mean(tf.cast(tf.equal(class_ids, y), tf.float32), name="accuracy" + name_suffix)
    return loss, accuracy


class _Adam(tf1.train.AdamOptimizer):
    """TF1's Adam, with its beta powers (bias correction) named "optimizer/<name>/beta1_power", like its slots.

    TF1's Adam names them "beta1_power" and "beta2_power" at the root of every
    graph, so on a server, which keeps variables across Sessions, a classifier
    of another name (or on the ps, any worker's) would find another's. TF 2.21
    has ``use_own_namescope_for_non_slot_vars`` for this; TF 2.16 has not, so
    the variables are made under an absolute name scope of their own instead
    (``_non_slot_dict`` still keys them by their short names).
    """

    def _create_non_slot_variable(self, initial_value: Any, name: str, colocate_with: Any) -> Any:
        with tf.name_scope(f"optimizer/{self._name}/"):  # absolute: "/" at the end
            return super()._create_non_slot_variable(initial_value, name, colocate_with)


def train_step(
    loss: Any, var_list: list[Any], optimizer_name: str, updates: Sequence[Any] = ()
) -> tuple[Any, Any, Any]:
    """Builds an Adam step that is skipped when the loss or a gradient is not finite.

    Args:
      loss: float32 scalar to minimize.
      var_list: the trainable variables to update. One the loss does not
        depend on (no gradient: a user's layer weight off the path to the
        logits, or one behind ``tf.stop_gradient``) keeps its value, as in
        tf_keras's ``Model.fit``, and is named in a logged warning.
      optimizer_name: unique name of the optimizer (its slot variables' suffix).
      updates: the layers' state updates from ``forward.collecting_updates``
        (BatchNorm's moving averages). Callables run with the gradient step,
        inside the "finite" branch; ops (a TF1 function's ``UPDATE_OPS``) run
        on every step, as the TF1 recipe runs them.

    Returns:
      (learning-rate float32 scalar placeholder, train op, bool scalar "the
      step was finite and applied").
    """
    learning_rate = tf1.placeholder(tf.float32, [], name="learning_rate")
    optimizer = _Adam(learning_rate, name=optimizer_name)
    grads_and_vars = [(g, v) for g, v in zip(tf.gradients(loss, var_list), var_list) if g is not None]
    if len(grads_and_vars) < len(var_list):
        trained = {id(v) for _, v in grads_and_vars}
        _log.warning("the loss does not depend on %s: training leaves them unchanged",
                     [v.name for v in var_list if id(v) not in trained])
    finite = tf.reduce_all(
        tf.stack([tf.reduce_all(tf.math.is_finite(g)) for g, _ in grads_and_vars] + [tf.math.is_finite(loss)]),
        name="step_is_finite",
    )
    deferred = [u for u in updates if callable(u)]
    every_step = [u for u in updates if not callable(u)]

    def apply() -> Any:
        return tf.group(optimizer.apply_gradients(grads_and_vars), *run_updates(deferred))

    # A non-finite loss or gradient skips the update: the weights (and the
    # moving statistics) from before the failing step stay in place, and fit() raises.
    with tf1.variable_scope("optimizer", reuse=tf1.AUTO_REUSE), tf.control_dependencies(every_step):
        op = tf.cond(finite, apply, tf.no_op, name="train_step")
    return learning_rate, op, finite


__all__ = ["evaluation", "labels", "prediction", "softmax", "train_step"]
