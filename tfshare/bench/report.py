"""The report: REPORT.md with tables and matplotlib plots, from a directory of result files.

``build_report("results/")`` reads every ``*.json`` result file there (schema 1),
writes the plots as PNG files next to them, and writes ``REPORT.md``, with one
section per benchmark and model (``--model=mlp|cnn``; results of different
models are never mixed in one table or plot), headed by the model it is for:

* the machine the numbers came from;
* graph construction: the summary at the largest N, the full table, and
  build time vs N per mode (log-log);
* Session reuse: median latency per mode and batch size with the ratios to
  the callable floor and to eager, a bar plot of it, and thread scaling;
* variable sharing: bytes, memory and interference with and without a shared
  trunk, a bar plot of them, and fused vs one-by-one vs eager prediction;
* marginal cost of the k-th classifier, and efficiency: the model's GFLOP/s
  against a large MatMul in TensorFlow and NumPy, and fit against the raw train op;
* distributed sharing: predict latency in-process vs over gRPC (a bar plot),
  training steps/s per worker count, and the ps's bytes against per-worker copies.

The plots are drawn by ``tfshare.bench.plots``, which needs matplotlib
(``pip install 'tfshare[plots]'``).
"""

from __future__ import annotations

import glob
import logging
import os
from typing import Any, Callable, Mapping

from tfshare.bench import (
    distributed_sharing,
    efficiency,
    graph_construction,
    marginal_cost,
    results,
    session_reuse,
    variable_sharing,
)
from tfshare.bench.plots import (
    plot_build_time,
    plot_distributed_latency,
    plot_gflops,
    plot_latency,
    plot_marginal,
    plot_memory,
)
from tfshare.bench.timing import format_bytes

_log = logging.getLogger(__name__)

REPORT = "REPORT.md"
PLOTS = {
    "graph_construction": "build_time_vs_n.png",
    "session_reuse": "latency_by_batch.png",
    "variable_sharing": "memory_sharing.png",
    "marginal_cost": "marginal_cost_vs_k.png",
    "efficiency": "gflops_by_threads.png",
    "distributed_sharing": "distributed_latency.png",
}


