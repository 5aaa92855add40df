"""Reclaiming, unit by unit: ``Shards.own``'s release, collected owners, and when a shard may close.

Stand-in runtimes (no TensorFlow): a shard is its op count, its mirror, its open
classifiers and whether it was closed; an owner is any object. These pin the
rules of ``tfshare.shards`` ("Reclaiming") one at a time; test_shard_reclaim.py
checks them with real classifiers.
"""

from __future__ import annotations

import gc
import threading

import pytest

import tfshare
from conftest import WAIT_SECONDS, join_all, never_ending_construction
from tfshare import shards


class _Shard:
    """A stand-in shard: ``place()`` reads its op count; reclaiming reads its mirror and open classifiers."""

    def __init__(self, placer_ref, ops=0):
        self.graph = type("Graph", (), {"version": ops})()
        self._mirror = None
        self.heads = []
        self.closed = False
        self.closed_under_lock = None
        self._placer_ref = placer_ref

    def shard_heads(self):
        return list(self.heads)

    def close(self):
        lock = self._placer_ref()._lock
        self.closed_under_lock = not lock.acquire(blocking=False)
        if not self.closed_under_lock:
            lock.release()
        self.closed = True


class _Owner:
    """A classifier or trunk, as far as ``own`` knows one: an object that can be collected."""


class _Mirror:
    """A stand-in trunk mirror: ``needed()`` says whether its trunk's next head may go to its shard."""

    def __init__(self, needed):
        self._needed = needed

    def needed(self):
        return self._needed


def _placer(size=2, max_ops=640):
    """(Shards of a stand-in root, the shards it made): the root holds ``size`` units already."""
    made, box = [], []

    def make(root):
        made.append(_Shard(lambda: box[0]))
        return made[-1]

    root = _Shard(lambda: box[0])
    placer = shards.Shards(root, size=size, make_shard=make, max_ops=max_ops)
    box.append(placer)
    for _ in range(size):
        placer.built(placer.place())
    assert placer.all == [root]
    return placer, root, made


def _unit(placer, owners):
    """Places and builds one unit owned by a new owner (appended to ``owners``); returns (its shard, its release)."""
    owners.append(_Owner())
    shard = placer.place()
    placer.built(shard)
    return shard, placer.own(shard, owners[-1])


def test_a_shard_closes_once_its_last_unit_is_released_and_the_next_unit_goes_to_a_new_one():
    placer, root, made = _placer()
    owners = []
    (shard, release_a), (same, release_b) = _unit(placer, owners), _unit(placer, owners)
    assert shard is same and made == [shard]
    release_a()
    assert not shard.closed and placer.all == [root, shard] and placer.reclaimed == 0
    release_b()
    assert shard.closed and placer.all == [root] and placer.reclaimed == 1
    assert shard.closed_under_lock is False  # closed after the placement lock is let go (a shard's close locks)
    assert placer.place() is made[1]  # a new shard: the root stays full


def test_a_release_counts_once_however_often_it_is_called():
    placer, _, _ = _placer()
    owners = []
    (shard, release_a), (_, release_b) = _unit(placer, owners), _unit(placer, owners)
    release_a()
    release_a()  # a second close() of the same classifier
    assert not shard.closed  # b still holds it
    release_b()
    assert shard.closed and placer.reclaimed == 1


def test_a_unit_built_into_a_shard_directly_holds_it_too():
    """``hold`` then ``own``: a trunk's head or an ``input_tensor`` classifier took no slot, but keeps its shard."""
    placer, root, _ = _placer()
    owners = [_Owner()]
    (shard, release_a), (_, release_b) = _unit(placer, owners), _unit(placer, owners)
    assert placer.hold(shard)
    release_head = placer.own(shard, owners[0])
    release_a()
    release_b()
    assert not shard.closed and shard in placer.all
    release_head()
    assert shard.closed and placer.all == [root]


def test_units_in_the_root_never_close_it_and_a_dedicated_shard_closes_once_its_mirror_is_not_needed():
    placer, root, made = _placer()
    trunk = _Owner()
    dedicated = placer.open_dedicated(trunk)
    dedicated._mirror = _Mirror(needed=True)  # its trunk's next head may go there
    placer.built(dedicated)
    owner = _Owner()
    for target in (root, dedicated):
        assert placer.hold(target)
        placer.own(target, owner)()
    assert not root.closed and not dedicated.closed and placer.all == [root, dedicated] and placer.reclaimed == 0
    assert placer.place() is made[1]  # a dedicated shard takes no placed unit
    placer.unplace(made[1])
    dedicated._mirror = _Mirror(needed=False)  # full: no later head goes there
    assert placer.hold(dedicated)
    placer.own(dedicated, owner)()
    assert dedicated.closed and root in placer.all and not root.closed


