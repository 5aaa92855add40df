"""What sharing a trunk through a parameter server costs, on TensorFlow's gRPC runtime.

Starts a ``cluster.LocalCluster`` (1 ps + N worker servers on 127.0.0.1) and
measures, for a ``SharedTrunk`` + head of ``Config.model`` ("mlp", or "cnn",
whose BatchNorm statistics sit on the ps with the rest of the trunk):

* ``latency``: per-call ``predict_proba`` latency of the same model in three
  places, timed side by side (interleaved repeats): ``in_process`` (a local
  GraphSession), ``grpc_worker_trunk`` (a GraphSession whose master is worker
  0 and without a job name, so every variable sits on the worker: the gRPC hop
  only) and ``grpc_ps_trunk`` (the shared setup: the trunk on the ps, read by
  the worker every call). Ratios are to ``in_process``, the median over
  repeats of the per-repeat ratio.
* ``training``: steps/s in-process, then with 1, 2, 4 workers: between-graph
  replication, asynchronous, one trainer process per worker (the app's
  ``--role=trainer``, running ``tfshare.bench.dist_trainer``) sharing the ps
  trunk, all started together after their warm-up; plus the loopback bytes
  per step.
* ``ps_bytes``: the bytes the ps holds for one trained trunk (weights, BatchNorm
  statistics, Adam slots of the trainable weights) against a copy of the trunk
  per worker, and the ps process's RSS growth.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import select
import subprocess
import sys
import time
from typing import Any, Callable

import numpy as np
import psutil

import tfshare
from tfshare import cluster, validation
from tfshare.bench.config import RunConfig, positive_ints
from tfshare.bench.dist_trainer import build_model, train_loop
from tfshare.bench.models import Model
from tfshare.errors import InputError
from tfshare.harness import introspect, memory, results
from tfshare.harness.timing import (
    format_bytes,
    format_ratio,
    format_seconds,
    measure_interleaved,
    paired_ratio,
    warn_if_wide,
)
from tfshare.harness.tracing import OFF, Tracer

_log = logging.getLogger(__name__)

BENCHMARK = "distributed_sharing"
MODES = ("in_process", "grpc_worker_trunk", "grpc_ps_trunk")
BASELINE = "in_process"
LABELS = {
    "in_process": "in-process",
    "grpc_worker_trunk": "gRPC, trunk on the worker",
    "grpc_ps_trunk": "gRPC, trunk on the ps",
    "ps_async": "workers + ps, async",
}


@dataclasses.dataclass(frozen=True)
class Config(RunConfig):
    """One run of the distributed sharing benchmark (and ``RunConfig``'s device, model, threads, seed, traces).

    ``model`` is the trunk's body ("mlp" with 256-256 hidden units by
    default, or "cnn", whose BatchNorm statistics sit on the ps with the
    rest of the trunk); ``tf_device`` is recorded only (the cluster places
    ops itself); the trunk's seed is seed + 1, as in every trainer.

    Attributes:
      modes: predict modes to time, a subset of MODES (must include "in_process").
      workers: worker counts to train with (the cluster has max(workers) servers).
      batch_sizes: rows per predict call; a training step takes the largest.
      repeats: timed values per predict mode and batch size.
      warmup: untimed calls per predict mode first.
      min_time: seconds each timed value covers at least.
      train_seconds: the timed training window.
      timeout: seconds any one cluster call may block.
      max_lifetime: seconds after which every server exits by itself.
    """

    model: Model = Model("mlp", (256, 256))
    modes: tuple[str, ...] = MODES
    workers: tuple[int, ...] = (1, 2, 4)
    batch_sizes: tuple[int, ...] = (1, 64)
    repeats: int = 25
    warmup: int = 1
    min_time: float = 2e-3
    train_seconds: float = 4.0
    timeout: float = 60.0
    max_lifetime: float = 1800.0

    def __post_init__(self) -> None:
        super().__post_init__()
        for mode in self.modes:
            validation.choice(mode, "modes", MODES)
        if BASELINE not in self.modes:
            raise InputError(f"modes must include {BASELINE!r}, the baseline of the ratios, got {list(self.modes)}")
        positive_ints(self.workers, "workers")
        positive_ints(self.batch_sizes, "batch_sizes", "batch size")
        validation.positive_int(self.repeats, "repeats")
        validation.positive_int(self.warmup, "warmup", minimum=0)
        validation.positive_float(self.min_time, "min_time")
        validation.positive_float(self.train_seconds, "train_seconds")
        validation.positive_float(self.timeout, "timeout")

    @property
    def train_batch_size(self) -> int:
        """Rows per training step: the largest of ``batch_sizes``."""
        return max(self.batch_sizes)


def _loopback_bytes() -> int:
    """Bytes received on the loopback interface so far (every process on the machine; 0 without one)."""
    counters = psutil.net_io_counters(pernic=True).get("lo")
    return counters.bytes_recv if counters is not None else 0


def latency(config: Config, lc: cluster.LocalCluster, data: tfshare.Dataset,
            tracer: Tracer = OFF) -> list[dict[str, Any]]:
    """Per-call predict_proba latency per mode and batch size, modes timed side by side."""
    makers = {
        "in_process": lambda: config.graph_session(),
        # No job_name: every variable on the master's own device (worker 0): the gRPC hop only.
        "grpc_worker_trunk": lambda: config.graph_session(target=lc.config.target, timeout=config.timeout),
        "grpc_ps_trunk": lambda: lc.graph_session(0, device=config.device, timeout=config.timeout,
                                                  intra_op_threads=config.intra_op_threads,
                                                  inter_op_threads=config.inter_op_threads),
    }
    sessions: dict[str, tfshare.GraphSession] = {}
    records = []
    try:
        for mode in config.modes:
            sessions[mode] = makers[mode]()
        models = {mode: build_model(gs, config.model, "predict_trunk", f"predict_clf_{i}", config.seed + 1,
                                    config.num_classes)
                  for i, (mode, gs) in enumerate(sessions.items())}
        for i, batch in enumerate(config.batch_sizes, 1):
            _log.info("latency %d/%d: batch size %d, %d modes x %d repeats", i, len(config.batch_sizes), batch,
                      len(config.modes), config.repeats)
            x = np.ascontiguousarray(data.x_test[:batch])
            reference = models[BASELINE].predict_proba(x)
            diff = {m: float(np.max(np.abs(c.predict_proba(x) - reference))) for m, c in models.items()}
            stats = measure_interleaved({m: (lambda c=c: c.predict_proba(x)) for m, c in models.items()},
                                        config.repeats, config.warmup, config.min_time)
            for mode, s in stats.items():
                warn_if_wide(f"{mode} batch={batch}", s)
                records.append({
                    "kind": "latency", "mode": mode, "batch_size": batch, "seconds": s.to_dict(),
                    "ratio_vs_in_process": paired_ratio(s, stats[BASELINE]),
                    "max_abs_diff_vs_in_process": diff[mode],
                })
        x = np.ascontiguousarray(data.x_test[: config.batch_sizes[0]])
        for mode, clf in models.items():  # one traced step per mode (the gRPC ones across the servers)
            tracer.session_step(mode, sessions[mode].session, clf.probabilities_tensor, {clf.input_tensor: x})
    finally:
        for gs in sessions.values():
            gs.close()
    return records


def _readline(process: subprocess.Popen, deadline: float) -> dict[str, Any]:
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.2)
        if ready:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(f"trainer {process.args[-1]} exited with code {process.wait()}")
            if line.startswith(b"{"):
                return json.loads(line)
    raise RuntimeError(f"no answer from trainer {process.args[-1]} before the deadline")


def _trainer_command(config: Config, lc: cluster.LocalCluster, trunk_name: str, index: int) -> list[str]:
    """The app's trainer role for worker ``index``: ``tfshare-bench distributed_sharing --role=trainer ...``.

    It builds the measured model: ``config.model`` (its sizes and data) with
    a head of ``config.num_classes`` classes.
    """
    model = config.model
    threads = [f"--num_{kind}_threads={value}" for kind, value in
               (("intra", config.intra_op_threads), ("inter", config.inter_op_threads)) if value is not None]
    return [
        sys.executable, "-m", "tfshare.bench", BENCHMARK, "--role=trainer", "--wait_for_go",
        f"--ps_hosts={','.join(lc.config.jobs[cluster.PS_JOB])}",
        f"--worker_hosts={','.join(lc.config.jobs[cluster.WORKER_JOB])}",
        f"--trunk_name={trunk_name}", f"--model={model.name}", f"--data={model.data}",
        f"--hidden_units={','.join(map(str, model.hidden_units))}", f"--filters={','.join(map(str, model.filters))}",
        f"--batch_size={config.train_batch_size}", f"--train_seconds={config.train_seconds}",
        f"--timeout={config.timeout}", f"--device={config.device}", f"--seed={config.seed}",
        f"--num_classes={config.num_classes}", f"--task_index={index}", *threads,
    ]


def training(config: Config, lc: cluster.LocalCluster, num_workers: int, trunk_name: str) -> dict[str, Any]:
    """Aggregate training steps/s of ``num_workers`` trainer processes sharing one ps trunk."""
    env = cluster.subprocess_env()
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    trainers: list[subprocess.Popen] = []
    try:
        for i in range(num_workers):
            trainers.append(subprocess.Popen(_trainer_command(config, lc, trunk_name, i),
                                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env))
        deadline = time.monotonic() + 120 + config.timeout
        for t in trainers:
            _readline(t, deadline)  # built, initialized, warmed up
        lo_before = _loopback_bytes()
        for t in trainers:
            t.stdin.write(b"go\n")
            t.stdin.flush()
        results = [_readline(t, deadline + config.train_seconds) for t in trainers]
        lo_after = _loopback_bytes()
    finally:
        for t in trainers:
            if t.poll() is None:
                t.kill()
            t.wait()
            t.stdin.close()
            t.stdout.close()
    steps = sum(r["steps"] for r in results)
    return {
        "kind": "training", "mode": "ps_async", "workers": num_workers,
        "steps_per_second": sum(r["steps"] / r["seconds"] for r in results),
        "per_worker_steps_per_second": [r["steps"] / r["seconds"] for r in results],
        "steps": steps, "window_seconds": max(r["seconds"] for r in results), "batch_size": config.train_batch_size,
        "loopback_bytes_per_step": (lo_after - lo_before) / steps if steps else None,
    }


def local_training(config: Config, data: tfshare.Dataset) -> dict[str, Any]:
    """Training steps/s of the same model in-process, no cluster."""
    with config.graph_session() as gs:
        clf = build_model(gs, config.model, "trunk", "clf", config.seed + 1, config.num_classes)
        steps, seconds = train_loop(clf, data, config.train_batch_size, config.train_seconds)
    return {"kind": "training", "mode": "in_process", "workers": 1, "steps_per_second": steps / seconds,
            "per_worker_steps_per_second": [steps / seconds], "steps": steps, "window_seconds": seconds,
            "batch_size": config.train_batch_size, "loopback_bytes_per_step": None}


def ps_bytes(config: Config, lc: cluster.LocalCluster, num_workers: int, trunk_name: str,
             rss_start: int, rss_growth: int) -> dict[str, Any]:
    """What the ps holds for one trained trunk, against a copy of it per worker.

    Args:
      rss_start: the ps process's RSS when the cluster started.
      rss_growth: how much its RSS grew while the workers trained this trunk.
    """
    with lc.graph_session(0, device=config.device, timeout=config.timeout) as gs:
        clf = build_model(gs, config.model, trunk_name, "clf", config.seed + 1, config.num_classes)
        gs.finalize()  # builds the train op: the optimizer slots the trainers made
        on_ps = [v for v in gs.global_variables() if v.device.startswith(f"/job:{cluster.PS_JOB}")]
        weights = introspect.variable_bytes(clf.trunk.variables)
        # BatchNorm statistics are trunk variables, on the ps, but not trained: no Adam slots.
        statistics = introspect.variable_bytes([v for v in clf.trunk.variables if not v.trainable])
    with_adam = weights + 2 * (weights - statistics)  # Adam keeps 2 slots per trainable weight
    return {
        "kind": "ps_bytes", "workers": num_workers,
        "trunk_params": clf.trunk.num_params, "trunk_weight_bytes": weights,
        "trunk_statistics_bytes": statistics,
        "ps_variable_bytes": introspect.variable_bytes(on_ps),  # weights, statistics + Adam slots of the shared trunk
        "per_worker_copies_weight_bytes": weights * num_workers,
        "per_worker_copies_with_adam_bytes": with_adam * num_workers,
        "ps_rss_at_start_bytes": rss_start,
        "ps_rss_growth_bytes": rss_growth,
    }


def run(config: Config, on_record: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Starts the local cluster, measures latency, training and ps bytes, and stops it.

    Args:
      config: what to measure.
      on_record: called with each record as soon as it is complete.

    Returns:
      Records of kind "latency", "training" and "ps_bytes".
    """
    data = config.model.dataset(num_train=config.train_batch_size * 8, num_test=max(config.batch_sizes))
    records: list[dict[str, Any]] = []

    def emit(record: dict[str, Any]) -> None:
        records.append(record)
        if on_record is not None:
            on_record(record)

    with cluster.LocalCluster(num_workers=max(config.workers), max_lifetime=config.max_lifetime) as lc:
        ps_pid = lc.process(cluster.PS_JOB, 0).pid
        rss_start = memory.rss_bytes(ps_pid)
        for record in latency(config, lc, data, config.tracer()):
            emit(record)
        emit(local_training(config, data))
        train_records = []
        for i, n in enumerate(config.workers, 1):
            trunk_name = f"trunk_{n}w"
            rss = memory.rss_bytes(ps_pid)
            record = training(config, lc, n, trunk_name)
            train_records.append((n, trunk_name, memory.rss_bytes(ps_pid) - rss))
            _log.info("training %d/%d: %d worker(s), %.1f steps/s", i, len(config.workers), n,
                      record["steps_per_second"])
            emit(record)
        for n, trunk_name, growth in train_records:  # after the training table, so each table prints once
            emit(ps_bytes(config, lc, n, trunk_name, rss_start, growth))
    return records


