"""Trunk mirrors: heads beyond a trunk shard's op budget sit on copies of the trunk, with the same answers."""

from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import pytest

import tfshare
from tfshare import mirrors
from tfshare._tf import tf

BUDGET = 100  # ops: a few heads of the small MLP trunk per shard
N_HEADS = 11


@pytest.fixture(autouse=True)
def small_budget(monkeypatch):
    monkeypatch.setattr(mirrors, "HEAD_OPS", BUDGET)


def _heads(gs, n=N_HEADS, kind="mlp", **trunk_kwargs):
    if kind == "mlp":
        trunk = tfshare.SharedTrunk(gs, 16, (8,), seed=0, **trunk_kwargs)
    else:
        trunk = tfshare.SharedTrunk(gs, layers=tfshare.architectures.conv((8, 8, 1), filters=(4, 8)), seed=0)
    return trunk, [tfshare.Classifier(trunk=trunk, num_classes=3, seed=i) for i in range(n)]


@pytest.fixture
def mirrored():
    gs = tfshare.GraphSession(device="cpu")
    trunk, heads = _heads(gs)
    yield gs, trunk, heads
    gs.close()


@pytest.fixture
def one_graph():
    gs = tfshare.GraphSession(device="cpu", shard_size=None)
    trunk, heads = _heads(gs)
    yield gs, trunk, heads
    gs.close()


def _data(rng, n=40, shape=(16,)):
    return rng.random((n, *shape), dtype=np.float32), rng.integers(0, 3, n)


def _trunk_values(trunk, heads):
    """{shard index: [values of the trunk's variables as that shard holds them]}, home first."""
    shards = trunk.runtime.shards
    out = {shards.index(trunk.shard): trunk.shard.run(trunk.variables)}
    for head in heads:
        body = head.trunk_in_shard
        if body is not trunk:
            out.setdefault(shards.index(head.shard), head.shard.run(body.variables))
    return out


def _assert_trunks_equal(trunk, heads):
    values = list(_trunk_values(trunk, heads).values())
    assert len(values) > 1
    for other in values[1:]:
        for a, b in zip(values[0], other):
            np.testing.assert_array_equal(a, b)


def test_heads_beyond_the_budget_sit_on_mirrors_in_shards_of_bounded_size(mirrored):
    gs, trunk, heads = mirrored
    home = [h for h in heads if h.shard is trunk.shard]
    away = [h for h in heads if h.shard is not trunk.shard]
    assert home and away and len(gs.shards) >= 3  # the budget was reached in the trunk's shard and in a mirror's
    assert all(h.trunk is trunk for h in heads)  # what users see: one trunk
    assert all(h.trunk_in_shard is trunk for h in home)
    bodies = {id(h.trunk_in_shard): h.trunk_in_shard for h in away}
    assert len(bodies) == len(gs.shards) - 1  # one mirror per further shard
    for body in bodies.values():
        assert body is not trunk and body.shard is not trunk.shard and body.config == trunk.config
        assert sum(b.shard is body.shard for b in bodies.values()) == 1
    for shard in gs.shards:  # each took heads while under the budget: at most one head (and the sync ops) over it
        assert shard.graph.version < BUDGET + 40, [s.graph.version for s in gs.shards]
    # Mirror variables are in no collection: nothing initializes, saves or lists them.
    listed = {id(v) for v in gs.global_variables()}
    mirrored_vars = [v for body in bodies.values() for v in body.variables]
    assert mirrored_vars and not any(id(v) in listed for v in mirrored_vars)
    assert all(id(v) in listed for v in trunk.variables)
    assert all(v.trainable == w.trainable for v, w in zip(trunk.variables, next(iter(bodies.values())).variables))


def test_a_runtime_without_shards_keeps_every_head_in_the_trunks_graph(one_graph):
    gs, trunk, heads = one_graph
    assert all(h.shard is gs and h.trunk_in_shard is trunk for h in heads) and len(gs.shards) == 1


def test_mirrored_heads_predict_as_heads_in_one_graph(mirrored, one_graph, rng):
    x, _ = _data(rng)
    for head, twin in zip(mirrored[2], one_graph[2]):
        np.testing.assert_allclose(head.predict_proba(x), twin.predict_proba(x), atol=1e-6)
        np.testing.assert_array_equal(head.predict(x), twin.predict(x))
    trunk, heads = mirrored[1], mirrored[2]
    with tfshare.GraphSession(device="cpu") as gs:  # a head of the same seed in the trunk's own shard
        t2 = tfshare.SharedTrunk(gs, 16, (8,), seed=0)
        home_twin = tfshare.Classifier(trunk=t2, num_classes=3, seed=N_HEADS - 1)
        np.testing.assert_allclose(heads[-1].predict_proba(x), home_twin.predict_proba(x), atol=1e-6)
        assert heads[-1].shard is not trunk.shard and home_twin.shard is t2.shard


