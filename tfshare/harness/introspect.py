"""Exact counts of what a mode built: ops, variables, parameter bytes, GraphDef bytes, and FLOPs."""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from tfshare._tf import tf, tf1
from tfshare.errors import InputError


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


def float_ops(fetch: Any, shapes: Mapping[Any, Sequence[int]] | None = None) -> int:
    """Floating-point operations of one run of ``fetch``, as TensorFlow's profiler counts them.

    The ops ``fetch`` depends on are copied into a new graph, each placeholder
    in ``shapes`` replaced by one of that fixed shape (e.g. the input at batch
    256), so that every shape is known; ``tf.compat.v1.profiler`` with
    ``ProfileOptionBuilder.float_operation()`` then sums the statistics
    TensorFlow registers per op type: MatMul and Conv2D (2 per
    multiply-add), BiasAdd, pooling, Mean, elementwise arithmetic. Ops without
    one (Relu, FusedBatchNorm, Softmax, ...) count 0.

    Args:
      fetch: a graph tensor.
      shapes: placeholder tensor (of fetch's graph) -> the fixed shape to count at.

    Returns:
      The total float operations of one run, before Grappler's rewrites.

    Raises:
      InputError: a shape in the copied graph is still unknown (name the
        placeholder that needs a fixed shape in ``shapes``).
    """
    shapes = dict(shapes or {})
    graph_def = tf1.graph_util.extract_sub_graph(fetch.graph.as_graph_def(), [fetch.op.name])
    with tf.Graph().as_default() as graph:
        input_map = {
            t.name: tf1.placeholder(t.dtype, tuple(shape), name=f"fixed_{i}")
            for i, (t, shape) in enumerate(shapes.items())
        }
        (copied,) = tf1.import_graph_def(graph_def, input_map=input_map, return_elements=[fetch.name], name="")
        unknown = [op.name for op in graph.get_operations() if op.type == "Placeholder"
                   and op.outputs[0].consumers() and not op.outputs[0].shape.is_fully_defined()]
        if unknown or not copied.shape.is_fully_defined():
            raise InputError(f"shapes must fix every placeholder {fetch.name} depends on; still unknown: {unknown}")
        options = tf1.profiler.ProfileOptionBuilder.float_operation()
        options["output"] = "none"
        return int(tf1.profiler.profile(graph, cmd="scope", options=options).total_float_ops)


__all__ = ["float_ops", "graph_stats", "variable_bytes"]
