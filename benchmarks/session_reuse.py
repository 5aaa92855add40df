#!/usr/bin/env python3
"""The session_reuse app from a checkout: the same as `tfshare-bench session_reuse [flags]` (tfshare/bench/apps/session_reuse.py)."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

from tfshare.bench import cli  # noqa: E402

if __name__ == "__main__":
    cli.run_app("session_reuse", sys.argv)
