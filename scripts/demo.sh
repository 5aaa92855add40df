#!/usr/bin/env bash
# The main command: the answers table (when scripts/answers.py exists), every
# benchmark in --quick mode, then results/REPORT.md with its plots.
# Takes a few minutes on a 2-core CPU machine (the first run also creates .venv).
# Extra arguments go to every benchmark, e.g. ./scripts/demo.sh --device=cpu
source "$(dirname "$0")/_env.sh" "plots"

RESULTS="${RESULTS:-results}"
mkdir -p "$RESULTS"
start=$SECONDS

if [ -f scripts/answers.py ]; then
  echo "== The answers table"
  python scripts/answers.py
  echo
fi

for bench in graph_construction session_reuse variable_sharing marginal_cost efficiency; do
  echo "== benchmarks/$bench.py --quick"
  python "benchmarks/$bench.py" --quick --output="$RESULTS/$bench.json" "$@"
  echo
done

echo "== The report"
python scripts/report.py "$RESULTS"
echo "Done in $((SECONDS - start)) s. Open $RESULTS/REPORT.md (plots: $RESULTS/*.png)."
