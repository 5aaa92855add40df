"""One row of the answers table, and the helpers every question module shares.

``Answer`` is a row: the question, the answer with the run's numbers in it,
and the evidence. The constants fix the MLP all questions use (784-64-10),
and the helpers time a call with the harness and format the numbers the
answers quote. The questions live in ``tfshare.answers.sharing`` (1-4),
``tfshare.answers.cost`` (5-7) and ``tfshare.answers.distributed`` (8).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

from tfshare.harness import timing

INPUT_DIM = 784
HIDDEN = 64
NUM_CLASSES = 10
N_INSTANCES = 16  # question 7


@dataclasses.dataclass(frozen=True)
class Answer:
    """One row of the table.

    Attributes:
      id: "q1" ... "q8".
      question: the question, one sentence.
      answer: the answer, with the run's numbers in it.
      evidence: the measured numbers (JSON-ready).
      summary: the evidence as one short line, for the table.
      measured: False when the row could not be measured in this run.
    """

    id: str
    question: str
    answer: str
    evidence: dict[str, Any]
    summary: str
    measured: bool = True

    def as_dict(self) -> dict[str, Any]:
        """The record as a JSON-ready dict."""
        return dataclasses.asdict(self)


def time_call(fn: Callable[[], Any], repeats: int, min_seconds: float, warmup: int = 3) -> dict[str, float]:
    """Per-call seconds of ``fn`` with the benchmark harness (warm-up, calibrated loops, repeats).

    Returns:
      {"median", "min", "max"} seconds per call, and "loops" per timed value.
    """
    stats = timing.measure(fn, repeats=repeats, warmup=warmup, min_time=min_seconds)
    return {"median": stats.median, "min": stats.min, "max": stats.max, "loops": stats.loops}


def duration(seconds: float) -> str:
    """A duration as an answer quotes it: "7.0 ms", "236 µs"."""
    return f"{seconds * 1e3:.1f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} µs"


def times(n: int) -> str:
    """ "once", "2 times", ..."""
    return "once" if n == 1 else f"{n} times"


def mib(nbytes: int) -> str:
    """Bytes in MiB with two decimals: "0.23 MiB"."""
    return f"{nbytes / (1 << 20):.2f} MiB"


def random_rows(rows: int, seed: int) -> np.ndarray:
    """float32 [rows, INPUT_DIM], uniform in [0, 1), from ``seed``."""
    return np.random.default_rng(seed).uniform(0.0, 1.0, size=(rows, INPUT_DIM)).astype(np.float32)


__all__ = [
    "HIDDEN", "INPUT_DIM", "NUM_CLASSES", "N_INSTANCES", "Answer", "duration", "mib", "random_rows", "time_call", "times",
]
