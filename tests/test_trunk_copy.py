"""Trunk mirrors copied from the trunk's ops (tfshare.trunk_copy), not rebuilt through tf_keras."""

from __future__ import annotations

import numpy as np
import pytest

import tfshare
from tfshare import mirrors, trunk_copy
from tfshare._tf import keras, tf, tf1

SHAPE = (8, 8, 1)


@pytest.fixture
def made(monkeypatch):
    """The class names of the tf_keras layers constructed from now on, in order."""
    names: list[str] = []
    init = keras.layers.Layer.__init__

    def counting(self, *args, **kwargs):
        names.append(type(self).__name__)
        init(self, *args, **kwargs)

    monkeypatch.setattr(keras.layers.Layer, "__init__", counting)
    return names


@pytest.fixture
def gs():
    with tfshare.GraphSession(device="cpu") as runtime:
        yield runtime


def _cnn(dropout=0.25):
    return tfshare.architectures.conv(SHAPE, filters=(4, 8), dropout=dropout)


def _data(rng, n=16):
    return rng.random((n, *SHAPE), dtype=np.float32), rng.integers(0, 3, n)


def _home_then_full(monkeypatch, trunk, seed=7):
    """A head in the trunk's shard; then the shard counts as full: every later head sits on a mirror."""
    home = tfshare.Classifier(trunk=trunk, num_classes=3, seed=seed)
    assert home.shard is trunk.shard
    monkeypatch.setattr(mirrors, "HEAD_OPS", trunk.shard.graph.version)
    return home


def _away(trunk, made, seed=7):
    """A head on a new mirror of ``trunk``; the tf_keras layers constructed meanwhile."""
    del made[:]
    head = tfshare.Classifier(trunk=trunk, num_classes=3, seed=seed)
    assert head.shard is not trunk.shard and head.trunk_in_shard is not trunk
    return head, list(made)


def _scoped_ops(graph, scope):
    """(relative name, type) of the ops in ``scope``, mirror sync ops left out, sorted."""
    return sorted((op.name[len(scope):], op.type) for op in graph.get_operations()
                  if op.name.startswith(scope) and not op.name.startswith(scope + "sync/"))


def test_a_cnn_mirror_is_a_copy_of_the_trunks_ops_made_without_tf_keras_layers(gs, made, monkeypatch):
    trunk = tfshare.SharedTrunk(gs, layers=_cnn(), seed=0)
    _home_then_full(monkeypatch, trunk)
    head, layers = _away(trunk, made)
    assert layers == ["Dense"]  # the head's own; a rebuilt mirror makes the body's 9 layers too
    mirror = head.trunk_in_shard
    assert isinstance(mirror, tfshare.SharedTrunk) and mirror.shard is head.shard
    assert mirror.input.graph is mirror.output.graph is mirror.shard.graph
    original = [(op.name[len(trunk.name) + 1:], op.type) for op in trunk._built[0]]
    copied = _scoped_ops(mirror.shard.graph, mirror.name + "/")
    assert copied == sorted(original) and len(copied) > 50
    # Its variables: the trunk's keys in the trunk's order, same shapes, dtypes and trainability; in no collection.
    assert list(mirror.named_variables()) == list(trunk.named_variables())
    for key, v in trunk.named_variables().items():
        w = mirror.named_variables()[key]
        assert (w.shape, w.dtype, w.trainable) == (v.shape, v.dtype, v.trainable)
        assert w.graph is mirror.shard.graph and w.name.startswith(mirror.name + "/")
    graph = mirror.shard.graph
    listed = {id(v) for key in graph.get_all_collection_keys() for v in graph.get_collection(key)}
    assert not any(id(v) in listed for v in mirror.variables)
    assert mirror.config == trunk.config and mirror.output_dim == trunk.output_dim
    assert mirror.frozen_keys == trunk.frozen_keys and mirror.training_sensitive


