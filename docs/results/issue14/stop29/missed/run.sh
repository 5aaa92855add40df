#!/bin/bash
# The whole run: each script twice, alternating, under nice; uptime before each.
set -e
cd "$(dirname "$0")"
PY=${PY:-/work/main/.venv/bin/python}
export TF_CPP_MIN_LOG_LEVEL=3 PYTHONPATH=${PYTHONPATH:-$(git rev-parse --show-toplevel)}
for i in 1 2; do
  for s in cnn_ops cnn_variants mlp_ops; do
    echo "=== $s run $i $(date -u +%T) $(uptime)" | tee -a run.log
    nice $PY $s.py --out=${s}_$i.json 2>&1 | grep -v "WARNING\|I0000\|Instructions for\|migrate" > ${s}_$i.log
  done
done
echo "=== done $(date -u +%T) $(uptime)" | tee -a run.log
