#!/bin/bash
cd /work/main
O=docs/results/issue14/stop29/quiet
while ! grep -q ALLDONE $O/load.log 2>/dev/null; do sleep 5; done
export TF_CPP_MIN_LOG_LEVEL=3
echo "=== shard_curve 1000 2,4,8,16 $(date -u +%T) load: $(cut -d' ' -f1-3 /proc/loadavg)" >> $O/load.log
PYTHONPATH=/work/main .venv/bin/python docs/results/issue14/stop28/independent/scratch/shard_curve.py 1000 2,4,8,16 $O/shard_curve_1000.json > $O/shard_curve_1000.log 2>&1
echo "    done $(date -u +%T) load: $(cut -d' ' -f1-3 /proc/loadavg)" >> $O/load.log
echo "=== marginal_mlp_independent_rev $(date -u +%T) load: $(cut -d' ' -f1-3 /proc/loadavg)" >> $O/load.log
.venv/bin/python -m tfshare.bench marginal_cost --model=mlp --modes=shared_graph,isolated --live_instances=1000 --batch_instances=64 --output=$O/marginal_mlp_independent_rev.json > $O/marginal_mlp_independent_rev.log 2>&1
echo "    done $(date -u +%T) load: $(cut -d' ' -f1-3 /proc/loadavg)" >> $O/load.log
echo QUIET_OVER $(date -u +%T) >> $O/load.log
