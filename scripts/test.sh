#!/usr/bin/env bash
# Runs the test suite in .venv (created and installed on first use).
# Extra arguments go to pytest, e.g. ./scripts/test.sh -k runtime -x
source "$(dirname "$0")/_env.sh" "test,plots"
python -m pytest "$@"
