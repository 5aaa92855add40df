"""Head banks: the heads of one trunk computed as one matmul over a cached copy of their weights.

``predict_many`` over N heads on a trunk needs every head's kernel [H, C] and
bias [C] side by side. Concatenating them inside every call costs 2N variable
reads and two concats in TensorFlow's executor, about 30 us of a 104 us call
at N = 32 on the 2-core CPU. A ``HeadBank`` keeps the concatenation in two
variables of its own (kernels [H, N*C], biases [N*C]) and refreshes them only
when a Session call that may have written variables finished since its last
refresh (``GraphSession.write_clock``, see ``tfshare._tracked_session``). So a
fused call reads 2 variables, and after any write (``fit``, ``restore``, a
``Session.run`` of the user's) the next fused call first copies the heads
again, in one extra Session call.

Banks are for in-process runtimes only: a remote Session shares variables
with other processes, whose writes no clock here can see (``HeadBank.usable``).
The bank's variables are in no collection: initializers, savers and bundles
never see them.

Layout: columns are class-major (column ``c * N + n`` is class c of head n),
so the fused logits reshape to [batch, C, N] and the softmax reduces over the
middle axis, which Eigen vectorizes across the N heads: 15 us at batch 32,
N = 32, C = 10, against 29 us for the usual head-major [batch, N, C] with a
reduction over the last axis of 10 (measured side by side on the 2-core CPU).
"""

from __future__ import annotations

import threading
from typing import Any, Sequence

import numpy as np

from tfshare._tf import tf, tf1
from tfshare.runtime import GraphSession


class HeadBank:
    """A cached copy of N heads' weights and the fused probabilities it computes.

    Args:
      runtime: the in-process GraphSession of the heads.
      features: float32 tensor [batch, H], the trunk's output.
      heads: classifiers on that trunk, all with C classes.

    Attributes:
      output: float32 tensor [batch, C, N]; [:, :, i] is heads[i]'s
        probabilities (``split_heads`` turns it into one array per head).
    """

    __slots__ = ("output", "_refresh", "_clock", "_seen", "_lock")

    def __init__(self, runtime: GraphSession, features: Any, heads: Sequence[Any]) -> None:
        if not self.usable(runtime):
            raise ValueError(f"a HeadBank needs an in-process runtime, got target {runtime.target!r}")
        with runtime.building(), tf.name_scope("head_bank"):
            kernels, biases = class_major_weights(heads)
            bank_k = tf1.Variable(
                tf.zeros(kernels.shape, tf.float32), trainable=False, collections=[], use_resource=True, name="kernels"
            )
            bank_b = tf1.Variable(
                tf.zeros(biases.shape, tf.float32), trainable=False, collections=[], use_resource=True, name="biases"
            )
            refresh = tf.group(bank_k.assign(kernels), bank_b.assign(biases), name="refresh")
            self.output = fused_probabilities(features, bank_k, bank_b, len(heads), heads[0].num_classes)
        # The refresh writes only the bank, so it must not tick the clock it is checked against.
        self._refresh = runtime.callable([], [], [refresh], read_only=True)
        self._clock = runtime.write_clock
        self._seen = -1  # never refreshed
        self._lock = threading.Lock()

    @staticmethod
    def usable(runtime: GraphSession) -> bool:
        """Whether every write to ``runtime``'s variables goes through its own Session."""
        return not runtime.target

    def ensure_fresh(self) -> bool:
        """Copies the heads' weights into the bank if a write may have happened since the last copy.

        Returns:
          Whether it refreshed.
        """
        if self._seen == self._clock.value:
            return False
        with self._lock:
            now = self._clock.value  # read before copying: a write finishing later ticks again
            if self._seen == now:
                return False
            self._refresh()
            self._seen = now
            return True


def class_major_weights(heads: Sequence[Any]) -> tuple[Any, Any]:
    """The heads' kernels and biases side by side, class-major (build inside the runtime's graph).

    Args:
      heads: N classifiers with C classes on one trunk of H features.

    Returns:
      (float32 tensor [H, C*N], float32 tensor [C*N]); column c*N + n is
      class c of heads[n].
    """
    kernels = tf.stack([h.named_variables["head/kernel"] for h in heads], axis=-1)  # [H, C, N]
    biases = tf.stack([h.named_variables["head/bias"] for h in heads], axis=-1)  # [C, N]
    return tf.reshape(kernels, [kernels.shape[0], -1]), tf.reshape(biases, [-1])


def fused_probabilities(features: Any, kernels: Any, biases: Any, n: int, c: int) -> Any:
    """Every head's softmax from one matmul over class-major weights.

    Args:
      features: float32 tensor [batch, H].
      kernels: float32 tensor [H, C*N], from ``class_major_weights``.
      biases: float32 tensor [C*N].
      n, c: heads N and classes C.

    Returns:
      float32 tensor [batch, C, N] of probabilities (each [:, :, i] sums to 1 over axis 1).
    """
    logits = tf.reshape(tf.nn.bias_add(tf.matmul(features, kernels), biases), [-1, c, n])
    # Max-shifted, as tf.nn.softmax: exp cannot overflow and the largest term is exp(0) = 1.
    e = tf.exp(logits - tf.reduce_max(logits, axis=1, keepdims=True))
    return tf.math.divide(e, tf.reduce_sum(e, axis=1, keepdims=True), name="probabilities")


def split_heads(block: np.ndarray) -> np.ndarray:
    """[batch, C, N] -> [N, batch, C] without a copy: [i] is head i's probabilities.

    Each head's [batch, C] array is a strided view into the one block
    TensorFlow returned (not C-contiguous; ``np.ascontiguousarray`` makes a
    compact copy). Copying all N would cost 5 us of a 75 us call at N = 32.
    """
    return block.transpose(2, 0, 1)
