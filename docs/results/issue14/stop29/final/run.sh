#!/bin/bash
# Stop 29's final code, re-measured after the merges (the machine as quiet as it gets: no helper running).
cd ${TREE:-/work/main}
O=docs/results/issue14/stop29/final
mkdir -p $O
B="/work/main/.venv/bin/python -m tfshare.bench"
export TF_CPP_MIN_LOG_LEVEL=3
run() { name=$1; shift; echo "=== $name $(date -u +%T) load: $(cut -d' ' -f1-3 /proc/loadavg)" >> $O/load.log; $B "$@" --output=$O/$name.json > $O/$name.log 2>&1; echo "    done $(date -u +%T) rc=$? load: $(cut -d' ' -f1-3 /proc/loadavg)" >> $O/load.log; }
run marginal_mlp_independent marginal_cost --model=mlp --modes=isolated,shared_graph --live_instances=1000 --batch_instances=64
run marginal_mlp_heads marginal_cost --model=mlp --modes=isolated,shared_trunk --live_instances=1000 --batch_instances=64
run fused_cnn variable_sharing --model=cnn --num_classifiers=32 --modes=fused,one_call --min_time=0.05
run fused_mlp variable_sharing --model=mlp --num_classifiers=32 --modes=fused,one_by_one,one_call --min_time=0.05
run floor_cnn session_reuse --model=cnn --modes=predict_proba,callable_caller_thread,raw_graph --min_time=0.05 --threads=1
run marginal_mlp_independent_rev marginal_cost --model=mlp --modes=shared_graph,isolated --live_instances=1000 --batch_instances=64
run marginal_cnn marginal_cost --model=cnn --modes=isolated,shared_graph,shared_trunk
echo FINALDONE $(date -u +%T) >> $O/load.log
