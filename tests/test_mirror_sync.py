"""Trunk mirrors through every Session path of a mirror's shard, ``mirrors.deferring``, placement and names."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import tfshare
from tfshare import mirrors, trunk_copy
from tfshare._tf import config_pb2, tf, tf1
from test_trunk_mirror import _data, _heads, mirrored, small_budget  # noqa: F401 - fixtures

KEY = "hidden_0/bias"


def _home(trunk):
    """The trunk's value of KEY, read in its own shard (no mirror is involved)."""
    return trunk.shard.run(trunk.named_variables()[KEY])


def _away(trunk, heads):
    """A head on a mirror, and that mirror's variable of KEY."""
    head = next(h for h in heads if h.shard is not trunk.shard)
    return head, head.trunk_in_shard.named_variables()[KEY]


def _moved(head, delta=1.0):
    """``head``'s weights with KEY moved by ``delta``."""
    weights = head.get_weights()
    weights[KEY] = weights[KEY] + np.float32(delta)
    return weights


@pytest.fixture
def mirrored_grappler():
    """As ``mirrored``, with Grappler on: without pruned placement, whose Sessions refuse a partial run's feeds."""
    with tfshare.GraphSession(device="cpu", grappler=True) as gs:
        yield (gs, *_heads(gs))


def test_a_users_session_calls_in_a_mirrors_shard_read_the_trunk_and_their_writes_reach_it(mirrored_grappler):
    _, trunk, heads = mirrored_grappler
    away, variable = _away(trunk, heads)
    session = away.shard.session
    with away.shard.building():
        zero = tf1.placeholder(tf.float32, [], name="zero")  # every path takes a feed
        bump = variable.assign_add(tf.ones_like(variable) + zero)  # its new value: partial_run fetches tensors only
        read = tf.identity(variable) + zero
    paths = {
        "run": lambda fetch: session.run(fetch, {zero: 0.0}),
        "partial_run": lambda fetch: session.partial_run(session.partial_run_setup([fetch], [zero]), fetch, {zero: 0.0}),
        "make_callable": lambda fetch: session.make_callable(fetch, [zero])(0.0),
    }
    for name, call in paths.items():
        heads[0].set_weights(_moved(heads[0]))  # a write in the trunk's own shard...
        np.testing.assert_array_equal(call(read), _home(trunk), err_msg=name)  # ...which the mirror's shard reads
        expected = _home(trunk) + 1.0
        call(bump)
        np.testing.assert_allclose(_home(trunk), expected, atol=1e-6, err_msg=name)  # the write reached the trunk
        np.testing.assert_allclose(heads[0].get_weights()[KEY], expected, atol=1e-6, err_msg=name)


def test_a_read_only_callable_in_a_mirrors_shard_reads_the_trunk_without_writing_it(mirrored):
    _, trunk, heads = mirrored
    away, variable = _away(trunk, heads)
    with away.shard.building():
        read = tf.identity(variable)
    fn = away.shard.callable([read], read_only=True)
    heads[0].set_weights(_moved(heads[0]))
    own_clock = away.shard.write_clock.value
    np.testing.assert_array_equal(fn()[0], _home(trunk))
    # The pull wrote the mirror, but as a copy: its shard's caches (a head bank) stay valid, nothing is pushed back.
    assert away.shard.write_clock.value == own_clock
    clock = trunk.shard.write_clock.value
    for _ in range(3):  # warm reads: no pull, no push, nothing run in the trunk's shard
        fn(), away.predict_proba(np.zeros((2, 16), np.float32))
    assert trunk.shard.write_clock.value == clock


def test_a_mirrored_heads_fit_writes_the_trunk_once_when_it_returns(mirrored, rng):
    x, y = _data(rng)
    _, trunk, heads = mirrored
    away, _ = _away(trunk, heads)
    away.fit(x, y, epochs=1, batch_size=8)  # builds and initializes its train step
    before = _home(trunk)
    clock = trunk.shard.write_clock.value
    away.fit(x, y, epochs=2, batch_size=4)  # 20 steps
    assert trunk.shard.write_clock.value == clock + 1
    assert not np.allclose(_home(trunk), before)


def test_writes_inside_deferring_reach_the_trunk_when_the_outermost_block_ends(mirrored):
    _, trunk, heads = mirrored
    away, _ = _away(trunk, heads)
    before = _home(trunk)
    target = _moved(away, 0.5)
    with mirrors.deferring(away.shard):
        with mirrors.deferring(away.shard):
            away.set_weights(target)
        np.testing.assert_array_equal(_home(trunk), before)  # the inner block's end pushed nothing
        np.testing.assert_array_equal(away.get_weights()[KEY], target[KEY])  # the mirror holds it meanwhile
    np.testing.assert_allclose(_home(trunk), target[KEY], atol=1e-6)
    with mirrors.deferring(trunk.shard):  # the trunk's own shard holds no mirror: its writes are never deferred
        heads[0].set_weights(_moved(heads[0], 0.25))
        np.testing.assert_allclose(_home(trunk), target[KEY] + 0.25, atol=1e-6)


