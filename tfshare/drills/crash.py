"""Crash drill: kill a process while it saves, then restore what it left behind.

A child process trains a classifier of one model ("mlp" or "cnn") one step at
a time and, after every step, saves it twice: with the classifier's ``save``
(a TensorFlow checkpoint directory) and with ``tfshare.save_runtime`` (one
file). Before each save it reports on stdout the step, a digest of all the
weights, a digest of BatchNorm's moving statistics (the CNN's; fit moves them
every step) and its predictions on a fixed probe batch; after each save, the
step again. The parent kills it with SIGKILL at a random moment, restores
both checkpoints into a fresh classifier and compares. The restored weights
must be those of the last save the child finished, or those of the save the
kill interrupted (when the kill came after the save was committed but before
the child could report it). A failing restore, or any other weights, is a
loss. The restored moving statistics must be that step's, moved off their
initial values, and the restored classifier must predict what the child
predicted at that step.

Runs follow each other in the same directory, so every run also starts from
whatever the killed run before it left there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import numpy as np

from tfshare import validation
from tfshare.bench.models import model as _get_model
from tfshare.bundles import restore_runtime, save_runtime
from tfshare.classifier import Classifier
from tfshare.errors import CheckpointError
from tfshare.drills.training import statistic_keys, statistics_moved

_NAME = "crash"
_NUM_CLASSES = 10
_BATCH = 64
_TIMEOUT_S = 120.0
#: Restored predictions may differ from the child's by this much (another
#: process; the weights themselves must match bit for bit).
PREDICTION_ATOL = 1e-6


def _classifier(model: str, seed: int) -> Classifier:
    """The child's classifier. The MLP has 256 hidden units, so that a save takes a few milliseconds."""
    return _get_model(model, hidden_units=(256,)).classifier(_NUM_CLASSES, name=_NAME, seed=seed)


def _probe(classifier: Classifier) -> np.ndarray:
    """The fixed batch whose predictions the child reports: 2 examples."""
    return np.random.default_rng(12345).random((2, *classifier.input_shape), dtype=np.float32)


@dataclasses.dataclass(frozen=True)
class CrashFigures:
    """What the crash drill found for one way of saving.

    Attributes:
      model: "mlp" or "cnn".
      target: "DenseClassifier.save"/"ConvClassifier.save", or "save_runtime".
      runs: child processes killed.
      saves: saves the children completed, over all runs.
      kills_mid_save: kills that interrupted a save of this target.
      restored: runs after which the checkpoint restored to the last
        completed save (or to the interrupted one, committed before the kill).
      losses: runs after which restoring failed or gave other weights.
      leftover_files: temporary files left beside the checkpoints after all runs.
      statistics: BatchNorm moving-statistic variables in the checkpoint (0
        for the MLP).
      statistics_restored: runs after which those statistics were the
        restored step's, bit for bit, and had moved off their initial values.
      predictions_restored: runs after which the restored classifier's
        predictions on the probe batch matched the child's at that step
        (within ``PREDICTION_ATOL``).
    """

    model: str
    target: str
    runs: int
    saves: int
    kills_mid_save: int
    restored: int
    losses: int
    leftover_files: int
    statistics: int
    statistics_restored: int
    predictions_restored: int

    @property
    def passed(self) -> bool:
        """Every run restored its last completed (or committed) save: weights, statistics, predictions."""
        statistics_ok = self.statistics == 0 or self.statistics_restored == self.runs
        return self.losses == 0 and self.restored == self.predictions_restored == self.runs and statistics_ok


def _digest(weights: dict[str, np.ndarray], keys: Any = None) -> str:
    """A short hash of ``weights`` (keys and exact bytes), over ``keys`` (default: all)."""
    digest = hashlib.sha256()
    for key in sorted(weights if keys is None else keys):
        digest.update(key.encode())
        digest.update(np.ascontiguousarray(weights[key]).tobytes())
    return digest.hexdigest()[:16]


def weights_digest(classifier: Any) -> str:
    """Returns a short hash of a classifier's weights (keys and exact bytes, BatchNorm statistics included)."""
    return _digest(classifier.get_weights())


def _report(classifier: Classifier) -> tuple[str, str, np.ndarray]:
    """(digest of all weights, digest of the moving statistics, predictions on the probe batch)."""
    weights = classifier.get_weights()
    return _digest(weights), _digest(weights, statistic_keys(weights)), classifier.predict_proba(_probe(classifier))


def _child(directory: str, bundle: str, seed: int, model: str = "mlp") -> None:  # pragma: no cover - in the child
    """Trains and saves forever, reporting each step; the parent kills it."""
    clf = _classifier(model, seed)
    rng = np.random.default_rng(seed)
    x = rng.random((_BATCH, *clf.input_shape), dtype=np.float32)
    y = rng.integers(0, _NUM_CLASSES, _BATCH)
    step = 0
    while True:
        step += 1
        clf.fit(x, y, epochs=1, batch_size=_BATCH, shuffle=False)
        weights, statistics, proba = _report(clf)
        print(f"saving {step} {weights} {statistics} {','.join(map(repr, proba.ravel().tolist()))}", flush=True)
        clf.save(directory)
        print(f"saved {step}", flush=True)
        save_runtime([clf], bundle)
        print(f"bundled {step}", flush=True)


def _is_temporary(name: str) -> bool:
    # Deliberately broader than the patterns the savers clean up.
    return ".tmp" in name or ".tempstate" in name


