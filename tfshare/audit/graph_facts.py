"""What a graph op is, from what TensorFlow records about it: its type, name and inputs.

The audit reads graphs, not Python objects: a variable is its handle op
(``VarHandleOp``, or ``VariableV2`` for TF1's reference variables) and is
identified as TensorFlow's resource manager identifies it, by container and
``shared_name``, so two handle ops with one ``shared_name`` (as
``import_graph_def`` leaves them) are one variable. Ops fall in a few classes:
reads, writes (and which kind), bookkeeping sinks (checkpoints, summaries,
initialization checks), gradient ops and data sources.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

VARIABLE_OPS = frozenset({"VarHandleOp", "VariableV2", "Variable"})
_PASS_THROUGH = frozenset({"Identity", "Cast", "ReadVariableOp", "Snapshot", "StopGradient", "Print"})
_ASSIGNS = frozenset({"Assign", "AssignVariableOp"})
_UPDATES = frozenset({"AssignAdd", "AssignSub", "AssignAddVariableOp", "AssignSubVariableOp"})
_SINKS = frozenset({
    "SaveV2", "Save", "SaveSlices", "RestoreV2", "Restore", "RestoreSlice", "MergeV2Checkpoints", "ShardedFilename",
    "NoOp", "Assert", "PrintV2", "VarIsInitializedOp", "IsVariableInitialized", "DestroyResourceOp",
    "ReportUninitializedVariables", "VariableShape", "WriteFile",
})
_SOURCES = frozenset({
    "Placeholder", "PlaceholderV2", "PlaceholderWithDefault", "IteratorGetNext", "IteratorGetNextSync",
    "OptionalGetValue", "QueueDequeueV2", "QueueDequeueManyV2", "QueueDequeueUpToV2", "QueueDequeue",
    "QueueDequeueMany", "QueueDequeueUpTo", "ReaderReadV2", "ReaderReadUpToV2", "DecodeRaw",
})
_GRADIENT_SCOPE = re.compile(r"(^|/)(gradients(_\d+)?|gradient_tape)/")


def variable_key(op: Any) -> tuple[str, str]:
    """How TensorFlow's resource manager names a variable: (container, shared_name)."""
    try:
        container = op.get_attr("container").decode()
        shared = op.get_attr("shared_name").decode()
    except Exception:  # noqa: BLE001 - a handle op without the attributes
        container, shared = "", ""
    return container, shared or op.name


def handle_source(tensor: Any) -> Any | None:
    """The variable op a handle or reference tensor comes from (through Identity ops), or None."""
    op = tensor.op
    for _ in range(8):
        if op.type in VARIABLE_OPS:
            return op
        if op.type != "Identity" or not op.inputs:
            return None
        op = op.inputs[0].op
    return None


def write_kind(op: Any) -> str | None:
    """How an op writes its first input's variable: "assign", "update" or "apply"; None if it does not."""
    t = op.type
    if t in _ASSIGNS:
        return "assign"
    if t in _UPDATES:
        return "update"
    if t.startswith(("ResourceApply", "ResourceSparseApply", "Apply", "SparseApply")):
        return "apply"
    if t.startswith(("Scatter", "ResourceScatter")) and t != "ScatterNd" and "NonAliasing" not in t:
        return "update"
    return None


_BRANCHES = ("_true_graph", "_false_graph", "_body_graph", "_cond_graph")


class Write(NamedTuple):
    """One variable write: its handle op, "assign" | "update" | "apply", the value, the apply's other state."""

    target: Any
    kind: str
    value: Any
    op: Any
    state: tuple


def _outer(tensor: Any, captured: dict[int, Any]) -> Any | None:
    """The handle op a (possibly captured) handle tensor comes from."""
    op = tensor.op
    for _ in range(8):
        outer = captured.get(id(op))
        if outer is not None:
            return handle_source(outer)
        if op.type in VARIABLE_OPS:
            return op
        if op.type not in ("Identity", "ReadVariableOp") or not op.inputs:
            return None
        op = op.inputs[0].op
    return None


def writes(op: Any, captured: dict[int, Any] | None = None, depth: int = 3) -> list[Write]:
    """The variable writes of ``op``, including those inside its ``tf.cond`` / ``tf.while_loop`` bodies.

    TensorFlow keeps a control-flow op's branch graphs on the op
    (``_true_graph``, ``_body_graph``...); a branch reads the outer handles
    through its captures, which map them back.
    """
    captured = captured or {}
    out = []
    kind = write_kind(op)
    if kind is not None and op.inputs:
        target = _outer(op.inputs[0], captured)
        if target is not None:
            state = ()
            if kind == "apply":
                state = tuple(t for t in (_outer(x, captured) for x in op.inputs[1:]) if t is not None)
            out.append(Write(target, kind, op.inputs[-1] if len(op.inputs) > 1 else None, op, state))
    if depth:
        for attr in _BRANCHES:
            branch = getattr(op, attr, None)
            if branch is None:
                continue
            inner = dict(captured)
            try:
                pairs = zip(branch.external_captures, branch.internal_captures)
            except AttributeError:
                continue
            for outer, placeholder in pairs:
                inner[id(placeholder.op)] = captured.get(id(outer.op), outer)
            for inner_op in branch.get_operations():
                out.extend(writes(inner_op, inner, depth - 1))
    return out


def is_sink(op: Any) -> bool:
    """Bookkeeping: checkpoints, summaries, initialization checks, groups."""
    return op.type in _SINKS or "Summary" in op.type


def is_gradient(op: Any) -> bool:
    """An op of a gradient computation (``tf.gradients``, an optimizer, a ``GradientTape``)."""
    return bool(_GRADIENT_SCOPE.search(op.name))


def is_source(op: Any) -> bool:
    """A data input: a placeholder or input pipeline of rank >= 1, or a constant of rank >= 2.

    Scalar placeholders (a training flag, a learning rate, ``keep_prob``)
    are settings, not data.
    """
    t = op.type
    if t in _SOURCES:
        if t.startswith("Placeholder"):
            rank = op.outputs[0].shape.rank
            return rank is None or rank >= 1
        return True
    if t == "Const":
        rank = op.outputs[0].shape.rank
        return rank is not None and rank >= 2
    return False


def passes_through(op: Any) -> bool:
    """An op that hands on a value unchanged (a read, an identity, a cast)."""
    return op.type in _PASS_THROUGH


def value_source_type(tensor: Any) -> str:
    """The type of the op a value comes from, through identities (``RestoreV2`` for a restore)."""
    op = tensor.op
    for _ in range(8):
        if op.type not in ("Identity", "Cast") or not op.inputs:
            break
        op = op.inputs[0].op
    return op.type


__all__ = [
    "VARIABLE_OPS",
    "Write",
    "writes",
    "handle_source",
    "is_gradient",
    "is_sink",
    "is_source",
    "passes_through",
    "value_source_type",
    "variable_key",
    "write_kind",
]
