"""What sharing a trunk through a parameter server costs, on TensorFlow's gRPC runtime.

Starts a LocalCluster (1 ps + N worker servers on 127.0.0.1) and measures:

* per-call predict latency: in-process trunk, a trunk on the worker reached
  over gRPC, and the trunk on the ps (the worker reads it every call);
* training steps/s with 1, 2 and 4 workers: between-graph replication,
  asynchronous, one trainer process per worker, all sharing the ps trunk;
* bytes held on the ps against the memory a per-worker trunk copy would take
  (computed from the variables, and the ps process's RSS growth).

  python benchmarks/distributed_sharing.py --quick
  python benchmarks/distributed_sharing.py --workers=1,2,4 --output=results/distributed_sharing.json

On several machines, each worker machine runs the trainer role against the
cluster (see docs/distributed.md):

  python benchmarks/distributed_sharing.py --role=trainer --serve \\
      --ps_hosts=ps0:2222 --worker_hosts=w0:2222,w1:2222 --job_name=worker --task_index=1

The timing helper here is private: tfshare.bench (the shared harness) had
not landed on main when this was written; the JSON has its schema 1 layout.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import select
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Sequence

import numpy as np
from absl import app, flags, logging

import tfshare
from tfshare import cluster

BENCHMARK = "distributed_sharing"

_ROLE = flags.DEFINE_enum("role", "driver", ["driver", "trainer"], "driver: run everything; trainer: one worker's loop.")
_OUTPUT = flags.DEFINE_string("output", "results/distributed_sharing.json", "Result JSON path (driver).")
_QUICK = flags.DEFINE_bool("quick", False, "Fewer repeats and shorter windows (a smoke run).")
_WORKERS = flags.DEFINE_list("workers", ["1", "2", "4"], "Worker counts to train with.")
_HIDDEN = flags.DEFINE_list("hidden_units", ["256", "256"], "Trunk layer widths.")
_PREDICT_BATCHES = flags.DEFINE_list("predict_batch_sizes", ["1", "64"], "Rows per predict call.")
_BATCH = flags.DEFINE_integer("batch_size", 64, "Rows per training step.", lower_bound=1)
_REPEATS = flags.DEFINE_integer("repeats", None, "Timed values per predict mode (default 25, 5 with --quick).",
                                lower_bound=1)
_TRAIN_SECONDS = flags.DEFINE_float("train_seconds", None, "Timed training window (default 4, 1 with --quick).",
                                    lower_bound=0.1)
_TIMEOUT = flags.DEFINE_float("timeout", 60.0, "Seconds any one cluster call may block.", lower_bound=0.1)
# Trainer role (also what a worker machine runs): the cluster from flags, or TF_CONFIG.
_PS_HOSTS = flags.DEFINE_list("ps_hosts", None, "Trainer: parameter servers host:port,... (else TF_CONFIG).")
_WORKER_HOSTS = flags.DEFINE_list("worker_hosts", None, "Trainer: workers host:port,...")
_JOB = flags.DEFINE_string("job_name", "worker", "Trainer: this task's job.")
_TASK = flags.DEFINE_integer("task_index", 0, "Trainer: this task's index.", lower_bound=0)
_SERVE = flags.DEFINE_bool("serve", False, "Trainer: start this task's server in-process (one machine per worker).")
_TRUNK_NAME = flags.DEFINE_string("trunk_name", "trunk", "Trainer: the shared trunk's name (same in every worker).")


@dataclasses.dataclass(frozen=True)
class Config:
    workers: tuple[int, ...]
    hidden_units: tuple[int, ...]
    input_dim: int
    num_classes: int
    predict_batch_sizes: tuple[int, ...]
    batch_size: int
    repeats: int
    train_seconds: float
    timeout: float


# ---------------------------------------------------- private timing helper
def _summary(values: Sequence[float], loops: int) -> dict[str, Any]:
    v = np.asarray(values, np.float64)
    p25, median, p75, p90 = np.percentile(v, [25, 50, 75, 90])
    return {
        "median": float(median), "iqr": float(p75 - p25), "p25": float(p25), "p75": float(p75),
        "p90": float(p90), "min": float(v.min()), "max": float(v.max()), "mean": float(v.mean()),
        "stdev": float(v.std(ddof=1)) if v.size > 1 else 0.0, "n": int(v.size), "loops": loops,
        "spread": float((p75 - p25) / median) if median else 0.0, "values": [float(x) for x in v],
    }


def _measure_interleaved(fns: dict[str, Callable[[], Any]], repeats: int, min_time: float = 2e-3) -> dict:
    """Seconds per call of each fn: warm-up, loops calibrated to >= min_time, rotating order."""
    loops = {}
    for name, fn in fns.items():
        fn()
        n = 1
        while True:
            start = time.perf_counter()
            for _ in range(n):
                fn()
            if time.perf_counter() - start >= min_time:
                break
            n *= 2
        loops[name] = n
    values: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            start = time.perf_counter()
            for _ in range(loops[name]):
                fns[name]()
            values[name].append((time.perf_counter() - start) / loops[name])
    result = {}
    for name in names:
        result[name] = _summary(values[name], loops[name])
        if result[name]["spread"] > 0.25:
            logging.warning("%s: wide spread (IQR %.0f%% of the median); the machine is noisy",
                            name, 100 * result[name]["spread"])
    return result


def _machine() -> dict[str, Any]:
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(), "platform": platform.platform(),
        "tensorflow": tfshare.TF_VERSION, "tf_keras": tfshare.KERAS_VERSION, "numpy": np.__version__,
        "device": "/device:CPU:0", "cpu_model": cpu, "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average": list(os.getloadavg()),
    }


def _write(path: str, doc: dict[str, Any]) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=directory)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=1, allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)


# ------------------------------------------------------------- measurements
def _rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def _loopback_bytes() -> int:
    """Bytes received on the loopback interface so far (every process on the machine)."""
    with open("/proc/net/dev") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name.strip() == "lo":
                return int(rest.split()[0])
    return 0


def _nbytes(variables) -> int:
    return int(sum(v.shape.num_elements() * v.dtype.size for v in variables))


def _model(gs: tfshare.GraphSession, config: Config, trunk_name: str, clf_name: str, seed: int):
    trunk = tfshare.SharedTrunk(gs, config.input_dim, config.hidden_units, name=trunk_name, seed=seed)
    return tfshare.DenseClassifier(trunk=trunk, num_classes=config.num_classes, name=clf_name, seed=seed + 7)


def measure_predict(config: Config, lc: cluster.LocalCluster, data: tfshare.Dataset) -> list[dict]:
    """Per-call predict_proba latency: in-process, gRPC with the trunk on the worker, trunk on the ps."""
    sessions = {
        "in-process": tfshare.GraphSession("cpu"),
        # No job_name: everything on the master's own device (worker 0): the gRPC hop only.
        "grpc, trunk on the worker": tfshare.GraphSession("cpu", target=lc.config.target, timeout=config.timeout),
        "grpc, trunk on the ps": lc.graph_session(0, device="cpu", timeout=config.timeout),
    }
    records = []
    try:
        models = {mode: _model(gs, config, "predict_trunk", f"predict_clf_{i}", seed=1)
                  for i, (mode, gs) in enumerate(sessions.items())}
        for batch in config.predict_batch_sizes:
            x = np.ascontiguousarray(data.x_test[:batch])
            stats = _measure_interleaved({m: (lambda c=c: c.predict_proba(x)) for m, c in models.items()},
                                         config.repeats)
            base = stats["in-process"]["median"]
            for mode, s in stats.items():
                records.append({"measure": "predict_latency", "mode": mode, "batch_size": batch,
                                "seconds": s, "ratio_to_in_process": s["median"] / base})
    finally:
        for gs in sessions.values():
            gs.close()
    return records


def measure_ps_bytes(config: Config, lc: cluster.LocalCluster, num_workers: int, trunk_name: str,
                     rss_before: int) -> dict:
    """What the ps holds for one trained trunk, against a copy of it per worker."""
    with lc.graph_session(0, device="cpu", timeout=config.timeout) as gs:
        clf = _model(gs, config, trunk_name, "clf", seed=1)
        gs.finalize()  # builds the train op: the optimizer slots the trainers made
        on_ps = [v for v in gs.global_variables() if v.device.startswith("/job:ps")]
        weights = _nbytes(clf.trunk.variables)
    return {
        "measure": "ps_bytes", "workers": num_workers,
        "trunk_params": clf.trunk.num_params, "trunk_weight_bytes": weights,
        "ps_variable_bytes": _nbytes(on_ps),  # weights + Adam slots of the shared trunk
        "per_worker_copies_weight_bytes": weights * num_workers,
        "per_worker_copies_with_adam_bytes": 3 * weights * num_workers,
        "ps_rss_growth_bytes": _rss_bytes(lc.process("ps", 0).pid) - rss_before,
    }


def _readline(process: subprocess.Popen, deadline: float) -> dict:
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.2)
        if ready:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(f"trainer {process.args[-1]} exited with code {process.wait()}")
            if line.startswith(b"{"):
                return json.loads(line)
    raise RuntimeError(f"no answer from trainer {process.args[-1]} before the deadline")


def measure_training(config: Config, lc: cluster.LocalCluster, num_workers: int, trunk_name: str) -> dict:
    """Aggregate training steps/s of ``num_workers`` trainer processes sharing one ps trunk."""
    ps = ",".join(lc.config.jobs[cluster.PS_JOB])
    workers = ",".join(lc.config.jobs[cluster.WORKER_JOB])
    trainers = []
    try:
        for i in range(num_workers):
            trainers.append(subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "--role=trainer", f"--ps_hosts={ps}",
                 f"--worker_hosts={workers}", "--job_name=worker", f"--trunk_name={trunk_name}",
                 f"--hidden_units={','.join(map(str, config.hidden_units))}", f"--batch_size={config.batch_size}",
                 f"--train_seconds={config.train_seconds}", f"--timeout={config.timeout}", f"--task_index={i}"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=cluster.subprocess_env(),
            ))
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
    window = max(r["seconds"] for r in results)
    return {
        "measure": "train_steps_per_second", "mode": "ps trunk, async", "workers": num_workers,
        "steps_per_second": sum(r["steps"] / r["seconds"] for r in results),
        "per_worker_steps_per_second": [r["steps"] / r["seconds"] for r in results],
        "steps": steps, "window_seconds": window, "batch_size": config.batch_size,
        "loopback_bytes_per_step": (lo_after - lo_before) / steps if steps else None,
    }


def measure_local_training(config: Config, data: tfshare.Dataset) -> dict:
    with tfshare.GraphSession("cpu") as gs:
        steps, seconds = _train_loop(_model(gs, config, "trunk", "clf", seed=1), data, config)
    return {"measure": "train_steps_per_second", "mode": "in-process (no cluster)", "workers": 1,
            "steps_per_second": steps / seconds, "steps": steps, "window_seconds": seconds,
            "batch_size": config.batch_size}


def _train_loop(clf: tfshare.DenseClassifier, data: tfshare.Dataset, config: Config,
                wait: Callable[[], None] = lambda: None) -> tuple[int, float]:
    per_call = 8  # steps per fit() call
    rows = config.batch_size * per_call
    x, y = np.ascontiguousarray(data.x_train[:rows]), data.y_train[:rows]
    clf.fit(x, y, batch_size=config.batch_size, shuffle=False)  # build, initialize, warm up
    wait()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < config.train_seconds:
        clf.fit(x, y, batch_size=config.batch_size, shuffle=False)
        steps += per_call
    return steps, time.perf_counter() - start


def _config() -> Config:
    quick = _QUICK.value
    return Config(
        workers=tuple(int(w) for w in _WORKERS.value),
        hidden_units=tuple(int(h) for h in _HIDDEN.value),
        input_dim=784, num_classes=10,
        predict_batch_sizes=tuple(int(b) for b in _PREDICT_BATCHES.value),
        batch_size=_BATCH.value,
        repeats=_REPEATS.value or (5 if quick else 25),
        train_seconds=_TRAIN_SECONDS.value or (1.0 if quick else 4.0),
        timeout=_TIMEOUT.value,
    )


def trainer(config: Config) -> None:
    """One worker's loop: build the shared trunk + a private head, train for the window."""
    if _PS_HOSTS.value or _WORKER_HOSTS.value:
        task = cluster.ClusterConfig.from_flags(_PS_HOSTS.value or (), _WORKER_HOSTS.value or (),
                                                _JOB.value, _TASK.value)
    else:
        task = cluster.ClusterConfig.from_tf_config()
    server = cluster.start_server(task) if _SERVE.value else None  # noqa: F841 - keeps it serving
    data = tfshare.synthetic(num_train=config.batch_size * 8, num_test=1)

    def ready_then_wait() -> None:
        print(json.dumps({"ready": task.task_index}), flush=True)
        if not sys.stdin.readline():  # the driver's "go" (EOF: it is gone)
            sys.exit(1)

    with task.graph_session(device="cpu", timeout=config.timeout) as gs:
        clf = _model(gs, config, _TRUNK_NAME.value, "clf", seed=1)
        wait = ready_then_wait if _ROLE.value == "trainer" and not _SERVE.value else (lambda: None)
        steps, seconds = _train_loop(clf, data, config, wait)
    print(json.dumps({"task_index": task.task_index, "steps": steps, "seconds": seconds}), flush=True)


