"""Trunk mirrors' copies in an audit: their trunk's variables held again, not variables of their own.

A head beyond its trunk's shard sits on a *mirror* of the trunk in another
shard's graph (``tfshare.mirrors``): a copy of each trunk variable, kept equal
to it. The copies own storage, so they cost bytes, but they hold no weights of
their own. The report therefore counts them apart (per trunk: mirrors, copies,
bytes), leaves them out of the variables created, and reads a copy as its
trunk's variable wherever variables are matched: shared and trained
variables count the trunk's once, in whichever shard a head reads or trains it.
"""

from __future__ import annotations

from typing import Any

from tfshare import _mirror_copies
from tfshare.audit import graph_facts as facts

#: A variable across graphs: (id of its graph, its resource key (container, shared_name)).
Key = tuple[int, tuple[str, str]]


class Copies:
    """The copies the registry knows of, read once per graph (one report computation)."""

    def __init__(self) -> None:
        self._by_graph: dict[int, tuple[Any, dict[str, _mirror_copies.Copy], dict[tuple[str, str], Key]]] = {}

    def _read(self, graph: Any) -> tuple[dict[str, _mirror_copies.Copy], dict[tuple[str, str], Key]]:
        hit = self._by_graph.get(id(graph))
        if hit is None or hit[0] is not graph:
            by_name = _mirror_copies.of(graph)
            keys: dict[tuple[str, str], Key] = {}
            for name, copy in by_name.items():
                home = copy.graph()
                try:
                    op, source = graph.get_operation_by_name(name), home.get_operation_by_name(copy.source)
                except (AttributeError, KeyError, ValueError):  # the trunk's graph is gone
                    continue
                keys[facts.variable_key(op)] = (id(home), facts.variable_key(source))
            hit = self._by_graph[id(graph)] = (graph, by_name, keys)
        return hit[1], hit[2]

    def of_record(self, record: Any) -> _mirror_copies.Copy | None:
        """The ``Copy`` an audit's ``VariableRecord`` is, or None (a variable of its own, or eager)."""
        graph = record.graph() if record.graph is not None else None
        return None if graph is None else self._read(graph)[0].get(record.op_name)

    def key(self, graph: Any, key: tuple[str, str]) -> Key:
        """The variable ``key`` of ``graph`` names across graphs: its trunk's variable if it is a copy."""
        return self._read(graph)[1].get(key, (id(graph), key))


def by_trunk(records: list[tuple[Any, _mirror_copies.Copy]]) -> dict[str, dict[str, int]]:
    """{trunk name: {"mirrors": graphs holding its copies, "copies": variables, "bytes": their bytes}}."""
    out: dict[str, dict[str, int]] = {}
    graphs: dict[str, set[int]] = {}
    for record, copy in records:
        row = out.setdefault(copy.trunk, {"mirrors": 0, "copies": 0, "bytes": 0})
        row["copies"] += 1
        row["bytes"] += copy.nbytes
        graphs.setdefault(copy.trunk, set()).add(id(record.graph()))
    for trunk, seen in graphs.items():
        out[trunk]["mirrors"] = len(seen)
    return out


__all__ = ["Copies", "Key", "by_trunk"]
