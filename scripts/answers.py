#!/usr/bin/env python3
"""Prints the live answers table: python scripts/answers.py [--json] [--quick] [--nocluster].

Every number is measured in this run (see tfshare/answers/); the Markdown
table goes to stdout, or the records as JSON with --json. Question 8 starts
1 ps + 2 worker servers on 127.0.0.1 for a few seconds (--nocluster skips it).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import logging as std_logging  # noqa: E402

from absl import app, flags, logging  # noqa: E402

from tfshare import answers  # noqa: E402

_JSON = flags.DEFINE_bool("json", False, "Print the records as JSON instead of a Markdown table.")
_QUICK = flags.DEFINE_bool("quick", False, "Fewer instances for question 5 and shorter timing loops.")
_CLUSTER = flags.DEFINE_bool(
    "cluster", True, "Start 1 ps + 2 worker servers on 127.0.0.1 for question 8 (--nocluster: q8 not measured)."
)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    # Question 5 retraces on purpose (one trace per instance); TF's retracing warning is noise here.
    std_logging.getLogger("tensorflow").setLevel(std_logging.ERROR)
    records = answers.run(quick=_QUICK.value, cluster=_CLUSTER.value)
    print(answers.to_json(records) if _JSON.value else answers.to_markdown(records))
    logging.info("answered %d questions", len(records))


if __name__ == "__main__":
    app.run(main)