def test_heads_on_a_copied_mirror_predict_as_heads_in_the_trunks_shard(gs, made, monkeypatch, rng):
    x, y = _data(rng)
    trunk = tfshare.SharedTrunk(gs, layers=_cnn(), seed=0)
    home = _home_then_full(monkeypatch, trunk)
    away, _ = _away(trunk, made)  # the same seed: the same head weights
    other, _ = _away(trunk, made, seed=9)
    np.testing.assert_allclose(away.predict_proba(x), home.predict_proba(x), atol=1e-5)
    before = home.predict_proba(x)
    other.fit(x, y, epochs=2, batch_size=8, shuffle=False)  # a mirrored head moves the trunk: every copy follows
    assert not np.allclose(home.predict_proba(x), before, atol=1e-5)
    np.testing.assert_allclose(away.predict_proba(x), home.predict_proba(x), atol=1e-5)
    np.testing.assert_allclose(tfshare.predict_many([home, away], x)[away.name], home.predict_proba(x), atol=1e-5)


def _fit_mirrored(monkeypatch, made, rng, copy):
    """Trunk and head values after a mirrored head's fit, its mirror copied or rebuilt; the layers made at its build."""
    x, y = _data(rng)
    if not copy:
        monkeypatch.setattr(trunk_copy, "template", lambda trunk: None)
    with tfshare.GraphSession(device="cpu") as runtime:
        trunk = tfshare.SharedTrunk(runtime, layers=_cnn(dropout=0.0), seed=0)  # no Dropout: both fits alike
        home = _home_then_full(monkeypatch, trunk)
        away, layers = _away(trunk, made, seed=3)
        away.fit(x, y, epochs=2, batch_size=8, shuffle=False)
        values = trunk.shard.run(trunk.named_variables())
        mirrored = away.shard.run(away.trunk_in_shard.named_variables())
        return values, mirrored, away.get_weights(), home.predict_proba(x), layers


def test_a_fit_on_a_copied_mirror_reaches_the_trunk_exactly_as_on_a_rebuilt_one(monkeypatch, made, rng):
    state = rng.bit_generator.state
    copied = _fit_mirrored(monkeypatch, made, rng, copy=True)
    rng.bit_generator.state = state
    rebuilt = _fit_mirrored(monkeypatch, made, rng, copy=False)
    assert copied[4] == ["Dense"] and len(rebuilt[4]) > 1  # each path was the one taken
    trunk_copied, trunk_rebuilt = copied[0], rebuilt[0]
    means = [k for k in trunk_copied if k.endswith("moving_mean")]
    assert means and not any(np.allclose(trunk_copied[k], 0.0) for k in means)  # BN statistics reached the trunk
    for key in trunk_copied:
        np.testing.assert_allclose(trunk_copied[key], trunk_rebuilt[key], atol=1e-6, err_msg=key)
        np.testing.assert_array_equal(copied[1][key], trunk_copied[key])  # the mirror took the trunk's values
    for key in copied[2]:
        np.testing.assert_allclose(copied[2][key], rebuilt[2][key], atol=1e-6, err_msg=key)
    np.testing.assert_allclose(copied[3], rebuilt[3], atol=1e-6)


def test_a_copied_mirrors_training_path_runs_dropout_and_batch_statistics_on_its_variables(gs, made, monkeypatch, rng):
    x, _ = _data(rng)
    trunk = tfshare.SharedTrunk(gs, layers=_cnn(), seed=0)
    _home_then_full(monkeypatch, trunk)
    mirror = _away(trunk, made)[0].trunk_in_shard
    graph = mirror.shard.graph
    variables = len(graph.get_collection(tf1.GraphKeys.GLOBAL_VARIABLES))
    training, updates = mirror.training_output, mirror.training_updates  # built now, through fresh layers
    assert training is not mirror.output and len(updates) == 4  # two BatchNorms' mean and variance
    bound = {id(w) for layer in mirror.layers for w in layer.weights}
    assert bound == {id(v) for v in mirror.variables}  # the fresh layers took the copied variables
    assert len(graph.get_collection(tf1.GraphKeys.GLOBAL_VARIABLES)) == variables  # and made none
    run = mirror.shard.run
    inference = run(mirror.output, {mirror.input: x})
    np.testing.assert_allclose(inference, trunk.shard.run(trunk.output, {trunk.input: x}), atol=1e-5)
    np.testing.assert_array_equal(run(mirror.output, {mirror.input: x}), inference)
    first, second = run(training, {mirror.input: x}), run(training, {mirror.input: x})
    assert not np.allclose(first, second)  # Dropout draws anew in training
    assert not np.allclose(first, inference, atol=1e-3)
    np.testing.assert_allclose(run(mirror(mirror.input), {mirror.input: x}), inference, atol=1e-6)


