"""Per-op FULL_TRACE timings of Session callables, repeated: the shared part of this folder's scripts.

``Traced(session, feeds, fetches)`` is a callable made like tfshare's own
(``Session._make_callable_from_options``, run in the calling thread) with
``RunOptions.FULL_TRACE``; each call records, per executed node, its op time
(``op_end_rel - op_start_rel`` of the node's ``step_stats``, in ns) and the
step's wall time (first start to last end) and the whole traced call's
(``perf_counter``). ``summary`` gives per node the
median over calls, its op type (from the node's timeline label) and share of
the summed op time. ``flops_by_node`` is TensorFlow's own per-op FLOP
statistic (``ops.get_stats_for_node_def(..., "flops")``, what
``tf.compat.v1.profiler``'s ``float_operation`` sums) on a copy of a graph with
fixed input shapes.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from tfshare._tf import config_pb2, tf, tf1
from tensorflow.python.framework import ops as tf_ops

_LABEL = re.compile(r"^(?:\[[^\]]*\] )?\S+ = (\S+?)\(")


class Traced:
    """A FULL_TRACE callable (calling thread) on ``session``; ``runs`` collects every call's step stats."""

    def __init__(self, session: Any, feeds: Sequence[Any], fetches: Sequence[Any]) -> None:
        options = config_pb2.CallableOptions()
        options.feed.extend(t.name for t in feeds)
        options.fetch.extend(t.name for t in fetches)
        options.run_options.inter_op_thread_pool = -1
        options.run_options.trace_level = tf1.RunOptions.FULL_TRACE
        # BaseSession's own method: tfshare's Session subclass would add its write-clock tick.
        self._fn = tf1.Session._make_callable_from_options(session, options)
        self.runs: list[dict[str, Any]] = []  # {"wall_ns": int, "ops": {node: (op_type, ns)}}

    def __call__(self, *values: np.ndarray) -> list[np.ndarray]:
        metadata = tf1.RunMetadata()
        start_call = time.perf_counter_ns()
        out = self._fn(*values, run_metadata=metadata)
        call_ns = time.perf_counter_ns() - start_call
        nodes, starts, ends = {}, [], []
        for dev in metadata.step_stats.dev_stats:
            for ns in dev.node_stats:
                if ns.node_name == "_SOURCE":
                    continue
                start = ns.all_start_nanos or ns.all_start_micros * 1000
                op_ns = (ns.op_end_rel_nanos - ns.op_start_rel_nanos) or \
                    (ns.op_end_rel_micros - ns.op_start_rel_micros) * 1000
                end_rel = ns.all_end_rel_nanos or ns.all_end_rel_micros * 1000
                starts.append(start)
                ends.append(start + end_rel)
                match = _LABEL.match(ns.timeline_label)
                op_type = match.group(1) if match else "?"
                key = f"{dev.device.rsplit('/', 1)[-1]}:{ns.node_name}"
                prev = nodes.get(key)
                nodes[key] = (op_type, op_ns + (prev[1] if prev else 0))
        self.runs.append({"wall_ns": (max(ends) - min(starts)) if starts else 0, "call_ns": call_ns, "ops": nodes})
        return out


def summary(runs: Sequence[Mapping[str, Any]], skip: int = 0) -> dict[str, Any]:
    """Per node: op type, median ns over ``runs[skip:]`` (0 where a run lacks it), share of the summed medians."""
    runs = list(runs)[skip:]
    names = sorted({n for r in runs for n in r["ops"]})
    per_node = {}
    for name in names:
        values = [r["ops"].get(name, (None, 0))[1] for r in runs]
        op_type = next(r["ops"][name][0] for r in runs if name in r["ops"])
        per_node[name] = {"op_type": op_type, "median_ns": statistics.median(values),
                          "p10_ns": float(np.percentile(values, 10)), "p90_ns": float(np.percentile(values, 90))}
    total = sum(v["median_ns"] for v in per_node.values()) or 1
    for v in per_node.values():
        v["share"] = v["median_ns"] / total
    sums = [sum(ns for _, ns in r["ops"].values()) for r in runs]
    walls = [r["wall_ns"] for r in runs]
    calls = [r.get("call_ns", 0) for r in runs]
    return {"runs": len(runs), "op_sum_median_ns": statistics.median(sums), "wall_median_ns": statistics.median(walls),
            "call_median_ns": statistics.median(calls), "nodes": per_node, "op_sum_ns": sums, "wall_ns": walls,
            "call_ns": calls}


def grouped(nodes: Mapping[str, Mapping[str, Any]], group_of: Callable[[str, str], str]) -> dict[str, dict[str, Any]]:
    """Sums ``summary``'s per-node medians and shares by ``group_of(node_name, op_type)``."""
    groups: dict[str, dict[str, Any]] = {}
    for name, v in nodes.items():
        g = groups.setdefault(group_of(name, v["op_type"]), {"median_ns": 0.0, "share": 0.0, "nodes": []})
        g["median_ns"] += v["median_ns"]
        g["share"] += v["share"]
        g["nodes"].append(f"{name} ({v['op_type']})")
    return groups


def flops_by_node(fetch: Any, shapes: Mapping[Any, Sequence[int]]) -> dict[str, int]:
    """TensorFlow's registered FLOP statistic per op of ``fetch``'s subgraph, placeholders at fixed shapes.

    The same statistic ``tfshare.harness.introspect.float_ops`` sums through
    the profiler (MatMul/Conv2D 2 per multiply-add, pooling, Mean, BiasAdd,
    elementwise ops; 0 for ops with none: Relu, FusedBatchNorm, Softmax, ...).
    """
    graph_def = tf1.graph_util.extract_sub_graph(fetch.graph.as_graph_def(), [fetch.op.name])
    with tf.Graph().as_default() as graph:
        input_map = {t.name: tf1.placeholder(t.dtype, tuple(s), name=f"fixed_{i}") for i, (t, s) in enumerate(shapes.items())}
        tf1.import_graph_def(graph_def, input_map=input_map, name="")
        out = {}
        for op in graph.get_operations():
            try:
                value = tf_ops.get_stats_for_node_def(graph, op.node_def, "flops").value
            except ValueError:
                value = None
            if value:
                out[op.name] = int(value)
        return out


def cnn_classifier(batch: int) -> tuple[Any, np.ndarray, Any, Any]:
    """The benchmarks' CNN (``tfshare.bench.models``) in its own CPU runtime: (model, inputs [batch, 28, 28, 1], runtime, classifier)."""
    from tfshare.bench import models
    from tfshare.runtime import GraphSession

    model = models.model("cnn")
    gs = GraphSession(device="cpu")
    return model, model.inputs(batch, 0), gs, model.classifier(10, runtime=gs, seed=0)


def machine() -> dict[str, Any]:
    """Load, CPU, versions and thread environment, for the JSON."""
    info = {"uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
            "python": sys.version.split()[0], "tensorflow": tf.__version__, "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "env": {k: os.environ.get(k) for k in ("TF_ENABLE_ONEDNN_OPTS", "OMP_NUM_THREADS", "TF_CPP_MIN_LOG_LEVEL")}}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu_model"] = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return info
