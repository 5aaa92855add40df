"""Which variables more than one consumer reads: sharing, found where TensorFlow records it.

Whatever API built a graph (tf_keras layers reused, ``make_template``,
``variable_scope(reuse=True)`` + ``get_variable``, a tfshare trunk, a copy
whose handle ops share a ``shared_name``), sharing shows in its data flow:

* **the forward graph** is every op except gradient ops (and what consumes
  their results: clipping, the finite check, the update), writes,
  and bookkeeping sinks (checkpoints, summaries, initialization checks);
* a variable's **uses** are the forward ops that consume its value (through
  reads, identities and casts);
* **towers**: uses grouped by the data they combine the variable with (the
  placeholders and input pipelines upstream of them); two uses on one chain
  (an unrolled RNN) are one tower. A siamese network's two towers, a layer
  reused on two inputs, a train and an eval tower are two towers. Uses of
  one data whose results meet in one forward op are two towers too: a
  siamese tower on a placeholder of pairs, or on one input fed twice
  (augmented, or as it is). Uses of one data that never meet (a training
  and an inference path on one placeholder) are one;
* **models**: the outputs of the forward graph (ops no forward op consumes,
  which depend on data), each with the set of variables it depends on; an
  output whose set is part of another's (the probabilities of a loss's
  logits) is the same model. Heads on one trunk are two models.

A variable is **shared** when it has two towers or belongs to two models.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tfshare._tf import tf, tf1
from tfshare.audit import graph_facts as facts


@dataclasses.dataclass
class Variable:
    """One variable of a graph (all its handle ops, one resource)."""

    key: tuple[str, str]
    bit: int
    op: Any  # its first handle op
    first_id: int
    dtype: Any
    shape: list[int] | None
    trainable: bool
    role: str = "weights"
    towers: int = 0
    models: list[int] = dataclasses.field(default_factory=list)
    used_in_block: bool = False

    @property
    def name(self) -> str:
        return self.op.name

    @property
    def bytes(self) -> int:
        if self.shape is None or any(d is None or d < 0 for d in self.shape):
            return 0
        n = 1
        for d in self.shape:
            n *= d
        return n * self.dtype.size

    @property
    def shared(self) -> bool:
        return self.towers >= 2 or len(self.models) >= 2


@dataclasses.dataclass
class Model:
    """A forward output and the variables it depends on."""

    mask: int
    output: Any  # an op
    in_block: bool


@dataclasses.dataclass
class GraphSharing:
    """The result for one graph."""

    variables: dict[tuple[str, str], Variable]
    models: list[Model]

    def by_bit(self) -> dict[int, Variable]:
        return {v.bit: v for v in self.variables.values()}

    def members(self, model: Model) -> list[Variable]:
        bits = self.by_bit()
        return [bits[b] for b in _bits(model.mask)]


def _bits(mask: int) -> list[int]:
    out, i = [], 0
    while mask:
        if mask & 1:
            out.append(i)
        mask >>= 1
        i += 1
    return out


def _collection_names(graph: Any, key: str) -> set[str]:
    names = set()
    for v in graph.get_collection(key):
        op = getattr(v, "op", None)
        if op is not None:
            names.add(op.name)
    return names


def _roles(graph: Any, variables: dict, apply_inputs: set, statistics: set, hints: dict[str, str]) -> None:
    trainable = _collection_names(graph, tf1.GraphKeys.TRAINABLE_VARIABLES)
    bookkeeping = set()
    for key in (tf1.GraphKeys.GLOBAL_STEP, tf1.GraphKeys.METRIC_VARIABLES, tf1.GraphKeys.LOCAL_VARIABLES):
        bookkeeping |= _collection_names(graph, key)
    for var in variables.values():
        name, hint = var.op.name, hints.get(var.op.name)
        var.trainable = var.trainable or name in trainable
        if name in bookkeeping or hint == "bookkeeping" or var.dtype.is_integer or var.dtype == "bool":
            var.role = "bookkeeping"
        elif var.trainable:
            var.role = "weights"
        elif hint == "optimizer" or var.key in apply_inputs:
            var.role = "optimizer"
        elif var.key in statistics or name.endswith(("moving_mean", "moving_variance")):
            var.role = "statistics"
        else:
            var.role = "weights"  # not trainable: frozen, or a copy of weights


def _variables(ops: list[Any], trainable: set[str] | None) -> tuple[dict, dict[int, Variable]]:
    """Every variable of the graph, by resource key, and the variable each handle op (by index) is."""
    variables: dict[tuple[str, str], Variable] = {}
    var_of_op: dict[int, Variable] = {}
    for i, op in enumerate(ops):
        if op.type not in facts.VARIABLE_OPS:
            continue
        key = facts.variable_key(op)
        var = variables.get(key)
        if var is None:
            try:
                dtype, shape = op.get_attr("dtype"), op.get_attr("shape")
                dims = None if shape.unknown_rank else [d.size for d in shape.dim]
            except Exception:  # noqa: BLE001 - a handle op without the attributes
                dtype, dims = op.outputs[0].dtype.base_dtype, None
            var = variables[key] = Variable(key, len(variables), op, op._id, tf.as_dtype(dtype), dims,
                                            bool(trainable and op.name in trainable))
        var_of_op[i] = var
    return variables, var_of_op


@dataclasses.dataclass
class _Flow:
    """The data flow of a graph's ops, by index in creation order (a topological order)."""

    ops: list[Any]
    inputs: list[list[int]]
    consumers: list[list[int]]
    excluded: bytearray  # not forward: gradients, writes, bookkeeping, handle ops
    reads: dict[int, list[Variable]]  # forward ops that read a variable's value or handle
    apply_inputs: set  # keys an optimizer updates besides its target: its state
    statistics: set  # keys written by updates (moving averages) or read as a normalization's mean/variance


