#!/usr/bin/env python3
"""Prints what a CPU or GPU runner needs to know before running anything.

Python, TensorFlow and tf_keras versions, whether ``tf.keras`` is Keras 3,
the visible devices, TensorFlow's build (oneDNN, CUDA/cuDNN), the thread
settings and the BLAS libraries. Exits 1 when tf_keras is missing or does
not match TensorFlow, or the ``bench`` extra (psutil, threadpoolctl) is missing.

  python scripts/check_env.py          # a readable list
  python scripts/check_env.py --json   # the same as JSON
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    try:
        from tfshare.harness import machine
    except ImportError as exc:
        print(f"check_env.py: tfshare cannot be imported: {exc}", file=sys.stderr)
        return 1
    info = machine.environment_report()
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    width = max(len(k) for k in info)
    for key, value in info.items():
        if key == "blas":
            value = "; ".join(f"{b['internal_api']} {b['version']} ({b['num_threads']} threads)" for b in value) or "-"
        print(f"{key:<{width}}  {value}")
    if info["tf_keras_is_keras3"]:
        print("\nnote: tf.keras is Keras 3 here (no graph/Session support); tfshare uses tf_keras, as it must.")
    if not info["gpus"]:
        print("note: no visible GPU: run the benchmarks with --device=cpu (or auto).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
