#!/bin/bash
# The in-process measurements of stop 27 (see README.md), one after the other.
set -u
cd "$(dirname "$0")"
PY=/work/main/.venv/bin/python
export TF_CPP_MIN_LOG_LEVEL=3
PYTHONPATH=/work/wt-init $PY initial_values_micro.py initial_values_micro.json 300 > initial_values_micro.log 2>&1
PYTHONPATH=/work/wt-init $PY side_by_side.py 1000 side_by_side_1000.json > side_by_side_1000.log 2> side_by_side_1000.err
for tree in main branch; do
  path=/work/main; [ $tree = branch ] && path=/work/wt-init
  for mode in shared isolated; do
    PYTHONPATH=$path $PY parts_profile.py 300 $mode > parts_${tree}_${mode}.log 2>&1
  done
done
