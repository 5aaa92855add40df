"""Reclaiming shards: a shard whose classifiers and trunks are all closed (or collected) is closed and dropped."""

from __future__ import annotations

import contextlib
import gc
import threading

import numpy as np
import pytest

import tfshare
from tfshare import shards
from tfshare._tf import keras

X = np.linspace(-1, 1, 4 * 16, dtype=np.float32).reshape(4, 16)


def _mlp(gs, seed, **kwargs):
    return tfshare.DenseClassifier(16, 3, (8,), runtime=gs, seed=seed, **kwargs)


def _twin(seed):
    """The same classifier, isolated: what a classifier of that seed predicts."""
    clf = tfshare.DenseClassifier(16, 3, (8,), seed=seed)
    try:
        return clf.predict_proba(X)
    finally:
        clf.close()


def test_a_shard_closes_when_its_last_classifier_closes_and_the_others_predict_the_same():
    with tfshare.GraphSession(device="cpu", shard_size=2) as gs:
        a, b, c, d = (_mlp(gs, seed) for seed in range(4))
        assert [clf.shard for clf in (a, b)] == [gs, gs] and c.shard is d.shard is gs.shards[1]
        survivors = {clf.name: clf.predict_proba(X) for clf in (a, b, d)}
        c.predict_proba(X)
        shard = c.shard
        c.close()
        assert not shard.closed and gs.shards == [gs, shard]  # d is still open in it
        d.close()
        assert shard.closed and gs.shards == [gs] and gs._shards.reclaimed == 1
        assert shard.graph not in gs.graphs
        np.testing.assert_array_equal(a.predict_proba(X), survivors[a.name])
        np.testing.assert_array_equal(b.predict_proba(X), survivors[b.name])
        e = _mlp(gs, 4)  # a fresh shard: the root is full
        assert e.shard is gs.shards[1] and e.shard is not shard and not e.shard.closed
        np.testing.assert_allclose(e.predict_proba(X), _twin(4), rtol=0, atol=1e-6)
        assert tfshare.predict_many([a, b, e], X).keys() == {a.name, b.name, e.name}
        with pytest.raises(tfshare.ClosedError, match=r"is closed"):
            d.predict_proba(X)


def test_making_and_closing_classifiers_keeps_shards_and_ops_bounded():
    """A loop of make / predict / close: the runtime holds at most two shards, and their ops stay bounded."""
    with tfshare.GraphSession(device="cpu", shard_size=4) as gs:
        keep = _mlp(gs, 100)
        before = keep.predict_proba(X)
        ops, counts = [], []
        for i in range(40):
            clf = _mlp(gs, i)
            clf.predict_proba(X)
            clf.close()
            ops.append(sum(shard.graph.version for shard in gs.shards))
            counts.append(len(gs.shards))
        assert max(counts) == 2 and gs._shards.reclaimed == 9  # 3 in the root with keep, then 4 per shard
        assert max(ops[8:]) == max(ops[:8])  # no more ops after 40 cycles than after 8
        assert all(not shard.closed for shard in gs.shards)
        np.testing.assert_array_equal(keep.predict_proba(X), before)


def test_the_newest_shard_with_room_stays_for_the_next_classifier():
    with tfshare.GraphSession(device="cpu", shard_size=2) as gs:
        _mlp(gs, 0), _mlp(gs, 1)
        c = _mlp(gs, 2)
        shard = c.shard
        c.close()  # its shard has room for one more: kept
        assert not shard.closed and gs.shards == [gs, shard]
        d = _mlp(gs, 3)
        assert d.shard is shard
        e = _mlp(gs, 4)  # a new shard: the one before is full, but d is open in it
        assert e.shard is gs.shards[2] and not shard.closed
        d.close()  # full, nothing open: closed
        assert shard.closed and gs.shards == [gs, e.shard]


