#!/usr/bin/env bash
# The main command: the answers table (when scripts/answers.py exists), every
# benchmark in --quick mode for the MLP, then for the CNN (--model=cnn, into
# results/cnn/, for the benchmarks that take --model), the sharing modes of the
# CNN (scripts/modes.py, quick), then results/REPORT.md with its plots.
# Takes a few minutes on a 2-core CPU machine (the first run also creates .venv).
# Extra arguments go to every benchmark, e.g. ./scripts/demo.sh --device=cpu
source "$(dirname "$0")/_env.sh" "plots"

RESULTS="${RESULTS:-results}"
mkdir -p "$RESULTS" "$RESULTS/cnn"
start=$SECONDS
BENCHMARKS="graph_construction session_reuse variable_sharing marginal_cost efficiency"

if [ -f scripts/answers.py ]; then
  echo "== The answers table"
  python scripts/answers.py
  echo
fi

for bench in $BENCHMARKS; do
  echo "== benchmarks/$bench.py --quick"
  python "benchmarks/$bench.py" --quick --output="$RESULTS/$bench.json" "$@"
  echo
done

# The CNN: a benchmark that does not define --model yet is skipped with a note.
for bench in $BENCHMARKS; do
  echo "== benchmarks/$bench.py --quick --model=cnn"
  log="$RESULTS/cnn/$bench.log"
  if ! python "benchmarks/$bench.py" --quick --model=cnn --output="$RESULTS/cnn/$bench.json" "$@" 2>&1 | tee "$log"; then
    if grep -q "Unknown command line flag 'model'" "$log"; then
      echo "(skipped: benchmarks/$bench.py does not take --model yet)"
    else
      exit 1
    fi
  fi
  echo
done

echo "== Sharing modes of the CNN: scripts/modes.py --model=cnn --data=digits (quick)"
python scripts/modes.py --model=cnn --data=digits --instances=2 --epochs=3
echo

echo "== The report"
python scripts/report.py "$RESULTS"
if compgen -G "$RESULTS/cnn/*.json" > /dev/null; then
  python scripts/report.py "$RESULTS/cnn"
fi
echo "Done in $((SECONDS - start)) s. Open $RESULTS/REPORT.md (plots: $RESULTS/*.png; the CNN's: $RESULTS/cnn/)."
