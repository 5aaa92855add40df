#!/bin/bash
# Before (/work/main) and after (this branch), alternating, each the same command:
#   marginal_cost --model=mlp --modes=isolated,shared_graph --live_instances=1000 --batch_instances=64 --repeats=3
# Usage: run.sh ROUND  (writes marginal_cost_mlp_{main,branch}_ROUND.{json,log})
set -u
cd "$(dirname "$0")"
PY=/work/main/.venv/bin/python
r=$1
for side in main branch; do
  tree=/work/main; [ "$side" = branch ] && tree=/work/wt-init
  echo "== $side round $r $(date -u +%FT%TZ) $(cat /proc/loadavg)"
  (cd "$tree" && PYTHONPATH="$tree" TF_CPP_MIN_LOG_LEVEL=3 $PY -m tfshare.bench marginal_cost --model=mlp \
     --modes=isolated,shared_graph --live_instances=1000 --batch_instances=64 --repeats=3 \
     --output="$OLDPWD/marginal_cost_mlp_${side}_$r.json") > "marginal_cost_mlp_${side}_$r.log" 2>&1
  $PY ../../quiet_stop24/live_totals.py "marginal_cost_mlp_${side}_$r.json" | tee "marginal_cost_mlp_${side}_$r.totals.txt"
done