def test_a_new_shard_reclaims_the_newest_when_that_is_empty():
    """A shard whose classifiers closed while it had room is closed once placement moves past it."""
    with tfshare.GraphSession(device="cpu", shard_size=1) as gs:
        _mlp(gs, 0)
        c = _mlp(gs, 1)
        shard = c.shard
        c.close()
        assert shard.closed  # full (size 1) and empty
        d = _mlp(gs, 2)
        assert gs.shards == [gs, d.shard]


def test_a_closed_classifier_releases_its_callables_in_a_shard_that_stays():
    with tfshare.GraphSession(device="cpu", shard_size=4) as gs:
        a, b = _mlp(gs, 0), _mlp(gs, 1)
        for _ in range(2):  # the first calls may run as one group (tfshare.fused.first_call); then each its own
            a.predict_proba(X), a.predict(X), b.predict_proba(X)
        scopes = lambda: sorted({t.name.split("/")[0] for fn in gs._callables.values() for t in fn.fetches})  # noqa: E731
        assert scopes() == sorted([a.name, b.name])
        a.close()
        assert scopes() == [b.name] and not gs.closed
        np.testing.assert_allclose(b.predict_proba(X), _twin(1), rtol=0, atol=1e-6)


def test_a_unit_placed_through_the_public_place_keeps_its_shard():
    """``GraphSession.place()`` with ``built()``: the runtime cannot know when that unit ends, so the shard stays."""
    with tfshare.GraphSession(device="cpu", shard_size=2) as gs:
        _mlp(gs, 0), _mlp(gs, 1)
        c = _mlp(gs, 2)
        mine = gs.place()
        gs.built(mine)
        assert mine is c.shard
        c.close()
        assert not mine.closed and gs.shards == [gs, mine]
        _mlp(gs, 3)  # a new shard after it: still kept
        assert not mine.closed and gs.shards[1] is mine


def test_a_failed_construction_gives_its_unit_back():
    with tfshare.GraphSession(device="cpu", shard_size=2) as gs:
        _mlp(gs, 0), _mlp(gs, 1)
        c = _mlp(gs, 2)
        with pytest.raises(tfshare.InputError, match=r"is already used"):
            _mlp(gs, 3, name=c.name)  # placed in c's shard, refused
        shard = c.shard
        d = _mlp(gs, 4)  # the refused one's slot went back: d fills c's shard
        assert d.shard is shard
        c.close()
        d.close()
        assert shard.closed and gs.shards == [gs]


def test_a_trunks_shard_stays_while_the_trunk_lives_and_goes_after_it_is_collected():
    with tfshare.GraphSession(device="cpu", shard_size=1) as gs:
        _mlp(gs, 0)
        trunk = tfshare.SharedTrunk(gs, 16, (8,), seed=1)
        heads = [tfshare.DenseClassifier(trunk=trunk, num_classes=3, seed=i) for i in range(2)]
        shard = trunk.shard
        assert shard is not gs and all(h.shard is shard for h in heads)
        probabilities = heads[1].predict_proba(X)
        heads[0].close()
        np.testing.assert_array_equal(heads[1].predict_proba(X), probabilities)
        heads[1].close()
        assert not shard.closed  # the trunk is still alive: new heads may come
        tfshare.DenseClassifier(trunk=trunk, num_classes=3, seed=5).close()
        del trunk, heads
        gc.collect()
        assert not shard.closed  # recorded only: a collection may run inside any lock
        _mlp(gs, 2)
        assert shard.closed and shard not in gs.shards


def test_a_trunk_built_into_a_shard_given_as_runtime_keeps_that_shard():
    """A trunk given the shard itself (``runtime=clf.shard``) took no slot from place(), and still holds it."""
    with tfshare.GraphSession(device="cpu", shard_size=1) as gs:
        _mlp(gs, 0)
        c = _mlp(gs, 1)
        shard = c.shard
        trunk = tfshare.SharedTrunk(shard, 16, (8,), seed=2)
        assert trunk.shard is shard
        c.close()
        assert not shard.closed  # the trunk is alive: its next head goes there
        head = tfshare.DenseClassifier(trunk=trunk, num_classes=3, seed=3)
        assert head.shard is shard and head.predict_proba(X).shape == (4, 3)
        head.close()
        del trunk, head
        gc.collect()
        _mlp(gs, 4)
        assert shard.closed


