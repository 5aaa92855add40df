"""One worker's training loop for the distributed_sharing benchmark.

A worker builds the shared trunk (same name on every worker, so its variables
sit on the ps, BatchNorm statistics included) and a private head, then trains
for a timed window. The trunk is the body of ``--model=mlp|cnn``
(``tfshare.bench.models``). The benchmark's driver starts one such process per
worker::

    python -m tfshare.bench.dist_trainer --ps_hosts=... --worker_hosts=... \\
        --task_index=1 --trunk_name=trunk_2w --model=cnn --wait_for_go

which prints a JSON "ready" line, waits for "go" on stdin, trains, and prints
a JSON line with its steps and seconds. On several machines
``benchmarks/distributed_sharing.py --role=trainer --serve`` runs ``train``
directly, with this task's server started in-process.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Callable

import numpy as np

import tfshare
from tfshare import cluster
from tfshare.bench.models import MODELS, Model, model as make_model
from tfshare.bench.timing import clock

#: Steps per ``fit`` call in the timed loop.
STEPS_PER_CALL = 8


def build_model(gs: tfshare.GraphSession, model: Model, trunk_name: str, clf_name: str, seed: int,
                num_classes: int = 10) -> tfshare.Classifier:
    """``model``'s body as a ``SharedTrunk`` named ``trunk_name``, and a head named ``clf_name`` on it.

    Args:
      gs: the runtime (a cluster worker's: the trunk then lives on the ps).
      model: the MLP or the CNN (``tfshare.bench.models.model``).
      trunk_name: the trunk's name, the same in every worker that shares it.
      clf_name: the head's name.
      seed: the trunk's seed; the head's is ``seed + 7``.
      num_classes: the head's outputs.

    Returns:
      The classifier; it takes float32 [batch, *model.input_shape].
    """
    trunk = model.shared_trunk(gs, name=trunk_name, seed=seed)
    return model.head(trunk, num_classes, name=clf_name, seed=seed + 7)


def train_loop(clf: tfshare.Classifier, data: tfshare.Dataset, batch_size: int, seconds: float,
               wait: Callable[[], None] = lambda: None) -> tuple[int, float]:
    """Trains ``clf`` for at least ``seconds`` after one untimed warm-up call.

    Args:
      clf: the classifier (built, not necessarily initialized).
      data: its training rows (at least ``batch_size * STEPS_PER_CALL``).
      batch_size: rows per step.
      seconds: the timed window.
      wait: called between the warm-up and the window (a start signal).

    Returns:
      (steps taken, seconds they took).
    """
    rows = batch_size * STEPS_PER_CALL
    x, y = np.ascontiguousarray(data.x_train[:rows]), data.y_train[:rows]
    clf.fit(x, y, batch_size=batch_size, shuffle=False)  # build, initialize, warm up
    wait()
    steps, start = 0, clock()
    while clock() - start < seconds:
        clf.fit(x, y, batch_size=batch_size, shuffle=False)
        steps += STEPS_PER_CALL
    return steps, clock() - start


def train(task: cluster.ClusterConfig, *, model: Model, batch_size: int, seconds: float,
          timeout: float, trunk_name: str = "trunk", device: str = "cpu", seed: int = 0,
          serve: bool = False, wait_for_go: bool = False) -> dict[str, Any]:
    """One worker: build the shared trunk + a private head, train for the window.

    Args:
      task: the cluster and this worker's task.
      model: the MLP or the CNN, with its sizes (every worker must build the same).
      batch_size, seconds, timeout, device, seed: as the benchmark's Config.
      trunk_name: the shared trunk's name (the same in every worker).
      serve: start this task's server in-process first (one machine per worker).
      wait_for_go: print a JSON "ready" line after the warm-up, then wait for a
        line on stdin before the timed window (exits 1 at EOF).

    Returns:
      {"task_index", "steps", "seconds"}.
    """
    server = cluster.start_server(task) if serve else None  # noqa: F841 - keeps it serving
    data = model.data(num_train=batch_size * STEPS_PER_CALL, num_test=1)

    def ready_then_wait() -> None:
        print(json.dumps({"ready": task.task_index}), flush=True)
        if not sys.stdin.readline():  # the driver's "go" (EOF: it is gone)
            sys.exit(1)

    with task.graph_session(device=device, timeout=timeout) as gs:
        clf = build_model(gs, model, trunk_name, "clf", seed=seed + 1)
        steps, elapsed = train_loop(clf, data, batch_size, seconds, ready_then_wait if wait_for_go else (lambda: None))
    return {"task_index": task.task_index, "steps": steps, "seconds": elapsed}


def _cli() -> None:
    from absl import app, flags

    ps_hosts = flags.DEFINE_list("ps_hosts", None, "Parameter servers, host:port,...")
    worker_hosts = flags.DEFINE_list("worker_hosts", None, "Workers, host:port,...")
    task_index = flags.DEFINE_integer("task_index", 0, "This worker's index.", lower_bound=0)
    trunk_name = flags.DEFINE_string("trunk_name", "trunk", "The shared trunk's name.")
    model_name = flags.DEFINE_enum("model", "mlp", list(MODELS), "The trunk's body: the MLP or the CNN.")
    hidden = flags.DEFINE_list("hidden_units", ["256", "256"], "MLP trunk: layer widths.")
    filters = flags.DEFINE_list("filters", ["32", "64"], "CNN trunk: filters per block.")
    batch = flags.DEFINE_integer("batch_size", 64, "Rows per step.", lower_bound=1)
    seconds = flags.DEFINE_float("train_seconds", 4.0, "Timed window.", lower_bound=0.0)
    timeout = flags.DEFINE_float("timeout", 60.0, "Seconds a cluster call may block.", lower_bound=0.1)
    device = flags.DEFINE_enum("device", "cpu", ["cpu", "gpu"], "Where the worker's ops run.")
    seed = flags.DEFINE_integer("seed", 0, "Seed of the weights.", lower_bound=0)
    wait_for_go = flags.DEFINE_bool("wait_for_go", False, "Print ready, then wait for a stdin line.")

    def main(argv: list[str]) -> None:
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {argv[1:]}")
        task = cluster.ClusterConfig.from_flags(ps_hosts.value or (), worker_hosts.value or (),
                                                cluster.WORKER_JOB, task_index.value)
        model = make_model(model_name.value, [int(h) for h in hidden.value], [int(f) for f in filters.value])
        result = train(task, model=model, batch_size=batch.value,
                       seconds=seconds.value, timeout=timeout.value, trunk_name=trunk_name.value,
                       device=device.value, seed=seed.value, wait_for_go=wait_for_go.value)
        print(json.dumps(result), flush=True)

    app.run(main)


if __name__ == "__main__":
    _cli()


__all__ = ["STEPS_PER_CALL", "build_model", "train", "train_loop"]