def test_fit_of_a_mirrored_head_reaches_the_trunk_and_every_mirror(mirrored, one_graph, rng):
    x, y = _data(rng)
    (_, trunk, heads), (_, _, twins) = mirrored, one_graph
    before = trunk.shard.run(trunk.variables)
    for clf in (heads[-1], twins[-1]):
        clf.fit(x, y, epochs=2, batch_size=8, shuffle=False)
    after = trunk.shard.run(trunk.variables)
    assert not np.allclose(before[0], after[0])  # the trunk itself moved
    _assert_trunks_equal(trunk, heads)
    for head, twin in zip(heads, twins):  # home heads, mirrored heads: as in one graph
        np.testing.assert_allclose(head.predict_proba(x), twin.predict_proba(x), atol=1e-6)
    np.testing.assert_allclose(heads[-1].evaluate(x, y)["loss"], twins[-1].evaluate(x, y)["loss"], atol=1e-6)


def test_fit_of_a_home_head_reaches_every_mirrored_head(mirrored, one_graph, rng):
    x, y = _data(rng)
    (_, trunk, heads), (_, _, twins) = mirrored, one_graph
    first = [h.predict_proba(x) for h in heads]  # every mirror copied the trunk once
    assert heads[0].shard is trunk.shard
    for clf in (heads[0], twins[0]):
        clf.fit(x, y, epochs=2, batch_size=8, shuffle=False)
    for head, twin, old in zip(heads, twins, first):
        now = head.predict_proba(x)
        assert not np.allclose(now, old, atol=1e-6)
        np.testing.assert_allclose(now, twin.predict_proba(x), atol=1e-6)
    _assert_trunks_equal(trunk, heads)


def test_set_weights_and_restore_in_the_trunks_shard_reach_mirrored_heads(mirrored, rng, tmp_path):
    x, y = _data(rng)
    _, trunk, heads = mirrored
    home, away = heads[0], heads[-1]
    saved = home.save(str(tmp_path / "home"))
    expected = away.predict_proba(x)
    weights = home.get_weights()
    weights["hidden_0/kernel"] = weights["hidden_0/kernel"] * 2.0
    home.set_weights(weights)
    np.testing.assert_array_equal(away.get_weights()["hidden_0/kernel"], weights["hidden_0/kernel"])
    assert not np.allclose(away.predict_proba(x), expected, atol=1e-6)
    home.restore(saved)
    np.testing.assert_allclose(away.predict_proba(x), expected, atol=1e-6)
    _assert_trunks_equal(trunk, heads)


def test_set_weights_of_a_mirrored_head_reaches_the_trunk(mirrored, rng):
    x, _ = _data(rng)
    _, trunk, heads = mirrored
    away = heads[-1]
    weights = away.get_weights()
    weights["hidden_0/bias"] = weights["hidden_0/bias"] + 0.5
    away.set_weights(weights)
    np.testing.assert_allclose(trunk.shard.run(trunk.named_variables()["hidden_0/bias"]), weights["hidden_0/bias"],
                               atol=1e-6)
    np.testing.assert_allclose(heads[0].get_weights()["hidden_0/bias"], weights["hidden_0/bias"], atol=1e-6)
    _assert_trunks_equal(trunk, heads)


def test_a_mirrored_heads_checkpoint_round_trip(mirrored, rng, tmp_path):
    x, y = _data(rng)
    _, trunk, heads = mirrored
    away = heads[-1]
    saved = away.save(str(tmp_path / "away"))
    expected = {h.name: h.predict_proba(x) for h in heads}
    away.fit(x, y, epochs=2, batch_size=8)
    assert not np.allclose(heads[0].predict_proba(x), expected[heads[0].name], atol=1e-6)
    away.restore(saved)
    for head in heads:  # the trunk went back everywhere, and the restored head's own weights
        np.testing.assert_allclose(head.predict_proba(x), expected[head.name], atol=1e-5)
    _assert_trunks_equal(trunk, heads)
    with tfshare.GraphSession(device="cpu") as gs:  # keyed by architecture names: it moves to a home head
        t2 = tfshare.SharedTrunk(gs, 16, (8,), seed=5)
        twin = tfshare.Classifier(trunk=t2, num_classes=3, seed=7)
        twin.restore(saved)
        np.testing.assert_allclose(twin.predict_proba(x), expected[away.name], atol=1e-5)


