"""tfshare.answers: the live table's records are complete and consistent with themselves."""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import statistics

import pytest
from absl import flags

from tfshare import answers, cluster
from tfshare.answers import distributed, record
from tfshare._tf import tf1
from tfshare.data import synthetic
from tfshare.errors import ClusterError

HIDDEN_PARAMS = 784 * 64 + 64  # one hidden Dense layer's kernel and bias
HEAD_PARAMS = 64 * 10 + 10
SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "answers.py"


@pytest.fixture(scope="module")
def run_result():
    graph = tf1.get_default_graph()
    before = len(graph.get_operations())
    records = answers.run(quick=True, cluster=False)  # q8, the one that starts servers, has its own fixture
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
    assert "the same input gives different outputs" in records["q1"].answer  # said because measured (> 0)


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
    assert records["q2"].answer.endswith("One graph and Session hold both without sharing a variable.")


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
    assert "(each instance's experimental_get_tracing_count() is 1)" in records["q5"].answer


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
    assert (run["graphs"], run["sessions"]) == (2, 2)  # shards of tfshare.shards.DEFAULT_SHARD_SIZE (8)
    for row in (shared, template):  # heads join their trunk's shard
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
    assert f"holding the same {run['ops']} ops (isolated: {iso['ops']})" in records["q7"].answer


def test_tracing_counts_are_reported_as_measured():
    """q5 says "each instance's ... is N" only when every instance said N; otherwise the spread."""
    from tfshare.answers import cost

    assert cost._tracing_counts([1, 1, 1]) == "each instance's experimental_get_tracing_count() is 1"
    assert cost._tracing_counts([1, 2, 1]) == "the instances' experimental_get_tracing_count() ranges from 1 to 2"


def test_q8_without_a_cluster_says_so(records):
    r = records["q8"]
    assert r.measured is False
    assert r.answer.startswith("Not measured: this run started no cluster (cluster=False)")
    assert r.evidence == {"measured": False, "stage": "skipped", "error": ""}


def test_q8_reports_a_cluster_that_cannot_start(monkeypatch):
    def no_cluster(**kwargs):
        raise ClusterError("servers [('ps', 0)] did not listen within startup_timeout=60 s")

    monkeypatch.setattr(cluster, "LocalCluster", no_cluster)
    r = distributed.q8(True, synthetic(num_train=64, num_test=64))
    assert r.measured is False
    assert r.answer.startswith("Not measured: the local cluster (1 ps + 2 workers on 127.0.0.1) could not start")
    assert "ClusterError: servers [('ps', 0)] did not listen within startup_timeout=60 s" in r.answer
    assert r.evidence["error"] in r.answer and r.summary.startswith("not measured: ClusterError")


class _FailingCluster:
    """Stands in for a LocalCluster whose workers do not answer."""

    closed = False

    def __init__(self, **kwargs):
        _FailingCluster.instance = self

    def graph_session(self, task_index, **kwargs):
        raise ClusterError(f"a Session call on /job:worker/task:{task_index} failed: no answer")

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.closed = True


def test_q8_closes_the_cluster_when_a_measurement_fails(monkeypatch):
    monkeypatch.setattr(cluster, "LocalCluster", _FailingCluster)
    r = distributed.q8(True, synthetic(num_train=64, num_test=64))
    assert _FailingCluster.instance.closed
    assert r.measured is False
    assert r.answer.startswith("Not measured: a call into the local cluster failed while measuring")
    assert "/job:worker/task:0 failed: no answer" in r.answer


# ------------------------------------------- q8, live: 1 ps + 2 worker servers
@pytest.fixture(scope="module")
def q8():
    return distributed.q8(True, synthetic(num_train=512, num_test=256))


@pytest.mark.distributed
def test_q8_is_measured_on_three_servers(q8):
    assert q8.measured is True, q8.answer
    e = q8.evidence
    assert set(e["servers"]) == {"/job:ps/task:0", "/job:worker/task:0", "/job:worker/task:1"}
    pids = {s["pid"] for s in e["servers"].values()}
    assert len(pids) == 3 and e["client_pid"] == os.getpid() not in pids
    assert all(s["address"].startswith("127.0.0.1:") for s in e["servers"].values())
    assert 0 < e["startup_seconds"] < e["total_seconds"]