def test_a_collected_classifier_that_was_never_closed_releases_its_shard_at_the_next_placement():
    with tfshare.GraphSession(device="cpu", shard_size=1) as gs:
        _mlp(gs, 0)
        shard = _mlp(gs, 1).shard  # dropped, never closed
        gc.collect()
        assert not shard.closed
        _mlp(gs, 2)
        assert shard.closed and len(gs.shards) == 2


def test_an_input_tensor_classifier_keeps_its_shard_until_it_closes():
    with tfshare.GraphSession(device="cpu", shard_size=1) as gs:
        _mlp(gs, 0)
        a = _mlp(gs, 1)
        b = tfshare.Classifier(layers=lambda: [keras.layers.Dense(4)], input_shape=(16,), num_classes=3,
                               runtime=gs, seed=2, input_tensor=a.input_tensor)
        assert b.shard is a.shard
        a.close()
        assert not b.shard.closed
        probabilities = b.predict_proba(X)
        np.testing.assert_array_equal(b.predict_proba(X), probabilities)
        b.close()
        assert a.shard.closed and gs.shards == [gs]


def test_initialize_and_finalize_skip_a_shard_reclaimed_after_the_root_listed_it(monkeypatch):
    """The root lists its shards, then initializes (or finalizes) each: one reclaimed meanwhile (its last
    classifier closed in another thread) is skipped, not a ClosedError."""
    with tfshare.GraphSession(device="cpu", shard_size=1) as gs:
        _mlp(gs, 0)
        c = _mlp(gs, 1)
        listed = gs.shards
        d = _mlp(gs, 2)  # a third shard, so that the root still has others
        d.shard.initialize()
        c.close()
        assert listed[1].closed and len(gs.shards) == 2
        monkeypatch.setattr(shards.Shards, "all", property(lambda self: listed))
        assert gs.initialize() == 4  # the root's classifier: 2 kernels, 2 biases
        gs.finalize()
        assert gs.graph.finalized
        with pytest.raises(tfshare.ClosedError, match=r"is closed"):
            listed[1].finalize()  # only the root's pass skips it (a closed shard's own call still says so)


def test_closing_the_runtime_after_reclaims_closes_the_rest():
    gs = tfshare.GraphSession(device="cpu", shard_size=1)
    a, b, c = (_mlp(gs, seed) for seed in range(3))
    b.close()
    shards_left = gs.shards
    gs.close()
    assert all(shard.closed for shard in shards_left) and a.shard.closed and c.shard.closed
    c.close()  # after the runtime: harmless


# ------------------------------------------------------------------ lock order and waits


def test_a_new_shard_does_not_take_the_roots_lock_under_the_placement_lock(monkeypatch):
    """Thread A opens a shard (under the placement lock) while thread B, building into the root, places a
    classifier. A used to take the root's build lock inside the placement lock, and B holds it and waits for
    the placement lock: a deadlock. Deterministic: B takes the placement lock only once A is inside _make."""
    from conftest import WAIT_SECONDS, join_all

    gs = tfshare.GraphSession(device="cpu", shard_size=1)
    gs.built(gs.place())  # the root is full: the next placement opens a shard
    in_make, b_building = threading.Event(), threading.Event()
    make = gs._shards._make

    def make_after_b_builds(root):
        in_make.set()
        assert b_building.wait(WAIT_SECONDS)
        return make(root)

    monkeypatch.setattr(gs._shards, "_make", make_after_b_builds)
    out = []

    def a():
        out.append(("a", gs.place()))

    def b():
        with gs.building():  # holds the root's build lock
            b_building.set()
            assert in_make.wait(WAIT_SECONDS)
            out.append(("b", gs.place()))

    threads = [threading.Thread(target=a, daemon=True), threading.Thread(target=b, daemon=True)]
    for thread in threads:
        thread.start()
    join_all(threads, timeout=30.0)
    assert sorted(name for name, _ in out) == ["a", "b"] and len(gs.shards) == 3
    gs.close()