def test_deferring_is_per_thread(mirrored):
    _, trunk, heads = mirrored
    away, _ = _away(trunk, heads)
    neighbour = next(h for h in heads if h.shard is away.shard and h is not away)
    target = _moved(away, 0.5)
    with mirrors.deferring(away.shard):
        away.set_weights(target)
        # Another thread's write in the same shard is not deferred: it pushes the shard's changes, these included.
        thread = threading.Thread(target=lambda: neighbour.set_weights(neighbour.get_weights()))
        thread.start()
        thread.join()
        np.testing.assert_allclose(_home(trunk), target[KEY], atol=1e-6)


def test_a_deferring_block_ends_quietly_when_the_runtime_closed_within_it(rng):
    gs = tfshare.GraphSession(device="cpu")
    trunk, heads = _heads(gs)
    away, _ = _away(trunk, heads)
    with mirrors.deferring(away.shard):
        away.set_weights(_moved(away))
        gs.close()
    assert away.shard.closed


def test_a_head_joins_the_trunks_shard_while_its_graph_holds_fewer_than_head_ops_ops(monkeypatch):
    with tfshare.GraphSession(device="cpu") as gs:
        trunk = tfshare.SharedTrunk(gs, 16, (8,), seed=0)
        for _ in range(3):  # the trunk's shard grows past a mirror's size with one head
            monkeypatch.setattr(mirrors, "HEAD_OPS", trunk.shard.graph.version + 1)
            first = tfshare.Classifier(trunk=trunk, num_classes=3)
            assert first.shard is trunk.shard and first.trunk_in_shard is trunk
        monkeypatch.setattr(mirrors, "HEAD_OPS", trunk.shard.graph.version)
        second = tfshare.Classifier(trunk=trunk, num_classes=3)
        mirror = second.trunk_in_shard
        assert second.shard is not trunk.shard and mirror is not trunk
        # The mirror's shard takes heads on the same terms while the trunk's stays full.
        assert mirror.shard.graph.version < trunk.shard.graph.version
        monkeypatch.setattr(mirrors, "HEAD_OPS", mirror.shard.graph.version + 1)
        assert tfshare.Classifier(trunk=trunk, num_classes=3).trunk_in_shard is mirror
        monkeypatch.setattr(mirrors, "HEAD_OPS", mirror.shard.graph.version)
        fourth = tfshare.Classifier(trunk=trunk, num_classes=3)
        assert fourth.trunk_in_shard not in (trunk, mirror) and fourth.shard not in (trunk.shard, mirror.shard)


def test_the_newest_mirror_with_room_takes_the_next_head(monkeypatch):
    with tfshare.GraphSession(device="cpu") as gs:
        trunk, heads = _heads(gs)
        mirrors_made = list(dict.fromkeys(h.trunk_in_shard for h in heads if h.trunk_in_shard is not trunk))
        assert len(mirrors_made) >= 2
        monkeypatch.setattr(mirrors, "HEAD_OPS", 10**6)  # every shard has room again; the trunk's is tried first
        assert tfshare.Classifier(trunk=trunk, num_classes=3).trunk_in_shard is trunk
        monkeypatch.setattr(mirrors, "HEAD_OPS", trunk.shard.graph.version)  # now only mirrors may have room
        assert all(m.shard.graph.version < trunk.shard.graph.version for m in mirrors_made)
        assert tfshare.Classifier(trunk=trunk, num_classes=3).trunk_in_shard is mirrors_made[-1]


def test_a_mirror_takes_the_first_free_name(rng):
    x, y = _data(rng)
    with tfshare.GraphSession(device="cpu") as gs:
        tfshare.DenseClassifier(16, 3, (4,), runtime=gs, name="t_mirror_1", seed=0)
        trunk = tfshare.SharedTrunk(gs, 16, (8,), seed=0, name="t")
        heads = [tfshare.Classifier(trunk=trunk, num_classes=3, seed=i) for i in range(8)]
        names = list(dict.fromkeys(h.trunk_in_shard.name for h in heads if h.trunk_in_shard is not trunk))
        assert names == ["t_mirror_2", "t_mirror_3"], names  # in the order made
        heads[-1].fit(x, y, epochs=1, batch_size=8)
        np.testing.assert_allclose(heads[0].get_weights()[KEY], heads[-1].get_weights()[KEY], atol=1e-6)
        other = tfshare.SharedTrunk(gs, 16, (8,), seed=0, name="u")
        more = [tfshare.Classifier(trunk=other, num_classes=3) for _ in range(8)]
        assert next(h.trunk_in_shard for h in more if h.trunk_in_shard is not other).name == "u_mirror_1"