@pytest.mark.distributed
def test_q8_servers_are_gone_after_the_run(q8):
    for s in q8.evidence["servers"].values():
        assert not cluster.port_open(s["address"], 0.2)
        assert not os.path.exists(f"/proc/{s['pid']}") or _zombie(s["pid"])


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.distributed
def test_q8_trunk_on_the_ps_is_shared_and_heads_are_private(q8):
    e = q8.evidence
    assert set(e["trunk_devices"]) == {"trunk/hidden_0/kernel:0", "trunk/hidden_0/bias:0"}
    assert all(d.startswith("/job:ps") for d in e["trunk_devices"].values())
    assert e["shared_trunk_variables"] == len(e["trunk_devices"]) == 2 > 0
    assert e["trunk_equal_across_workers"] is True
    head0, head1 = e["head_devices"]
    assert set(head0) == set(head1) == {"clf/head/kernel:0", "clf/head/bias:0"}  # same names ...
    assert all(d.startswith("/job:worker/task:0") for d in head0.values())  # ... different processes
    assert all(d.startswith("/job:worker/task:1") for d in head1.values())
    assert e["shared_head_variables"] == 0
    assert e["same_name_other_device"] == sorted(head0)


@pytest.mark.distributed
def test_q8_training_worker_0_moves_worker_1_through_the_trunk_only(q8):
    e = q8.evidence
    assert e["train_steps"] == 8
    assert e["other_max_abs_change"] >= e["other_mean_abs_change"] > 0
    assert 0 <= e["other_predictions_changed"] <= 1
    assert e["other_head_max_change"] == 0.0
    assert q8.answer.startswith("Yes, through the parameter server")


@pytest.mark.distributed
def test_q8_latency_and_bytes_are_consistent(q8):
    e = q8.evidence
    for t in e["predict_seconds"].values():
        assert 0 < t["min"] <= t["median"] <= t["max"]
        assert t["n"] == 5 and t["loops"] >= 1
    assert e["trunk_weight_bytes"] == HIDDEN_PARAMS * 4
    assert e["per_worker_copies_weight_bytes"] == 2 * e["trunk_weight_bytes"]
    # Adam's two slots per trunk variable are colocated with it on the ps.
    assert e["ps_variable_bytes"] >= 3 * e["trunk_weight_bytes"]
    assert e["ps_variables"] >= 3 * len(e["trunk_devices"])


@pytest.mark.distributed
def test_q8_answer_and_row_cite_the_evidence(q8):
    e = q8.evidence
    t = e["predict_seconds"]
    for number in (
        f"{e['other_max_abs_change']:.3g}",
        record.duration(t["trunk on the ps"]["median"]),
        record.duration(t["in-process"]["median"]),
        record.mib(e["trunk_weight_bytes"]),
        record.mib(e["per_worker_copies_weight_bytes"]),
        "/job:ps/task:0",
    ):
        assert number in q8.answer and number in q8.summary
    row = answers.to_markdown([q8]).splitlines()[2]
    assert row.startswith("| 8 | Sharing variables across processes") and row.replace("\\|", "").count("|") == 5
    assert json.loads(answers.to_json([q8]))[0]["evidence"]["shared_head_variables"] == 0


def test_markdown_has_one_row_per_record(run_result):
    table = answers.to_markdown(run_result[0])
    lines = table.splitlines()
    assert lines[0] == "| # | question | answer | evidence |"
    assert len(lines) == 2 + 8
    for line in lines[2:]:
        assert line.replace("\\|", "").count("|") == 5


def test_json_round_trips_the_records(run_result):
    assert json.loads(answers.to_json(run_result[0])) == [r.as_dict() for r in run_result[0]]


@pytest.mark.parametrize("kwargs, match", [({"quick": "yes"}, "quick must be a bool, got str"),
                                           ({"cluster": 1}, "cluster must be a bool, got int")],
                         ids=["quick", "cluster"])
def test_run_rejects_non_bool_arguments(kwargs, match):
    with pytest.raises(TypeError, match=match):
        answers.run(**kwargs)


@pytest.mark.parametrize(
    "argv, parse, with_cluster",
    [(["--json"], json.loads, True), ([], str, True), (["--nocluster"], str, False)],
    ids=["json", "markdown", "nocluster"],
)
def test_script_prints_the_records(run_result, monkeypatch, capsys, argv, parse, with_cluster):
    spec = importlib.util.spec_from_file_location("answers_script", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    calls = []
    monkeypatch.setattr(script.answers, "run", lambda quick, cluster: calls.append(cluster) or run_result[0])
    flags.FLAGS(["answers.py", *argv])
    try:
        script.main(["answers.py"])
    finally:
        flags.FLAGS.unparse_flags()
        for name in ("json", "quick", "cluster"):
            delattr(flags.FLAGS, name)
    assert calls == [with_cluster]
    out = parse(capsys.readouterr().out)
    if parse is json.loads:
        assert [r["id"] for r in out] == [f"q{i}" for i in range(1, 9)]
    else:
        assert out.startswith("| # | question | answer | evidence |")
