"""What building N classifiers costs in each way of instantiating them.

Modes:

* ``isolated``: each classifier has its own ``GraphSession`` (graph + Session).
* ``shared_graph``: one GraphSession; each classifier has its own variables.
* ``shared_trunk``: one GraphSession and one ``SharedTrunk``; N heads on it.
* ``template_trunk``: the same with a ``TemplateTrunk`` (make_template).
* ``eager``: N eager twins (``EagerDenseClassifier`` or ``EagerConvClassifier``): no graph, no Session.
* ``tf_function``: the same with ``use_tf_function=True``; each traces.

Every mode builds the ``--model`` (the MLP or the CNN, ``tfshare.bench.models``).

For each mode and N the benchmark records build time (total and per instance),
the graph's ops, variables, parameter bytes and GraphDef bytes, the RSS the
N classifiers add, and the time until every one of them has made its first
prediction (Session creation and variable initialisation, or tracing).
Build times are one-shot values, so each (mode, N) is built ``repeats``
times, with the modes rotated within each repeat.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
from typing import Any, Callable

import numpy as np

from tfshare import validation
from tfshare._tf import tf
from tfshare.bench.config import RunConfig, positive_ints
from tfshare.harness import introspect, memory
from tfshare.harness.timing import (
    clock, format_bytes, format_ratio, format_seconds, interleaved_orders, summarize, warn_if_wide
)
from tfshare.harness.tracing import Tracer
from tfshare.runtime import GraphSession

_log = logging.getLogger(__name__)

BENCHMARK = "graph_construction"
MODES = ("isolated", "shared_graph", "shared_trunk", "template_trunk", "eager", "tf_function")


def sizes_up_to(max_instances: int) -> tuple[int, ...]:
    """1, 2, 4, ... up to ``max_instances`` (included even if not a power of two)."""
    validation.positive_int(max_instances, "max_instances")
    sizes, n = [], 1
    while n < max_instances:
        sizes.append(n)
        n *= 2
    sizes.append(max_instances)
    return tuple(sizes)


@dataclasses.dataclass(frozen=True)
class Config(RunConfig):
    """One run of the graph construction benchmark (and ``RunConfig``'s device, model, threads, seed, traces).

    Attributes:
      sizes: the numbers of classifiers N to build.
      modes: which modes to measure, a subset of MODES.
      repeats: builds per (mode, N).
      warmup: untimed builds (N=1) of each mode first.
      batch_size: rows of each classifier's first prediction.
    """

    sizes: tuple[int, ...] = sizes_up_to(64)
    modes: tuple[str, ...] = MODES
    repeats: int = 3
    warmup: int = 1
    batch_size: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        for mode in self.modes:
            validation.choice(mode, "modes", MODES)
        validation.positive_int(self.repeats, "repeats")
        validation.positive_int(self.warmup, "warmup", minimum=0)
        validation.positive_int(self.batch_size, "batch_size")
        positive_ints(self.sizes, "sizes", "N")


class _Built:
    """N classifiers of one mode, with what it takes to predict, count and close them."""

    def __init__(self, classifiers: list[Any], runtimes: list[GraphSession]) -> None:
        self.classifiers = classifiers
        self.runtimes = runtimes

    def first_predictions(self, x: np.ndarray) -> None:
        for clf in self.classifiers:
            clf.predict_proba(x)

    def describe(self) -> dict[str, Any]:
        if self.runtimes:
            return {**introspect.graph_stats(g for gs in self.runtimes for g in gs.graphs), "traces": 0}
        variables = [v for clf in self.classifiers for v in clf.variables]
        stats = {
            "ops": 0,
            "variables": len({id(v) for v in variables}),
            "param_bytes": introspect.variable_bytes(variables),
            "graphdef_bytes": 0,
            "traces": 0,
        }
        for clf in self.classifiers:  # tf_function: the graphs each instance traced
            for fn in clf.tf_functions[:1]:
                stats["traces"] += fn.experimental_get_tracing_count()
                graph = fn.get_concrete_function().graph
                stats["ops"] += len(graph.get_operations())
                stats["graphdef_bytes"] += graph.as_graph_def().ByteSize()
        return stats

    def trace(self, tracer: Tracer, mode: str, x: np.ndarray) -> None:
        """One traced prediction of the first classifier (its Session's run, or a tf.profiler step)."""
        clf = self.classifiers[0]
        if self.runtimes:
            tracer.session_step(mode, clf.shard.session, clf.probabilities_tensor, {clf.input_tensor: x})
        else:
            tracer.eager_step(mode, lambda: clf.predict_proba(x))

    def close(self) -> None:
        for clf in self.classifiers:
            clf.close()
        for gs in self.runtimes:
            gs.close()


def build(mode: str, n: int, config: Config) -> _Built:
    """Builds ``n`` classifiers in ``mode``. Eager modes use the current tf.device scope.

    If a constructor raises midway, the runtimes made so far are closed first.
    """
    model, classes, seed = config.model, config.num_classes, config.seed
    if mode in ("eager", "tf_function"):
        use_fn = mode == "tf_function"
        return _Built([model.eager(classes, use_tf_function=use_fn, seed=seed + i) for i in range(n)], [])
    runtimes: list[GraphSession] = []

    def runtime() -> GraphSession:
        runtimes.append(config.graph_session())
        return runtimes[-1]

    try:
        if mode == "isolated":
            return _Built([model.classifier(classes, runtime=runtime(), seed=seed + i) for i in range(n)], runtimes)
        gs = runtime()
        if mode == "shared_graph":
            return _Built([model.classifier(classes, runtime=gs, seed=seed + i) for i in range(n)], runtimes)
        make_trunk = model.shared_trunk if mode == "shared_trunk" else model.template_trunk
        trunk = make_trunk(gs, seed=seed)
        return _Built([model.head(trunk, classes, seed=seed + i) for i in range(n)], runtimes)
    except BaseException:
        for gs in runtimes:
            gs.close()
        raise


def measure_once(mode: str, n: int, config: Config, x: np.ndarray) -> dict[str, Any]:
    """Builds ``n`` classifiers in ``mode``, predicts once with each, and closes them.

    Returns:
      {"build_s", "first_predict_s", "memory_added", "peak_rss", "ops", ...}.
    """
    with memory.track() as mem:
        start = clock()
        built = build(mode, n, config)
        build_s = clock() - start
        start = clock()
        try:
            built.first_predictions(x)
        except BaseException:
            built.close()  # no Session or graph of a failed run outlives it
            raise
        first_predict_s = clock() - start
    try:
        sizes = built.describe()
    finally:
        built.close()
        del built
        gc.collect()
    return {"build_s": build_s, "first_predict_s": first_predict_s, "memory_added": mem.added,
            "peak_rss": mem.peak, **sizes}


def run(config: Config, on_record: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Measures every (mode, N) of ``config``.

    Args:
      config: what to measure.
      on_record: called with each record as soon as it is complete (for
        printing progress).

    Returns:
      One record per (mode, N), with Stats dicts (raw values kept) for
      ``build_s``, ``build_per_instance_s`` and ``first_predict_s``.
    """
    x = config.model.inputs(config.batch_size, config.seed)
    records = []
    with tf.device(config.tf_device):
        for _ in range(config.warmup):  # one-off process-wide costs land here, untimed
            for mode in config.modes:
                measure_once(mode, 1, config, x)
        for i, n in enumerate(config.sizes, 1):
            _log.info("size %d/%d: N=%d, %d modes x %d repeats", i, len(config.sizes), n, len(config.modes),
                      config.repeats)
            raw: dict[str, list[dict[str, Any]]] = {mode: [] for mode in config.modes}
            for order in interleaved_orders(config.modes, config.repeats, seed=n):
                for mode in order:
                    raw[mode].append(measure_once(mode, n, config, x))
            for mode in config.modes:
                record = _aggregate(mode, n, raw[mode])
                records.append(record)
                if on_record is not None:
                    on_record(record)
        trace(config, x)
    return records


def trace(config: Config, x: np.ndarray) -> None:
    """Writes one traced prediction per mode (N = the smallest size) when ``config.trace_dir`` is set."""
    tracer = config.tracer()
    if not tracer.enabled:
        return
    for mode in config.modes:
        built = build(mode, min(config.sizes), config)
        try:
            built.first_predictions(x)
            built.trace(tracer, mode, x)
        finally:
            built.close()


def _aggregate(mode: str, n: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    build_s = summarize([r["build_s"] for r in runs])
    first = summarize([r["first_predict_s"] for r in runs])
    warn_if_wide(f"{mode} N={n} build", build_s)
    last = runs[-1]
    return {
        "kind": "build",
        "mode": mode,
        "n": n,
        "build_s": build_s.to_dict(),
        "build_per_instance_s": summarize([r["build_s"] / n for r in runs]).to_dict(),
        "first_predict_s": first.to_dict(),
        "memory_added": int(np.median([r["memory_added"] for r in runs])),
        "memory_added_values": [r["memory_added"] for r in runs],
        "peak_rss": max(r["peak_rss"] for r in runs),
        "ops": last["ops"],
        "variables": last["variables"],
        "param_bytes": last["param_bytes"],
        "graphdef_bytes": last["graphdef_bytes"],
        "traces": last["traces"],
    }


TABLE_HEADER = (
    "| mode | N | build total | build / instance | first predictions | ops | variables | params | GraphDef | RSS added |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)

HEADERS = {"build": TABLE_HEADER}


def table_row(record: dict[str, Any]) -> str:
    """One Markdown table row of a record."""
    return (
        f"| {record['mode']} | {record['n']} | {format_seconds(record['build_s']['median'])} "
        f"| {format_seconds(record['build_per_instance_s']['median'])} "
        f"| {format_seconds(record['first_predict_s']['median'])} | {record['ops']} | {record['variables']} "
        f"| {format_bytes(record['param_bytes'])} | {format_bytes(record['graphdef_bytes'])} "
        f"| {format_bytes(record['memory_added'])} |"
    )


def table(records: list[dict[str, Any]]) -> str:
    """The full Markdown table, grouped by mode."""
    rows = sorted(records, key=lambda r: (MODES.index(r["mode"]), r["n"]))
    return "\n".join([TABLE_HEADER] + [table_row(r) for r in rows])


def summary_table(records: list[dict[str, Any]]) -> str:
    """Per-instance build and first-prediction time at the largest N, against eager."""
    n = max(r["n"] for r in records)
    at_n = {r["mode"]: r for r in records if r["n"] == n}
    eager = at_n.get("eager")
    lines = [
        f"| mode (N={n}) | build / instance | build+first predict / instance | vs eager | GraphDef | params |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for mode in MODES:
        if mode not in at_n:
            continue
        r = at_n[mode]
        ready = (r["build_s"]["median"] + r["first_predict_s"]["median"]) / n
        vs = "-"
        if eager is not None:
            eager_ready = (eager["build_s"]["median"] + eager["first_predict_s"]["median"]) / n
            vs = format_ratio(ready / eager_ready) if eager_ready else "-"
        lines.append(
            f"| {mode} | {format_seconds(r['build_per_instance_s']['median'])} | {format_seconds(ready)} | {vs} "
            f"| {format_bytes(r['graphdef_bytes'])} | {format_bytes(r['param_bytes'])} |"
        )
    return "\n".join(lines)


__all__ = [
    "BENCHMARK", "Config", "HEADERS", "MODES", "build", "measure_once", "run", "sizes_up_to", "summary_table", "table",
    "trace",
]
