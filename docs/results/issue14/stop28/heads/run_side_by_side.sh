#!/usr/bin/env bash
# Heads in the live pattern, two trees side by side (started together, same load):
#   main (git archive main) and s28-indep at 5fc7b95 (initialize() skips unchanged shards, default names
#   resume from the last suffix). Usage: run_side_by_side.sh MODEL N TAG
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
MODEL=$1 N=$2 TAG=$3
export TF_CPP_MIN_LOG_LEVEL=3
echo "# start $(date -u +%FT%TZ) $(uptime)" > "$HERE/side_$TAG.uptime"
for tree in main indep; do
  PYTHONPATH=/tmp/heads28/${tree}_src nice /work/main/.venv/bin/python -m tfshare.bench marginal_cost \
    --model=$MODEL --modes=isolated,shared_trunk --live_instances=$N --batch_instances=2 --repeats=1 \
    --output="$HERE/side_${TAG}_${tree}.json" > "$HERE/side_${TAG}_${tree}.out" 2> "$HERE/side_${TAG}_${tree}.log" &
done
wait
echo "# end $(date -u +%FT%TZ) $(uptime)" >> "$HERE/side_$TAG.uptime"
