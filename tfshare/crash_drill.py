"""Crash drill: kill a process while it saves, then restore what it left behind.

A child process trains a classifier one step at a time and, after every step,
saves it twice: with ``DenseClassifier.save`` (a TensorFlow checkpoint
directory) and with ``tfshare.save_runtime`` (one file). Before and after each
save it reports the step and a digest of the weights on stdout. The parent
kills it with SIGKILL at a random moment, restores both checkpoints into a
fresh classifier and compares digests. The restored weights must be those of
the last save the child finished, or those of the save the kill interrupted
(when the kill came after the save was committed but before the child could
report it). A failing restore, or any other weights, is a loss.

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

from tfshare.bundles import restore_runtime, save_runtime
from tfshare.classifiers import DenseClassifier
from tfshare.errors import CheckpointError

#: The child's classifier: big enough that a save takes a few milliseconds.
_CONFIG = {"input_dim": 784, "num_classes": 10, "hidden_units": (256,)}
_NAME = "crash"
_TIMEOUT_S = 120.0


@dataclasses.dataclass(frozen=True)
class CrashFigures:
    """What the crash drill found for one way of saving.

    Attributes:
      target: "DenseClassifier.save" or "save_runtime".
      runs: child processes killed.
      saves: saves the children completed, over all runs.
      kills_mid_save: kills that interrupted a save of this target.
      restored: runs after which the checkpoint restored to the last
        completed save (or to the interrupted one, committed before the kill).
      losses: runs after which restoring failed or gave other weights.
      leftover_files: temporary files left beside the checkpoints after all runs.
    """

    target: str
    runs: int
    saves: int
    kills_mid_save: int
    restored: int
    losses: int
    leftover_files: int

    @property
    def passed(self) -> bool:
        """Every run restored the weights of its last completed (or committed) save."""
        return self.losses == 0 and self.restored == self.runs


def weights_digest(classifier: Any) -> str:
    """Returns a short hash of a classifier's weights (keys and exact bytes)."""
    named = classifier.named_variables
    keys = sorted(named)
    values = classifier.runtime.run([named[k] for k in keys])
    digest = hashlib.sha256()
    for key, value in zip(keys, values):
        digest.update(key.encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()[:16]


def _child(directory: str, bundle: str, seed: int) -> None:  # pragma: no cover - runs in the child
    """Trains and saves forever, reporting each step; the parent kills it."""
    clf = DenseClassifier(**_CONFIG, name=_NAME, seed=seed)
    rng = np.random.default_rng(seed)
    x = rng.random((64, _CONFIG["input_dim"]), dtype=np.float32)
    y = rng.integers(0, _CONFIG["num_classes"], 64)
    step = 0
    while True:
        step += 1
        clf.fit(x, y, epochs=1, batch_size=64, shuffle=False)
        print(f"saving {step} {weights_digest(clf)}", flush=True)
        clf.save(directory)
        print(f"saved {step}", flush=True)
        save_runtime([clf], bundle)
        print(f"bundled {step}", flush=True)


def _is_temporary(name: str) -> bool:
    # Deliberately broader than the patterns the savers clean up.
    return ".tmp" in name or ".tempstate" in name


def _run_child(directory: str, bundle: str, seed: int, delay: float, log_path: str) -> list[list[str]]:
    """Starts a child, kills it ``delay`` seconds after its first full save; returns its lines."""
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    code = f"from tfshare import crash_drill; crash_drill._child({directory!r}, {bundle!r}, {seed})"
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


def _expected(lines: list[list[str]], done: str, started: str) -> tuple[set[str], bool, int]:
    """Digests a restore may give, whether the kill interrupted a save, and saves done."""
    digests = {int(line[1]): line[2] for line in lines if line[0] == "saving"}
    finished = [int(line[1]) for line in lines if line[0] == done]
    begun = [int(line[1]) for line in lines if line[0] == started]
    last = max(finished)
    interrupted = bool(begun) and max(begun) > last
    allowed = {digests[last]} | ({digests[max(begun)]} if interrupted else set())
    return allowed, interrupted, len(finished)


def crash_drill(
    runs: int = 5, workdir: str | None = None, seed: int = 0, max_delay: float = 0.25
) -> tuple[CrashFigures, CrashFigures]:
    """Kills ``runs`` saving child processes and restores what each left.

    Args:
      runs: child processes to start and kill, one after another.
      workdir: where the checkpoints go (a new temporary directory if None;
        it is then removed afterwards).
      seed: seeds the kill delays and the children's weights.
      max_delay: each kill comes uniformly within this many seconds after
        the child's first complete save.

    Returns:
      Figures for ``DenseClassifier.save`` and for ``save_runtime``.

    Raises:
      RuntimeError: a child failed to start saving or died on its own.
    """
    owned = workdir is None
    workdir = tempfile.mkdtemp(prefix="tfshare-crash-") if owned else workdir
    directory = os.path.join(workdir, "checkpoints")
    bundle = os.path.join(workdir, "bundle", "runtime.npz")
    os.makedirs(os.path.join(workdir, "logs"), exist_ok=True)
    rng = random.Random(seed)
    counts = {t: {"saves": 0, "kills_mid_save": 0, "restored": 0, "losses": 0} for t in ("save", "bundle")}
    probe = DenseClassifier(**_CONFIG, name=_NAME, seed=seed)
    try:
        for run in range(runs):
            log_path = os.path.join(workdir, "logs", f"child-{run}.log")
            lines = _run_child(directory, bundle, seed + run, rng.uniform(0.0, max_delay), log_path)
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
                    ok = weights_digest(probe) in allowed
                except CheckpointError:
                    ok = False
                c["restored" if ok else "losses"] += 1
        leftovers = {
            t: sum(_is_temporary(name) for name in os.listdir(d))
            for t, d in (("save", directory), ("bundle", os.path.dirname(bundle)))
        }
    finally:
        probe.close()
        if owned:
            shutil.rmtree(workdir, ignore_errors=True)
    return tuple(
        CrashFigures(target=label, runs=runs, leftover_files=leftovers[t], **counts[t])
        for t, label in (("save", "DenseClassifier.save"), ("bundle", "save_runtime"))
    )


__all__ = ["CrashFigures", "crash_drill", "weights_digest"]
