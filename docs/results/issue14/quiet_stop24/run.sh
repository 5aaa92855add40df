#!/usr/bin/env bash
# Stop 24: issue 14's goals re-measured on a freshly booted machine, nothing else running
# (load average under 0.7 at the start). One app at a time; each writes its JSON and log here.
set -u
cd "$(dirname "$0")/../../../.."
OUT=docs/results/issue14/quiet_stop24
B=".venv/bin/tfshare-bench"
export TF_CPP_MIN_LOG_LEVEL=3
run() { local name=$1; shift; echo "== $name: $*"; uptime; /usr/bin/time -f "%e s" $B "$@" --output=$OUT/$name.json > $OUT/$name.log 2>&1; tail -1 $OUT/$name.log; }
uptime
run session_reuse_cnn session_reuse --model=cnn --modes=predict_proba,callable_caller_thread,raw_graph --min_time=0.05 --threads=1,2,4
run session_reuse_mlp session_reuse --model=mlp --batch_size=1,32 --modes=predict_proba,callable_caller_thread,raw_graph --min_time=0.05 --threads=1
run variable_sharing_cnn variable_sharing --model=cnn --num_classifiers=32 --modes=fused,one_call --min_time=0.05
run variable_sharing_mlp variable_sharing --model=mlp --num_classifiers=32 --modes=fused,one_by_one,one_call --min_time=0.05
run efficiency_cnn efficiency --model=cnn --thread_counts=0,2
run efficiency_mlp efficiency --model=mlp --thread_counts=0 --batch_size=32,256
run marginal_cost_cnn marginal_cost --model=cnn --live_instances=2 --batch_instances=64 --modes=isolated,shared_graph,shared_trunk
uptime
