"""The benchmarks' sizes (ops, variables, checkpoint bytes) when classifiers span several shards of one runtime."""

from __future__ import annotations

import json

from tfshare.bench import graph_construction, models, variable_sharing
from tfshare.shards import DEFAULT_SHARD_SIZE


def test_sizes_and_one_saver_checkpoints_cover_every_shard(tmp_path):
    n = DEFAULT_SHARD_SIZE + 2
    config = variable_sharing.Config(num_classifiers=n, model=models.model("mlp", hidden_units=(4,)))
    setup = variable_sharing.Setup("separate", config)
    try:
        graphs = len(setup.runtime.graphs)
        assert graphs >= 2  # more classifiers than one shard holds
        sizes = setup.sizes()
        assert sizes["variables"] == 4 * n
        ops_per_graph = [len(g.get_operations()) for g in setup.runtime.graphs]
        assert sizes["ops"] == sum(ops_per_graph) > max(ops_per_graph)
        one = setup.checkpoint_bytes(str(tmp_path / "ckpt"))["checkpoint_bytes"]
        # Every classifier's 784x4 + 4 + 4x10 + 10 float32 values are on disk (plus index and names).
        assert one >= n * 4 * (784 * 4 + 4 + 4 * 10 + 10)
        assert sorted(int(p.name) for p in (tmp_path / "ckpt" / "whole").iterdir()) == list(range(graphs))
    finally:
        setup.close()


def test_graph_construction_counts_the_ops_of_every_shard():
    n = DEFAULT_SHARD_SIZE + 1
    config = graph_construction.Config(sizes=(n,), model=models.model("mlp", hidden_units=(4,)))
    built = {mode: graph_construction.build(mode, n, config) for mode in ("shared_graph", "isolated")}
    try:
        counts = {mode: b.describe()["ops"] for mode, b in built.items()}
        # The same classifiers, in shards of one runtime or in n graphs: every op is counted either way.
        assert 2 <= len(built["shared_graph"].runtimes[0].graphs) < n
        assert counts["shared_graph"] == sum(len(g.get_operations()) for g in built["shared_graph"].runtimes[0].graphs)
        assert counts["shared_graph"] > counts["isolated"] / 2
    finally:
        for b in built.values():
            b.close()


def test_fused_trace_covers_every_shards_classifiers(tmp_path):
    """The fused trace runs each shard's probabilities on that shard's Session, one folder per shard."""
    n = DEFAULT_SHARD_SIZE + 1
    model = models.model("mlp", hidden_units=(4,))
    config = variable_sharing.Config(num_classifiers=n, modes=("fused", "one_call"), model=model,
                                     trace_dir=str(tmp_path))
    setup = variable_sharing.Setup("separate", config)
    try:
        graphs = len(setup.runtime.graphs)
        assert graphs >= 2  # more classifiers than one shard holds
        setup.trace(config.tracer(), model.inputs(2))
        fused = [f"separate_fused_shard{i}" for i in range(graphs)]
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*fused, "separate_one_call"])
        traced = set()
        for folder in fused:
            trace = json.loads((tmp_path / folder / "timeline.json").read_text())
            traced |= {e["args"]["name"].split("/")[0] for e in trace["traceEvents"] if e.get("ph") == "X"}
        assert {c.name for c in setup.classifiers} <= traced  # every classifier ran in its shard's trace
    finally:
        setup.close()
