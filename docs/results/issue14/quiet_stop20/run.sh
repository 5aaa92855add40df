#!/usr/bin/env bash
# This stop's measurements once the mutation jobs had stopped (the machine otherwise idle).
set -u
cd "$(dirname "$0")/../../../.."
OUT=docs/results/issue14/quiet_stop20
B=".venv/bin/tfshare-bench"
export TF_CPP_MIN_LOG_LEVEL=3
run() { local name=$1; shift; echo "== $name: $*"; uptime; /usr/bin/time -f "%e s" $B "$@" --output=$OUT/$name.json > $OUT/$name.log 2>&1; tail -1 $OUT/$name.log; }
uptime
.venv/bin/python docs/results/issue14/shards/shard_ops_sweep.py mlp 1000 640,240,160 $OUT/sweep_mlp.json 2>&1 | grep "^mlp" | tee $OUT/sweep_mlp.log
run variable_sharing_mlp variable_sharing --model=mlp --num_classifiers=32 --modes=fused,one_by_one,one_call --min_time=0.05
run efficiency_cnn efficiency --model=cnn --thread_counts=0 --batch_size=256
uptime
