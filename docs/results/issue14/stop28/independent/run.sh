#!/bin/bash
# main (a detached worktree of main, /work/wt-indep-base) and this branch (/work/wt-indep), alternating, the same command:
#   marginal_cost --model=mlp --modes=isolated,shared_graph --live_instances=1000 --batch_instances=64 --repeats=3
# Usage: run.sh ROUND [first side: main|branch]  (writes marginal_cost_mlp_{main,branch}_ROUND.{json,log,totals.txt})
set -u
cd "$(dirname "$0")"
PY=/work/main/.venv/bin/python
r=$1; sides="main branch"; [ "${2:-main}" = branch ] && sides="branch main"
for side in $sides; do
  tree=/work/wt-indep-base; [ "$side" = branch ] && tree=/work/wt-indep
  echo "== $side round $r $(date -u +%FT%TZ) load $(cat /proc/loadavg)"
  (cd "$tree" && PYTHONPATH="$tree" TF_CPP_MIN_LOG_LEVEL=3 $PY -m tfshare.bench marginal_cost --model=mlp \
     --modes=isolated,shared_graph --live_instances=1000 --batch_instances=64 --repeats=3 \
     --output="$OLDPWD/marginal_cost_mlp_${side}_$r.json") > "marginal_cost_mlp_${side}_$r.log" 2>&1
  echo "   done $(date -u +%FT%TZ) load $(cat /proc/loadavg)"
  $PY ../../quiet_stop24/live_totals.py "marginal_cost_mlp_${side}_$r.json" | tee "marginal_cost_mlp_${side}_$r.totals.txt"
done
