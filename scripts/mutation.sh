#!/usr/bin/env bash
# Mutation testing of tfshare's core modules with mutmut, one module at a time, each against
# only the tests that cover it (docs/mutation.md says how to read the results).
#
#   ./scripts/mutation.sh                      every core module, in the order below
#   ./scripts/mutation.sh runtime fused        only these (names as in the table below)
#   ./scripts/mutation.sh --list               the modules and the tests each one runs
#   ./scripts/mutation.sh --survivors runtime  re-test the survivors (and unchecked) of an earlier run
#                                              (after adding tests), keeping the other verdicts
#   ./scripts/mutation.sh --fresh runtime      forget earlier results and start again
#
# Environment:
#   MUTATION_DIR     scratch folder, one copy of the checkout per module (default /tmp/tfshare-mutation)
#   MUTATION_BOX     seconds one module may take before it stops, keeping what it checked (default 3600)
#   MUTANTS          only these mutants: names or fnmatch patterns, space-separated, e.g.
#                    'tfshare.mirrors.x_host__mutmut_* tfshare.mirrors.xǁMirrorǁsync__mutmut_*' (default: all)
#   MUTATION_TESTS   these test files instead of the module's TESTS entry, space-separated, e.g.
#                    'test_shards.py test_shard_units.py': a quicker, partial run (record its score as such;
#                    like a change of the TESTS entry, it resets the module's verdicts)
#   PYTHON           a Python with tfshare's test extra (mutmut, pytest-timeout, ...) installed;
#                    default: .venv/bin/python, created by scripts/test.sh
#
# Within a 2-core machine's limits: one mutmut child at a time (--max-children 1), nice -n 19,
# one module at a time, never two test processes at once. mutmut copies the module into
# MUTATION_DIR/<module>/mutants/ and runs each mutant in a forked child: the checkout itself
# is never modified. Results accumulate there; a second run continues where the first stopped.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${MUTATION_DIR:-/tmp/tfshare-mutation}"
BOX="${MUTATION_BOX:-3600}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
MUTMUT="$(dirname "$PYTHON")/mutmut"  # the console script: `python -m mutmut` re-imports itself

