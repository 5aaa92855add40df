#!/usr/bin/env bash
# Runs the test suite in .venv (created and installed on first use), on the newest TensorFlow pip gives.
#   ./scripts/test.sh -k runtime -x    extra arguments go to pytest
#   ./scripts/test.sh --oldest ...     the same in .venv-oldest, on the oldest supported TensorFlow
#                                      (scripts/oldest.txt: TF 2.16.2, tf_keras 2.16.0, NumPy < 2)
if [ "${1:-}" = "--oldest" ]; then
  shift
  here="$(cd "$(dirname "$0")" && pwd)"
  export TFSHARE_VENV="${TFSHARE_VENV:-$here/../.venv-oldest}" TFSHARE_CONSTRAINTS="$here/oldest.txt"
fi
source "$(dirname "$0")/_env.sh" "test"
quiet python -m pytest "$@"
