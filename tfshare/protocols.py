"""The classifier protocol that fused prediction, the head bank and bundles depend on.

Fused prediction (``tfshare.fused``), first-call batching, the head bank and
whole-runtime checkpoints (``tfshare.bundles``) work on anything that has
these attributes, not on the private fields of one class. ``Classifier`` and
its thin forms (``DenseClassifier``, ``ConvClassifier``) implement it.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class GraphClassifier(Protocol):
    """A classifier in a ``GraphSession``: tensors to fetch, and its state.

    Attributes:
      name: unique in its runtime.
      runtime: the ``GraphSession`` it was built into.
      shard: the shard of ``runtime`` holding its graph and Session (see
        ``tfshare.shards``); ``runtime`` itself in a runtime of few classifiers.
      trunk: the trunk it sits on, or None.
      trunk_in_shard: the trunk object in ``shard`` whose features it reads
        (``trunk_in_shard.output``): ``trunk``, or its mirror (``tfshare.mirrors``); None with no trunk.
      num_classes: number of classes C.
      input_shape: shape of one example; inputs are [batch, *input_shape].
      input_tensor: float32 placeholder [batch, *input_shape] (a trunk's is shared).
      probabilities_tensor: float32 tensor [batch, C], inference mode.
      named_variables: {key: variable}; on a trunk, "head/kernel" [H, C] and
        "head/bias" [C] are its Dense head.
      config: its architecture and num_classes, as checkpoints store them.
      closed: whether it was closed.
      awaiting_first_call: no prediction served yet (no callable of its own).
    """

    name: str
    runtime: Any
    shard: Any
    trunk: Any
    trunk_in_shard: Any
    num_classes: int
    input_shape: tuple[int, ...]
    input_tensor: Any
    probabilities_tensor: Any
    named_variables: dict[str, Any]
    config: dict[str, Any]
    closed: bool
    awaiting_first_call: bool

    def check_open(self) -> None:
        """Raises ClosedError if it or its runtime is closed."""


__all__ = ["GraphClassifier"]