# module -> the test files that exercise it (what each mutant of the module may be killed by;
# mutmut then runs, per mutant, only those of these tests that executed the mutated function).
# GraphSession's modules: runtime.py and the modules it was split into share its tests.
# (_runtime_init has its own: initialize()'s fingerprint is tested in test_shard_scaling.py and test_shard_reclaim.py.)
# (_runtime_init has its own: initialize()'s fingerprint is tested in test_shard_scaling.py and test_shard_reclaim.py.)
RUNTIME_TESTS="test_runtime.py test_shards.py test_fast_callable.py test_lifecycle.py test_claims.py test_tracked_session.py test_fused.py"
# architectures.py and the two modules it was split into (stop 27) share its tests.
ARCHITECTURE_TESTS="test_layer_semantics.py test_generic_sharing.py test_input_shapes.py test_classifiers.py test_model_fn.py"
declare -A TESTS=(
  [runtime]="$RUNTIME_TESTS"
  [_runtime_shards]="$RUNTIME_TESTS"
  [_runtime_build]="$RUNTIME_TESTS"
  [_runtime_init]="test_runtime.py test_shards.py test_shard_scaling.py test_shard_reclaim.py test_initial_values.py test_lifecycle.py"
  [_runtime_calls]="$RUNTIME_TESTS"
  [_session_config]="$RUNTIME_TESTS test_grappler.py test_cluster.py"
  [_graph_export]="$RUNTIME_TESTS"
  [fast_callable]="test_fast_callable.py test_runtime.py test_lifecycle.py test_fused.py"
  [_tracked_session]="test_tracked_session.py test_fused.py test_trunk_mirror.py test_mirror_sync.py"
  [classifier]="test_classifiers.py test_semantics.py test_lifecycle.py test_claims.py test_training_faults.py test_input_shapes.py"
  [graph_build]="test_classifiers.py test_semantics.py test_training_modes.py test_training_faults.py test_layer_semantics.py test_model_fn.py test_graph_template.py test_graph_ops.py test_generic_sharing.py test_lifecycle.py test_fold.py test_checkpoint_safety.py"
  [graph_ops]="test_graph_ops.py test_semantics.py test_training_faults.py test_classifiers.py"
  [base]="test_semantics.py test_classifiers.py test_claims.py test_eager.py test_eager_twin.py test_bad_input.py test_training_faults.py"
  [classifiers]="test_classifiers.py test_input_shapes.py test_generic_sharing.py test_eager_twin.py"
  [trunk_base]="test_classifiers.py test_generic_sharing.py test_graph_template.py test_fused.py test_trunk_copy.py"
  [trunks]="test_classifiers.py test_generic_sharing.py test_fused.py test_fold.py test_training_modes.py"
  [template_trunk]="test_classifiers.py test_generic_sharing.py test_layer_semantics.py test_fold.py"
  [eager]="test_eager.py test_eager_twin.py test_semantics.py test_claims.py test_model_fn.py test_training_modes.py test_layer_semantics.py"
  [eager_trunk]="test_eager.py test_eager_twin.py"
  [architectures]="$ARCHITECTURE_TESTS"
  [layer_checks]="$ARCHITECTURE_TESTS"
  [layer_keys]="$ARCHITECTURE_TESTS"
  [conv_fusion]="test_fold.py"
  [forward]="test_fold.py test_input_shapes.py test_layer_semantics.py test_training_modes.py test_generic_sharing.py test_model_fn.py"
  [initial_values]="test_initial_values.py test_initial_value_graph.py test_graph_template.py test_layer_semantics.py test_model_fn.py"
  [_initial_value_graph]="test_initial_value_graph.py test_initial_values.py test_eager_twin.py"
  [keras_model]="test_model_fn.py test_layer_semantics.py"
  [graph_template]="test_graph_template.py test_generic_sharing.py test_semantics.py test_layer_semantics.py"
  [fused]="test_fused.py test_generic_sharing.py"
  [head_bank]="test_fused.py test_tracked_session.py"
  [protocols]="test_fused.py test_bundles.py"
  [validation]="test_validation.py test_validation_properties.py test_bad_input.py test_input_shapes.py test_data.py test_eager_twin.py"
  [checkpoints]="test_checkpoint_safety.py test_shape_checks.py test_classifiers.py test_generic_sharing.py test_concurrency.py"
  [bundles]="test_bundles.py test_shape_checks.py"
  [export]="test_export.py"
  [shards]="test_shards.py test_shard_units.py test_shard_reclaim.py test_runtime.py test_trunk_mirror.py"
  [mirrors]="test_trunk_mirror.py test_mirror_sync.py test_tracked_session.py test_audit_mirrors.py"
  [trunk_copy]="test_trunk_copy.py test_trunk_mirror.py"
  [_placement]="test_cluster.py test_runtime.py"
  [_cluster_spec]="test_cluster.py"
  [_mirror_copies]="test_audit_mirrors.py"
)
ORDER="runtime _runtime_shards _runtime_build _runtime_init _runtime_calls _session_config _graph_export shards mirrors trunk_copy _mirror_copies fast_callable _tracked_session fused head_bank validation checkpoints bundles classifier graph_build graph_ops base classifiers trunk_base trunks template_trunk eager eager_trunk architectures layer_checks layer_keys forward conv_fusion initial_values _initial_value_graph keras_model graph_template export protocols _placement _cluster_spec"

mode=run
modules=()
for arg in "$@"; do
  case "$arg" in
    --list) mode=list ;;
    --survivors) mode=survivors ;;
    --fresh) mode=fresh ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    -*) echo "unknown option $arg (see --help)" >&2; exit 2 ;;
    *) [ -n "${TESTS[$arg]:-}" ] || { echo "not a core module: $arg (see --list)" >&2; exit 2; }
       modules+=("$arg") ;;
  esac
