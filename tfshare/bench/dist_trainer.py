"""One worker's training loop for the distributed_sharing benchmark.

A worker builds the shared trunk (same name on every worker, so its variables
sit on the ps, BatchNorm statistics included) and a private head, then trains
for a timed window. The trunk is the body of ``--model=mlp|cnn``
(``tfshare.bench.models``). The benchmark's driver starts one process per
worker running the app's trainer role::

    python -m tfshare.bench distributed_sharing --role=trainer --wait_for_go \\
        --ps_hosts=... --worker_hosts=... --task_index=1 --trunk_name=trunk_2w --model=cnn --num_classes=10

which prints a JSON "ready" line, waits for "go" on stdin, trains, and prints
a JSON line with its steps and seconds. On several machines the same role
with ``--serve`` runs ``train`` with this task's server started in-process.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Callable

import numpy as np

import tfshare
from tfshare import cluster, validation
from tfshare.bench.models import Model
from tfshare.errors import InputError
from tfshare.harness.timing import clock

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
          num_classes: int | None = None, serve: bool = False, wait_for_go: bool = False,
          **session_kwargs: Any) -> dict[str, Any]:
    """One worker: build the shared trunk + a private head, train for the window.

    Args:
      task: the cluster and this worker's task.
      model: the MLP or the CNN, with its sizes (every worker must build the same).
      batch_size, seconds, timeout, device, seed: as the benchmark's Config.
      trunk_name: the shared trunk's name (the same in every worker).
      num_classes: the head's classes, the measured model's (the benchmark's
        ``Config.num_classes``); None: the data's (``model.num_classes``).
      serve: start this task's server in-process first (one machine per worker).
      wait_for_go: print a JSON "ready" line after the warm-up, then wait for a
        line on stdin before the timed window (exits 1 at EOF).
      session_kwargs: more arguments of the worker's GraphSession (threads).

    Returns:
      {"task_index", "steps", "seconds"}.

    Raises:
      TypeError: ``num_classes`` is not an int.
      InputError: ``num_classes`` is < 2, or fewer than the data's classes.
    """
    classes = model.num_classes if num_classes is None else validation.positive_int(num_classes, "num_classes",
                                                                                    minimum=2)
    if classes < model.num_classes:
        raise InputError(f"num_classes must be at least the {model.num_classes} classes of data {model.data!r}, "
                         f"got {classes}")
    server = cluster.start_server(task) if serve else None  # noqa: F841 - keeps it serving
    data = model.dataset(num_train=batch_size * STEPS_PER_CALL, num_test=1)

    def ready_then_wait() -> None:
        print(json.dumps({"ready": task.task_index}), flush=True)
        if not sys.stdin.readline():  # the driver's "go" (EOF: it is gone)
            sys.exit(1)

    with task.graph_session(device=device, timeout=timeout, **session_kwargs) as gs:
        clf = build_model(gs, model, trunk_name, "clf", seed=seed + 1, num_classes=classes)
        steps, elapsed = train_loop(clf, data, batch_size, seconds, ready_then_wait if wait_for_go else (lambda: None))
    return {"task_index": task.task_index, "steps": steps, "seconds": elapsed}


__all__ = ["STEPS_PER_CALL", "build_model", "train", "train_loop"]
