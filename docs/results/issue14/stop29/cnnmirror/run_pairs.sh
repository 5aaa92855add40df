#!/usr/bin/env bash
# Alternates main (base worktree) and this branch on the marginal_cost app, same flags, one after the other.
# Usage: [ORDER="branch main"] run_pairs.sh MODEL N PAIRS   (e.g. cnn 200 2); a second call needs a higher PAIRS start: FIRST=2
set -u
model=$1; n=$2; pairs=$3
here=$(cd "$(dirname "$0")" && pwd)
# The branch from a snapshot worktree of a commit: edits during a run must not leak into it.
branch=${BRANCH_TREE:-/work/wt-cnnmirror-snap}; base=/work/wt-cnnmirror-base
for i in $(seq "${FIRST:-1}" "$pairs"); do
  for side in ${ORDER:-main branch}; do
    tree=$branch; [ "$side" = main ] && tree=$base
    tag=${model}${n}_${side}_${i}
    echo "=== $tag $(date -u +%H:%M:%S) load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$here/pairs.log"
    PYTHONPATH=$tree TF_CPP_MIN_LOG_LEVEL=3 nice /work/main/.venv/bin/python -m tfshare.bench marginal_cost \
      --model="$model" --modes=isolated,shared_trunk --peak_rss --live_instances="$n" --batch_instances=2 \
      --repeats=1 --output="$here/marginal_$tag.json" > "$here/marginal_$tag.out" 2> "$here/marginal_$tag.log"
    echo "    done $(date -u +%H:%M:%S) rc=$? load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$here/pairs.log"
  done
done
