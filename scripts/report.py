#!/usr/bin/env python3
"""Writes RESULTS_DIR/REPORT.md and its PNG plots from the benchmark JSON files there.

  python scripts/report.py results/
"""

from __future__ import annotations

import argparse
import logging
import sys

from tfshare.bench import report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results_dir", nargs="?", default="results", help="directory of result JSON files")
    parser.add_argument("--output", help="report path (default RESULTS_DIR/REPORT.md)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        path = report.build_report(args.results_dir, args.output)
    except FileNotFoundError as exc:
        print(f"report.py: {exc}", file=sys.stderr)
        return 1
    print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