def test_a_shard_stays_while_a_construction_is_under_way_in_it():
    """Even with no unit held (an owner released before its construction ended), until that construction ends."""
    placer, root, made = _placer(size=1)
    owner = _Owner()
    shard = placer.place()
    placer.own(shard, owner)()
    assert not shard.closed and shard in placer.all
    placer.built(shard)
    assert placer.place() is made[1]  # moves past it: nothing holds it now
    assert shard.closed and placer.all == [root, made[1]]


def test_a_failed_construction_in_an_older_shard_closes_it_when_nothing_else_holds_it():
    placer, root, made = _placer(size=1)
    first = placer.place()  # under construction
    second = placer.place()  # this thread's next unit: the first shard is full (size 1)
    assert made == [first, second]
    placer.unplace(first)
    assert first.closed and placer.all == [root, second] and placer.reclaimed == 1


def test_the_newest_shard_with_room_stays_until_placement_moves_past_it():
    placer, root, made = _placer(size=3, max_ops=5)
    owners = []
    shard, release = _unit(placer, owners)
    release()
    assert not shard.closed  # the next unit goes there
    assert placer.place() is shard
    placer.unplace(shard)
    shard.graph.version = 5  # full by its ops: the next placement moves past it
    nxt = placer.place()
    assert nxt is made[1] and shard.closed and placer.all == [root, nxt]
    placer.built(nxt)
    placer.own(nxt, owners[0])()
    dedicated = placer.open_dedicated(trunk := _Owner())  # moves past it too
    assert nxt.closed and placer.all == [root, dedicated] and placer.reclaimed == 2


def test_a_reclaimed_newest_shard_leaves_the_full_one_before_it_full():
    """The newest shard, full by its ops after one unit, is reclaimed: the root before it (full by its count) must
    not take a unit past ``size`` because the count of the shard after it was lower."""
    placer, root, made = _placer(size=3, max_ops=5)
    owner = _Owner()
    shard = placer.place()
    shard.graph.version = 5
    placer.built(shard)
    placer.own(shard, owner)()
    assert shard.closed and placer.all == [root]
    assert placer.place() is made[1]  # not the root, which holds 3 already


@pytest.mark.parametrize("holds", ["mirror", "open classifier"])
def test_a_shard_holding_a_mirror_or_an_open_classifier_is_never_closed(holds):
    placer, _, _ = _placer()
    owners = []
    (shard, release_a), (_, release_b) = _unit(placer, owners), _unit(placer, owners)
    if holds == "mirror":
        shard._mirror = _Mirror(needed=True)
    else:
        shard.heads.append(object())
    release_a()
    release_b()
    assert not shard.closed and shard in placer.all


def test_a_collected_owners_unit_is_released_at_the_next_placement():
    placer, root, made = _placer()
    owners = []
    shard, _ = _unit(placer, owners)
    _unit(placer, owners)
    del owners
    gc.collect()
    assert not shard.closed  # only recorded: a collection can run inside any lock
    assert placer.place() is made[1]
    assert shard.closed and placer.all == [root, made[1]]


def test_a_collected_owners_unit_is_released_at_the_next_release_of_another_unit():
    placer, root, made = _placer()
    owners, kept = [], []
    shard, _ = _unit(placer, owners)
    _unit(placer, owners)
    other, release_other = _unit(placer, kept)  # a second shard
    assert made == [shard, other]
    del owners
    gc.collect()
    assert not shard.closed
    release_other()
    assert shard.closed and not other.closed and placer.all == [root, other]


def test_after_close_a_release_closes_nothing():
    """The runtime closes every shard itself (``close()`` returns them): the placer closes none twice."""
    placer, _, _ = _placer()
    owners = []
    (shard, release_a), (_, release_b) = _unit(placer, owners), _unit(placer, owners)
    assert placer.close() == [shard]
    release_a()
    release_b()
    assert not shard.closed and placer.reclaimed == 0
    with pytest.raises(tfshare.ClosedError, match=r"is closed; create a new GraphSession"):
        placer.open_dedicated(_Owner())


def test_extra_give_backs_do_not_keep_a_shard_open_forever():
    """More ``unplace`` calls than units (the public API allows them): the unit count stays at zero."""
    placer, root, _ = _placer(size=1)
    owner = _Owner()
    shard = placer.place()
    placer.unplace(shard)
    placer.unplace(shard)
    assert placer.place() is shard  # its slot came back once (the count does not go below zero)
    placer.built(shard)
    placer.own(shard, owner)()
    assert shard.closed and placer.all == [root]


