"""What the k-th classifier costs: build, init and first prediction against k.

TensorFlow's DirectSession copies and prunes the graph for every new run
signature (every new init run, every new callable), and re-places the graph
when it grows. In a runtime that already holds k classifiers, the k-th one's
init and first prediction therefore cost O(k) unless something avoids it.

Two patterns, every mode:

* ``live`` (build one, initialize, predict once, then the next): the marginal
  cost of the k-th classifier, k = 1..N, split into build, init and first
  prediction, with a least-squares line through each part (the slope is the
  growth per classifier already in the runtime).
* ``batch`` (build N, then call ``predict_proba`` once on each): the total,
  and its ratio to the same for N isolated classifiers, measured side by side.

Peak RSS (``Config.peak_rss``): the modes' live patterns run one after the
other in one process, whose peak resident set never goes down, so an
in-process peak would be the largest mode's, not each mode's. With
``peak_rss`` each mode's live pattern runs in a fresh Python process instead
(``tfshare.harness.memory.in_subprocess``, after that process's own untimed
warm-up): its records are the same, plus a "memory" record of that process's
peak RSS (``ru_maxrss``), its RSS before the first classifier (the imports,
TensorFlow's runtime and the warm-up) and the difference, with both ratios to
the isolated mode's.

Every mode builds the ``--model`` (the MLP or the CNN, ``tfshare.bench.models``).
Modes: ``isolated``, ``shared_graph``, ``shared_trunk``, ``template_trunk``
use tfshare's paths (pending-only batched init, fused first calls, pruned
placement, shards of ``shard_size`` classifiers behind one runtime).
``unsharded`` is ``shared_graph`` with ``shard_size=None``: every classifier in
one graph, the curve before shards. ``naive_shared`` is one graph driven the
way TF1 code usually does it: ``sess.run(tf.variables_initializer(new_vars))``
for each new classifier and ``sess.run(proba, feed_dict)`` for each first
prediction, on a Session with TensorFlow's default options.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
from typing import Any, Callable

import numpy as np

from tfshare import validation
from tfshare._tf import tf1
from tfshare.bench.config import RunConfig
from tfshare.classifier import Classifier
from tfshare.harness import machine, memory, results
from tfshare.harness.timing import clock, format_ratio, format_seconds, interleaved_orders, paired_ratio, summarize
from tfshare.runtime import GraphSession

_log = logging.getLogger(__name__)

BENCHMARK = "marginal_cost"
MODES = ("isolated", "shared_graph", "unsharded", "shared_trunk", "template_trunk", "naive_shared")
PARTS = ("build_s", "init_s", "first_predict_s")


@dataclasses.dataclass(frozen=True)
class Config(RunConfig):
    """One run of the marginal-cost benchmark (and ``RunConfig``'s device, model, threads, seed, traces).

    Attributes:
      max_instances: N, the classifiers built per mode in the live pattern.
      batch_instances: N of the batch pattern (build N, predict each once).
      modes: subset of MODES.
      repeats: repeats of the batch pattern (the live pattern runs once per
        mode: its N values of k are the repeats).
      warmup: untimed batch patterns (of 2 classifiers) per mode first.
      batch_size: rows of each first prediction.
      peak_rss: run each mode's live pattern in a fresh process and record
        its peak RSS ("memory" records); else in this process, no memory.
    """

    max_instances: int = 1000
    batch_instances: int = 64
    modes: tuple[str, ...] = MODES
    repeats: int = 3
    warmup: int = 1
    batch_size: int = 1
    peak_rss: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        for mode in self.modes:
            validation.choice(mode, "modes", MODES)
        for name in ("max_instances", "batch_instances", "repeats", "batch_size"):
            validation.positive_int(getattr(self, name), name)
        validation.positive_int(self.warmup, "warmup", minimum=0)


class _Mode:
    """Builds classifiers of one mode one at a time and drives their first use."""

    def __init__(self, mode: str, config: Config) -> None:
        self.mode, self.config = mode, config
        self.classifiers: list[Classifier] = []
        self.runtimes: list[GraphSession] = []
        self._trunk = None
        if mode != "isolated":
            if mode == "naive_shared":
                # One graph with TensorFlow's default Session options, as plain TF1 code has them.
                self.runtimes.append(config.graph_session(config=config.session_config(), shard_size=None))
            elif mode == "unsharded":
                self.runtimes.append(config.graph_session(shard_size=None))
            else:
                self.runtimes.append(config.graph_session())
            if mode in ("shared_trunk", "template_trunk"):
                make_trunk = config.model.shared_trunk if mode == "shared_trunk" else config.model.template_trunk
                self._trunk = make_trunk(self.runtimes[0], seed=config.seed)

    def build(self) -> Classifier:
        c, i = self.config, len(self.classifiers)
        if self._trunk is not None:
            clf = c.model.head(self._trunk, c.num_classes, seed=c.seed + i)
        else:
            if self.mode == "isolated":
                self.runtimes.append(c.graph_session())
            clf = c.model.classifier(c.num_classes, runtime=self.runtimes[-1], seed=c.seed + i)
        self.classifiers.append(clf)
        return clf

    def initialize(self, clf: Classifier) -> None:
        if self.mode != "naive_shared":
            clf.runtime.initialize()
            return
        gs = clf.runtime
        with gs.building():
            init = tf1.variables_initializer(clf.variables)  # a new op and a new signature each time
        gs.session.run(init, gs.initial_value_feeds(clf.variables))  # the kernels' fed initial values
        gs.mark_initialized(clf.variables)

    def first_predict(self, clf: Classifier, x: np.ndarray) -> np.ndarray:
        if self.mode != "naive_shared":
            return clf.predict_proba(x)
        return clf.runtime.session.run(clf.probabilities_tensor, {clf.input_tensor: x})

    def close(self) -> None:
        for clf in self.classifiers:
            clf.close()
        for gs in self.runtimes:
            gs.close()
        gc.collect()


def _fit(ks: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    slope, intercept = np.polyfit(ks, values, 1)
    return float(slope), float(intercept)


def live(mode: str, config: Config, x: np.ndarray) -> list[dict[str, Any]]:
    """The live pattern for one mode: one record per k, then one "slope" record per part."""
    driver = _Mode(mode, config)
    rows: list[dict[str, Any]] = []
    try:
        for k in range(1, config.max_instances + 1):
            start = clock()
            clf = driver.build()
            built = clock()
            driver.initialize(clf)
            initialized = clock()
            driver.first_predict(clf, x)
            done = clock()
            rows.append({"kind": "marginal", "mode": mode, "k": k, "build_s": built - start,
                         "init_s": initialized - built, "first_predict_s": done - initialized})
            if k % max(1, config.max_instances // 4) == 0:
                _log.info("live %s: k=%d/%d", mode, k, config.max_instances)
        # One traced prediction of the last classifier, as the mode runs it (Session.run on its shard's Session).
        config.tracer().session_step(mode, clf.shard.session, clf.probabilities_tensor, {clf.input_tensor: x})
    finally:
        driver.close()
    ks = np.array([r["k"] for r in rows], float)
    slopes = []
    for part in PARTS:
        values = np.array([r[part] for r in rows])
        slope, intercept = _fit(ks, values)
        head, tail = values[: max(1, len(values) // 8)], values[-max(1, len(values) // 8):]
        slopes.append({
            "kind": "slope", "mode": mode, "part": part, "slope_s_per_k": slope, "intercept_s": intercept,
            "first_s": float(np.median(head)), "last_s": float(np.median(tail)),
            "growth": float(np.median(tail) / np.median(head)) if np.median(head) > 0 else None,
            "values": values.tolist(),
        })
    return rows + slopes


def live_in_fresh_process(mode: str, config: Config) -> list[dict[str, Any]]:
    """``live`` for one mode in a fresh Python process, plus a "memory" record of that process's peak RSS.

    The child warms up as ``run`` does (``config.warmup`` untimed batch
    patterns of 2 classifiers of this mode), then reads its RSS, runs the live
    pattern and reads its peak (``ru_maxrss``: it never goes down, so it holds
    the largest RSS the N classifiers reached together).
    """
    return memory.in_subprocess(_live_measured, mode, config, timeout=None)


def _live_measured(mode: str, config: Config) -> list[dict[str, Any]]:
    """The child of ``live_in_fresh_process``."""
    machine.select_device(config.device)
    x = config.model.inputs(config.batch_size, config.seed)
    for _ in range(config.warmup):
        batch_once(mode, dataclasses.replace(config, batch_instances=2), x)
    gc.collect()
    start = memory.rss_bytes()
    records = live(mode, config, x)
    peak = memory.peak_rss_bytes()
    return records + [{"kind": "memory", "mode": mode, "n": config.max_instances, "peak_rss": peak,
                       "rss_at_start": start, "added": peak - start, "pid": os.getpid()}]


def _memory_ratios(records: list[dict[str, Any]]) -> None:
    """Adds each "memory" record's peak and added RSS as ratios to the isolated mode's (None without it)."""
    memories = {r["mode"]: r for r in records if r["kind"] == "memory"}
    iso = memories.get("isolated")
    for record in memories.values():
        for key in ("peak_rss", "added"):
            ok = iso is not None and iso[key] > 0
            record[f"{key}_vs_isolated"] = record[key] / iso[key] if ok else None


def batch_once(mode: str, config: Config, x: np.ndarray) -> float:
    """Builds batch_instances classifiers, then predicts once with each; returns seconds."""
    driver = _Mode(mode, config)
    try:
        start = clock()
        classifiers = [driver.build() for _ in range(config.batch_instances)]
        if mode == "naive_shared":
            for clf in classifiers:
                driver.initialize(clf)
        for clf in classifiers:
            driver.first_predict(clf, x)
        return clock() - start
    finally:
        driver.close()


def run(config: Config, on_record: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Measures both patterns for every mode of ``config``; returns the records."""
    x = config.model.inputs(config.batch_size, config.seed)
    records: list[dict[str, Any]] = []

    def emit(record: dict[str, Any]) -> None:
        records.append(record)
        if on_record is not None:
            on_record(record)

    for _ in range(config.warmup):  # process-wide one-off costs, untimed
        for mode in config.modes:
            batch_once(mode, dataclasses.replace(config, batch_instances=2), x)
    memories: list[dict[str, Any]] = []
    for i, mode in enumerate(config.modes, 1):
        _log.info("live pattern %d/%d: %s, k = 1..%d%s", i, len(config.modes), mode, config.max_instances,
                  " (in a fresh process, peak RSS)" if config.peak_rss else "")
        for record in live_in_fresh_process(mode, config) if config.peak_rss else live(mode, config, x):
            if record["kind"] == "marginal":
                records.append(record)
            elif record["kind"] == "slope":
                emit(record)
            else:
                memories.append(record)
    _memory_ratios(memories)
    for record in memories:
        emit(record)
    totals: dict[str, list[float]] = {m: [] for m in config.modes}
    for r, order in enumerate(interleaved_orders(config.modes, config.repeats)):
        for mode in order:
            _log.info("batch pattern, repeat %d/%d: %s, N=%d", r + 1, config.repeats, mode, config.batch_instances)
            totals[mode].append(batch_once(mode, config, x))
    # Every repeat times each mode once, back to back: the ratio is the median of per-repeat ratios.
    iso = summarize(totals["isolated"]) if "isolated" in totals else None
    for mode in config.modes:
        stats = summarize(totals[mode])
        emit({"kind": "batch", "mode": mode, "n": config.batch_instances, "total_s": stats.to_dict(),
              "vs_isolated": paired_ratio(stats, iso) if iso is not None else None})
    return records


HEADERS = {
    "slope": (
        "| mode | part | k=1..N/8 | last N/8 | growth | slope per classifier | intercept |\n"
        "|---|---|---:|---:|---:|---:|---:|"
    ),
    "batch": "| mode | N | build N + predict each once | vs isolated |\n|---|---:|---:|---:|",
    "memory": (
        "| mode | N | peak RSS | RSS before the first | added | peak vs isolated | added vs isolated |\n"
        "|---|---:|---:|---:|---:|---:|---:|"
    ),
}


def table_row(record: dict[str, Any]) -> str:
    """One Markdown row of a "slope", "batch" or "memory" record."""
    if record["kind"] == "slope":
        return (
            f"| {record['mode']} | {record['part'][:-2]} | {format_seconds(record['first_s'])} "
            f"| {format_seconds(record['last_s'])} | {format_ratio(record['growth'])} "
            f"| {format_seconds(record['slope_s_per_k'])} | {format_seconds(record['intercept_s'])} |"
        )
    if record["kind"] == "memory":
        mib = lambda n: f"{n / 2**20:,.0f} MiB"  # noqa: E731
        return (
            f"| {record['mode']} | {record['n']} | {mib(record['peak_rss'])} | {mib(record['rss_at_start'])} "
            f"| {mib(record['added'])} | {format_ratio(record['peak_rss_vs_isolated'])} "
            f"| {format_ratio(record['added_vs_isolated'])} |"
        )
    return (
        f"| {record['mode']} | {record['n']} | {format_seconds(record['total_s']['median'])} "
        f"| {format_ratio(record['vs_isolated'])} |"
    )


def table(records: list[dict[str, Any]], kind: str) -> str:
    """The Markdown table of all records of one kind."""
    return results.kind_tables(records, HEADERS, table_row, (kind,))


__all__ = ["BENCHMARK", "Config", "HEADERS", "MODES", "live_in_fresh_process", "run", "table", "table_row"]