def test_runtime_bundle_round_trip_with_mirrored_heads(mirrored, rng, tmp_path):
    x, y = _data(rng)
    _, trunk, heads = mirrored
    path = tfshare.save_runtime(heads, str(tmp_path / "all.npz"))
    expected = [h.predict_proba(x) for h in heads]
    heads[-1].fit(x, y, epochs=1, batch_size=8)
    heads[0].fit(x, y, epochs=1, batch_size=8)
    tfshare.restore_runtime(heads, path)
    for head, old in zip(heads, expected):
        np.testing.assert_allclose(head.predict_proba(x), old, atol=1e-6)
    _assert_trunks_equal(trunk, heads)


def test_predict_many_over_several_shards_equals_each_head(mirrored, rng):
    x, y = _data(rng)
    _, trunk, heads = mirrored
    for _ in range(2):
        together = tfshare.predict_many(heads, x)
        for head in heads:
            np.testing.assert_allclose(together[head.name], head.predict_proba(x), atol=1e-6)
        heads[-1].fit(x, y, epochs=1, batch_size=8)  # the next round reads the trained trunk


def test_export_of_mirrored_heads_serves_their_predictions(mirrored, rng, tmp_path):
    x, _ = _data(rng, n=5)
    _, trunk, heads = mirrored
    heads[-1].fit(*_data(rng), epochs=1, batch_size=8)
    chosen = [heads[0], heads[-1]]
    path = tfshare.export_saved_model(chosen, str(tmp_path / "model"))
    stored = dict(tf.train.list_variables(str(tmp_path / "model" / "variables" / "variables")))
    assert len([k for k in stored if k.startswith(trunk.name + "/")]) == len(trunk.variables)  # the trunk once
    loaded = tf.saved_model.load(path)
    for head in chosen:
        out = loaded.signatures[head.name](x=tf.constant(x))["probabilities"].numpy()
        np.testing.assert_allclose(out, head.predict_proba(x), atol=1e-5)


def test_close_of_a_mirrored_head_and_of_the_runtime(rng):
    x, _ = _data(rng)
    gs = tfshare.GraphSession(device="cpu")
    trunk, heads = _heads(gs)
    away = heads[-1]
    away.predict_proba(x)
    away.close()
    with pytest.raises(tfshare.ClosedError, match="closed"):
        away.predict_proba(x)
    others = [h.predict_proba(x) for h in heads[:-1]]
    assert all(p.shape == (len(x), 3) for p in others)
    gs.close()
    for head in (heads[0], heads[-2]):
        with pytest.raises(tfshare.ClosedError, match="closed"):
            head.predict_proba(x)


def test_a_cnn_trunks_batch_norm_statistics_reach_the_trunk_after_a_mirrored_fit(rng, monkeypatch):
    monkeypatch.setattr(mirrors, "HEAD_OPS", 140)
    x, y = _data(rng, n=16, shape=(8, 8, 1))
    with tfshare.GraphSession(device="cpu") as gs, tfshare.GraphSession(device="cpu", shard_size=None) as one:
        trunk, heads = _heads(gs, n=6, kind="cnn")
        _, twins = _heads(one, n=6, kind="cnn")
        away = heads[-1]
        assert away.shard is not trunk.shard
        mean = next(k for k in trunk.named_variables() if k.endswith("moving_mean"))
        before = trunk.shard.run(trunk.named_variables()[mean])
        away.fit(x, y, epochs=1, batch_size=8, shuffle=False)
        after = trunk.shard.run(trunk.named_variables()[mean])
        assert not np.allclose(before, after)
        np.testing.assert_allclose(after, heads[0].get_weights()[mean], atol=1e-6)
        _assert_trunks_equal(trunk, heads)
        # Dropout draws differ between graphs, so no twin trains alike: each head predicts as its weights
        # (the trained trunk's, wherever it sits) do in one graph.
        for head, twin in zip(heads, twins):
            twin.set_weights(head.get_weights())
        for head, twin in zip(heads, twins):
            np.testing.assert_allclose(head.predict_proba(x), twin.predict_proba(x), atol=1e-5)


def test_two_threads_fitting_heads_in_two_shards_keep_every_copy_equal(mirrored, rng):
    x, y = _data(rng)
    _, trunk, heads = mirrored
    before = trunk.shard.run(trunk.variables)
    errors = []

    def fit(head):
        try:
            head.fit(x, y, epochs=3, batch_size=4)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=fit, args=(h,)) for h in (heads[0], heads[-1])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    heads[-1].predict_proba(x)  # a call in the mirror's shard takes the trunk's latest values
    _assert_trunks_equal(trunk, heads)
    assert not np.allclose(before[0], trunk.shard.run(trunk.variables)[0])


