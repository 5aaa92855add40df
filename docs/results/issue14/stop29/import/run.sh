#!/bin/bash
# Template copies through the C API (branch) vs import_graph_def (main): the live pattern of 1,000 MLPs,
# isolated and one runtime advanced together in one process (stop 28's shard_curve.py), main and branch alternating.
O=/work/wt-import/docs/results/issue14/stop29/import
S=/work/main/docs/results/issue14/stop28/independent/scratch/shard_curve.py
export TF_CPP_MIN_LOG_LEVEL=3
for r in $(seq 1 ${1:-2}); do
  for side in main branch; do
    tree=/work/main; [ $side = branch ] && tree=/work/wt-import
    echo "round $r $side $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $O/load.log
    PYTHONPATH=$tree /work/main/.venv/bin/python $S ${2:-1000} 8 $O/curve_${side}_$r.json > $O/curve_${side}_$r.log 2>&1
  done
done
echo "DONE $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $O/load.log