def test_frozen_layers_of_a_copied_mirror_stay_frozen(gs, made, monkeypatch, rng):
    x, y = _data(rng)

    def body():
        return [keras.layers.Conv2D(4, 3, use_bias=False, name="conv"),
                keras.layers.BatchNormalization(name="bn", trainable=False),
                keras.layers.ReLU(name="relu"), keras.layers.Conv2D(4, 3, name="frozen_conv", trainable=False),
                keras.layers.GlobalAveragePooling2D(name="pool")]

    trunk = tfshare.SharedTrunk(gs, layers=body, input_shape=SHAPE, seed=0)
    _home_then_full(monkeypatch, trunk)
    away, layers = _away(trunk, made)
    mirror = away.trunk_in_shard
    assert layers == ["Dense"] and mirror.frozen_keys == trunk.frozen_keys
    assert trunk.frozen_keys == {"layer_1/gamma", "layer_1/beta", "layer_3/kernel", "layer_3/bias"}
    assert [v.trainable for v in mirror.variables] == [v.trainable for v in trunk.variables]
    before = trunk.shard.run(trunk.named_variables())
    away.fit(x, y, epochs=2, batch_size=8)
    after = trunk.shard.run(trunk.named_variables())
    moved = {key for key in before if not np.array_equal(before[key], after[key])}
    assert moved == {"layer_0/kernel"}  # a frozen BatchNorm keeps its statistics too (it runs in inference mode)


def test_a_copied_mirror_adds_the_trunks_weight_penalties(gs, made, monkeypatch):
    def body():
        return [keras.layers.Dense(8, kernel_regularizer=keras.regularizers.L2(0.1), name="d"),
                keras.layers.Dense(4, name="e")]

    trunk = tfshare.SharedTrunk(gs, layers=body, input_shape=(6,), seed=0)
    _home_then_full(monkeypatch, trunk)
    away, layers = _away(trunk, made)
    mirror = away.trunk_in_shard
    assert layers == ["Dense"]
    penalties = mirror.regularization_losses  # binds layers to the copy (an MLP has no training path of its own)
    assert len(penalties) == 1
    np.testing.assert_allclose(mirror.shard.run(penalties), trunk.shard.run(trunk.regularization_losses), rtol=1e-6)


def test_a_template_trunk_of_layers_is_copied_and_its_mirrored_fit_reaches_the_trunk(gs, made, monkeypatch, rng):
    x, y = _data(rng)
    trunk = tfshare.TemplateTrunk(gs, layers=_cnn(), seed=0)
    home = _home_then_full(monkeypatch, trunk)
    away, layers = _away(trunk, made)
    mirror = away.trunk_in_shard
    assert layers == ["Dense"] and isinstance(mirror, tfshare.TemplateTrunk)
    np.testing.assert_allclose(away.predict_proba(x), home.predict_proba(x), atol=1e-5)
    mean = next(k for k in trunk.named_variables() if k.endswith("moving_mean"))
    before = trunk.shard.run(trunk.named_variables()[mean])
    other, _ = _away(trunk, made, seed=9)
    other.fit(x, y, epochs=1, batch_size=8, shuffle=False)
    after = trunk.shard.run(trunk.named_variables()[mean])
    assert not np.allclose(before, after)
    body = other.trunk_in_shard
    np.testing.assert_array_equal(body.shard.run(body.named_variables()[mean]), after)
    assert body.template.variable_scope.name == body.name + "/layers"
    np.testing.assert_allclose(away.predict_proba(x), home.predict_proba(x), atol=1e-5)  # both on the trained trunk


def _constrained(runtime, calls):  # a VariableDef has no constraint: a copy would train unconstrained
    def body():
        calls.append("body")
        return [keras.layers.Dense(8, kernel_constraint=keras.constraints.NonNeg(), name="d")]
    return tfshare.SharedTrunk(runtime, layers=body, input_shape=(6,), seed=0)


