#!/usr/bin/env bash
# Stop 27, goal 2 (fused heads): main and this branch alternating, same commands; other helpers' tests and
# benchmarks ran on the same 2 cores throughout (uptime lines in run.log).
# Usage (from anywhere): bash docs/results/issue14/stop27/fused/run.sh MLP_PAIRS CNN_PAIRS
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
WT=$(cd "$HERE/../../../../.." && pwd)
PY=/work/main/.venv/bin/python
export TF_CPP_MIN_LOG_LEVEL=3
bench() {  # tree name args...
  local tree=$1 name=$2; shift 2
  echo "== $name ($tree): $*"; uptime
  (cd "$tree" && PYTHONPATH="$tree" nice -n 0 $PY -m tfshare.bench variable_sharing "$@" --output="$HERE/$name.json" \
    > "$HERE/$name.log" 2>&1)
  grep -E "^\| shared_trunk \| (fused|one_call)" "$HERE/$name.log"
}
for i in $(seq 1 "${1:-3}"); do
  for tree in /work/main "$WT"; do
    tag=$([ "$tree" = /work/main ] && echo main || echo branch)
    bench "$tree" "mlp_${tag}_$i" --model=mlp --num_classifiers=32 --modes=fused,one_call --min_time=0.05
    echo "== parts ($tree)"; (cd "$tree" && PYTHONPATH="$tree" $PY "$HERE/fused_parts.py" "$HERE/parts_${tag}_$i.json" "$tag" 2>&1 \
      | grep -v "^WARNING\|^I0000")
  done
done
for i in $(seq 1 "${2:-1}"); do
  for tree in /work/main "$WT"; do
    tag=$([ "$tree" = /work/main ] && echo main || echo branch)
    bench "$tree" "cnn_${tag}_$i" --model=cnn --num_classifiers=32 --modes=fused,one_call --min_time=0.05
  done
done
uptime
