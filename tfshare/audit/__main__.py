"""Runs a script under ``tfshare.audit``, as ``python -m cProfile`` runs one under the profiler.

Usage::

    python -m tfshare.audit [--json=PATH] [--fail-on=KIND[,KIND...]] script.py [args...]
    python -m tfshare.audit [options] -m package.module [args...]

The script runs as ``__main__`` with its own arguments (``sys.argv[0]`` is
the script), its directory first on ``sys.path``, and its output untouched.
When it ends (normally, by ``sys.exit`` or by an exception, whose traceback
is printed as Python prints it), the report and its findings go to stderr,
and ``--json`` writes them to PATH (schema in ``docs/tf1_code.md``).

The exit code is the script's own; if that is 0 and a finding named by
``--fail-on`` occurred, it is 3. ``--fail-on`` takes finding kinds (e.g.
``graph_growth,session_per_call``) or a severity (``error``, ``warning``,
``info``: any finding at least that severe). Bad options exit with 2.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import sys
import traceback
from typing import Any, Sequence

from tfshare._tf import KERAS_VERSION, TF_VERSION
from tfshare.audit import audit
from tfshare.audit.findings import KINDS, SEVERITIES, Finding

SCHEMA = "tfshare.audit/1"
FAILED_ON_FINDINGS = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tfshare.audit",
        description="Run a Python script under tfshare.audit and report what its TensorFlow code created, "
                    "with findings (where, and how to fix them).",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the report and findings as JSON to PATH")
    parser.add_argument("--fail-on", metavar="KIND[,KIND]", default="",
                        help=f"exit with {FAILED_ON_FINDINGS} (if the script exited 0) when a finding of these kinds "
                             f"occurs; kinds: {', '.join(KINDS)}; or a severity: {', '.join(SEVERITIES)}")
    parser.add_argument("-m", dest="module", action="store_true", help="run a module (like python -m) instead of a file")
    parser.add_argument("target", help="the script (or, with -m, the module) to run")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the script's own arguments")
    return parser


def parse_fail_on(text: str) -> tuple[set[str], str | None]:
    """What ``--fail-on`` selects: (finding kinds, the least severe severity named, or None).

    Raises:
      ValueError: a name that is neither a kind nor a severity.
    """
    kinds: set[str] = set()
    severity = None
    for name in (n.strip() for n in text.split(",") if n.strip()):
        if name in KINDS:
            kinds.add(name)
        elif name in SEVERITIES:
            if severity is None or SEVERITIES.index(name) > SEVERITIES.index(severity):
                severity = name
        else:
            raise ValueError(f"--fail-on: expected finding kinds ({', '.join(KINDS)}) or a severity "
                             f"({', '.join(SEVERITIES)}), got {name!r}")
    return kinds, severity


def selected(found: list[Finding], kinds: set[str], severity: str | None) -> list[Finding]:
    """The findings ``--fail-on`` names: of one of ``kinds``, or at least as severe as ``severity``."""
    limit = -1 if severity is None else SEVERITIES.index(severity)
    return [f for f in found if f.kind in kinds or SEVERITIES.index(f.severity) <= limit]


def _run(target: str, args: list[str], module: bool) -> int:
    """Runs the target as ``__main__``; returns its exit code (printing its traceback if it raised)."""
    sys.argv = [target, *args]
    try:
        if module:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            sys.path.insert(0, os.path.dirname(os.path.abspath(target)))
            runpy.run_path(target, run_name="__main__")
    except SystemExit as exc:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code
        sys.stderr.write(f"{exc.code}\n")
        return 1
    except KeyboardInterrupt as exc:
        _print_error(exc)
        return 130
    except BaseException as exc:  # noqa: BLE001 - the script's own error: print it as Python would, then report
        _print_error(exc)
        return 1
    return 0


def _print_error(exc: BaseException) -> None:
    """Prints the traceback from the script's first frame on (without this module's and runpy's)."""
    tb = exc.__traceback__
    while tb is not None and (tb.tb_frame.f_code.co_filename == __file__ or "runpy" in tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb)


def document(report: Any, command: Sequence[str], exit_code: int) -> dict[str, Any]:
    """The JSON document ``--json`` writes (see ``docs/tf1_code.md``)."""
    numbers = report.as_dict()
    found = numbers.pop("findings")
    return {
        "schema": SCHEMA,
        "command": list(command),
        "exit_code": exit_code,
        "tensorflow": TF_VERSION,
        "tf_keras": KERAS_VERSION,
        "report": numbers,
        "findings": found,
    }


def _json_path(path: str, parser: argparse.ArgumentParser) -> str:
    """Returns ``--json``'s PATH made absolute, checked writable before the script runs.

    The script may change the working directory, so a relative PATH is
    resolved now, against the folder the audit started in. An unwritable
    PATH (a directory, a missing or read-only parent folder) exits with 2
    before the script runs, instead of failing after it with a traceback.
    """
    absolute = os.path.abspath(path)
    parent = os.path.dirname(absolute)
    if os.path.isdir(absolute):
        problem = "it is a directory"
    elif not os.path.isdir(parent):
        problem = f"its folder {parent!r} does not exist"
    elif os.path.exists(absolute) and not os.access(absolute, os.W_OK):
        problem = "it is not writable"
    elif not os.path.exists(absolute) and not os.access(parent, os.W_OK):
        problem = f"its folder {parent!r} is not writable"
    else:
        return absolute
    parser.error(f"--json: expected a writable file path, got {path!r} ({problem})")
    raise AssertionError("unreachable")  # parser.error exits


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit code."""
    parser = _parser()
    options = parser.parse_args(argv)
    try:
        kinds, severity = parse_fail_on(options.fail_on)
    except ValueError as exc:
        parser.error(str(exc))
    if not options.module and not os.path.isfile(options.target):
        parser.error(f"script: expected a Python file, got {options.target!r} (no such file)")
    json_path = _json_path(options.json, parser) if options.json else None
    command = [options.target, *options.args]
    with audit(hold_graphs=True) as report:
        code = _run(options.target, list(options.args), options.module)
    sys.stdout.flush()
    found = report.findings
    sys.stderr.write(f"\n{report}\n")
    if json_path is not None:
        with open(json_path, "w", encoding="utf-8") as out:
            json.dump(document(report, command, code), out, indent=1)
            out.write("\n")
    failed = selected(found, kinds, severity)
    if failed:
        sys.stderr.write(f"tfshare.audit: --fail-on matched {len(failed)} finding(s): "
                         f"{', '.join(sorted({f.kind for f in failed}))}\n")
    sys.stderr.flush()
    return code if code != 0 else (FAILED_ON_FINDINGS if failed else 0)


if __name__ == "__main__":
    sys.exit(main())