def _function(runtime, calls):  # a TF1 function: no layer objects to bind for a training path
    def fn(x, training):
        calls.append("fn")
        w = tf1.get_variable("w", [6, 8])
        return tf.nn.relu(tf.matmul(x, w))
    return tfshare.TemplateTrunk(runtime, fn=fn, input_shape=(6,), seed=0)


@pytest.mark.parametrize("make", [_constrained, _function])
def test_a_trunk_whose_ops_cannot_be_copied_gets_rebuilt_mirrors_with_equal_answers(gs, made, monkeypatch, rng, make):
    x = rng.random((5, 6), dtype=np.float32)
    calls: list[str] = []
    trunk = make(gs, calls)
    assert trunk_copy.template(trunk) is None
    home = _home_then_full(monkeypatch, trunk)
    del calls[:]
    away, _ = _away(trunk, made)
    assert type(away.trunk_in_shard) is type(trunk) and len(calls) == 1  # rebuilt: its body made again
    np.testing.assert_allclose(away.predict_proba(x), home.predict_proba(x), atol=1e-5)


def test_a_trunk_reading_an_input_tensor_is_never_copied(gs):
    first = tfshare.SharedTrunk(gs, 6, (8,), seed=0)
    trunk = tfshare.SharedTrunk(gs, layers=tfshare.architectures.dense(6, (8,)), seed=1, input_tensor=first.input)
    assert trunk_copy.template(trunk) is None and trunk_copy.template(first) is not None


def test_a_fit_on_a_copied_mlp_mirror_makes_no_layers(gs, made, monkeypatch, rng):
    """No layer depends on the mode and none declares a penalty: the copy never needs layer objects."""
    x, y = rng.random((16, 6), dtype=np.float32), rng.integers(0, 3, 16)
    trunk = tfshare.SharedTrunk(gs, 6, (8,), seed=0)
    _home_then_full(monkeypatch, trunk)
    away, layers = _away(trunk, made)
    assert layers == ["Dense"]
    before = trunk.shard.run(trunk.variables)
    del made[:]
    away.fit(x, y, epochs=2, batch_size=8)
    assert made == [] and away.trunk_in_shard._copied
    assert not np.allclose(before[0], trunk.shard.run(trunk.variables)[0])


def test_later_mirrors_copy_the_first_mirrors_sync_ops_too(gs, made, monkeypatch, rng):
    """From the second copied mirror on, one copy brings the body and the ops that keep it equal to the trunk."""
    x, y = _data(rng)
    trunk = tfshare.SharedTrunk(gs, layers=_cnn(dropout=0.0), seed=0)
    home = _home_then_full(monkeypatch, trunk)
    first, _ = _away(trunk, made)
    built = []

    class Counting:  # mirrors.py's tf1, counting the placeholders it builds
        def __getattr__(self, name):
            return getattr(tf1, name)

        @staticmethod
        def placeholder(*args, **kwargs):
            built.append(kwargs.get("name"))
            return tf1.placeholder(*args, **kwargs)

    monkeypatch.setattr(mirrors, "tf1", Counting())
    second, layers = _away(trunk, made)
    assert second.trunk_in_shard is not first.trunk_in_shard and layers == ["Dense"] and built == []
    one, two = first.trunk_in_shard, second.trunk_in_shard
    assert _scoped_ops(two.shard.graph, two.name + "/") == _scoped_ops(one.shard.graph, one.name + "/")
    sync = [n for n, _ in _scoped_ops(two.shard.graph, two.name + "/sync/")]
    assert len(sync) > 3 * len(trunk.variables)  # _scoped_ops leaves sync/ out of a mirror's scope, not of its own
    np.testing.assert_allclose(second.predict_proba(x), first.predict_proba(x), atol=1e-5)  # same seed: same head
    second.fit(x, y, epochs=1, batch_size=8, shuffle=False)  # its push reaches the trunk, the pull every mirror
    values = trunk.shard.run(trunk.variables)
    for body in (one, two):
        for a, b in zip(body.shard.run(body.variables), values):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(first.predict_proba(x), home.predict_proba(x), atol=1e-5)  # the trained trunk


