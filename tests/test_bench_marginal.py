"""The marginal-cost benchmark's drivers (the app itself is run in test_bench_apps.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tfshare.bench import marginal_cost, models
from tfshare.shards import DEFAULT_SHARD_SIZE


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_naive_and_tfshare_paths_predict_the_same(name):
    model = models.model(name, filters=(4, 8))
    config = marginal_cost.Config(max_instances=2, batch_instances=2, repeats=1, model=model)
    x = model.inputs(1)
    outputs = {}
    for mode in ("shared_graph", "naive_shared"):
        driver = marginal_cost._Mode(mode, config)
        clf = driver.build()
        driver.initialize(clf)
        outputs[mode] = driver.first_predict(clf, x)
        driver.close()
    np.testing.assert_allclose(outputs["shared_graph"], outputs["naive_shared"], atol=1e-6)


def test_vs_isolated_is_the_median_of_per_repeat_ratios(monkeypatch):
    """Each repeat times every mode back to back; a ratio of medians would mix repeats (here 1.0, not 2.0)."""
    totals = {"isolated": [1.0, 2.0, 10.0], "shared_graph": [2.0, 1.0, 20.0]}
    calls = {mode: 0 for mode in totals}

    def batch_once(mode, config, x):
        calls[mode] += 1
        return totals[mode][calls[mode] - 1]

    monkeypatch.setattr(marginal_cost, "batch_once", batch_once)
    monkeypatch.setattr(marginal_cost, "live", lambda mode, config, x: [])
    monkeypatch.setattr(marginal_cost, "interleaved_orders",
                        lambda modes, repeats: [list(modes)] * repeats)  # repeat r: value r of each mode
    config = marginal_cost.Config(max_instances=2, batch_instances=2, repeats=3, warmup=0,
                                  modes=("isolated", "shared_graph"), model=models.model("mlp"))
    batch = {r["mode"]: r for r in marginal_cost.run(config) if r["kind"] == "batch"}
    assert batch["isolated"]["vs_isolated"] == 1.0
    assert batch["shared_graph"]["vs_isolated"] == 2.0  # per repeat 2.0, 0.5, 2.0; medians 2.0 / 2.0 = 1.0


def test_config_rejects_unknown_modes():
    with pytest.raises(ValueError, match=r"modes must be one of .*, got 'bogus'"):
        marginal_cost.Config(modes=("bogus",))


@pytest.mark.parametrize("mode, sharded", [("shared_graph", True), ("unsharded", False), ("naive_shared", False)])
def test_only_shared_graph_opens_shards(mode, sharded):
    model = models.model("mlp", hidden_units=(4,))
    config = marginal_cost.Config(max_instances=2, batch_instances=2, repeats=1, model=model)
    driver = marginal_cost._Mode(mode, config)
    try:
        for _ in range(DEFAULT_SHARD_SIZE + 1):  # more than one shard holds, by count or by ops
            driver.build()
        graphs = len(driver.runtimes[0].graphs)
        assert graphs >= 2 if sharded else graphs == 1
        assert len({id(clf.shard.graph) for clf in driver.classifiers}) == graphs
    finally:
        driver.close()


def test_live_traces_a_classifier_beyond_the_first_shard(tmp_path):
    """--trace_dir with more classifiers than one shard holds: the last one is traced on its own shard's Session."""
    model = models.model("mlp", hidden_units=(4,))
    config = marginal_cost.Config(max_instances=DEFAULT_SHARD_SIZE + 1, batch_instances=2, repeats=1, model=model,
                                  modes=("shared_graph",), trace_dir=str(tmp_path))
    marginal_cost.live("shared_graph", config, model.inputs(1))
    trace = json.loads((tmp_path / "shared_graph" / "timeline.json").read_text())
    ops = {e["args"]["name"] for e in trace["traceEvents"] if e.get("ph") == "X"}  # one span per op run
    assert f"dense_classifier_{DEFAULT_SHARD_SIZE}/hidden_0/MatMul" in ops  # the last (17th) classifier's step
