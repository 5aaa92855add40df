#!/usr/bin/env bash
# The main command: the answers table, every benchmark in --quick mode for the MLP, then
# for the CNN (--model=cnn, into results/cnn/), the sharing modes of the CNN
# (scripts/modes.py, quick), then results/REPORT.md with its plots.
# Takes a few minutes on a 2-core CPU machine (the first run also creates .venv).
# Extra arguments go to every benchmark, e.g. ./scripts/demo.sh --device=cpu
# The console shows the tables; TensorFlow's start-up notices are filtered out
# (see quiet in scripts/_env.sh), progress lines and warnings are kept.
source "$(dirname "$0")/_env.sh" "bench,digits"

RESULTS="${RESULTS:-results}"
mkdir -p "$RESULTS" "$RESULTS/cnn"
start=$SECONDS
BENCHMARKS="graph_construction session_reuse variable_sharing marginal_cost efficiency"

echo "== The answers table: scripts/answers.py"
quiet python scripts/answers.py
echo

for model in mlp cnn; do
  out="$RESULTS"
  [ "$model" = mlp ] || out="$RESULTS/$model"
  for bench in $BENCHMARKS; do
    echo "== tfshare-bench $bench --quick --model=$model"
    quiet tfshare-bench "$bench" --quick --model="$model" --output="$out/$bench.json" "$@"
    echo
  done
done

echo "== Sharing modes of the CNN: scripts/modes.py --model=cnn --data=digits (quick)"
quiet python scripts/modes.py --model=cnn --data=digits --instances=2 --epochs=3
echo

echo "== The report: tfshare-bench report"
quiet tfshare-bench report "$RESULTS"
quiet tfshare-bench report "$RESULTS/cnn"
echo "Done in $((SECONDS - start)) s. Open $RESULTS/REPORT.md (plots: $RESULTS/*.png; the CNN's: $RESULTS/cnn/)."