def load(directory: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Reads the result files in ``directory``: (benchmark name, model) -> document.

    When two files hold the same benchmark and model, the most recently
    modified wins. The model is ``results.model_of`` ("mlp" for files that
    record none).
    JSON files that are not schema-1 result documents are skipped with a warning.

    Raises:
      FileNotFoundError: the directory has no result file.
    """
    paths = sorted(glob.glob(os.path.join(directory, "*.json")), key=os.path.getmtime)
    docs: dict[tuple[str, str], dict[str, Any]] = {}
    for path in paths:
        try:
            doc = results.read(path)
        except ValueError as exc:  # another tool's JSON: say so, and go on
            _log.warning("skipping %s: %s", path, exc)
            continue
        docs[(doc["benchmark"], results.model_of(doc))] = doc
    if not docs:
        raise FileNotFoundError(
            f"no result files (schema-1 *.json) in {directory!r}; run the benchmarks first, e.g. "
            "python benchmarks/session_reuse.py --quick --output=results/session_reuse.json"
        )
    return docs


def machine_table(machine: Mapping[str, Any]) -> str:
    """The machine info as a two-column Markdown table."""
    rows = [
        ("date (UTC)", machine.get("date")),
        ("device", machine.get("device")),
        ("CPU", machine.get("cpu_model")),
        ("cores (logical / usable)", f"{machine.get('logical_cores')} / {machine.get('usable_cores')}"),
        ("memory", format_bytes(machine.get("memory_total_bytes"))),
        ("GPU", machine.get("gpu_name") or "none"),
        ("Python", machine.get("python")),
        ("TensorFlow / tf_keras / NumPy",
         f"{machine.get('tensorflow')} / {machine.get('tf_keras')} / {machine.get('numpy')}"),
        ("platform", machine.get("platform")),
        ("load average at start (1, 5, 15 min)",
         ", ".join(f"{v:.2f}" for v in machine.get("load_average") or []) or "-"),
    ]
    return "\n".join(["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows])


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
        "line through each part gives its growth per classifier already in the runtime. `naive_shared` "
        "drives the same shared graph as plain TF1 code does (an initializer op per classifier, "
        "`Session.run` + `feed_dict`, TensorFlow's default Session options).",
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
        "`predict_proba` of the model at one batch size per Session thread setting, timed side by side with "
        "two model-independent references: TensorFlow's MatMul of two large square matrices (a plain Session) "
        "and NumPy's BLAS matmul of the same. FLOPs come from TensorFlow's profiler on each graph at its fixed "
        "shape (ops with no registered count, such as ReLU, BatchNorm and softmax, count 0); the ratios are "
        "GFLOP/s over the reference's, from per-repeat time ratios. Then one epoch of `fit` against the raw "
        "callable running the same train op.",
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


_SECTIONS: dict[str, tuple[str, Callable[..., str], Callable[[dict, str], list[str]]]] = {
    "graph_construction": ("Graph construction", plot_build_time, _section_graph_construction),
    "session_reuse": ("Session reuse", plot_latency, _section_session_reuse),
    "variable_sharing": ("Variable sharing", plot_memory, _section_variable_sharing),
    "marginal_cost": ("Marginal cost of the k-th classifier", plot_marginal, _section_marginal_cost),
    "efficiency": ("Efficiency of tfshare's own paths", plot_gflops, _section_efficiency),
    "distributed_sharing": (
        "Distributed sharing (parameter server on loopback)", plot_distributed_latency, _section_distributed_sharing
    ),
}


def plot_name(benchmark: str, model: str) -> str:
    """The plot file of a benchmark's section: ``PLOTS[benchmark]``, with "_<model>" before ".png" unless mlp."""
    name = PLOTS[benchmark]
    return name if model == "mlp" else name.replace(".png", f"_{model}.png")


def _models(names: Any) -> list[str]:
    """Models in report order: the MLP first, then the others by name."""
    return sorted(set(names), key=lambda m: (m != "mlp", m))


def build_report(directory: str, output: str | None = None) -> str:
    """Writes the plots and ``REPORT.md`` for the result files in ``directory``.

    Args:
      directory: where the result files are; the plots are written there too.
      output: the report's path (default ``directory/REPORT.md``).

    Returns:
      The report's path.

    Raises:
      FileNotFoundError: no result files in ``directory``.
    """
    docs = load(directory)
    output = output or os.path.join(directory, REPORT)
    first = next(iter(docs.values()))
    lines = [
        "# tfshare benchmark report",
        "",
        "Numbers from one run on the machine below. On a shared or busy machine they are noisy: "
        "compare the ratios of modes measured side by side rather than absolute times. "
        "Entries marked (wide) had an inter-quartile range over 25% of the median. "
        "Each section holds the results of one model, named in its heading (`--model=mlp|cnn`).",
        "",
        "## Machine",
        "",
        machine_table(first["machine"]),
    ]
    unknown = sorted({name for name, _ in docs} - set(_SECTIONS))
    for name, (title, plot_fn, section) in _SECTIONS.items():
        for model in _models(m for n, m in docs if n == name):
            doc, label = docs[(name, model)], results.model_label(docs[(name, model)])
            plot_path = os.path.join(os.path.dirname(os.path.abspath(output)), plot_name(name, model))
            plot_fn(doc["records"], plot_path, label)
            lines += ["", f"## {title}: {label}", "", *section(doc, os.path.basename(plot_path))]
    if unknown:
        lines += ["", f"Other result files (not tabulated): {', '.join(unknown)}."]
    with open(output, "w") as f:
        f.write("\n".join(lines) + "\n")
    return output


__all__ = ["PLOTS", "REPORT", "build_report", "load", "machine_table", "plot_build_time", "plot_name",
           "plot_distributed_latency", "plot_gflops", "plot_latency", "plot_marginal", "plot_memory"]
