"""Reliability drills under threads: concurrent load, construction, fit while predicting.

Each drill runs one of the two models of ``tfshare.bench.models`` ("mlp":
784-feature rows; "cnn": 28x28x1 images through Conv-BN-ReLU blocks), builds
its own runtimes, exercises one promise of the library and returns a frozen
dataclass of figures that names the model; nothing is printed (see
``tfshare.drills`` for the other drills).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

import numpy as np

from tfshare.bench.models import Model, ModelLike, as_model, random_inputs
from tfshare.classifier import Classifier
from tfshare.runtime import GraphSession


def _build_heads(model: Model, num_classifiers: int, seed: int) -> tuple[GraphSession | None, list[Classifier]]:
    """One isolated classifier, or ``num_classifiers`` heads on a shared trunk in one runtime."""
    if num_classifiers == 1:
        return None, [model.classifier(seed=seed)]
    runtime = GraphSession(device="cpu")
    trunk = model.shared_trunk(runtime, seed=seed)
    return runtime, [model.head(trunk, seed=seed + i + 1) for i in range(num_classifiers)]


# No drill waits for a thread longer than this: a stuck thread is reported, never waited out.
_JOIN_TIMEOUT_S = 600.0


def _join_all(threads: list[threading.Thread], timeout: float = _JOIN_TIMEOUT_S) -> None:
    """Joins ``threads`` within ``timeout`` seconds in all.

    Raises:
      RuntimeError: a thread is still running then (it is a daemon: it cannot keep the process alive).
    """
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    alive = [t.name for t in threads if t.is_alive()]
    if alive:
        raise RuntimeError(f"drill threads still running after {timeout:g} s: {alive}")


def _run_threads(target: Any, num_threads: int) -> list[BaseException]:
    """Runs ``target(i)`` in ``num_threads`` fresh threads released together; returns their errors."""
    barrier = threading.Barrier(num_threads, timeout=_JOIN_TIMEOUT_S)
    errors: list[BaseException] = []

    def body(i: int) -> None:
        try:
            barrier.wait()
            target(i)
        except BaseException as exc:  # noqa: BLE001 - collected and reported
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(num_threads)]
    for thread in threads:
        thread.start()
    _join_all(threads)
    return errors


# ---------------------------------------------------------------- load
@dataclasses.dataclass(frozen=True)
class LoadFigures:
    """Concurrent ``predict_proba`` calls compared with serial ones.

    Attributes:
      model: "mlp" or "cnn".
      classifiers: classifiers called (1: one isolated; more: heads on one
        shared trunk in one runtime, called in turn).
      threads, calls_per_thread: the load.
      mismatches: calls whose result was not bit-identical to the serial one.
      errors: calls that raised.
      seconds: wall time of the concurrent phase.
    """

    model: str
    classifiers: int
    threads: int
    calls_per_thread: int
    mismatches: int
    errors: int
    seconds: float

    @property
    def passed(self) -> bool:
        """Every call gave the serial result and none raised."""
        return self.mismatches == 0 and self.errors == 0


def load_drill(
    model: ModelLike = "mlp", threads: int = 32, calls: int = 200, classifiers: int = 1, batch_size: int = 8,
    seed: int = 0,
) -> LoadFigures:
    """Calls ``predict_proba`` from many fresh threads at once; compares with serial results.

    Each thread has its own batch; its k-th call goes to classifier
    ``(thread + k) % classifiers``. The threads never enter a graph context.

    Args:
      model: "mlp", "cnn", or a ``tfshare.bench.models.Model``.
      threads: threads started and released together.
      calls: ``predict_proba`` calls per thread.
      classifiers: 1 (one isolated classifier) or more (heads on one shared trunk).
      batch_size: rows of each thread's float32 batch [batch_size, *input_shape].
      seed: seeds the weights and the batches.
    """
    model = as_model(model)
    runtime, heads = _build_heads(model, classifiers, seed)
    try:
        rng = np.random.default_rng(seed)
        batches = [random_inputs(model, batch_size, rng) for _ in range(threads)]
        expected = [[head.predict_proba(x) for head in heads] for x in batches]
        mismatches = [0] * threads

        def work(i: int) -> None:
            for k in range(calls):
                c = (i + k) % len(heads)
                if not np.array_equal(heads[c].predict_proba(batches[i]), expected[i][c]):
                    mismatches[i] += 1

        start = time.perf_counter()
        errors = _run_threads(work, threads)
        seconds = time.perf_counter() - start
    finally:
        for head in heads:
            head.close()
        if runtime is not None:
            runtime.close()
    return LoadFigures(model.name, classifiers, threads, calls, sum(mismatches), len(errors), seconds)


# -------------------------------------------------------- construction
@dataclasses.dataclass(frozen=True)
class ConstructionFigures:
    """Classifiers built from many threads at once in one shared runtime.

    Attributes:
      model: "mlp" or "cnn".
      threads: threads, each building one classifier.
      built: classifiers built.
      unique_names: distinct names among them.
      same_as_serial: classifiers whose op count and predictions equal
        those of the same classifier built alone.
      errors: constructions that raised.
    """

    model: str
    threads: int
    built: int
    unique_names: int
    same_as_serial: int
    errors: int

    @property
    def passed(self) -> bool:
        """Every thread built a correct classifier under a name of its own."""
        return self.built == self.unique_names == self.same_as_serial == self.threads and not self.errors


def construction_drill(model: ModelLike = "mlp", threads: int = 16, seed: int = 0) -> ConstructionFigures:
    """Builds one classifier per thread, all at once, into one runtime.

    Args:
      model: "mlp", "cnn", or a ``tfshare.bench.models.Model``.
      threads: threads, each building one classifier with the same seed.
      seed: the classifiers' seed (so that each must predict as one built alone).
    """
    model = as_model(model)
    x = random_inputs(model, 4, np.random.default_rng(seed))
    with model.classifier(seed=seed) as alone:
        ops_alone = len(alone.runtime.graph.get_operations())
        expected = alone.predict_proba(x)
    with GraphSession(device="cpu") as runtime:
        built: list[Classifier] = []
        errors = _run_threads(lambda i: built.append(model.classifier(runtime=runtime, seed=seed)), threads)
        names = [clf.name for clf in built]
        # Each classifier's ops are in its own shard's graph (more than shard_size open another).
        graph_ops = {id(shard.graph): shard.graph.get_operations() for shard in runtime.shards}
        same = sum(
            sum(op.name.startswith(clf.name + "/") for op in graph_ops[id(clf.shard.graph)]) == ops_alone
            and np.array_equal(clf.predict_proba(x), expected)
            for clf in built
        )
    return ConstructionFigures(model.name, threads, len(built), len(set(names)), same, len(errors))


# ---------------------------------------------------- fit while predict
@dataclasses.dataclass(frozen=True)
class FitWhilePredictFigures:
    """What threads predicting during ``fit`` saw.

    Attributes:
      model: "mlp" or "cnn".
      readers: predicting threads.
      train_steps: optimizer steps ``fit`` ran meanwhile.
      predictions: predictions the readers made during ``fit``.
      errors: predictions that raised.
      invalid: predictions with a non-finite value or a row not summing to 1.
      saw_before: predictions equal to those of the weights before ``fit``.
      saw_after: predictions equal to those of the weights after ``fit``.
      saw_between: any other: the weights of an intermediate step, or a mix
        of two consecutive steps (variables are updated one by one).
    """

    model: str
    readers: int
    train_steps: int
    predictions: int
    errors: int
    invalid: int
    saw_before: int
    saw_after: int
    saw_between: int

    @property
    def passed(self) -> bool:
        """No reader raised or got an invalid probability row."""
        return self.errors == 0 and self.invalid == 0


def fit_while_predict_drill(
    model: ModelLike = "mlp", readers: int = 4, epochs: int = 3, num_train: int = 2048, batch_size: int = 32,
    seed: int = 0,
) -> FitWhilePredictFigures:
    """Trains one classifier in this thread while ``readers`` threads predict with it.

    The CNN trains in training mode (Dropout on, BatchNorm on batch statistics,
    moving statistics updated each step) while its readers predict in
    inference mode, on the moving statistics.

    Args:
      model: "mlp", "cnn", or a ``tfshare.bench.models.Model``.
      readers: predicting threads.
      epochs, num_train, batch_size: the fit (random data, 10 classes).
      seed: seeds the weights and the data.
    """
    model = as_model(model)
    rng = np.random.default_rng(seed)
    num_classes = 10
    x_train = random_inputs(model, num_train, rng)
    y_train = rng.integers(0, num_classes, num_train)
    probe = random_inputs(model, 16, rng)
    with model.classifier(num_classes, seed=seed) as clf:
        clf.fit(x_train[:batch_size], y_train[:batch_size], epochs=1, batch_size=batch_size)  # build once
        before = clf.predict_proba(probe)
        seen: list[np.ndarray] = []
        done = threading.Event()
        errors: list[BaseException] = []

        def read() -> None:
            while not done.is_set():
                try:
                    seen.append(clf.predict_proba(probe))
                except Exception as exc:  # noqa: BLE001 - counted
                    errors.append(exc)

        threads = [threading.Thread(target=read, daemon=True) for _ in range(readers)]
        for thread in threads:
            thread.start()
        try:
            clf.fit(x_train, y_train, epochs=epochs, batch_size=batch_size)
        finally:
            done.set()
            _join_all(threads)
        after = clf.predict_proba(probe)
    invalid = sum(not (np.isfinite(p).all() and np.allclose(p.sum(axis=1), 1.0, atol=1e-5)) for p in seen)
    saw_before = sum(np.array_equal(p, before) for p in seen)
    saw_after = sum(np.array_equal(p, after) for p in seen)
    steps = epochs * -(-num_train // batch_size)
    return FitWhilePredictFigures(
        model.name, readers, steps, len(seen), len(errors), invalid, saw_before, saw_after,
        len(seen) - saw_before - saw_after,
    )


__all__ = [
    "ConstructionFigures",
    "FitWhilePredictFigures",
    "LoadFigures",
    "construction_drill",
    "fit_while_predict_drill",
    "load_drill",
]