def test_a_placement_from_inside_a_root_build_does_not_wait_for_a_construction_that_needs_the_root(monkeypatch):
    """Thread A placed a unit in the newest shard and, to build it, needs the root's lock (reserve_name);
    thread B holds that lock (a build into the root) and places a classifier. B used to wait for A's
    construction, and A for B's lock. Deterministic: A asks for the lock only once B is placing. (The bounded
    wait would end it too, into a new shard: B's unit goes into the root, without waiting.)"""
    from conftest import WAIT_SECONDS, join_all

    monkeypatch.setattr(shards, "MAX_WAIT_SECONDS", 10 * WAIT_SECONDS)
    gs = tfshare.GraphSession(device="cpu", shard_size=4)
    placed, b_placing = threading.Event(), threading.Event()
    out = []

    def a():
        shard = gs.place()  # the root, with room: under construction
        placed.set()
        assert b_placing.wait(WAIT_SECONDS)
        out.append(("a", shard.reserve_name(None, "unit")))  # the root's lock
        gs.built(shard)

    def b():
        assert placed.wait(WAIT_SECONDS)
        with gs.building():
            b_placing.set()
            shard = gs.place()
            gs.built(shard)
            out.append(("b", shard))

    threads = [threading.Thread(target=a, daemon=True), threading.Thread(target=b, daemon=True)]
    for thread in threads:
        thread.start()
    join_all(threads, timeout=30.0)
    assert sorted(name for name, _ in out) == ["a", "b"] and dict(out)["b"] is gs and gs.shards == [gs]
    gs.close()


def test_a_construction_that_never_ends_stops_delaying_placements_after_max_wait(monkeypatch):
    """A live thread that called ``place()`` and never ``built()``: another thread's placement waits at most
    ``MAX_WAIT_SECONDS``, then goes to a new shard (the op budget of the stuck one is never read)."""
    from conftest import join_all, never_ending_construction

    monkeypatch.setattr(shards, "MAX_WAIT_SECONDS", 0.05)
    with tfshare.GraphSession(device="cpu", shard_size=4) as gs:
        out = []
        with never_ending_construction(gs.place):
            placer = threading.Thread(target=lambda: out.append(_mlp(gs, 0)), daemon=True)
            placer.start()
            join_all([placer], timeout=30.0)
        assert len(out) == 1 and out[0].shard is gs.shards[1]
        np.testing.assert_allclose(out[0].predict_proba(X), _twin(0), rtol=0, atol=1e-6)


# ------------------------------------------------------------------ units built into a shard directly


@pytest.fixture
def lone():
    """A runtime of one classifier per shard, and a classifier alone in its (second, full) shard."""
    with tfshare.GraphSession(device="cpu", shard_size=1) as gs:
        _mlp(gs, 0)
        yield gs, _mlp(gs, 1)


def _closing_during_the_build(monkeypatch, victim):
    """Makes the next build into ``victim``'s shard close ``victim`` once, from inside the build (what another
    thread's close would do at that moment; deterministic here)."""
    building = tfshare.GraphSession.building

    @contextlib.contextmanager
    def building_then_close(self, *args, **kwargs):
        with building(self, *args, **kwargs) as graph:
            if self is victim.shard and not victim.closed:
                victim.close()
            yield graph

    monkeypatch.setattr(tfshare.GraphSession, "building", building_then_close)