HEADERS = {
    "latency": (
        "| batch | mode | median | IQR | p90 | n x loops | vs in-process |\n"
        "|---:|---|---:|---:|---:|---:|---:|"
    ),
    "training": (
        "| setup | workers | steps/s, all workers | per worker | loopback per step |\n"
        "|---|---:|---:|---|---:|"
    ),
    "ps_bytes": (
        "| workers | trunk params | ps variables | trunk weights | per-worker copies (weights / with Adam) "
        "| ps RSS growth |\n"
        "|---:|---:|---:|---:|---:|---:|"
    ),
}


def table_row(record: dict[str, Any]) -> str:
    """One Markdown row of a latency, training or ps_bytes record."""
    kind = record["kind"]
    if kind == "latency":
        s = record["seconds"]
        wide = " (wide)" if s["wide_spread"] else ""
        return (
            f"| {record['batch_size']} | {LABELS[record['mode']]} | {format_seconds(s['median'])}{wide} "
            f"| {format_seconds(s['iqr'])} | {format_seconds(s['p90'])} | {s['n']} x {s['loops']} "
            f"| {format_ratio(record['ratio_vs_in_process'])} |"
        )
    if kind == "training":
        per = ", ".join(f"{v:.0f}" for v in record["per_worker_steps_per_second"]) if record["mode"] != BASELINE else ""
        return (
            f"| {LABELS[record['mode']]} | {record['workers']} | {record['steps_per_second']:.1f} | {per} "
            f"| {format_bytes(record['loopback_bytes_per_step'])} |"
        )
    return (
        f"| {record['workers']} | {record['trunk_params']:,} | {format_bytes(record['ps_variable_bytes'])} "
        f"| {format_bytes(record['trunk_weight_bytes'])} "
        f"| {format_bytes(record['per_worker_copies_weight_bytes'])} / "
        f"{format_bytes(record['per_worker_copies_with_adam_bytes'])} "
        f"| {format_bytes(record['ps_rss_growth_bytes'])} |"
    )


