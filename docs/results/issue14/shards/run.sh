#!/usr/bin/env bash
# The shard op budget sweep of this stop (README.md here says what it showed). It ran while
# mutation jobs and the test suite held both cores: the sweep interleaves its settings, so its
# ratios are side by side, but each one moves by +-0.1 from run to run at that load.
set -u
cd "$(dirname "$0")/../../../.."
OUT=docs/results/issue14/shards
export TF_CPP_MIN_LOG_LEVEL=3
uptime
.venv/bin/python $OUT/shard_ops_sweep.py mlp 1000 640,240,160 $OUT/sweep_mlp.json 2>&1 | grep "^mlp" | tee $OUT/sweep_mlp.log
# Peak RSS, one process per setting (not run in this folder; see README.md):
#   for s in isolated 640 240; do .venv/bin/python $OUT/rss_live.py 1000 $s; done
uptime