def _run_child(directory: str, bundle: str, seed: int, model: str, delay: float, log_path: str) -> list[list[str]]:
    """Starts a child, kills it ``delay`` seconds after its first full save; returns its lines."""
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    code = f"from tfshare.drills import crash; crash._child({directory!r}, {bundle!r}, {seed}, {model!r})"
    lines: list[list[str]] = []
    first_save = threading.Event()
    with open(log_path, "wb") as log:
        child = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=log, env=env, text=True
        )

        def read() -> None:
            for line in child.stdout:
                lines.append(line.split())
                if line.startswith("bundled"):
                    first_save.set()
            first_save.set()  # the child ended: stop waiting

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            if not first_save.wait(_TIMEOUT_S) or child.poll() is not None:
                raise RuntimeError(f"the crash drill's child did not start saving; see {log_path}")
            time.sleep(delay)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
            reader.join()
    if child.returncode != -signal.SIGKILL:
        raise RuntimeError(f"the crash drill's child exited with {child.returncode}; see {log_path}")
    return lines


@dataclasses.dataclass(frozen=True)
class _Saved:
    """What the child reported before one save."""

    weights: str
    statistics: str
    proba: np.ndarray


def _expected(lines: list[list[str]], done: str, started: str) -> tuple[dict[str, _Saved], bool, int]:
    """What a restore may give ({weights digest: report}), whether the kill interrupted a save, and saves done."""
    reports = {
        int(line[1]): _Saved(line[2], line[3], np.array([float(v) for v in line[4].split(",")], np.float32))
        for line in lines if line[0] == "saving"
    }
    finished = [int(line[1]) for line in lines if line[0] == done]
    begun = [int(line[1]) for line in lines if line[0] == started]
    last = max(finished)
    interrupted = bool(begun) and max(begun) > last
    allowed = [reports[last]] + ([reports[max(begun)]] if interrupted else [])
    return {r.weights: r for r in allowed}, interrupted, len(finished)


def _check_restored(probe: Classifier, allowed: dict[str, _Saved]) -> tuple[bool, bool, bool]:
    """(weights are an allowed save's, its statistics restored and moved, its predictions restored)."""
    weights, statistics, proba = _report(probe)
    saved = allowed.get(weights)
    if saved is None:
        return False, False, False
    moved = statistics_moved(probe.get_weights())
    same_proba = np.allclose(proba.ravel(), saved.proba, rtol=0.0, atol=PREDICTION_ATOL)
    return True, statistics == saved.statistics and moved, bool(same_proba)


def crash_drill(
    runs: int = 5, workdir: str | None = None, seed: int = 0, max_delay: float = 0.25, model: str = "mlp",
) -> tuple[CrashFigures, CrashFigures]:
    """Kills ``runs`` saving child processes and restores what each left.

    Args:
      runs: child processes to start and kill, one after another.
      workdir: where the checkpoints go (a new temporary directory if None;
        it is then removed afterwards).
      seed: seeds the kill delays and the children's weights.
      max_delay: each kill comes uniformly within this many seconds after
        the child's first complete save.
      model: "mlp" (``DenseClassifier``, 784-256-10) or "cnn"
        (``ConvClassifier``'s default, with BatchNorm).

    Returns:
      Figures for the classifier's ``save`` and for ``save_runtime``.

    Raises:
      TypeError: runs is not an int.
      InputError: runs < 1 (no child, nothing to restore or count).
      RuntimeError: a child failed to start saving or died on its own.
    """
    runs = validation.positive_int(runs, "runs")
    owned = workdir is None
    workdir = tempfile.mkdtemp(prefix="tfshare-crash-") if owned else workdir
    directory = os.path.join(workdir, "checkpoints")
    bundle = os.path.join(workdir, "bundle", "runtime.npz")
    os.makedirs(os.path.join(workdir, "logs"), exist_ok=True)
    rng = random.Random(seed)
    keys = ("saves", "kills_mid_save", "restored", "losses", "statistics_restored", "predictions_restored")
    counts = {t: dict.fromkeys(keys, 0) for t in ("save", "bundle")}
    probe = _classifier(model, seed)
    try:
        for run in range(runs):
            log_path = os.path.join(workdir, "logs", f"child-{run}.log")
            lines = _run_child(directory, bundle, seed + run, model, rng.uniform(0.0, max_delay), log_path)
            for target, done, started, restore in (
                ("save", "saved", "saving", lambda: probe.restore(directory)),
                ("bundle", "bundled", "saved", lambda: restore_runtime([probe], bundle)),
            ):
                allowed, interrupted, saves = _expected(lines, done, started)
                c = counts[target]
                c["saves"] += saves
                c["kills_mid_save"] += interrupted
                try:
                    restore()
                    ok, statistics_ok, proba_ok = _check_restored(probe, allowed)
                except CheckpointError:
                    ok = statistics_ok = proba_ok = False
                c["restored" if ok else "losses"] += 1
                c["statistics_restored"] += statistics_ok
                c["predictions_restored"] += proba_ok
        leftovers = {
            t: sum(_is_temporary(name) for name in os.listdir(d))
            for t, d in (("save", directory), ("bundle", os.path.dirname(bundle)))
        }
        statistics = len(statistic_keys(probe.get_weights()))
        label = f"{type(probe).__name__}.save"
    finally:
        probe.close()
        if owned:
            shutil.rmtree(workdir, ignore_errors=True)
    return tuple(
        CrashFigures(model=model, target=name, runs=runs, leftover_files=leftovers[t], statistics=statistics,
                     **counts[t])
        for t, name in (("save", label), ("bundle", "save_runtime"))
    )


__all__ = ["PREDICTION_ATOL", "CrashFigures", "crash_drill", "weights_digest"]