def table(records: list[dict[str, Any]], kind: str) -> str:
    """The records of one kind as a Markdown table."""
    return results.kind_tables(records, HEADERS, table_row, (kind,))


def summary_table(records: list[dict[str, Any]]) -> str:
    """Median latency per batch size (rows) and mode (columns), with the ratio to in-process."""
    lat = [r for r in records if r["kind"] == "latency"]
    modes = [m for m in MODES if any(r["mode"] == m for r in lat)]
    by = {(r["mode"], r["batch_size"]): r for r in lat}
    lines = ["| batch | " + " | ".join(LABELS[m] for m in modes) + " |", "|---:|" + "---:|" * len(modes)]
    for batch in sorted({r["batch_size"] for r in lat}):
        cells = []
        for mode in modes:
            r = by[(mode, batch)]
            s = r["seconds"]
            wide = " (wide)" if s["wide_spread"] else ""
            cells.append(f"{format_seconds(s['median'])}{wide} ({format_seconds(s['iqr'])}), "
                         f"{format_ratio(r['ratio_vs_in_process'])}")
        lines.append(f"| {batch} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


__all__ = ["BASELINE", "BENCHMARK", "Config", "HEADERS", "LABELS", "MODES", "latency", "local_training",
           "ps_bytes", "run", "summary_table", "table", "table_row", "training"]
