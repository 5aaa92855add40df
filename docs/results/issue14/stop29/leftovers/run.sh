#!/bin/sh
# Two pairs, main and branch alternating, 15 rounds of 100 heads each. Run from this folder.
# BASE: a checkout of main (git worktree add --detach ../wt-leftovers-base main); BRANCH: this worktree.
set -e
for pair in 1 2; do
  for label in main branch; do
    tree=$BASE; [ "$label" = branch ] && tree=$BRANCH
    uptime > load_${label}_$pair.txt
    PYTHONPATH=$tree TF_CPP_MIN_LOG_LEVEL=3 nice /work/main/.venv/bin/python mirror_churn.py --rounds 15 --heads 100 \
      --label $label --out mirror_churn_${label}_$pair.json > mirror_churn_${label}_$pair.log 2>&1
    uptime >> load_${label}_$pair.txt
  done
done
