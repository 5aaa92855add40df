"""tfshare-bench report: REPORT.md and its PNG plots, from the benchmark JSON files in a folder.

Warns when the files come from different machines or versions. Each benchmark, model and
config gets a section; of several runs of one config, the newest is shown and the others named.

  tfshare-bench report                # results/ under the current folder
  tfshare-bench report results/cnn --output=cnn.md
"""

from __future__ import annotations

import argparse
import logging
import sys

from tfshare.bench import sections


def main(argv: list[str] | None = None) -> int:
    """Writes the report; returns the exit status (1 when the folder holds no result file)."""
    parser = argparse.ArgumentParser(
        prog="tfshare-bench report", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("results_dir", nargs="?", default="results", help="directory of result JSON files")
    parser.add_argument("--output", help="report path (default RESULTS_DIR/REPORT.md)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        path = sections.build_report(args.results_dir, args.output)
    except FileNotFoundError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 1
    print(f"Wrote {path}")
    return 0
