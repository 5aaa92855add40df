"""A sharded runtime's k-th classifier costs no work over its k-1 earlier ones: initialize() and names.

``initialize()`` of a root visits every shard, and a default name is the first
free ``name_N``; both once read every earlier classifier (O(k) for the k-th).
These tests count the work instead of timing it, and check that the shortcuts
keep the answers: every variable still initialized, every name still the
first free one.
"""

from __future__ import annotations

import numpy as np
import pytest

import tfshare
from tfshare import runtime as runtime_module
from tfshare._tf import tf, tf1


@pytest.fixture
def sharded():
    gs = tfshare.GraphSession(device="cpu", shard_size=1)
    yield gs
    gs.close()


def _mlp(gs, seed=0, **kwargs):
    return tfshare.DenseClassifier(4, 2, (3,), runtime=gs, seed=seed, **kwargs)


def test_initialize_reads_the_variables_of_changed_shards_only(sharded, monkeypatch):
    _kept = [_mlp(sharded, seed) for seed in range(4)]  # live: a shard of collected classifiers is reclaimed
    assert sharded.initialize() == 16 and len(sharded.shards) == 4
    read = []
    own = runtime_module.GraphSession._own_initializable
    monkeypatch.setattr(runtime_module.GraphSession, "_own_initializable",
                        lambda self: read.append(self) or own(self))
    assert sharded.initialize() == 0 and read == []
    clf = _mlp(sharded, 4)
    assert sharded.initialize() == 4
    assert read == [clf.shard]  # not the 4 shards before it


def test_a_variable_made_in_a_full_shard_outside_a_build_is_still_initialized(sharded):
    first, _ = _mlp(sharded, 0), _mlp(sharded, 1)
    assert sharded.initialize() == 8
    with first.shard.graph.as_default():
        extra = tf1.Variable(np.full((2,), 3.0, np.float32), name="extra")
        read = extra.read_value()
    assert sharded.initialize() == 1
    np.testing.assert_array_equal(sharded.run(read), [3.0, 3.0])


@pytest.mark.parametrize("collections", [[tf1.GraphKeys.GLOBAL_VARIABLES], [tf1.GraphKeys.LOCAL_VARIABLES],
                                         [tf1.GraphKeys.GLOBAL_VARIABLES, tf1.GraphKeys.LOCAL_VARIABLES]],
                         ids=["global", "local", "both"])
def test_a_variable_added_to_a_collection_later_is_initialized(sharded, collections):
    """Once, and counted once, even when it is in both collections initialize() covers."""
    clf = _mlp(sharded, 0)
    graph = clf.shard.graph
    with graph.as_default():
        late = tf1.Variable(np.ones((2,), np.float32), name="late", collections=[])
        read = late.read_value()
    assert sharded.initialize() == 4  # not in a collection: not initialize()'s
    for collection in collections:
        graph.add_to_collection(collection, late)  # no new op, a longer collection
    assert sharded.initialize() == 1
    np.testing.assert_array_equal(sharded.run(read), [1.0, 1.0])


def test_a_closed_sharded_root_refuses_to_initialize(sharded):
    """Only shards the root listed and then reclaimed are skipped; the closed root itself says so."""
    _kept = [_mlp(sharded, seed) for seed in range(2)]
    assert len(sharded.shards) == 2
    sharded.close()
    with pytest.raises(tfshare.ClosedError, match=r"is closed"):
        sharded.initialize()


def test_a_failed_initialization_is_tried_again(sharded, monkeypatch):
    clf = _mlp(sharded, 0)
    make = runtime_module.GraphSession._make_fn

    def failing(*args, **kwargs):
        raise tf.errors.InternalError(None, None, "planted")

    monkeypatch.setattr(runtime_module.GraphSession, "_make_fn", failing)
    with pytest.raises(tf.errors.InternalError, match="planted"):
        sharded.initialize()
    monkeypatch.setattr(runtime_module.GraphSession, "_make_fn", make)
    assert sharded.initialize() == 4
    assert clf.predict_proba(np.zeros((1, 4), np.float32)).shape == (1, 2)


class _CountingSet(set):
    """A set that counts membership tests (``reserve_name`` asks ``root._names`` about each candidate)."""

    def __init__(self, *args):
        super().__init__(*args)
        self.asked = 0

    def __contains__(self, item):
        self.asked += 1
        return super().__contains__(item)


def test_a_default_name_is_found_without_asking_about_every_earlier_one():
    gs = tfshare.GraphSession(device="cpu", shard_size=4)
    try:
        for seed in range(20):
            _mlp(gs, seed)
        gs._names = _CountingSet(gs._names)
        clf = _mlp(gs, 20)
        assert clf.name == "dense_classifier_20"
        assert gs._names.asked <= 2  # the last chosen name, then the next one (not 21 candidates)
    finally:
        gs.close()


def test_default_names_are_still_the_first_free_ones_across_shards():
    gs = tfshare.GraphSession(device="cpu", shard_size=1)
    try:
        kept = [_mlp(gs, 0), _mlp(gs, 1, name="dense_classifier_2")]  # live: their shards stay
        with gs.shards[1].graph.as_default():
            tf.constant(0.0, name="dense_classifier_3")  # an op of the user's, in a shard other than the newest
        kept += [_mlp(gs, seed) for seed in range(2, 5)]
        with gs.shards[0].graph.as_default(), tf1.name_scope("outer"):
            kept.append(_mlp(gs, 5))  # a caller's name scope in another shard's graph
        kept.append(_mlp(gs, 6, name="other"))
        kept.append(_mlp(gs, 7))
        names = [clf.name for clf in kept]
        assert names == ["dense_classifier", "dense_classifier_2", "dense_classifier_1", "dense_classifier_4",
                         "dense_classifier_5", "dense_classifier_6", "other", "dense_classifier_7"]
    finally:
        gs.close()
