"""Findings read from graphs: graph growth, nothing shared, shared and trained.

Graph growth is found from op-creation sites: TensorFlow records a traceback
for every op (``Operation.traceback``), so the ops a graph gained after it
was first run are grouped by the user's line that created them and by the
run they followed. A line that builds the same ops again (same types, fed
by the same existing tensors and variables) after two or more runs is
leaking them. A line that makes new trainable variables each time is
building new models, which is counted, not flagged.
"""

from __future__ import annotations

import bisect
import statistics
from typing import Any

from tfshare._tf import tf1
from tfshare.audit import findings, sites
from tfshare.audit import graph_facts as facts
from tfshare.audit.findings import Finding, format_bytes
from tfshare.audit.sharing import GraphSharing

_MAX_OPS = 20000  # ops read for creation sites per graph; past that, the first runs' and the last run's


def _signature(ops: list[Any]) -> tuple:
    """The ops' structure: types, and inputs inside the group by position, outside it by identity."""
    inside = {id(op): i for i, op in enumerate(ops)}
    sig = []
    for op in ops:
        ins = []
        for t in op.inputs:
            j = inside.get(id(t.op))
            ins.append(("i", j, t.value_index) if j is not None else ("e", id(t.op), t.value_index))
        sig.append((op.type, tuple(ins)))
    return tuple(sig)


def growth(label: str, graph: Any, first_id: int, marks: list[int]) -> list[Finding]:
    """Lines that built the same ops again after the graph was run (see the module docstring)."""
    if not marks:
        return []
    first_run = marks[0]
    ops = [op for op in graph.get_operations() if op._id > first_run and op._id >= first_id]
    if not ops:
        return []
    epoch_of = lambda op: bisect.bisect_left(marks, op._id)  # noqa: E731 - 1: after the first run, ...
    if len(ops) > _MAX_OPS:
        epochs = sorted({epoch_of(op) for op in ops})
        keep = set(epochs[:6]) | {epochs[-1]}
        sample = [op for op in ops if epoch_of(op) in keep]
    else:
        sample = ops
    trainable = {v.op.name for v in graph.get_collection(tf1.GraphKeys.TRAINABLE_VARIABLES)}
    groups: dict[Any, dict[int, list[Any]]] = {}
    for op in sample:
        site = sites.of_op(op)
        if site is not None:
            groups.setdefault(site, {}).setdefault(epoch_of(op), []).append(op)
    out = []
    for site, by_epoch in groups.items():
        if len(by_epoch) < 2:
            continue
        seen: list[tuple] = []
        repeats = 0
        for epoch in sorted(by_epoch):
            group = by_epoch[epoch]
            if any(op.type in facts.VARIABLE_OPS and op.name in trainable for op in group):
                continue  # a new model (new weights), not the same ops again
            sig = _signature(group)
            if sig in seen:
                repeats += 1
            else:
                seen.append(sig)
        if repeats < 2:
            continue
        sizes = [len(g) for g in by_epoch.values()]
        each = int(statistics.median(sizes))
        times = len(by_epoch)
        total = sum(sizes) if sample is ops else sum(1 for op in ops if sites.of_op(op) == site)
        out.append(findings.make(
            "graph_growth",
            f"{label} gained {total} ops at this line after it was first run: about {each} each time, "
            f"built again in {times} separate runs (a leak: memory grows and every new op slows later runs)",
            site, count=total, graph=label, ops=total, times=times, ops_each=each,
        ))
    return out


def _weights(sharing: GraphSharing, model: Any) -> list[Any]:
    return [v for v in sharing.members(model) if v.trainable]


def _body_signature(weights: list[Any]) -> tuple[tuple, tuple]:
    """(all weights' shapes in creation order, the same without the last layer's two)."""
    shapes = tuple((tuple(v.shape or ()), v.dtype.name) for v in sorted(weights, key=lambda v: v.first_id))
    return shapes, (shapes[:-2] if len(shapes) >= 4 else shapes)


def nothing_shared(models: list[tuple[str, list[Any], Any]]) -> list[Finding]:
    """Two or more models built in the block with the same layers and no variable in common.

    Args:
      models: (label, its weights (objects with .key, .shape, .dtype, .first_id, .bytes), a site or None).
    """
    groups: dict[tuple, list[tuple[str, list[Any], Any]]] = {}
    for label, weights, site in models:
        if weights:
            groups.setdefault(_body_signature(weights)[1], []).append((label, weights, site))
    out = []
    for body, members in groups.items():
        if len(members) < 2:
            continue
        keys = [{(label, v.key) for v in weights} for label, weights, _ in members]
        if any(a & b for i, a in enumerate(keys) for b in keys[i + 1:]):
            continue
        full = {_body_signature(w)[0] for _, w, _ in members}
        each = statistics.median(sum(v.bytes for v in w) for _, w, _ in members)
        layers = "the same layers" if len(full) == 1 else "the same layers except the output layer"
        where = members[1][2]
        out.append(findings.make(
            "nothing_shared",
            f"{len(members)} models have {layers} ({len(members[0][1])} weight variables, {format_bytes(int(each))} each) "
            f"and share no variable: {format_bytes(int(each) * len(members))} stored {len(members)} times",
            where, count=len(members), models=len(members), bytes_each=int(each),
        ))
    return out


def interference(label: str, sharing: GraphSharing, trained: list[tuple[Any, int]]) -> list[Finding]:
    """Shared variables that a training run wrote while another model reading them was not trained.

    Args:
      label: the graph's label.
      sharing: the graph's analysis.
      trained: (a ``runs.Effect`` that trains, how many calls ran it).
    """
    out = []
    owners: dict[tuple, list[int]] = {v.key: v.models for v in sharing.variables.values()}
    for effect, calls in trained:
        written = effect.trained
        moved = [sharing.variables[k] for k in written if k in sharing.variables and sharing.variables[k].shared]
        if not moved:
            continue
        victims = set()
        for var in moved:
            for m in var.models:
                own = [v for v in _weights(sharing, sharing.models[m]) if len(owners[v.key]) == 1]
                if own and not any(v.key in written for v in own):
                    victims.add(m)
        if not victims:
            continue
        stats = sum(1 for v in moved if not v.trainable)
        nbytes = sum(v.bytes for v in moved)
        where = next((s for s in map(sites.of_op, effect.writers) if s is not None), None)
        out.append(findings.make(
            "shared_interference",
            f"training here ({calls} calls) changed {len(moved)} shared variables ({format_bytes(nbytes)}"
            f"{f', {stats} of them statistics' if stats else ''}) that {len(victims)} other model(s) in {label} "
            "also read, without training those models' own weights: their outputs moved",
            where, count=len(moved), graph=label, calls=calls, variables=len(moved), statistics=stats,
            bytes=nbytes, other_models=len(victims),
        ))
    return out


__all__ = ["growth", "interference", "nothing_shared"]
