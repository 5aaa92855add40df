#!/bin/bash
# After run.sh: mlp_ops again (its first run failed before the fix), and a longer A/B of the
# global-average-pool formulations against the default and the same model rebuilt (the noise floor).
set -e
cd "$(dirname "$0")"
PY=${PY:-/work/main/.venv/bin/python}
export TF_CPP_MIN_LOG_LEVEL=3 PYTHONPATH=${PYTHONPATH:-$(git rev-parse --show-toplevel)}
echo "=== mlp_ops run 3 $(date -u +%T) $(uptime)" | tee -a run.log
nice $PY mlp_ops.py --out=mlp_ops_3.json 2>&1 | grep -v "WARNING\|I0000\|Instructions for\|migrate" > mlp_ops_3.log
echo "=== cnn_variants gap A/B $(date -u +%T) $(uptime)" | tee -a run.log
nice $PY cnn_variants.py --variants=rebuilt_nhwc,gap_avgpool,gap_head_matmul --rounds=6 --repeats=15 --trace_runs=20 \
  --out=cnn_variants_gap.json 2>&1 | grep -v "WARNING\|I0000\|Instructions for\|migrate" > cnn_variants_gap.log
echo "=== done extra $(date -u +%T) $(uptime)" | tee -a run.log