@pytest.mark.parametrize("how", ["input_tensor", "runtime_is_the_shard"])
def test_a_unit_built_into_a_shard_directly_is_counted_before_its_build(monkeypatch, lone, how):
    """An ``input_tensor=`` classifier, or one given the shard as runtime, was counted only after its build:
    the shard's last other classifier closing during the build reclaimed the shard, and the new classifier
    failed at its first call with ClosedError."""
    gs, a = lone
    shard = a.shard
    _closing_during_the_build(monkeypatch, a)
    kwargs = {"input_tensor": a.input_tensor, "runtime": gs} if how == "input_tensor" else {"runtime": shard}
    b = tfshare.Classifier(layers=lambda: [keras.layers.Dense(4)], input_shape=(16,), num_classes=3, seed=2,
                           **kwargs)
    monkeypatch.undo()
    assert a.closed and b.shard is shard and not shard.closed
    assert b.predict_proba(X).shape == (4, 3)
    b.close()
    assert shard.closed and gs.shards == [gs]


def test_a_unit_built_into_a_shard_directly_gives_its_count_back_when_its_build_fails(lone):
    """At once, not when the half-built object is collected: the tracebacks kept here keep both alive."""
    gs, a = lone
    shard = a.shard
    with pytest.raises(tfshare.InputError, match=r"is already used") as by_runtime:
        _mlp(shard, 2, name=a.name)
    with pytest.raises(tfshare.InputError, match=r"is already used") as by_input_tensor:
        tfshare.Classifier(layers=lambda: [keras.layers.Dense(4)], input_shape=(16,), num_classes=3, runtime=gs,
                           input_tensor=a.input_tensor, name=a.name)
    with pytest.raises(tfshare.InputError, match=r"is already used") as by_trunk:
        tfshare.SharedTrunk(shard, 16, (8,), seed=0, name=a.name)
    a.close()
    assert shard.closed and gs.shards == [gs]
    assert by_runtime.traceback and by_input_tensor.traceback and by_trunk.traceback


def test_a_unit_given_a_reclaimed_shard_as_runtime_is_refused(lone):
    gs, a = lone
    shard = a.shard
    a.close()
    assert shard.closed
    with pytest.raises(tfshare.ClosedError, match=r"was closed: every classifier and trunk in it was closed"):
        _mlp(shard, 2)
    with pytest.raises(tfshare.ClosedError, match=r"was closed: every classifier and trunk in it was closed"):
        tfshare.SharedTrunk(shard, 16, (8,), seed=0)


def test_a_classifier_constructed_inside_a_build_into_a_shard_does_not_take_the_roots_build_lock(monkeypatch):
    """Thread A builds into a shard (its build lock) and constructs a classifier there; thread B holds the
    root's build lock and takes the shard's (what ``fused`` does for a root classifier: ``release_callable``
    under the root's lock visits every shard's). A's name used to need the root's build lock: a deadlock.
    Deterministic: each takes its second lock only once the other holds its first."""
    from conftest import WAIT_SECONDS, join_all

    gs = tfshare.GraphSession(device="cpu", shard_size=1)
    _mlp(gs, 0)
    keep = _mlp(gs, 1)
    shard = keep.shard
    a_holds, b_holds = threading.Event(), threading.Event()
    out = []

    def a():
        with shard.building():
            a_holds.set()
            assert b_holds.wait(WAIT_SECONDS)
            out.append(("a", _mlp(gs, 2)))

    def b():
        with gs.building():
            b_holds.set()
            assert a_holds.wait(WAIT_SECONDS)
            gs.release_callable(object())  # every shard's lock, under the root's
            out.append(("b", None))

    threads = [threading.Thread(target=a, daemon=True), threading.Thread(target=b, daemon=True)]
    for thread in threads:
        thread.start()
    join_all(threads, timeout=30.0)
    assert sorted(name for name, _ in out) == ["a", "b"]
    assert dict(out)["a"].predict_proba(X).shape == (4, 3) and not keep.shard.closed
    gs.close()
