#!/usr/bin/env bash
# interleaved_live.py for main and s28-indep (5fc7b95) started together (same load). Usage: run_interleaved.sh MODEL N TAG
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
export TF_CPP_MIN_LOG_LEVEL=3
echo "# $3 start $(date -u +%FT%TZ) $(uptime)" >> "$HERE/interleaved.uptime"
for tree in main indep; do
  PYTHONPATH=/tmp/heads28/${tree}_src nice /work/main/.venv/bin/python "$HERE/interleaved_live.py" $1 $2 \
    "$HERE/interleaved_$3_$tree.json" > "$HERE/interleaved_$3_$tree.out" 2> /dev/null &
done
wait
echo "# $3 end $(date -u +%FT%TZ) $(uptime)" >> "$HERE/interleaved.uptime"
