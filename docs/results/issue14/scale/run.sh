#!/usr/bin/env bash
# Issue 14, goal 8 beyond 1,000 independent MLPs: 1,000 heads on one trunk, and 200 CNNs.
# The live pattern (build one, initialize, predict once) per mode, side by side in one process
# (marginal_cost), then peak RSS with one process per setting (rss_scale.py). Run on a quiet machine.
set -eu
cd "$(dirname "$0")/../../../.."
OUT=docs/results/issue14/scale
export TF_CPP_MIN_LOG_LEVEL=3
uptime | tee $OUT/run.log
.venv/bin/tfshare-bench marginal_cost --modes=isolated,shared_graph,shared_trunk --live_instances=1000 \
  --batch_instances=64 --output=$OUT/marginal_cost_mlp_1000.json 2>&1 | grep "^|" | tee -a $OUT/run.log
.venv/bin/tfshare-bench marginal_cost --model=cnn --modes=isolated,shared_graph,shared_trunk --live_instances=200 \
  --batch_instances=32 --output=$OUT/marginal_cost_cnn_200.json 2>&1 | grep "^|" | tee -a $OUT/run.log
for setting in isolated shared trunk; do
  .venv/bin/python $OUT/rss_scale.py mlp 1000 $setting 2>&1 | grep "^mlp" | tee -a $OUT/run.log
  .venv/bin/python $OUT/rss_scale.py cnn 200 $setting 2>&1 | grep "^cnn" | tee -a $OUT/run.log
done
uptime | tee -a $OUT/run.log
