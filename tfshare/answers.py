"""The live answers table: "do TensorFlow graphs require separate instantiation for each class?"

``run()`` answers eight questions by running code in this process and reading
``audit()`` reports, TensorFlow's own counters and timings. Every number in
an answer comes from that run; only the wording around the numbers is fixed
(and chosen per outcome). ``to_markdown`` / ``to_json`` render the records;
``scripts/answers.py`` prints them. The questions live in
``tfshare._sharing_questions`` (1-4), ``tfshare._cost_questions`` (5-7) and
``tfshare._cluster_question`` (8, which starts 1 ps + 2 worker servers on
127.0.0.1 for a few seconds and stops them before it returns).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable

import numpy as np

from tfshare.bench import timing
from tfshare.data import synthetic

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


# ------------------------------------------------------------------ helpers
def _time_call(fn: Callable[[], Any], repeats: int, min_seconds: float, warmup: int = 3) -> dict[str, float]:
    """Per-call seconds of ``fn`` with the benchmark harness (warm-up, calibrated loops, repeats).

    Returns:
      {"median", "min", "max"} seconds per call, and "loops" per timed value.
    """
    stats = timing.measure(fn, repeats=repeats, warmup=warmup, min_time=min_seconds)
    return {"median": stats.median, "min": stats.min, "max": stats.max, "loops": stats.loops}


def _us(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} µs"


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def _mib(nbytes: int) -> str:
    return f"{nbytes / (1 << 20):.2f} MiB"


def _inputs(rows: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 1.0, size=(rows, INPUT_DIM)).astype(np.float32)


# ---------------------------------------------------------------- the table
def run(quick: bool = False, cluster: bool = True) -> list[Answer]:
    """Answers the eight questions by measuring them now.

    Args:
      quick: fewer instances for question 5 and shorter timing loops for
        questions 6 and 8 (question 7 keeps N = 16); for tests.
      cluster: start a local cluster (1 ps + 2 worker servers on 127.0.0.1,
        stopped before ``run`` returns) for question 8; False records q8
        as not measured.

    Returns:
      Eight ``Answer`` records, q1 ... q8. A record whose question could not
      be measured (e.g. q8 when the cluster cannot start) has
      ``measured=False`` and says why.

    Raises:
      TypeError: quick or cluster is not a bool.
    """
    for arg, value in (("quick", quick), ("cluster", cluster)):
        if not isinstance(value, bool):
            raise TypeError(f"{arg} must be a bool, got {type(value).__name__}")
    # Imported here: the question modules import Answer and the helpers above.
    from tfshare import _cluster_question as distributed
    from tfshare import _cost_questions as cost
    from tfshare import _sharing_questions as sharing

    data = synthetic(num_train=512 if quick else 2000, num_test=256)
    return [
        sharing.q1(quick),
        sharing.q2(quick, data),
        sharing.q3(quick, data),
        sharing.q4(quick),
        cost.q5(quick),
        cost.q6(quick),
        cost.q7(quick),
        distributed.q8(quick, data) if cluster else distributed.skipped(),
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(answers: list[Answer]) -> str:
    """Renders the records as a Markdown table: # | question | answer | evidence."""
    lines = ["| # | question | answer | evidence |", "| --- | --- | --- | --- |"]
    for a in answers:
        lines.append(f"| {a.id[1:]} | {_cell(a.question)} | {_cell(a.answer)} | {_cell(a.summary)} |")
    return "\n".join(lines)


def to_json(answers: list[Answer]) -> str:
    """Renders the records as a JSON list of objects."""
    return json.dumps([a.as_dict() for a in answers], indent=2, sort_keys=True)


__all__ = ["Answer", "run", "to_json", "to_markdown"]