def _flow(ops: list[Any], var_of_op: dict[int, Variable]) -> _Flow:
    index = {id(op): i for i, op in enumerate(ops)}
    n = len(ops)
    flow = _Flow(ops, [[] for _ in range(n)], [[] for _ in range(n)], bytearray(n), {}, set(), set())
    tainted = bytearray(n)  # gradient ops and what consumes their results
    for i, op in enumerate(ops):
        ins = [index[id(t.op)] for t in op.inputs if id(t.op) in index]
        flow.inputs[i] = ins
        for j in ins:
            flow.consumers[j].append(i)
        if facts.is_gradient(op) or any(tainted[j] for j in ins):
            tainted[i] = 1
        for write in facts.writes(op):
            if write.kind == "update":
                flow.statistics.add(facts.variable_key(write.target))
            flow.apply_inputs.update(facts.variable_key(t) for t in write.state)
        if op.type.startswith("FusedBatchNorm") and len(op.inputs) >= 5:
            for t in op.inputs[3:5]:
                src = facts.handle_source(t.op.inputs[0]) if facts.passes_through(t.op) and t.op.inputs else None
                if src is not None:
                    flow.statistics.add(facts.variable_key(src))
        if tainted[i] or facts.write_kind(op) or facts.is_sink(op) or i in var_of_op:
            flow.excluded[i] = 1
            continue
        read = [var_of_op[j] for j in ins if j in var_of_op]
        if not read:  # a handle passed on through identities (or into a function call)
            for t in op.inputs:
                if t.dtype.name == "resource" or t.dtype._is_ref_dtype:
                    src = facts.handle_source(t)
                    if src is not None and index.get(id(src)) in var_of_op:
                        read.append(var_of_op[index[id(src)]])
        if read:
            flow.reads[i] = read
    return flow


def _uses(flow: _Flow) -> dict[int, list[Variable]]:
    """The first forward ops past each read (through identities and casts), with the variables they use."""
    uses: dict[int, list[Variable]] = {}
    forward = lambda i: [c for c in flow.consumers[i] if not flow.excluded[c]]  # noqa: E731
    for r, read in flow.reads.items():
        frontier = forward(r) if facts.passes_through(flow.ops[r]) else [r]
        seen = set()
        while frontier:
            c = frontier.pop()
            if c in seen:
                continue
            seen.add(c)
            if c != r and facts.passes_through(flow.ops[c]):
                frontier.extend(forward(c))
            else:
                uses.setdefault(c, []).extend(read)
    return uses


def _masks(flow: _Flow, use_bit: dict[int, int]) -> tuple[list[int], list[int], list[int]]:
    """Per op: the variables, the data sources and the uses upstream of it, as bit masks."""
    n = len(flow.ops)
    vmask, smask, umask = [0] * n, [0] * n, [0] * n
    for i, op in enumerate(flow.ops):
        if flow.excluded[i]:
            continue
        v = s = u = 0
        for j in flow.inputs[i]:
            if not flow.excluded[j]:
                v |= vmask[j]
                s |= smask[j]
                u |= umask[j]
        for var in flow.reads.get(i, ()):
            v |= 1 << var.bit
        if facts.is_source(op):
            s |= 1 << i
        if i in use_bit:
            u |= 1 << use_bit[i]
        vmask[i], smask[i], umask[i] = v, s, u
    return vmask, smask, umask