def driver(config: Config) -> None:
    data = tfshare.synthetic(num_train=config.batch_size * 8, num_test=max(config.predict_batch_sizes))
    info = _machine()
    records: list[dict] = []
    with cluster.LocalCluster(num_workers=max(config.workers), max_lifetime=1800) as lc:
        ps_pid = lc.process("ps", 0).pid
        rss = _rss_bytes(ps_pid)
        records.append({"measure": "ps_rss_at_start", "bytes": rss})
        records += measure_predict(config, lc, data)
        records.append(measure_local_training(config, data))
        for n in config.workers:
            trunk_name = f"trunk_{n}w"
            rss = _rss_bytes(ps_pid)
            records.append(measure_training(config, lc, n, trunk_name))
            records.append(measure_ps_bytes(config, lc, n, trunk_name, rss))
            logging.info("%d worker(s): %.1f steps/s", n, records[-2]["steps_per_second"])
    doc = {"schema": 1, "benchmark": BENCHMARK, "machine": info, "config": dataclasses.asdict(config),
           "records": records}
    _write(_OUTPUT.value, doc)
    print(table(records))
    print(f"\nwrote {_OUTPUT.value}")


def table(records: list[dict]) -> str:
    """The records as a plain-text table."""
    lines = ["predict latency (median per call)"]
    for r in records:
        if r["measure"] == "predict_latency":
            s = r["seconds"]
            lines.append(f"  batch {r['batch_size']:>4}  {r['mode']:<28} {s['median'] * 1e6:9.0f} us"
                         f"  (IQR {s['iqr'] * 1e6:.0f} us, x{r['ratio_to_in_process']:.1f})")
    lines.append("training steps/s (sum over workers)")
    for r in records:
        if r["measure"] == "train_steps_per_second":
            extra = ""
            if r.get("loopback_bytes_per_step"):
                extra = f"  loopback {r['loopback_bytes_per_step'] / 1e6:.2f} MB/step"
            lines.append(f"  {r['workers']} worker(s)  {r['mode']:<24} {r['steps_per_second']:8.1f}{extra}")
    lines.append("bytes on the ps vs a trunk copy per worker")
    for r in records:
        if r["measure"] == "ps_bytes":
            lines.append(
                f"  {r['workers']} worker(s): ps variables {r['ps_variable_bytes'] / 1e6:.2f} MB "
                f"(trunk weights {r['trunk_weight_bytes'] / 1e6:.2f} MB), ps RSS grew "
                f"{r['ps_rss_growth_bytes'] / 1e6:.2f} MB; per-worker copies: "
                f"{r['per_worker_copies_weight_bytes'] / 1e6:.2f} MB weights, "
                f"{r['per_worker_copies_with_adam_bytes'] / 1e6:.2f} MB with Adam state"
            )
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    config = _config()
    if _ROLE.value == "trainer":
        trainer(config)
    else:
        driver(config)


if __name__ == "__main__":
    app.run(main)
