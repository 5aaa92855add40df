"""The benchmark apps: flags -> a frozen config -> a benchmark body -> records -> JSON.

Each module is one app with its own flags (``_common`` holds the flags they
all take) and a ``main``; ``tfshare.bench.cli`` runs them as
``tfshare-bench <app>`` and ``python -m tfshare.bench <app>``, and the files
in the repository's ``benchmarks/`` folder are thin entry points into the
same ``main`` functions. Importing an app defines its absl flags, so the
entry points import only the app they run.
"""

#: app name -> what it measures (``tfshare-bench --help`` lists them in this order).
APPS = {
    "graph_construction": "build time, ops, variables, bytes and first predictions of N classifiers, per way of "
                          "instantiating them",
    "session_reuse": "per-call latency of every prediction path, and threads sharing one Session",
    "variable_sharing": "N classifiers with and without a shared trunk: bytes, fused prediction, interference",
    "marginal_cost": "the k-th classifier's build, init and first prediction, k = 1..N",
    "efficiency": "GFLOP/s per thread setting against a large MatMul, and fit against the raw train op",
    "distributed_sharing": "a trunk shared through a parameter server on loopback: latency, steps/s, ps bytes",
    "report": "REPORT.md and plots from a folder of result files",
}
#: Apps whose main parses its own arguments (argparse) and returns an exit status; the others are absl apps.
PLAIN_APPS = ("report",)

__all__ = ["APPS", "PLAIN_APPS"]
