#!/usr/bin/env python3
"""The distributed_sharing app from a checkout: the same as `tfshare-bench distributed_sharing [flags]` (tfshare/bench/apps/distributed_sharing.py)."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

from tfshare.bench import cli  # noqa: E402

if __name__ == "__main__":
    cli.run_app("distributed_sharing", sys.argv)