def test_a_mirrors_other_build_errors_are_raised(monkeypatch):
    with tfshare.GraphSession(device="cpu") as gs:
        trunk = tfshare.SharedTrunk(gs, 16, (8,), seed=0)
        tfshare.Classifier(trunk=trunk, num_classes=3)

        def refuse(*args, **kwargs):
            raise tfshare.InputError("name must be a valid scope name, got 'x'")

        monkeypatch.setattr(trunk_copy, "mirror", refuse)  # what builds the mirror's body (copied or rebuilt)
        monkeypatch.setattr(mirrors, "HEAD_OPS", 1)
        with pytest.raises(tfshare.InputError, match="valid scope name"):
            tfshare.Classifier(trunk=trunk, num_classes=3)


def test_a_mirrors_variables_leave_every_collection(mirrored):
    _, trunk, heads = mirrored
    away, _ = _away(trunk, heads)
    graph, mine = away.shard.graph, {id(v) for v in away.trunk_in_shard.variables}
    for key in graph.get_all_collection_keys():
        assert not any(id(item) in mine for item in graph.get_collection(key)), key
    assert graph.get_collection(tf1.GraphKeys.TRAINABLE_VARIABLES)  # the heads' own stay


@pytest.mark.parametrize("where", ["push", "read"])
def test_a_sync_interrupted_after_its_push_does_not_push_that_change_again(mirrored, monkeypatch, where):
    """Ctrl-C (KeyboardInterrupt) lands once a Session call returns: after the push, or in the pull after it.

    Either way the change is in the trunk once.
    """
    _, trunk, heads = mirrored
    away, _ = _away(trunk, heads)
    target = _moved(away, 0.5)
    home_sync = trunk._home_sync  # the trunk's side of its mirrors' copies: "push" then "read"
    real, interrupted = getattr(home_sync, where), []

    def interrupted_once(*args):
        if interrupted:
            return real(*args)
        interrupted.append(True)
        if where == "push":
            real(*args)
        raise KeyboardInterrupt

    monkeypatch.setattr(home_sync, where, interrupted_once)
    with pytest.raises(KeyboardInterrupt):
        away.set_weights(target)  # pushed, then interrupted before the mirror copied the trunk back
    np.testing.assert_allclose(_home(trunk), target[KEY], atol=1e-6)
    for _ in range(2):  # the next calls in the mirror's shard pull, and push nothing more
        np.testing.assert_allclose(away.get_weights()[KEY], target[KEY], atol=1e-6)
        np.testing.assert_allclose(_home(trunk), target[KEY], atol=1e-6)


def test_a_push_that_fails_is_retried_by_the_next_sync(mirrored, monkeypatch):
    """A push that raises (an OpError, a closed trunk) did not reach the trunk: the next sync pushes that change."""
    _, trunk, heads = mirrored
    away, _ = _away(trunk, heads)
    before = _home(trunk)
    target = _moved(away, 0.5)
    home_sync, failed = trunk._home_sync, []
    real = home_sync.push

    def fails_once(*args):
        if failed:
            return real(*args)
        failed.append(True)
        raise tf.errors.UnavailableError(None, None, "the trunk's shard is unreachable")

    monkeypatch.setattr(home_sync, "push", fails_once)
    with pytest.raises(tf.errors.UnavailableError):
        away.set_weights(target)
    np.testing.assert_array_equal(_home(trunk), before)  # nothing reached the trunk
    away.shard._mirror.sync()
    np.testing.assert_allclose(_home(trunk), target[KEY], atol=1e-6)
    np.testing.assert_allclose(away.get_weights()[KEY], target[KEY], atol=1e-6)


@pytest.mark.parametrize("read_only", [True, False])
def test_a_callable_in_a_mirrors_shard_passes_run_metadata_through(mirrored, read_only):
    _, trunk, heads = mirrored
    away, variable = _away(trunk, heads)
    with away.shard.building():
        read = tf.identity(variable)
    options = config_pb2.CallableOptions()
    options.fetch.append(read.name)
    options.run_options.trace_level = tf1.RunOptions.FULL_TRACE
    fn = away.shard.session._make_callable_from_options(options, read_only=read_only)
    heads[0].set_weights(_moved(heads[0]))
    metadata = tf1.RunMetadata()
    np.testing.assert_array_equal(fn(run_metadata=metadata)[0], _home(trunk))
    assert len(metadata.step_stats.dev_stats) > 0  # the trace reached the caller's RunMetadata
