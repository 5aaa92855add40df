"""The audit reads a trunk mirror's variables as copies of the trunk's, not as variables of their own."""

from __future__ import annotations

import numpy as np
import pytest

import tfshare
from tfshare import _mirror_copies, mirrors
from tfshare._tf import tf, tf1

BUDGET = 100  # ops: a few heads of the small MLP trunk per shard (as test_trunk_mirror.py)
N_HEADS = 11


@pytest.fixture(autouse=True)
def small_budget(monkeypatch):
    monkeypatch.setattr(mirrors, "HEAD_OPS", BUDGET)


def _audited(shard_size, fit=False):
    """(report, trunk, heads) of N_HEADS heads on a 16-8 trunk built (and two of them fitted) inside an audit."""
    rng = np.random.default_rng(0)
    x, y = rng.random((40, 16), dtype=np.float32), rng.integers(0, 3, 40)
    gs = tfshare.GraphSession(device="cpu", **({} if shard_size == "default" else {"shard_size": shard_size}))
    with tfshare.audit() as report:
        trunk = tfshare.SharedTrunk(gs, 16, (8,), seed=0)
        heads = [tfshare.Classifier(trunk=trunk, num_classes=3, seed=i) for i in range(N_HEADS)]
        for head in heads:
            head.predict_proba(x[:1])
        if fit:
            for head in (heads[0], heads[-1]):  # the first sits in the trunk's shard, the last on a mirror
                head.fit(x, y, epochs=1, batch_size=20)
    return report, trunk, heads, gs


def _trunk_bytes(trunk):
    return sum(v.shape.num_elements() * v.dtype.size for v in trunk.variables)


def test_mirror_copies_are_counted_apart_per_trunk():
    report, trunk, heads, gs = _audited("default")
    try:
        mirrored = {id(h.trunk_in_shard) for h in heads if h.trunk_in_shard is not trunk}
        assert len(mirrored) == len(trunk._mirrors) >= 2  # the heads fill the trunk's shard and two mirrors
        n = len(trunk._mirrors)
        assert report.mirror_copies == n * len(trunk.variables)
        assert report.mirror_copy_bytes == n * _trunk_bytes(trunk)
        assert report.mirrors_by_trunk == {trunk.name: {"mirrors": n, "copies": n * len(trunk.variables),
                                                        "bytes": n * _trunk_bytes(trunk)}}
        assert report.as_dict()["mirror_copies"] == report.mirror_copies
        assert f"copies of trunk {trunk.name} in {n} mirrors" in str(report)
    finally:
        gs.close()


@pytest.mark.parametrize("fit", [False, True])
def test_mirrored_heads_audit_as_heads_in_one_graph(fit):
    """Variables created, their bytes and roles, shared and trained variables: the same as without mirrors."""
    mirrored, trunk, _, gs = _audited("default", fit=fit)
    one_graph, _, _, gs1 = _audited(None, fit=fit)
    try:
        assert len(trunk._mirrors) >= 2 and one_graph.mirror_copies == 0 and one_graph.mirrors_by_trunk == {}
        for key in ("variables_created", "variable_bytes", "variables_by_role", "bytes_by_role", "shared_variables",
                    "shared_variable_bytes", "shared_statistics", "variables_trained", "models_created"):
            assert mirrored.as_dict()[key] == one_graph.as_dict()[key], key
        assert mirrored.variables_by_role["weights"] == len(trunk.variables) + 2 * N_HEADS
        assert mirrored.shared_variables == len(trunk.variables)  # the trunk's, once, though three shards hold it
        if fit:
            assert mirrored.variables_trained == len(trunk.variables) + 2 * 2  # the trunk's once, two heads'
    finally:
        gs.close()
        gs1.close()


def test_a_block_without_mirrors_reports_no_copies():
    gs = tfshare.GraphSession(device="cpu")
    try:
        with tfshare.audit() as report:
            tfshare.Classifier(trunk=tfshare.SharedTrunk(gs, 16, (8,), seed=0), num_classes=3, seed=0)
        assert (report.mirror_copies, report.mirror_copy_bytes, report.mirrors_by_trunk) == (0, 0, {})
        assert "mirror copies" not in str(report)
    finally:
        gs.close()


def test_register_refuses_lists_that_do_not_pair_up():
    with pytest.raises(ValueError, match=r"originals and copies must pair up, got 2 and 1 variables"):
        _mirror_copies.register("t", [object(), object()], [object()])


def _variable(graph, name, value, **kwargs):
    with graph.as_default():
        return tf1.Variable(value, name=name, **kwargs)


def test_register_records_each_copy_under_its_handle_name_with_trunk_source_and_bytes():
    trunk_graph, mirror_graph = tf.Graph(), tf.Graph()
    kernel = _variable(trunk_graph, "trunk/kernel", np.zeros((3, 4), np.float32))
    bias = _variable(trunk_graph, "trunk/bias", np.zeros(4, np.float64))
    copy_kernel = _variable(mirror_graph, "mirror/kernel", np.zeros((3, 4), np.float32))
    copy_bias = _variable(mirror_graph, "mirror/bias", np.zeros(4, np.float64))
    # A copy whose shape is not known: its bytes cannot be counted.
    loose = _variable(mirror_graph, "mirror/loose", np.zeros(2, np.float32), shape=tf.TensorShape(None))
    _mirror_copies.register("t", [kernel, bias], [copy_kernel, copy_bias])
    _mirror_copies.register("u", [kernel], [loose])  # a second mirror in the same graph: added, not replacing
    copies = _mirror_copies.of(mirror_graph)
    assert sorted(copies) == ["mirror/bias", "mirror/kernel", "mirror/loose"]
    expected = {"mirror/kernel": ("t", "trunk/kernel", 3 * 4 * 4), "mirror/bias": ("t", "trunk/bias", 4 * 8),
                "mirror/loose": ("u", "trunk/kernel", 0)}
    for name, (trunk, source, nbytes) in expected.items():
        copy = copies[name]
        assert (copy.trunk, copy.source, copy.nbytes) == (trunk, source, nbytes), name
        assert copy.graph() is trunk_graph
    assert _mirror_copies.of(trunk_graph) == {}  # the trunk's graph holds no copy


def test_of_returns_a_snapshot_and_registering_no_variables_is_harmless():
    trunk_graph, mirror_graph = tf.Graph(), tf.Graph()
    original = _variable(trunk_graph, "trunk/kernel", np.zeros(2, np.float32))
    copy = _variable(mirror_graph, "mirror/kernel", np.zeros(2, np.float32))
    _mirror_copies.register("t", [], [])  # a trunk without variables
    _mirror_copies.register("t", [original], [copy])
    snapshot = _mirror_copies.of(mirror_graph)
    snapshot.clear()
    assert list(_mirror_copies.of(mirror_graph)) == ["mirror/kernel"]
