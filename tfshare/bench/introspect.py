"""Exact size counts of what a mode built: ops, variables, parameter bytes, GraphDef bytes."""

from __future__ import annotations

from typing import Any, Iterable

from tfshare._tf import tf1


def variable_bytes(variables: Iterable[Any]) -> int:
    """Bytes held by the distinct variables in ``variables`` (shared ones counted once)."""
    distinct = {id(v): v for v in variables}
    return sum(int(v.shape.num_elements()) * v.dtype.size for v in distinct.values())


def graph_stats(graphs: Iterable[Any]) -> dict[str, int]:
    """Sizes of one or more ``tf.Graph`` objects, summed.

    Returns:
      {"ops", "variables", "param_bytes", "graphdef_bytes"}: the number of
      operations, of global variables, the bytes those variables hold, and the
      size of the serialized GraphDef.
    """
    ops = variables = param_bytes = graphdef_bytes = 0
    for graph in graphs:
        ops += len(graph.get_operations())
        global_vars = graph.get_collection(tf1.GraphKeys.GLOBAL_VARIABLES)
        variables += len(global_vars)
        param_bytes += variable_bytes(global_vars)
        graphdef_bytes += graph.as_graph_def().ByteSize()
    return {"ops": ops, "variables": variables, "param_bytes": param_bytes, "graphdef_bytes": graphdef_bytes}


__all__ = ["graph_stats", "variable_bytes"]