done
[ ${#modules[@]} -gt 0 ] || read -r -a modules <<< "$ORDER"

if [ "$mode" = list ]; then
  for m in "${modules[@]}"; do printf '%-17s %s\n' "$m" "${TESTS[$m]}"; done
  exit 0
fi
"$PYTHON" -c 'import mutmut, pytest_timeout' 2>/dev/null || {
  echo "$PYTHON lacks mutmut or pytest-timeout: pip install -e '.[test]' (scripts/test.sh does)" >&2; exit 1; }

# Prints "killed survived no_tests timeout other not_checked score" for a module's folder.
summarize() {
  (cd "$1" && "$MUTMUT" export-cicd-stats >/dev/null 2>&1 || true)
  "$PYTHON" - "$1/mutants/mutmut-cicd-stats.json" <<'EOF'
import json, sys
try:
    s = json.load(open(sys.argv[1]))
except OSError:
    print("no results"); sys.exit()
killed = s.get("killed", 0) + s.get("timeout", 0)  # a mutant that makes a test hang is caught too
other = s.get("suspicious", 0) + s.get("segfault", 0)
verdicts = killed + s.get("survived", 0) + s.get("no_tests", 0) + other
unchecked = s.get("total", 0) - verdicts - s.get("skipped", 0)  # not reached within the time box
score = killed / verdicts if verdicts else float("nan")
print(f"killed {killed}, survived {s.get('survived', 0)}, no tests {s.get('no_tests', 0)}, "
      f"suspicious/segfault {other}, not checked {unchecked}: score {score:.3f} of {verdicts} checked")
EOF
}

export TF_CPP_MIN_LOG_LEVEL=2 PYTHONDONTWRITEBYTECODE=1
unset PYTHONPATH  # the tests must import the mutated copy, nothing else
for m in "${modules[@]}"; do
  work="$DIR/$m"
  [ "$mode" = fresh ] && rm -rf "$work"
  mkdir -p "$work"
  # A fresh copy of the code and tests (mutmut re-copies a module when its source changed).
  rm -rf "$work/tfshare" "$work/tests" "$work/docs"
  cp -r "$ROOT/tfshare" "$ROOT/tests" "$work/"
  mkdir -p "$work/docs" && cp "$ROOT/docs/claims.md" "$work/docs/"  # test_claims.py checks the names it lists
  find "$work" -name __pycache__ -prune -exec rm -rf {} +
  tests="${MUTATION_TESTS:-${TESTS[$m]}}"
  selection=$(printf '"tests/%s", ' $tests)
  # A mutant "times out" past (its tests' clean time + timeout_constant) x timeout_multiplier
  # of wall time. mutmut's default constant, 1 s, is less than a forked child's pytest start
  # on a loaded 2-core machine: the mutants of cheap functions "timed out" without hanging
  # (docs/mutation.md, footnote D2). Changing these resets only the timeout verdicts.
  { cat "$ROOT/pyproject.toml"; cat <<EOF

[tool.mutmut]
source_paths = ["tfshare"]
also_copy = ["docs"]
only_mutate = ["tfshare/$m.py"]
pytest_add_cli_args_test_selection = [${selection%, }]
pytest_add_cli_args = ["-p", "no:randomly", "-p", "no:cacheprovider", "--timeout=600"]
process_isolation = "forkserver"
forkserver_warmup = "import"
preload_modules_file = "preload.txt"
timeout_multiplier = 5.0
timeout_constant = 30.0
EOF
  } > "$work/pyproject.toml"
  # The fork server imports these once; each mutant's child is forked from it (no Session has
  # run there yet, so no TensorFlow thread pool is lost in the fork) and skips the import.
  printf '%s\n' numpy tensorflow tf_keras tfshare > "$work/preload.txt"
  names=()
  if [ -n "${MUTANTS:-}" ] && [ "$mode" != survivors ]; then
    set -f; read -r -a names <<< "$MUTANTS"; set +f  # patterns for mutmut, not for the shell
  fi
  if [ "$mode" = survivors ]; then
    mapfile -t names < <(cd "$work" && "$MUTMUT" results 2>/dev/null | awk -F': ' '/: (survived|no tests|suspicious|timeout|not checked)$/ {gsub(/^ +/, "", $1); print $1}')
    [ ${#names[@]} -gt 0 ] || { echo "== $m: no survivors to re-test"; continue; }
  fi
  echo "== $m: $(wc -w <<< "$tests") test files, ${#names[@]} named mutants, up to $BOX s ($work/mutmut.log)"
  start=$SECONDS
  # mutmut's children end with os._exit, which skips the atexit hooks that delete TensorFlow's
  # autograph temporary files: each module's run keeps them in its own folder, emptied here.
  rm -rf "$work/tmp" && mkdir -p "$work/tmp"
  (cd "$work" && TMPDIR="$work/tmp" timeout -k 60 -s INT "$BOX" nice -n 19 "$MUTMUT" run --max-children 1 "${names[@]}" \
     > mutmut.log 2>&1) || echo "   stopped: exit $? (time box or error: see mutmut.log)"
  (cd "$work" && "$MUTMUT" results > survivors.txt 2>/dev/null) || true
  echo "   $(summarize "$work") in $((SECONDS - start)) s; survivors: $work/survivors.txt"
  printf '%s\t%s\n' "$m" "$(summarize "$work")" >> "$DIR/summary.tsv"
done
