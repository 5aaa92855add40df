#!/bin/bash
# Quiet re-measurement of issue 14's goals on stop 28's final code (50ac756).
cd /work/main
O=docs/results/issue14/stop29/quiet
B=".venv/bin/python -m tfshare.bench"
export TF_CPP_MIN_LOG_LEVEL=3
run() { name=$1; shift; echo "=== $name $(date -u +%T) load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a $O/load.log; $B "$@" --output=$O/$name.json > $O/$name.log 2>&1; echo "    done $(date -u +%T) rc=$? load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a $O/load.log; }
run marginal_mlp_independent marginal_cost --model=mlp --modes=isolated,shared_graph --live_instances=1000 --batch_instances=64
run fused_mlp variable_sharing --model=mlp --num_classifiers=32 --modes=fused,one_by_one,one_call --min_time=0.05
run fused_cnn variable_sharing --model=cnn --num_classifiers=32 --modes=fused,one_call --min_time=0.05
run marginal_mlp_heads marginal_cost --model=mlp --modes=isolated,shared_trunk --live_instances=1000 --batch_instances=64
run floor_cnn session_reuse --model=cnn --modes=predict_proba,callable_caller_thread,raw_graph --min_time=0.05 --threads=1,2,4
run floor_mlp session_reuse --model=mlp --batch_size=1,32 --modes=predict_proba,callable_caller_thread,raw_graph --min_time=0.05 --threads=1
run efficiency_cnn efficiency --model=cnn --thread_counts=0,2
run marginal_cnn marginal_cost --model=cnn --modes=isolated,shared_graph,shared_trunk
run build64_cnn marginal_cost --model=cnn --live_instances=2 --batch_instances=64 --modes=isolated,shared_graph,shared_trunk
echo ALLDONE $(date -u +%T) >> $O/load.log
