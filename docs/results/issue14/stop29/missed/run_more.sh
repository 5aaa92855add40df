#!/bin/bash
# A third cnn_ops run (run 1's JSON predates the traced-call timing) and a fourth mlp_ops run.
set -e
cd "$(dirname "$0")"
PY=${PY:-/work/main/.venv/bin/python}
export TF_CPP_MIN_LOG_LEVEL=3 PYTHONPATH=${PYTHONPATH:-$(git rev-parse --show-toplevel)}
for s in cnn_ops_3 mlp_ops_4; do
  echo "=== $s $(date -u +%T) $(uptime)" | tee -a run.log
  nice $PY ${s%_*}.py --out=$s.json 2>&1 | grep -v "WARNING\|I0000\|Instructions for\|migrate" > $s.log
done
echo "=== done more $(date -u +%T) $(uptime)" | tee -a run.log