def _models(flow: _Flow, vmask: list[int], smask: list[int], first_id: int) -> list[Model]:
    """The maximal variable sets among the forward outputs that depend on data."""
    outputs: dict[int, int] = {}
    for i in range(len(flow.ops)):
        if flow.excluded[i] or not vmask[i] or not smask[i]:
            continue
        if any(not flow.excluded[c] for c in flow.consumers[i]):
            continue
        outputs.setdefault(vmask[i], i)
    models: list[Model] = []
    for m in sorted(outputs, key=lambda m: -bin(m).count("1")):
        if not any(m & other.mask == m for other in models):
            op = flow.ops[outputs[m]]
            models.append(Model(m, op, op._id >= first_id))
    return models


def analyze(graph: Any, first_id: int, hints: dict[str, str] | None = None,
            trainable: set[str] | None = None) -> GraphSharing:
    """Finds the towers and models that read each variable of ``graph``.

    Args:
      graph: a ``tf.Graph``.
      first_id: the first op id added in the audited block (ops from it on
        are the block's).
      hints: {handle op name: "optimizer" | "bookkeeping"} from the Python
        stack when the audit saw the variable created.
      trainable: handle op names of variables known to be trainable.

    Returns:
      A ``GraphSharing``.
    """
    ops = graph.get_operations()
    variables, var_of_op = _variables(ops, trainable)
    flow = _flow(ops, var_of_op)
    uses = _uses(flow)
    use_bit = {u: b for b, u in enumerate(uses)}
    vmask, smask, umask = _masks(flow, use_bit)
    by_bit = {v.bit: v for v in variables.values()}
    per_var: dict[int, list[int]] = {}
    for u, read in uses.items():
        for var in {id(v): v for v in read}.values():
            per_var.setdefault(var.bit, []).append(u)
            if ops[u]._id >= first_id:
                var.used_in_block = True
    meets = _meeting_points(flow, umask)
    for bit, us in per_var.items():
        towers: dict[int, list[int]] = {}
        for u in us:
            if smask[u]:  # a use fed by no data (a regularizer, a copy) is no tower
                towers.setdefault(smask[u], []).append(u)
        fed = [u for group in towers.values() for u in group]
        by_bit[bit].towers = max(_towers(list(towers.values()), umask, use_bit),
                                 _towers_met(fed, meets, umask, use_bit))
    models = _models(flow, vmask, smask, first_id)
    for k, model in enumerate(models):
        for bit in _bits(model.mask):
            by_bit[bit].models.append(k)
    _roles(graph, variables, flow.apply_inputs, flow.statistics, hints or {})
    return GraphSharing(variables, models)


def _meeting_points(flow: _Flow, umask: list[int]) -> list[int]:
    """The distinct sets of uses (bit masks) upstream of the forward graph's last ops, those with two uses or more.

    Every forward op that two uses feed feeds one of these ops, so two uses
    meet somewhere exactly when one of these masks holds both.
    """
    ends = set()
    for i in range(len(flow.ops)):
        if flow.excluded[i] or any(not flow.excluded[c] for c in flow.consumers[i]):
            continue
        if umask[i] & (umask[i] - 1):
            ends.add(umask[i])
    return list(ends)


def _towers_met(uses: list[int], meets: list[int], umask: list[int], use_bit: dict[int, int]) -> int:
    """The most towers of one variable that one computation combines: its uses upstream of one forward op,
    merged when on one chain.

    One placeholder fed twice through one tower whose results meet (a
    siamese network on a placeholder of pairs, or on one input with two
    augmentations) is two towers, though its uses have the same data
    upstream. Uses that never meet (a training and an inference path on one
    placeholder) count here as one.
    """
    if len(uses) <= 1:
        return len(uses)
    mine = sum(1 << use_bit[u] for u in uses)
    most = 1
    for met in {m & mine for m in meets}:
        if met & (met - 1):
            most = max(most, _towers([[u] for u in uses if met >> use_bit[u] & 1], umask, use_bit))
    return most


def _towers(groups: list[list[int]], umask: list[int], use_bit: dict[int, int]) -> int:
    """Groups of uses, merged when a use of one is upstream of a use of another (one chain)."""
    if len(groups) <= 1:
        return len(groups)
    parent = list(range(len(groups)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    bits = [sum(1 << use_bit[u] for u in g) for g in groups]
    for a, group in enumerate(groups):
        upstream = 0
        for u in group:
            upstream |= umask[u]
        for b in range(len(groups)):
            if a != b and upstream & bits[b]:
                parent[find(a)] = find(b)
    return len({find(a) for a in range(len(groups))})


__all__ = ["GraphSharing", "Model", "Variable", "analyze"]
