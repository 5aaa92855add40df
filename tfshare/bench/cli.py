"""``tfshare-bench <app> [flags]``: the one entry point of the benchmark apps.

The console script ``tfshare-bench``, ``python -m tfshare.bench`` and the
files in the repository's ``benchmarks/`` folder all end in ``run_app``:

* it asks for the ``bench`` extra by name when psutil, threadpoolctl or
  matplotlib is missing;
* it sets ``TF_CPP_MIN_LOG_LEVEL=2`` unless the user set it, for the
  processes the apps start (``benchmarks/*.py`` set it before TensorFlow
  loads; ``import tfshare`` loads it here first);
* it imports only the chosen app (its flags), shows the app's docstring
  and flags under ``--help``, and runs its ``main`` through ``absl.app``.

Unknown apps and bad flags exit with status 1 (absl's usage errors) or 2
(no such app), with a message.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from typing import Sequence

from absl import app, flags

from tfshare.bench.apps import APPS, PLAIN_APPS

PROG = "tfshare-bench"
#: The modules the apps need beyond tfshare's own dependencies: the ``bench`` extra.
BENCH_EXTRA = ("psutil", "threadpoolctl", "matplotlib")


def usage() -> str:
    """The list of apps, for ``tfshare-bench --help``."""
    width = max(len(name) for name in APPS)
    lines = [
        f"usage: {PROG} <app> [flags]    (or: python -m tfshare.bench <app> [flags])",
        "",
        "Measures what sharing TF1-compat graphs, Sessions and variables costs. Apps:",
        "",
        *(f"  {name:<{width}}  {what}" for name, what in APPS.items()),
        "",
        f"{PROG} <app> --help lists an app's flags. Results go to results/ under the current folder.",
    ]
    return "\n".join(lines)


def missing_extra() -> list[str]:
    """The modules of the ``bench`` extra that cannot be imported here."""
    return [name for name in BENCH_EXTRA if importlib.util.find_spec(name) is None]


def run_app(name: str, argv: Sequence[str]) -> None:
    """Runs app ``name`` with ``argv`` (argv[0] is the program name shown in usage lines).

    Raises:
      SystemExit: always, with the app's exit status (absl's app.run exits).
    """
    if name not in APPS:
        print(f"{PROG}: unknown app {name!r}; choose among: {', '.join(APPS)}", file=sys.stderr)
        sys.exit(2)
    missing = missing_extra()
    if missing:
        print(f"{PROG} {name} needs the 'bench' extra (missing: {', '.join(missing)}): "
              "pip install 'tfshare[bench]'", file=sys.stderr)
        sys.exit(1)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    module = importlib.import_module(f"tfshare.bench.apps.{name}")
    argv = list(argv)
    sys.argv = argv  # absl's usage names sys.argv[0]
    if name in PLAIN_APPS:
        sys.exit(module.main(argv[1:]))
    # --help prints the main module's docstring and key flags: make them the app's.
    main_module = sys.modules.get("__main__")
    if main_module is not None:
        main_module.__doc__ = module.__doc__
    for flag in flags.FLAGS.get_key_flags_for_module(module.__name__):
        flags.FLAGS.register_key_flag_for_module(argv[0], flag)
    app.run(module.main, argv=argv)


def main(argv: Sequence[str] | None = None) -> None:
    """``tfshare-bench``: lists the apps, or runs one.

    Args:
      argv: the command line, program name first (default ``sys.argv``).
    """
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
        print(usage())
        sys.exit(0 if len(argv) >= 2 else 2)
    run_app(argv[1], [f"{PROG} {argv[1]}", *argv[2:]])


__all__ = ["BENCH_EXTRA", "PROG", "main", "missing_extra", "run_app", "usage"]
