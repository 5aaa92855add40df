#!/usr/bin/env python3
"""The marginal_cost app from a checkout: the same as `tfshare-bench marginal_cost [flags]` (tfshare/bench/apps/marginal_cost.py)."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

from tfshare.bench import cli  # noqa: E402

if __name__ == "__main__":
    cli.run_app("marginal_cost", sys.argv)
