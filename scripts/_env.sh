# Sourced by demo.sh and test.sh: makes a virtualenv (if missing) and installs tfshare into it.
# Usage: source scripts/_env.sh EXTRAS   (e.g. "test")
#   TFSHARE_VENV        the virtualenv (default .venv)
#   TFSHARE_CONSTRAINTS a pip constraints file (e.g. scripts/oldest.txt: the oldest supported TensorFlow)
#   PYTHON              the Python that creates it (default python3)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${TFSHARE_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
CONSTRAINTS="${TFSHARE_CONSTRAINTS:-}"
extras="${1:-}"

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "tfshare needs Python 3.10 or newer; '$PYTHON' is $("$PYTHON" --version 2>&1 || echo missing)." >&2
  echo "Set PYTHON=/path/to/python3.x and run again." >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "Creating $VENV ..."
  "$PYTHON" -m venv "$VENV"
fi
# Reinstall only when the project's dependencies, the constraints or the requested extras change.
stamp="$VENV/.tfshare-install-${extras:-base}"
want="$(cat "$ROOT/pyproject.toml" ${CONSTRAINTS:+"$CONSTRAINTS"} | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "Installing tfshare${extras:+[$extras]}${CONSTRAINTS:+ (constraints: $CONSTRAINTS)} into $VENV ..."
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet ${CONSTRAINTS:+-c "$CONSTRAINTS"} -e "$ROOT${extras:+[$extras]}"
  echo "$want" > "$stamp"
fi
export PATH="$VENV/bin:$PATH"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
cd "$ROOT"

# TensorFlow's start-up notices, which TF_CPP_MIN_LOG_LEVEL does not silence on every version
# (TF 2.21 writes them before its logging reads the variable): oneDNN, CUDA probing, CPU features.
TF_STARTUP_NOISE='^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR|[IWE][0-9]{4} [0-9:. ]+[0-9]+ (port|cudart_stub|cuda_platform|cuda_executor|cuda_fft|cuda_dnn|cuda_blas|cpu_feature_guard|computation_placer|xplane_to_step_stats)\.cc:[0-9]+\]|[0-9-]+ [0-9:.]+: [IWE] (external/local_xla/xla/stream_executor/cuda|tensorflow/compiler/tf2tensorrt|tensorflow/core/platform/cpu_feature_guard)|To enable the following instructions: )'

# quiet CMD...: runs CMD with TensorFlow's start-up notices filtered out of its stderr; returns CMD's
# status (pipefail, set above: the filter itself always succeeds).
quiet() {
  { "$@" 2>&1 1>&3 3>&- | { grep --line-buffered -v -E "$TF_STARTUP_NOISE" || true; } >&2; } 3>&1
}