class _Cond(keras.layers.Layer):
    """A layer whose graph holds a v2 ``tf.cond``: an ``If`` op calling functions of the graph's library."""

    def call(self, x):
        return tf.cond(tf.reduce_mean(x) > 0.5, lambda: x * 2.0, lambda: x - 1.0)


def _cond_body():
    return [keras.layers.Dense(8, name="d"), _Cond(name="cond"), keras.layers.Dense(4, name="e")]


def test_ops_calling_graph_functions_are_rebuilt_not_copied(gs, monkeypatch, rng):
    """A copy's NodeDefs would name functions the other shard's graph does not hold: such trunks (and classifiers)
    are rebuilt through tf_keras, with the same answers."""
    x = rng.random((5, 6), dtype=np.float32)
    trunk = tfshare.SharedTrunk(gs, layers=_cond_body, input_shape=(6,), seed=0)
    home = _home_then_full(monkeypatch, trunk, seed=1)
    away = tfshare.Classifier(trunk=trunk, num_classes=3, seed=1)
    assert away.shard is not trunk.shard and trunk_copy.template(trunk) is None
    np.testing.assert_allclose(away.predict_proba(x), home.predict_proba(x), atol=1e-6)
    with tfshare.GraphSession(device="cpu", shard_size=1) as spread:  # independent classifiers in other shards
        made = [tfshare.Classifier(layers=_cond_body, input_shape=(6,), num_classes=3, runtime=spread, seed=0) for _ in range(3)]
        assert len({id(c.shard) for c in made}) == 3
        first = made[0].predict_proba(x)
        for clf in made[1:]:
            np.testing.assert_allclose(clf.predict_proba(x), first, atol=1e-6)


def _nested_body():
    return [keras.Sequential([keras.layers.Dense(8, name="a"), keras.layers.BatchNormalization(name="bn"),
                              keras.layers.Dense(8, name="b")], name="seq"), keras.layers.Dense(5, name="d")]


def test_a_copied_mirror_of_a_nested_model_trains(gs, monkeypatch, rng):
    """A nested tf_keras Model makes step counters eagerly in its constructor: they must not take copied variables."""
    x, y = rng.random((16, 6), dtype=np.float32), rng.integers(0, 3, 16)
    trunk = tfshare.SharedTrunk(gs, layers=_nested_body, input_shape=(6,), seed=0)
    _home_then_full(monkeypatch, trunk, seed=1)
    away = tfshare.Classifier(trunk=trunk, num_classes=3, seed=1)
    assert away.trunk_in_shard._copied
    before = trunk.shard.run(trunk.named_variables())
    away.fit(x, y, epochs=2, batch_size=8)
    after = trunk.shard.run(trunk.named_variables())
    mirrored = away.shard.run(away.trunk_in_shard.named_variables())
    assert any(not np.array_equal(before[k], after[k]) for k in after)  # the mirrored fit reached the trunk
    for key in after:
        np.testing.assert_allclose(mirrored[key], after[key], atol=1e-6)


def _flat_body():
    return [keras.layers.Conv2D(4, 3, name="c1"), keras.layers.BatchNormalization(name="bn"),
            keras.layers.Flatten(name="f"), keras.layers.Dense(5, name="d")]


def test_a_failed_first_build_of_a_copy_leaves_it_usable(gs, monkeypatch, rng):
    trunk = tfshare.SharedTrunk(gs, layers=_flat_body, input_shape=SHAPE, seed=0)
    _home_then_full(monkeypatch, trunk)
    away = tfshare.Classifier(trunk=trunk, num_classes=3, seed=7)
    mirror = away.trunk_in_shard
    assert mirror._copied
    with away.shard.building():
        bad = tf1.placeholder(tf.float32, [None, 6, 6, 1])
    with pytest.raises((tfshare.InputError, RuntimeError)):
        mirror(bad)  # the wrong input shape (Flatten gives 64 features, not 144): its fresh layers fail half-built
    x, y = _data(rng)
    away.fit(x, y, epochs=1, batch_size=8)  # a later build makes fresh layers again
    assert np.isfinite(away.predict_proba(x)).all()
