#!/usr/bin/env python3
"""The graph_construction app from a checkout: the same as `tfshare-bench graph_construction [flags]` (tfshare/bench/apps/graph_construction.py)."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

from tfshare.bench import cli  # noqa: E402

if __name__ == "__main__":
    cli.run_app("graph_construction", sys.argv)
