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
"""

from __future__ import annotations

import threading
from typing import Any, Sequence

from tfshare import mlp_graph
from tfshare._tf import tf, tf1
from tfshare.runtime import GraphSession


class HeadBank:
    """A cached copy of N heads' weights and the fused probabilities it computes.

    Args:
      runtime: the in-process GraphSession of the heads.
      features: float32 tensor [batch, H], the trunk's output.
      heads: classifiers on that trunk, all with C classes.

    Attributes:
      output: float32 tensor [batch, N, C]; [:, i] is heads[i]'s probabilities.
    """

    __slots__ = ("output", "_refresh", "_clock", "_seen", "_lock")

    def __init__(self, runtime: GraphSession, features: Any, heads: Sequence[Any]) -> None:
        if not self.usable(runtime):
            raise ValueError(f"a HeadBank needs an in-process runtime, got target {runtime.target!r}")
        n, c = len(heads), heads[0].num_classes
        with runtime.building(), tf.name_scope("head_bank"):
            kernels = tf.concat([h.named_variables["head/kernel"] for h in heads], axis=1)  # [H, N*C]
            biases = tf.concat([h.named_variables["head/bias"] for h in heads], axis=0)  # [N*C]
            bank_k = tf1.Variable(
                tf.zeros(kernels.shape, tf.float32), trainable=False, collections=[], use_resource=True, name="kernels"
            )
            bank_b = tf1.Variable(
                tf.zeros(biases.shape, tf.float32), trainable=False, collections=[], use_resource=True, name="biases"
            )
            refresh = tf.group(bank_k.assign(kernels), bank_b.assign(biases), name="refresh")
            logits = tf.nn.bias_add(tf.matmul(features, bank_k), bank_b)
            self.output = mlp_graph.softmax(tf.reshape(logits, [-1, n, c]), name="probabilities")
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
