"""tfshare.answers: the live table's records are complete and consistent with themselves."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import statistics

import pytest
from absl import flags

from tfshare import answers
from tfshare._tf import tf1

HIDDEN_PARAMS = 784 * 64 + 64  # one hidden Dense layer's kernel and bias
HEAD_PARAMS = 64 * 10 + 10
SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "answers.py"


@pytest.fixture(scope="module")
def run_result():
    graph = tf1.get_default_graph()
    before = len(graph.get_operations())
    records = answers.run(quick=True)
    return records, len(graph.get_operations()) - before


@pytest.fixture(scope="module")
def records(run_result):
    return {r.id: r for r in run_result[0]}


def test_eight_records_in_order_and_the_default_graph_untouched(run_result):
    records, default_graph_ops_added = run_result
    assert [r.id for r in records] == [f"q{i}" for i in range(1, 9)]
    for r in records:
        assert r.question and r.answer and r.summary
        assert r.measured == (r.id != "q8")
    assert default_graph_ops_added == 0


def test_q1_one_graph_two_complete_copies(records):
    e = records["q1"].evidence
    assert e["graphs_created"] == 1
    assert e["ops_per_class"][0] == e["ops_per_class"][1] > 0
    assert sum(e["ops_per_class"]) == e["ops_added"]
    assert e["variables_per_model"] == [4, 4]
    assert e["variables_created"] == sum(e["variables_per_model"])
    assert e["models_created"] == 2
    assert e["shared_variables"] == 0
    assert e["max_output_difference"] > 0  # separate weights, different outputs
    assert f"{e['ops_added']} ops" in records["q1"].answer


def test_q2_shares_exactly_nothing(records):
    e = records["q2"].evidence
    assert e["isolated"]["shared_variables"] == 0
    assert e["one_graph_session"]["shared_variables"] == 0
    assert (e["isolated"]["graphs_created"], e["isolated"]["sessions_created"]) == (2, 2)
    assert (e["one_graph_session"]["graphs_created"], e["one_graph_session"]["sessions_created"]) == (1, 1)
    assert e["isolated"]["variables_created"] == e["one_graph_session"]["variables_created"] == 8
    assert e["hidden_parameters_each"] == HIDDEN_PARAMS
    assert e["other_output_change_after_training"]["max_abs_change"] == 0.0
    assert records["q2"].answer.startswith("Nothing")


def test_q3_reused_layer_shares_weights_and_training_leaks(records):
    e = records["q3"].evidence
    assert e["shared_variables"] == 2 > 0
    assert e["shared_variable_bytes"] == HIDDEN_PARAMS * 4
    assert e["variables_created"] == 2 + 2 * 2
    change = e["other_output_change_after_training"]
    assert change["max_abs_change"] > 0
    assert change["max_abs_change"] >= change["mean_abs_change"] > 0
    assert e["other_head_max_change"] == 0.0  # only the shared layer moved B
    assert e["shared_kernel_mean_change"] > 0


def test_q4_eager_builds_no_graph(records):
    e = records["q4"].evidence
    assert e["graphs_created"] == 0
    assert e["ops_added"] == 0
    assert e["model_weights"] == 8
    assert e["variables_created"] >= e["model_weights"]
    assert e["models_created"] == 2
    assert e["sessions_created"] == 1
    assert e["session_graph_is_default"] is True
    assert e["output_type"] == "EagerTensor"
    assert e["session_run_error"]  # an eager tensor cannot be run in a Session
    assert f"sees {e['session_graph_ops']} ops" in records["q4"].answer


def test_q5_traces_once_per_instance(records):
    e = records["q5"].evidence
    n = e["instances"]
    assert e["method_traces"] == e["traced_functions"] == n
    assert e["tracing_count_per_instance"] == [1] * n
    assert e["module_function_traces"] == 1
    assert len(e["first_call_seconds"]) == len(e["module_function_first_call_seconds"]) == n
    assert statistics.median(e["first_call_seconds"]) == pytest.approx(e["first_call_median_seconds"])
    assert records["q5"].answer.startswith("Per instance")


def test_q6_ratios_follow_from_the_medians(records):
    e = records["q6"].evidence
    median = e["median_seconds"]
    assert set(median) == {
        "new Session per call", "reused Session.run + feed_dict", "fast callable", "eager", "tf.function",
    }
    fastest = e["fastest"]
    assert median[fastest] == min(median.values()) > 0
    for name, seconds in median.items():
        assert e["ratio_to_fastest"][name] == pytest.approx(seconds / median[fastest])
        t = e["timings"][name]
        assert t["min"] <= t["median"] == seconds <= t["max"]


def test_q7_sixteen_instances_four_ways(records):
    e = records["q7"].evidence
    assert e["instances"] == 16
    v = e["variants"]
    iso, run, shared, template = (v[k] for k in ("isolated", "shared runtime", "shared trunk", "template trunk"))
    assert (iso["graphs"], iso["sessions"]) == (16, 16)
    for row in (run, shared, template):
        assert (row["graphs"], row["sessions"]) == (1, 1)
    assert iso["ops"] == run["ops"]
    assert iso["variables"] == run["variables"] == 16 * 4
    assert shared["variables"] == template["variables"] == 2 + 16 * 2
    assert iso["parameter_bytes"] == run["parameter_bytes"] == 16 * (HIDDEN_PARAMS + HEAD_PARAMS) * 4
    assert shared["parameter_bytes"] == template["parameter_bytes"] == (HIDDEN_PARAMS + 16 * HEAD_PARAMS) * 4
    assert (iso["shared_variables"], run["shared_variables"]) == (0, 0)
    assert shared["shared_variables"] == template["shared_variables"] == 2
    # Every variant serves the same 16 classifiers of the same size.
    assert len({row["parameters_used"] for row in v.values()}) == 1
    assert all(row["build_seconds"] > row["construct_seconds"] > 0 for row in v.values())


def test_q8_is_not_measured_yet(records):
    r = records["q8"]
    assert r.measured is False
    assert r.answer.startswith("Not measured")


def test_markdown_has_one_row_per_record(run_result):
    table = answers.to_markdown(run_result[0])
    lines = table.splitlines()
    assert lines[0] == "| # | question | answer | evidence |"
    assert len(lines) == 2 + 8
    for line in lines[2:]:
        assert line.replace("\\|", "").count("|") == 5


def test_json_round_trips_the_records(run_result):
    assert json.loads(answers.to_json(run_result[0])) == [r.as_dict() for r in run_result[0]]


def test_run_rejects_a_non_bool_quick():
    with pytest.raises(TypeError, match="quick must be a bool, got str"):
        answers.run(quick="yes")


@pytest.mark.parametrize("argv, parse", [(["--json"], json.loads), ([], str)], ids=["json", "markdown"])
def test_script_prints_the_records(run_result, monkeypatch, capsys, argv, parse):
    spec = importlib.util.spec_from_file_location("answers_script", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setattr(script.answers, "run", lambda quick: run_result[0])
    flags.FLAGS(["answers.py", *argv])
    try:
        script.main(["answers.py"])
    finally:
        flags.FLAGS.unparse_flags()
        for name in ("json", "quick"):
            delattr(flags.FLAGS, name)
    out = parse(capsys.readouterr().out)
    if argv:
        assert [r["id"] for r in out] == [f"q{i}" for i in range(1, 9)]
    else:
        assert out.startswith("| # | question | answer | evidence |")
