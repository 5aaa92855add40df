"""Reclaiming trunk mirrors: a mirror's shard goes once it holds no live head and the mirror is not needed."""

from __future__ import annotations

import gc

import numpy as np

import tfshare
from tfshare import mirrors
from test_trunk_mirror import _assert_trunks_equal, _data, _heads, small_budget  # noqa: F401 - fixtures


def _mirrors_of(trunk, heads):
    """The mirrors (``tfshare.mirrors.Mirror``) ``heads`` sit on, in the order made."""
    return list(dict.fromkeys(h.shard._mirror for h in heads if h.trunk_in_shard is not trunk))


def test_a_full_mirrors_shard_closes_with_its_last_head_and_a_later_head_gets_a_new_mirror(rng):
    x, y = _data(rng)
    with tfshare.GraphSession(device="cpu") as gs:
        trunk, heads = _heads(gs)
        made = _mirrors_of(trunk, heads)
        assert len(made) >= 2 and not made[0].needed()  # the first one reached the budget: no head goes there
        full = made[0]
        on_full = [h for h in heads if h.trunk_in_shard is full.trunk]
        shard = full.shard
        for head in on_full[:-1]:
            head.close()
        assert not shard.closed  # one head is left in it
        on_full[-1].close()
        assert shard.closed and shard not in gs.shards and full not in trunk._mirrors
        left = [h for h in heads if h not in on_full]
        left[0].fit(x, y, epochs=1, batch_size=8)  # the trunk changes: a new mirror must copy its values
        later = []
        while not later or later[-1].trunk_in_shard in (trunk, *(m.trunk for m in made)):
            later.append(tfshare.Classifier(trunk=trunk, num_classes=3, seed=20 + len(later)))
            assert len(later) < 20, "no new mirror"
        fresh = later[-1].shard._mirror
        assert fresh.shard in gs.shards and fresh in trunk._mirrors and fresh.trunk.name != full.trunk.name
        _assert_trunks_equal(trunk, left + later)
        probabilities = later[-1].predict_proba(x)
        np.testing.assert_array_equal(tfshare.predict_many(left + later, x)[later[-1].name], probabilities)


def test_a_mirror_with_room_stays_for_the_next_head_while_its_trunk_lives():
    with tfshare.GraphSession(device="cpu") as gs:
        trunk, heads = _heads(gs)
        last = _mirrors_of(trunk, heads)[-1]
        assert last.needed()
        for head in heads:
            head.close()
        assert not last.shard.closed and last in trunk._mirrors
        home = trunk.shard
        tfshare.Classifier(trunk=trunk, num_classes=3)  # placements and releases leave it too
        assert home.graph.version >= mirrors.HEAD_OPS
        assert tfshare.Classifier(trunk=trunk, num_classes=3).trunk_in_shard is last.trunk


def test_the_mirrors_of_a_collected_trunk_go_at_the_next_placement():
    with tfshare.GraphSession(device="cpu") as gs:
        trunk, heads = _heads(gs)
        shards = [m.shard for m in _mirrors_of(trunk, heads) if m.needed()]
        assert shards  # a mirror with room: it stays while the trunk lives (full ones went with their heads)
        for head in heads:
            head.close()
        assert not any(shard.closed for shard in shards)
        del trunk, heads, head
        gc.collect()
        assert not any(shard.closed for shard in shards)  # recorded only: a collection may run inside any lock
        clf = tfshare.DenseClassifier(16, 3, (4,), runtime=gs, seed=0)
        assert all(shard.closed for shard in shards) and not any(shard in gs.shards for shard in shards)
        assert clf.predict_proba(np.zeros((2, 16), np.float32)).shape == (2, 3)


def test_making_and_closing_heads_past_the_budget_keeps_the_shards_bounded():
    """The churn loop: each round makes heads past the trunk's budget (onto mirrors), then closes them all."""
    with tfshare.GraphSession(device="cpu") as gs:
        trunk = tfshare.SharedTrunk(gs, 16, (8,), seed=0)
        counts = []
        for round_ in range(4):
            heads = [tfshare.Classifier(trunk=trunk, num_classes=3, seed=i) for i in range(8)]
            assert _mirrors_of(trunk, heads), "no head went to a mirror"
            for head in heads:
                head.close()
            counts.append((len(gs.shards), len(trunk._mirrors)))
        assert counts[-1] == counts[1] and counts[-1][0] <= 3, counts  # the trunk's shard, one mirror with room


def test_a_mirror_full_when_made_keeps_its_shard_for_the_head_it_was_made_for(monkeypatch):
    """A trunk over the budget by itself: each head gets a new mirror, full at once. The head's unit is counted
    before the mirror's construction ends, so the shard is not reclaimed under it; its close reclaims it."""
    monkeypatch.setattr(mirrors, "HEAD_OPS", 1)
    x = np.zeros((2, 16), np.float32)
    with tfshare.GraphSession(device="cpu") as gs:
        trunk = tfshare.SharedTrunk(gs, 16, (8,), seed=0)
        for i in range(3):
            head = tfshare.Classifier(trunk=trunk, num_classes=3, seed=i)
            mirror = head.shard._mirror
            assert head.trunk_in_shard is mirror.trunk and not mirror.needed()
            assert head.predict_proba(x).shape == (2, 3)
            head.close()
            assert mirror.shard.closed and gs.shards == [gs] and trunk._mirrors == []


def test_a_head_is_counted_in_its_mirrors_shard_before_its_build(monkeypatch):
    """The last other head of a mirror closes (another thread's close, here inside the build: deterministic)
    while the mirror stops taking heads: the shard stays for the head being built."""
    x = np.zeros((2, 16), np.float32)
    with tfshare.GraphSession(device="cpu") as gs:
        trunk, heads = _heads(gs)
        last = _mirrors_of(trunk, heads)[-1]
        on_last = [h for h in heads if h.trunk_in_shard is last.trunk]
        for head in on_last[:-1]:
            head.close()
        other = on_last[-1]
        build = tfshare.Classifier._build

        def close_the_other_during_the_build(self):
            if self.shard is last.shard and not other.closed:
                monkeypatch.setattr(mirrors, "HEAD_OPS", 1)  # the mirror is no longer needed
                other.close()
            return build(self)

        monkeypatch.setattr(tfshare.Classifier, "_build", close_the_other_during_the_build)
        head = tfshare.Classifier(trunk=trunk, num_classes=3, seed=30)
        assert head.trunk_in_shard is last.trunk and other.closed and not last.shard.closed
        assert head.predict_proba(x).shape == (2, 3)
        head.close()
        assert last.shard.closed


def test_a_head_on_a_reclaimed_mirror_object_goes_to_the_trunk():
    """``trunk=`` a mirror whose shard was reclaimed stands for its (live) trunk, as any mirror."""
    with tfshare.GraphSession(device="cpu") as gs:
        trunk, heads = _heads(gs)
        full = _mirrors_of(trunk, heads)[0]
        for head in heads:
            if head.trunk_in_shard is full.trunk:
                head.close()
        assert full.shard.closed
        head = tfshare.Classifier(trunk=full.trunk, num_classes=3, seed=40)
        assert head.trunk is trunk and not head.shard.closed
        assert head.predict_proba(np.zeros((2, 16), np.float32)).shape == (2, 3)

