#!/bin/bash
# Goal 2 after trunk mirrors: main and this branch alternating, same command, under the same load.
# usage: run.sh ROUNDS
O=/work/wt-fused/docs/results/issue14/stop29/fused
export TF_CPP_MIN_LOG_LEVEL=3
for r in $(seq 1 ${1:-2}); do
  for model in cnn mlp; do
    for side in main branch; do
      tree=/work/main; [ $side = branch ] && tree=/work/wt-fused
      echo "round $r $model $side $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $O/load.log
      (cd $tree && PYTHONPATH=$tree /work/main/.venv/bin/python -m tfshare.bench variable_sharing --model=$model --num_classifiers=32 --modes=fused,one_call --min_time=0.05 --output=$O/${model}_${side}_$r.json > $O/${model}_${side}_$r.log 2>&1)
    done
  done
done
echo DONE >> $O/load.log
