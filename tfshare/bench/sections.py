"""The report's sections: one per benchmark, its tables and its plot, from a result document.

``SECTIONS`` maps each benchmark to a ``report.Section`` (its title, its
plot's file name and function in ``tfshare.bench.plots``, and the Markdown
lines under its heading); ``build_report`` hands them to the harness's
``tfshare.harness.report.build_report``, which knows nothing of any one
benchmark.
"""

from __future__ import annotations

from typing import Any

from tfshare.bench import (
    distributed_sharing,
    efficiency,
    graph_construction,
    marginal_cost,
    plots,
    session_reuse,
    variable_sharing,
)
from tfshare.harness import report, results
from tfshare.harness.report import Section


def _section_graph_construction(doc: dict[str, Any], plot: str) -> list[str]:
    records = doc["records"]
    return [
        "Building N classifiers, then one prediction with each (which creates the Session and "
        "initializes variables, or traces). Medians over repeats; RSS is noisy, parameter and "
        "GraphDef bytes are exact.",
        "",
        graph_construction.summary_table(records),
        "",
        f"![build time vs N]({plot})",
        "",
        "<details><summary>All sizes</summary>",
        "",
        graph_construction.table(records),
        "",
        "</details>",
    ]


def _section_session_reuse(doc: dict[str, Any], plot: str) -> list[str]:
    records = doc["records"]
    thr = [r for r in records if r["kind"] == "throughput"]
    lines = [
        "Per-call latency of one prediction, modes timed side by side (interleaved repeats). "
        "Ratios are this mode's time over the reference's (below 1 is faster), the median over repeats of "
        "the per-repeat ratio: against the raw callable floor (`Session._make_callable_from_options`) and "
        "against eager `model(x)`.",
        "",
        session_reuse.summary_table(records),
        "",
        f"![latency per mode and batch size]({plot})",
    ]
    if thr:
        lines += [
            "",
            "Throughput of `predict_proba` with threads sharing one Session:",
            "",
            results.kind_tables(records, session_reuse.HEADERS, session_reuse.table_row, ("throughput",)),
        ]
    return lines


def _section_variable_sharing(doc: dict[str, Any], plot: str) -> list[str]:
    return [
        "N classifiers with their own body (`separate`) or as heads on one `SharedTrunk`. "
        "Interference: the largest change of the other heads' probabilities after training "
        "classifier 0 (greater than 0 with a shared trunk, exactly 0 without).",
        "",
        variable_sharing.table(doc["records"]),
        "",
        f"![bytes with and without sharing]({plot})",
    ]


def _section_marginal_cost(doc: dict[str, Any], plot: str) -> list[str]:
    records = doc["records"]
    return [
        "Live pattern: build one classifier, initialize, predict once, then the next. A least-squares "
        "line through each part gives its growth per classifier already in the runtime. `shared_graph` "
        "is one runtime with shards of `shard_size` classifiers; `unsharded` the same in one graph (the "
        "curve before shards). `naive_shared` drives one graph as plain TF1 code does (an initializer op "
        "per classifier, `Session.run` + `feed_dict`, TensorFlow's default Session options).",
        "",
        marginal_cost.table(records, "slope"),
        "",
        "Batch pattern: build N, then call `predict_proba` once on each.",
        "",
        marginal_cost.table(records, "batch"),
        "",
        f"![marginal cost vs k]({plot})",
    ]


def _section_efficiency(doc: dict[str, Any], plot: str) -> list[str]:
    records = doc["records"]
    return [
        "`predict_proba` of the model at each batch size per Session thread setting, timed side by side with "
        "a model-independent reference, TensorFlow's MatMul of two large square matrices (a plain Session); "
        "NumPy's BLAS matmul of the same is timed after them, on its own (OpenBLAS's spinning threads slow "
        "what runs beside it). FLOPs come from TensorFlow's profiler on each graph at its fixed "
        "shape (ops with no registered count, such as ReLU, BatchNorm and softmax, count 0); the ratios are "
        "GFLOP/s over the reference's, from per-repeat time ratios to TensorFlow's MatMul and from the ratio "
        "of medians to NumPy's, which was not timed beside them. Then, at each batch size, one epoch of `fit` "
        "against the raw callable running the same train op.",
        "",
        results.kind_tables(records, efficiency.HEADERS, efficiency.table_row, ("compute", "training")),
        "",
        f"![GFLOP/s by thread setting]({plot})",
    ]


def _section_distributed_sharing(doc: dict[str, Any], plot: str) -> list[str]:
    records = doc["records"]
    return [
        "A `SharedTrunk` + head predicting in-process, over gRPC with every variable on the worker, and over "
        "gRPC with the trunk on the ps (timed side by side; the ratio is to in-process). Then training "
        "steps/s of one trainer process per worker sharing the ps trunk (asynchronous), and the bytes the "
        "ps holds against a copy of the trunk per worker. See docs/distributed.md.",
        "",
        distributed_sharing.summary_table(records),
        "",
        f"![latency local vs remote]({plot})",
        "",
        distributed_sharing.table(records, "training"),
        "",
        distributed_sharing.table(records, "ps_bytes"),
    ]


SECTIONS: dict[str, Section] = {
    "graph_construction": Section(
        "Graph construction", "build_time_vs_n.png", plots.plot_build_time, _section_graph_construction
    ),
    "session_reuse": Section("Session reuse", "latency_by_batch.png", plots.plot_latency, _section_session_reuse),
    "variable_sharing": Section(
        "Variable sharing", "memory_sharing.png", plots.plot_memory, _section_variable_sharing
    ),
    "marginal_cost": Section(
        "Marginal cost of the k-th classifier", "marginal_cost_vs_k.png", plots.plot_marginal, _section_marginal_cost
    ),
    "efficiency": Section(
        "Efficiency of tfshare's own paths", "gflops_by_threads.png", plots.plot_gflops, _section_efficiency
    ),
    "distributed_sharing": Section(
        "Distributed sharing (parameter server on loopback)", "distributed_latency.png",
        plots.plot_distributed_latency, _section_distributed_sharing,
    ),
}


def build_report(directory: str, output: str | None = None) -> str:
    """Writes ``REPORT.md`` and its plots for the result files in ``directory``; returns the report's path.

    Raises:
      FileNotFoundError: no result files in ``directory``.
    """
    return report.build_report(directory, SECTIONS, output)


__all__ = ["SECTIONS", "build_report"]
