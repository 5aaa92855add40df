"""The live answers table: "do TensorFlow graphs require separate instantiation for each class?"

``run()`` answers eight questions by running code in this process and reading
``audit()`` reports, TensorFlow's own counters and timings. Every number in
an answer comes from that run; only the wording around the numbers is fixed
(and chosen per outcome). ``to_markdown`` / ``to_json`` render the records;
``scripts/answers.py`` prints them. The questions live in
``tfshare.answers.sharing`` (1-4), ``tfshare.answers.cost`` (5-7) and
``tfshare.answers.distributed`` (8, which starts 1 ps + 2 worker servers on
127.0.0.1 for a few seconds and stops them before it returns); a row is a
``tfshare.answers.record.Answer``. Nothing here is imported by ``import
tfshare``.
"""

from __future__ import annotations

import json

from tfshare.answers import cost, distributed, sharing
from tfshare.answers.record import Answer
from tfshare.data import synthetic


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