def test_a_dropped_runtime_with_mirrors_closes_without_the_garbage_collector(rng):
    """The runtime holds its mirrors (through their shards); a mirror holds the runtime only weakly."""
    x, y = _data(rng)

    def build():
        gs = tfshare.GraphSession(device="cpu")
        trunk, heads = _heads(gs)
        for head in heads:
            head.predict_proba(x)
        heads[-1].fit(x, y, epochs=1, batch_size=8)
        assert heads[-1].trunk_in_shard.runtime is not None and len(gs.shards) >= 3
        return weakref.ref(gs), [weakref.ref(s) for s in gs.shards]

    gc.collect()
    gc.disable()
    try:
        root, shards = build()
        assert root() is None  # freed by reference counting alone: no cycle holds it
        assert all(s() is None or s().closed for s in shards)
    finally:
        gc.enable()


def test_a_template_trunk_is_mirrored_with_the_same_answers(rng):
    x, y = _data(rng)
    out = []
    for shard_size in (16, None):
        with tfshare.GraphSession(device="cpu", shard_size=shard_size) as gs:
            trunk = tfshare.TemplateTrunk(gs, 16, (8,), seed=0)
            heads = [tfshare.Classifier(trunk=trunk, num_classes=3, seed=i) for i in range(N_HEADS)]
            assert (heads[-1].trunk_in_shard is trunk) == (shard_size is None)
            heads[-1].fit(x, y, epochs=2, batch_size=8, shuffle=False)
            out.append([h.predict_proba(x) for h in heads])
            if shard_size is not None:
                assert isinstance(heads[-1].trunk_in_shard, tfshare.TemplateTrunk)
                _assert_trunks_equal(trunk, heads)
    for mirrored, one in zip(*out):
        np.testing.assert_allclose(mirrored, one, atol=1e-6)


def test_a_trunk_reading_a_given_input_tensor_keeps_every_head(rng):
    """A mirror would need that tensor's producer too: such a trunk's heads all stay in its shard."""
    with tfshare.GraphSession(device="cpu") as gs:
        first = tfshare.SharedTrunk(gs, 16, (8,), seed=0)
        trunk = tfshare.SharedTrunk(gs, layers=tfshare.architectures.dense(16, (8,)), seed=1,
                                    input_tensor=first.input)
        heads = [tfshare.Classifier(trunk=trunk, num_classes=3, seed=i) for i in range(N_HEADS)]
        assert all(h.shard is trunk.shard and h.trunk_in_shard is trunk for h in heads)
        assert trunk.shard.graph.version > BUDGET


def test_a_head_built_on_a_mirror_sits_on_the_mirrors_trunk(mirrored, one_graph, rng):
    """``head.trunk_in_shard`` is public: a head built on it is a head of the trunk it mirrors, wherever it goes."""
    x, y = _data(rng)
    (gs, trunk, heads), (one, twin_trunk, twins) = mirrored, one_graph
    mirror = heads[-1].trunk_in_shard
    assert mirror is not trunk and mirror.runtime is gs
    more = [tfshare.Classifier(trunk=mirror, runtime=gs if i % 2 else None, num_classes=3, seed=N_HEADS + i)
            for i in range(N_HEADS)]
    more_twins = [tfshare.Classifier(trunk=twin_trunk, num_classes=3, seed=N_HEADS + i) for i in range(N_HEADS)]
    assert all(h.trunk is trunk for h in more)
    assert {h.shard for h in more} - {h.shard for h in heads}  # the mirror's shard filled up: further shards
    for clf in (heads[0], twins[0]):  # a home head's fit reaches every head built on the mirror
        clf.fit(x, y, epochs=2, batch_size=8, shuffle=False)
    for head, twin in zip(more, more_twins):
        np.testing.assert_allclose(head.predict_proba(x), twin.predict_proba(x), atol=1e-6)
    for clf in (more[-1], more_twins[-1]):  # and their fit reaches the trunk
        clf.fit(x, y, epochs=2, batch_size=8, shuffle=False)
    np.testing.assert_allclose(heads[0].predict_proba(x), twins[0].predict_proba(x), atol=1e-6)
    _assert_trunks_equal(trunk, heads + more)


def test_a_mirror_of_a_collected_trunk_takes_no_heads():
    """Its trunk's shard may be closed (reclaimed), so a head's writes could not reach it: refused, not a later ClosedError."""
    with tfshare.GraphSession(device="cpu") as gs:
        trunk, heads = _heads(gs)
        mirror = heads[-1].trunk_in_shard
        assert mirror is not trunk
        del trunk, heads
        gc.collect()
        with pytest.raises(tfshare.InputError, match=r"trunk must be a live trunk or a mirror of one, got '.*_mirror_\d+'.*garbage-collected"):
            tfshare.Classifier(trunk=mirror, num_classes=3, seed=0)
