"""predict_many over heads of one trunk spread over mirrors computes the trunk once, with the same answers."""

from __future__ import annotations

import numpy as np
import pytest

import tfshare
from tfshare import fused, mirrors

BUDGET = 100  # ops: a few heads of the small trunks per shard


@pytest.fixture(autouse=True)
def small_budget(monkeypatch):
    monkeypatch.setattr(mirrors, "HEAD_OPS", BUDGET)


@pytest.fixture
def gs():
    runtime = tfshare.GraphSession(device="cpu")
    yield runtime
    runtime.close()


def _heads(gs, kind, n):
    if kind == "mlp":
        trunk = tfshare.SharedTrunk(gs, 16, (8,), seed=0)
        shape = (16,)
    else:  # Conv-BN-ReLU blocks, Dropout: the training-sensitive body of ConvClassifier
        trunk = tfshare.SharedTrunk(gs, layers=tfshare.architectures.conv((8, 8, 1), filters=(4, 8)), seed=0)
        shape = (8, 8, 1)
    return trunk, [tfshare.Classifier(trunk=trunk, num_classes=3, seed=i) for i in range(n)], shape


def _names(tensors):
    return [t.name for t in tensors]  # (== on graph tensors builds an op)


def _shards(trunk, heads):
    return {id(h.shard) for h in heads} | {id(trunk.shard)}


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_later_shards_are_fed_the_trunk_features_instead_of_x(gs, kind, rng):
    trunk, heads, shape = _heads(gs, kind, 11)
    assert len(_shards(trunk, heads)) >= 3  # the trunk's shard and at least two mirrors'
    x = rng.random((5, *shape), dtype=np.float32)
    together = tfshare.predict_many(heads, x)
    spread = fused._recent_plan(heads)
    first, *later = spread.plans
    assert _names(first.fn.feeds) == [trunk.input.name]
    assert trunk.output.name in _names(first.fn.fetches)  # it computes the trunk, and gives its features
    for plan in later:
        members = [h for h in heads if h.name in plan.names]
        mirror = members[0].trunk_in_shard
        assert mirror is not trunk
        assert _names(plan.fn.feeds) == [mirror.output.name]  # no x: the mirror's trunk is not run
    for head in heads:
        np.testing.assert_allclose(together[head.name], head.predict_proba(x), atol=1e-5)


def test_mirror_heads_listed_first_feed_the_trunk_shard(gs, rng):
    trunk, heads, shape = _heads(gs, "mlp", 11)
    away = [h for h in heads if h.shard is not trunk.shard]
    home = [h for h in heads if h.shard is trunk.shard]
    order = away + home
    x = rng.random((4, *shape), dtype=np.float32)
    together = tfshare.predict_many(order, x)
    spread = fused._recent_plan(order)
    assert _names(spread.plans[-1].fn.feeds) == [trunk.output.name]  # the trunk's shard takes a mirror's features
    for head in order:
        np.testing.assert_allclose(together[head.name], head.predict_proba(x), atol=1e-6)


def test_features_follow_a_write_through_a_mirror(gs, rng):
    trunk, heads, shape = _heads(gs, "cnn", 11)
    x = rng.random((6, *shape), dtype=np.float32)
    before = tfshare.predict_many(heads, x)
    away = next(h for h in heads if h.shard is not trunk.shard)
    away.fit(rng.random((16, *shape), dtype=np.float32), rng.integers(0, 3, 16), epochs=1, batch_size=8)
    after = tfshare.predict_many(heads, x)
    changed = [h for h in heads if not np.allclose(before[h.name], after[h.name])]
    assert len(changed) == len(heads)  # the trunk moved: every head's answer moved with it
    for head in heads:
        np.testing.assert_allclose(after[head.name], head.predict_proba(x), atol=1e-5)


def test_two_trunks_each_computed_once(gs, rng):
    trunk_a, heads_a, shape = _heads(gs, "mlp", 7)
    trunk_b = tfshare.SharedTrunk(gs, 16, (8,), seed=1, name="other_trunk")
    heads_b = [tfshare.Classifier(trunk=trunk_b, num_classes=3, seed=i) for i in range(7)]
    mixed = [h for pair in zip(heads_a, heads_b) for h in pair]
    x = rng.random((3, *shape), dtype=np.float32)
    together = tfshare.predict_many(mixed, x)
    fed_x = [f.name for plan in fused._recent_plan(mixed).plans for f in plan.fn.feeds if f.op.type == "Placeholder"]
    assert sorted(fed_x) == sorted([trunk_a.input.name, trunk_b.input.name])  # no mirror reads x
    for head in mixed:
        np.testing.assert_allclose(together[head.name], head.predict_proba(x), atol=1e-6)


def test_links_leave_a_group_whose_head_reads_x_past_the_features(gs, monkeypatch):
    trunk, heads, _ = _heads(gs, "mlp", 11)
    groups: dict[int, list] = {}
    for head in heads:
        groups.setdefault(id(head.shard), []).append(head)
    ordered = list(groups.values())
    links = fused._links(ordered)
    assert [len(takes) for takes, _ in links] == [0] + [1] * (len(ordered) - 1)
    assert [key for key, _ in links[0][1]] == [id(trunk)]
    # As if every mirror head also read x past its features: nothing may be fed then.
    monkeypatch.setattr(fused, "_computes", lambda clf, source, fed: clf.trunk_in_shard is not trunk)
    assert all(not takes and not gives for takes, gives in fused._links(ordered))


def test_a_shard_list_in_another_link_role_reuses_its_fused_ops(gs, rng):
    trunk, heads, shape = _heads(gs, "mlp", 11)
    home = [h for h in heads if h.shard is trunk.shard]
    away = [h for h in heads if h.shard is not trunk.shard]
    x = rng.random((3, *shape), dtype=np.float32)
    tfshare.predict_many(home, x)  # the trunk's shard computes: its heads' fused ops are built
    ops = trunk.shard.graph.version
    tfshare.predict_many(heads, x)  # the same shard list, now also giving the features
    assert trunk.shard.graph.version == ops
    gs.finalize()
    reordered = away + home  # the trunk's shard is fed now: a new callable, no new op
    together = tfshare.predict_many(reordered, x)
    for head in reordered:
        np.testing.assert_allclose(together[head.name], head.predict_proba(x), atol=1e-6)