@pytest.mark.parametrize("held", ["root", "newest"])
def test_a_placement_holding_a_build_lock_goes_on_into_the_newest_shard(monkeypatch, held):
    """Another thread's construction in the newest child shard may need the root's build lock or that shard's
    (reserve_name, building): a placement whose thread holds either one goes into that shard without waiting
    (waiting would end only at ``MAX_WAIT_SECONDS``, with the shard counted full and a new one opened)."""
    monkeypatch.setattr(shards, "MAX_WAIT_SECONDS", 0.05)
    placer, root, made = _placer(size=3)
    root._lock = threading.RLock()
    placed, done = threading.Event(), threading.Event()

    def construct():
        placer.place()  # a new child shard, its unit under construction until `done`
        placed.set()
        assert done.wait(WAIT_SECONDS)

    builder = threading.Thread(target=construct, daemon=True)
    builder.start()
    assert placed.wait(WAIT_SECONDS)
    child = made[0]
    child._lock = threading.RLock()
    with (root if held == "root" else child)._lock:
        assert placer.place() is child
    done.set()
    join_all([builder])
    assert made == [child]


@pytest.mark.parametrize("how", ["placement", "dedicated"])
def test_moving_past_the_newest_shard_closes_it_behind_older_shards(how):
    placer, root, made = _placer(size=2, max_ops=5)
    owners = []
    kept, _ = _unit(placer, owners)  # a shard that stays: its unit is open
    kept.graph.version = 5  # full by its ops
    shard, release = _unit(placer, owners)  # the next shard, with room for one more
    assert made == [kept, shard]
    release()
    assert not shard.closed
    if how == "placement":
        shard.graph.version = 5  # full by its ops too
        nxt = placer.place()
    else:
        nxt = placer.open_dedicated(trunk := _Owner())
    assert shard.closed and not kept.closed and placer.all == [root, kept, nxt]


def test_built_ends_the_callers_own_construction_not_a_later_ones_of_another_thread(monkeypatch):
    """This thread's construction and then another thread's are under way in the root; this thread's ``built``
    ends its own. The other thread then ends without ``built`` (a caller of the public ``place()``): nothing is
    left to wait for, and the next placement goes into the root, which has room."""
    monkeypatch.setattr(shards, "MAX_WAIT_SECONDS", 0.05)  # a wait for a construction left over: a new shard
    root = _Shard(lambda: placer)
    root._lock = threading.RLock()
    placer = shards.Shards(root, size=4, make_shard=lambda root: _Shard(lambda: placer))
    assert placer.place() is root  # this thread's construction

    def other():
        with root._lock:  # holds the root's build lock: places without waiting for this thread's
            assert placer.place() is root

    thread = threading.Thread(target=other, daemon=True)
    thread.start()
    join_all([thread])
    placer.built(root)
    later = []
    placing = threading.Thread(target=lambda: later.append(placer.place()), daemon=True)
    placing.start()
    join_all([placing])
    assert later == [root] and len(placer.all) == 1


def test_a_placement_waits_at_most_max_wait_for_a_construction_that_never_ends(monkeypatch):
    """Another live thread placed a unit and never ends it: a placement waits ``MAX_WAIT_SECONDS``, then counts
    that shard full and opens a new one; the next placement goes there without waiting again."""
    monkeypatch.setattr(shards, "MAX_WAIT_SECONDS", 0.05)
    monkeypatch.setattr(shards, "_RECHECK_SECONDS", 0.01)
    placer, root, made = _placer(size=3)
    out = []
    with never_ending_construction(placer.place):  # in a new shard (the root is full)
        placing = threading.Thread(target=lambda: out.extend([placer.place(), placer.place()]), daemon=True)
        placing.start()
        join_all([placing], timeout=WAIT_SECONDS / 2)
    assert len(made) == 2 and out == [made[1], made[1]]


def test_a_release_and_a_collected_owner_together_offer_both_shards():
    """A release drains the owners collected since, in other shards: each shard whose last unit went is closed."""
    placer, root, made = _placer()
    kept, collected = [], []
    full, release_a = _unit(placer, kept)
    _, release_b = _unit(placer, kept)  # the first shard is full
    newest, _ = _unit(placer, collected)  # the next one, with room
    release_b()
    del collected
    gc.collect()
    release_a()  # full's last unit, and newest's collected one
    assert full.closed and not newest.closed and placer.all == [root, newest]
