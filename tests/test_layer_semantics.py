"""What tf_keras layers mean, kept in every mode: frozen layers, regularizers, constraints, sublayers made in build()."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import tfshare
from tfshare import forward
from tfshare._tf import keras, tf
from conftest import assert_same_weights

MODES = ["isolated", "copy", "trunk", "template_trunk", "eager"]


def _make(mode, runtime, factory, input_shape=(6,), seed=0, num_classes=3):
    if mode == "isolated":
        return tfshare.Classifier(layers=factory, input_shape=input_shape, num_classes=num_classes, seed=seed)
    if mode == "copy":
        tfshare.Classifier(layers=factory, input_shape=input_shape, num_classes=num_classes, runtime=runtime, seed=seed)
        return tfshare.Classifier(layers=factory, input_shape=input_shape, num_classes=num_classes, runtime=runtime,
                                  seed=seed + 1)
    if mode in ("trunk", "template_trunk"):
        make = tfshare.SharedTrunk if mode == "trunk" else tfshare.TemplateTrunk
        trunk = make(runtime, layers=factory, input_shape=input_shape, seed=seed)
        return tfshare.Classifier(trunk=trunk, num_classes=num_classes, seed=seed)
    return tfshare.EagerClassifier(layers=factory, input_shape=input_shape, num_classes=num_classes, seed=seed)


def _data(rng, n=32, shape=(6,), num_classes=3):
    return (rng.normal(size=(n, *shape)) + 1.0).astype(np.float32), rng.integers(0, num_classes, n)


@pytest.mark.parametrize("mode", MODES)
def test_layers_made_with_trainable_false_are_not_trained(runtime, rng, mode):
    def body():
        return [keras.layers.Dense(5, trainable=False), keras.layers.BatchNormalization(trainable=False),
                keras.layers.Dense(4)]

    clf = _make(mode, runtime, body)
    x, y = _data(rng)
    before = clf.get_weights()
    clf.fit(x, y, epochs=3, learning_rate=0.05)
    after = clf.get_weights()
    frozen = [k for k in before if k.startswith(("layer_0/", "layer_1/"))]
    assert len(frozen) == 6  # kernel, bias, gamma, beta, moving mean and variance
    for key in frozen:
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)
    for key in ("layer_2/kernel", "head/kernel"):
        assert not np.allclose(after[key], before[key]), key
    assert {id(v) for v in clf.trainable_variables} == {id(clf.named_variables[k]) for k in
                                                         ("layer_2/kernel", "layer_2/bias", "head/kernel", "head/bias")}


@pytest.mark.parametrize("mode", MODES)
def test_variables_behind_a_stop_gradient_keep_their_values_and_the_rest_trains(runtime, rng, mode):
    """They have no gradient (None, not zeros): fit leaves them as Keras's Model.fit does, and trains the others."""
    def body():
        return [keras.layers.Dense(5), keras.layers.Lambda(tf.stop_gradient), keras.layers.Dense(4)]

    clf = _make(mode, runtime, body)
    x, y = _data(rng)
    before = clf.get_weights()
    clf.fit(x, y, epochs=3, learning_rate=0.05)
    after = clf.get_weights()
    for key in ("layer_0/kernel", "layer_0/bias"):
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)
    for key in ("layer_2/kernel", "head/kernel"):
        assert not np.allclose(after[key], before[key]), key


class _NormalizingBlock(keras.layers.Layer):
    """Its BatchNorm is made in build() and its call takes no ``training``: tf_keras passes the mode on."""

    def build(self, input_shape):
        self.dense = keras.layers.Dense(4)
        self.norm = keras.layers.BatchNormalization()

    def call(self, x):
        return self.norm(self.dense(x))


@pytest.mark.parametrize("mode", MODES)
def test_a_batch_norm_made_in_a_layers_build_updates_its_statistics_in_fit(runtime, rng, mode):
    """A copy's fresh layers have no sublayers before they are built: it must still train in training mode."""
    factory = lambda: [_NormalizingBlock()]  # noqa: E731
    if mode == "copy":  # _make's first classifier is gone by now: keep it, to check it is untouched
        first = tfshare.Classifier(layers=factory, input_shape=(6,), num_classes=3, runtime=runtime, seed=0)
        clf = tfshare.Classifier(layers=factory, input_shape=(6,), num_classes=3, runtime=runtime, seed=1)
        assert clf._copied
    else:
        clf = _make(mode, runtime, factory)
    x, y = _data(rng)
    before = clf.get_weights()
    (key,) = [k for k in before if k.endswith("moving_mean")]
    clf.fit(x, y, epochs=2)
    assert not np.allclose(clf.get_weights()[key], before[key])
    if mode == "copy":  # the classifier it copies is untouched
        np.testing.assert_array_equal(first.get_weights()[key], np.zeros(4, np.float32))


class _RegularizedBlock(keras.layers.Layer):
    """Its regularized Dense is made in build(): an unbuilt block declares no penalty."""

    def build(self, input_shape):
        self.dense = keras.layers.Dense(4, kernel_regularizer=keras.regularizers.L2(10.0))

    def call(self, x):
        return self.dense(x)


def test_a_regularizer_of_a_sublayer_made_in_build_is_in_every_classifiers_loss(runtime, rng):
    """The second classifier of the body in a runtime trains as the first: with the penalty in its loss."""
    factory = lambda: [_RegularizedBlock()]  # noqa: E731
    first, second = (tfshare.Classifier(layers=factory, input_shape=(6,), num_classes=3, runtime=runtime, seed=s)
                     for s in (0, 1))
    second.set_weights(first.get_weights())
    x, y = _data(rng)
    losses = [clf.fit(x, y, shuffle=False)["loss"][0] for clf in (first, second)]
    assert losses[0] > 10.0  # the penalty dominates
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)
    for key, value in first.get_weights().items():
        np.testing.assert_allclose(second.get_weights()[key], value, rtol=1e-5, atol=1e-6, err_msg=key)


def test_a_model_fn_layer_frozen_before_it_is_given_is_not_trained(runtime, rng):
    def model():
        m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5), keras.layers.Dense(3)])
        m.layers[0].trainable = False
        return m

    clf = tfshare.Classifier(model_fn=model, runtime=runtime)
    x, y = _data(rng)
    before = clf.get_weights()
    clf.fit(x, y, epochs=2, learning_rate=0.05)
    np.testing.assert_array_equal(clf.get_weights()["layer_0/kernel"], before["layer_0/kernel"])
    assert not np.allclose(clf.get_weights()["layer_1/kernel"], before["layer_1/kernel"])


@pytest.mark.parametrize("mode", MODES)
def test_weight_regularizers_are_added_to_the_training_loss(runtime, rng, mode):
    l2 = 0.5
    body = lambda: [keras.layers.Dense(4, kernel_regularizer=keras.regularizers.L2(l2))]  # noqa: E731
    clf = _make(mode, runtime, body)
    if mode == "copy":
        assert not clf._copied  # a copy could not ask its (absent) layers for their penalties
    x, y = _data(rng)
    kernel = clf.get_weights()["layer_0/kernel"]
    cross_entropy = clf.evaluate(x, y)["loss"]
    trained = clf.fit(x, y, batch_size=32, learning_rate=1e-30, shuffle=False)["loss"][0]
    assert trained == pytest.approx(cross_entropy + l2 * float(np.sum(kernel**2)), rel=1e-5)
    clf.fit(x, y, epochs=20, learning_rate=0.05)
    plain = _make("isolated", None, lambda: [keras.layers.Dense(4)])
    plain.fit(x, y, epochs=20, learning_rate=0.05)
    assert np.abs(clf.get_weights()["layer_0/kernel"]).sum() < 0.5 * np.abs(plain.get_weights()["layer_0/kernel"]).sum()


@pytest.mark.parametrize("mode", MODES)
def test_a_float64_layers_penalty_is_added_to_the_float32_loss(runtime, rng, mode):
    body = lambda: [keras.layers.Dense(4, dtype="float64", kernel_regularizer=keras.regularizers.L2(0.5)),  # noqa: E731
                    keras.layers.Dense(4, kernel_regularizer=keras.regularizers.L2(0.25))]
    clf = _make(mode, runtime, body)
    x, y = _data(rng)
    weights = clf.get_weights()
    penalty = 0.5 * np.sum(weights["layer_0/kernel"] ** 2) + 0.25 * np.sum(weights["layer_1/kernel"] ** 2)
    cross_entropy = clf.evaluate(x, y)["loss"]
    trained = clf.fit(x, y, batch_size=32, learning_rate=1e-30, shuffle=False)["loss"][0]
    assert trained == pytest.approx(cross_entropy + penalty, rel=1e-5)


def test_a_tf1_functions_float64_penalty_is_added_to_the_float32_loss(runtime, rng):
    def tf1_body(x, training):
        w = tf.compat.v1.get_variable("w", [6, 4], tf.float64, regularizer=lambda w: 0.5 * tf.reduce_sum(w * w))
        return tf.cast(tf.matmul(tf.cast(x, tf.float64), w), tf.float32)

    trunk = tfshare.TemplateTrunk(runtime, fn=tf1_body, input_shape=(6,))
    head = tfshare.Classifier(trunk=trunk, num_classes=3)
    x, y = _data(rng)
    penalty = 0.5 * np.sum(head.get_weights()["w"] ** 2)
    cross_entropy = head.evaluate(x, y)["loss"]
    trained = head.fit(x, y, batch_size=32, learning_rate=1e-30, shuffle=False)["loss"][0]
    assert trained == pytest.approx(cross_entropy + penalty, rel=1e-5)


class _OwnWeight(keras.layers.Layer):
    def __init__(self, regularizer):
        super().__init__()
        self.w = self.add_weight(name="w", shape=(), regularizer=regularizer)


@pytest.mark.parametrize("make", [
    lambda r: keras.layers.Dense(4, kernel_regularizer=r),
    lambda r: keras.layers.Dense(4, bias_regularizer=r),
    lambda r: keras.layers.DepthwiseConv2D(3, depthwise_regularizer=r),
    lambda r: keras.layers.SeparableConv2D(4, 3, pointwise_regularizer=r),
    lambda r: keras.layers.SimpleRNN(4, recurrent_regularizer=r),
    lambda r: keras.layers.BatchNormalization(beta_regularizer=r),
    lambda r: keras.layers.BatchNormalization(gamma_regularizer=r),
    lambda r: keras.layers.Embedding(10, 4, embeddings_regularizer=r),
    lambda r: _OwnWeight(r),
], ids=["kernel", "bias", "depthwise", "pointwise", "recurrent", "beta", "gamma", "embeddings", "made_in_init"])
def test_every_weight_regularizer_is_seen_before_the_layer_is_built(make):
    """An unbuilt layer has no penalty yet: each regularizer argument alone marks the body (no graph copy),
    and so does a penalty a layer already holds (a weight made in __init__, no *_regularizer attribute)."""
    assert forward.weight_penalties_declared([keras.layers.ReLU(), make(keras.regularizers.L2(0.1))])
    assert not forward.weight_penalties_declared([keras.layers.ReLU(), make(None)])


def _model_with_activity_regularizer():
    inputs = keras.Input((6,))
    return keras.Model(inputs, keras.layers.Dense(3, activity_regularizer="l2")(inputs))


@pytest.mark.parametrize("arg", ["layers", "model_fn"])
def test_an_activity_regularizer_is_refused_when_fit_would_drop_it(runtime, rng, arg):
    """The error names the argument the user gave: the body's layers or a whole model."""
    if arg == "layers":
        clf = tfshare.Classifier(layers=lambda: [keras.layers.Dense(4, activity_regularizer="l2")], input_shape=(6,),
                                 num_classes=3, runtime=runtime)
    else:
        clf = tfshare.Classifier(model_fn=_model_with_activity_regularizer, runtime=runtime)
    with pytest.raises(tfshare.InputError, match=rf"^{arg}: layer 'dense.*' has an activity_regularizer, which tfshare does not "
                       r"add to the loss; weight regularizers \(kernel_regularizer=, bias_regularizer=\) are added$"):
        clf.fit(*_data(rng))


@pytest.mark.parametrize("arg", ["layers", "model_fn"])
def test_a_classifier_that_fit_refuses_does_not_keep_its_runtime_from_finalizing(runtime, rng, tmp_path, arg):
    """It may still serve: finalize builds what it can, and fit raises the refusal it would have raised."""
    if arg == "layers":
        clf = tfshare.Classifier(layers=lambda: [keras.layers.Dense(4, activity_regularizer="l2")], input_shape=(6,),
                                 num_classes=3, runtime=runtime)
    else:
        clf = tfshare.Classifier(model_fn=_model_with_activity_regularizer, runtime=runtime)
    other = tfshare.DenseClassifier(6, 3, (4,), runtime=runtime)
    runtime.finalize()
    x, y = _data(rng)
    assert clf.predict_proba(x).shape == (len(x), 3) and 0.0 <= clf.evaluate(x, y)["accuracy"] <= 1.0
    assert clf.save(str(tmp_path / "ckpt"))
    other.fit(x, y)
    for _ in range(2):
        with pytest.raises(tfshare.InputError, match=rf"^{arg}: layer 'dense.*' has an activity_regularizer"):
            clf.fit(x, y)


def test_constrained_variables_are_never_copied_and_stay_constrained(runtime, rng):
    body = lambda: [keras.layers.Dense(8, kernel_constraint=keras.constraints.NonNeg())]  # noqa: E731
    first = tfshare.Classifier(layers=body, input_shape=(6,), num_classes=3, runtime=runtime, seed=0)
    second = tfshare.Classifier(layers=body, input_shape=(6,), num_classes=3, runtime=runtime, seed=1)
    assert not second._copied
    x, y = _data(rng)
    for clf in (first, second):
        clf.fit(x, y, epochs=10, learning_rate=0.05)
        assert clf.get_weights()["layer_0/kernel"].min() >= 0.0


def test_copies_need_the_same_factory_not_only_the_same_configs(runtime, rng):
    def make_scale(factor):
        class Scale(keras.layers.Layer):  # get_config() is the same for every factor
            def call(self, x):
                return x * factor

        return lambda: [Scale(), keras.layers.Dense(4)]

    x, _ = _data(rng)
    two = tfshare.Classifier(layers=make_scale(2.0), input_shape=(6,), num_classes=3, runtime=runtime, seed=0)
    three = tfshare.Classifier(layers=make_scale(3.0), input_shape=(6,), num_classes=3, runtime=runtime, seed=0)
    again = tfshare.Classifier(layers=three._architecture.factory, input_shape=(6,), num_classes=3, runtime=runtime, seed=0)
    assert not three._copied and again._copied
    alone = tfshare.Classifier(layers=make_scale(3.0), input_shape=(6,), num_classes=3, seed=0)
    np.testing.assert_allclose(three.predict_proba(x), alone.predict_proba(x), atol=1e-6)
    np.testing.assert_allclose(again.predict_proba(x), alone.predict_proba(x), atol=1e-6)
    assert not np.allclose(two.predict_proba(x), three.predict_proba(x), atol=1e-4)
    alone.close()


class Block(keras.layers.Layer):
    """Makes its sublayers in build(), as tf_keras's own MultiHeadAttention does."""

    def build(self, input_shape):
        self.conv = keras.layers.Dense(4)
        self.norm = keras.layers.BatchNormalization(momentum=0.9)
        super().build(input_shape)

    def call(self, x, training=None):
        return self.norm(self.conv(x), training=training)


@pytest.mark.parametrize("mode", ["isolated", "copy", "trunk", "template_trunk", "eager"])
def test_sublayers_made_in_build_train_their_statistics_and_switch_no_class(runtime, rng, mode):
    user_norm = keras.Sequential([keras.Input((3,)), keras.layers.BatchNormalization(), keras.layers.Dense(2)])
    mros = {cls: cls.__mro__ for cls in (keras.layers.BatchNormalization, keras.layers.Dense)}
    clf = _make(mode, runtime, lambda: [Block()])
    x, y = _data(rng, n=16)
    before = clf.get_weights()
    (mean_key,) = [k for k in before if k.endswith("moving_mean")]
    clf.fit(x, y, batch_size=16, shuffle=False)
    kernel, bias = before[mean_key.replace("1/moving_mean", "0/kernel")], before[mean_key.replace("1/moving_mean", "0/bias")]
    np.testing.assert_allclose(clf.get_weights()[mean_key], 0.1 * (x @ kernel + bias).mean(axis=0), rtol=1e-4, atol=1e-6)
    assert {cls: cls.__mro__ for cls in mros} == mros
    assert user_norm(np.ones((2, 3), np.float32)).shape == (2, 2)  # the user's eager model still works


def test_multi_head_attention_in_a_body_breaks_no_eager_model(runtime, rng):
    made_before = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dropout(0.1),
                                    keras.layers.Softmax()])

    class Attend(keras.layers.Layer):
        def build(self, input_shape):
            self.attention = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)
            super().build(input_shape)

        def call(self, x):
            return tf.reduce_mean(self.attention(x, x), axis=1)

    clf = tfshare.Classifier(layers=lambda: [Attend()], input_shape=(5, 4), num_classes=3, runtime=runtime)
    clf.fit(rng.normal(size=(8, 5, 4)).astype(np.float32), rng.integers(0, 3, 8))
    assert made_before(np.ones((2, 4), np.float32)).shape == (2, 3)


class _Configured(keras.layers.Layer):
    """A layer whose get_config is exactly the given entries (and its name), in the given order."""

    def __init__(self, entries, **kwargs):
        super().__init__(**kwargs)
        self.entries = entries

    def get_config(self):
        return {**self.entries, "name": self.name}


class _Other(_Configured):
    pass


def test_config_key_digests_classes_and_configs_not_names_or_key_order():
    """config_key (what a user body's checkpoints store and graph copies compare): 16 hex digits."""
    key, entries = tfshare.architectures.config_key, {"units": 3, "kernel": [3, 3]}
    digest = key([_Configured(entries)])
    assert len(digest) == 16 and int(digest, 16) >= 0
    assert key([_Configured({"kernel": [3, 3], "units": 3}, name="renamed")]) == digest
    assert key([_Configured({"units": 4, "kernel": [3, 3]})]) != digest
    assert key([_Configured({"units": 3, "kernel": [5, 5]})]) != digest
    assert key([_Other(entries)]) != digest  # another class, same module
    assert key([type("_Configured", (_Configured,), {"__module__": "elsewhere"})(entries)]) != digest
    assert key([_Configured({"initializer": object()})]) is not None  # a value JSON cannot hold: its repr


class _ThreeW(keras.layers.Layer):
    def build(self, input_shape):
        self.ws = [self.add_weight(name="w", shape=()) for _ in range(3)]


def test_weights_of_one_name_in_a_layer_get_numbered_keys_and_a_lone_frozen_weight_is_frozen(runtime):
    """weight_keys numbers repeated short names from 1 (eager variables keep their names as given);
    frozen_keys holds a frozen layer's only weight."""
    twin = tfshare.EagerClassifier(layers=lambda: [_ThreeW(), keras.layers.Dense(3)], input_shape=(4,), num_classes=3)
    assert list(twin.named_variables)[:3] == ["layer_0/w", "layer_0/w_1", "layer_0/w_2"]
    frozen = tfshare.SharedTrunk(runtime, layers=lambda: [keras.layers.Dense(3, use_bias=False, trainable=False)],
                                 input_shape=(4,))
    assert frozen.frozen_keys == {"layer_0/kernel"}


@pytest.mark.parametrize("mode", ["isolated", "trunk", "eager"])
def test_layers_of_one_name_are_keyed_as_the_eager_twin_keys_them(runtime, mode):
    """A graph renames the second layer 'd''s kernel "d/kernel_1" (eagerly it stays "d/kernel"): keys follow the layer,
    so checkpoints move between the modes."""
    body = lambda: [keras.layers.Dense(4, name="d"), keras.layers.Dense(5, name="d")]  # noqa: E731
    twin = _make("eager", runtime, body)
    clf = _make(mode, runtime, body)
    assert list(clf.named_variables)[:4] == ["layer_0/kernel", "layer_0/bias", "layer_1/kernel", "layer_1/bias"]
    assert_same_weights(twin.get_weights(), clf)


class _Named(keras.layers.Layer):
    """Makes one weight of each name given, in order; each one counts: x * w, then + w_1, then * the next, ..."""

    def __init__(self, names, **kwargs):
        super().__init__(**kwargs)
        self._names = tuple(names)

    def build(self, input_shape):
        self.ws = [self.add_weight(name=n, shape=(int(input_shape[-1]),), initializer="glorot_uniform")
                   for n in self._names]

    def call(self, x):
        for k, w in enumerate(self.ws):
            x = x * w if k % 2 == 0 else x + w
        return x


NAMED_BODIES = {  # weight names of each layer (all named "d") -> the keys of their weights
    # A graph names the second layer's "w" "d/w_1", then its "w_1" "d/w_1_1" (eagerly: "d/w", "d/w_1").
    "w_then_w_and_w_1": ((("w",), ("w", "w_1")), ["layer_0/w", "layer_1/w", "layer_1/w_1"]),
    # The second layer's "w_1" is not a renamed "w".
    "w_then_w_1": ((("w",), ("w_1",)), ["layer_0/w", "layer_1/w_1"]),
    # Two weights named "w" are numbered, but never with the name of another weight of the layer.
    "w_twice_then_w_1": ((("w", "w", "w_1"),), ["layer_0/w", "layer_0/w_2", "layer_0/w_1"]),
}


@pytest.mark.parametrize("mode", ["isolated", "copy", "trunk", "eager"])
@pytest.mark.parametrize("body", list(NAMED_BODIES))
def test_weights_are_keyed_by_the_names_their_layer_gave_them(runtime, rng, tmp_path, mode, body):
    """Keys are the names a layer gave its weights, not those a graph made unique: the eager twin's keys, so
    weights and checkpoints move between the two and give the same predictions."""
    names, expected = NAMED_BODIES[body]
    factory = lambda: [_Named(n, name="d") for n in names]  # noqa: E731
    twin = _make("eager", runtime, factory, seed=1)
    clf = _make(mode, runtime, factory, seed=1)
    assert list(clf.named_variables) == list(twin.named_variables) == [*expected, "head/kernel", "head/bias"]
    x, y = _data(rng)
    clf.fit(x, y, epochs=2)
    twin.set_weights(clf.get_weights())
    np.testing.assert_allclose(twin.predict_proba(x), clf.predict_proba(x), atol=1e-6)
    twin.fit(x, y, epochs=2)
    assert not np.allclose(twin.predict_proba(x), clf.predict_proba(x), atol=1e-4)
    clf.restore(twin.save(str(tmp_path / "twin")))
    np.testing.assert_allclose(clf.predict_proba(x), twin.predict_proba(x), atol=1e-6)


@pytest.mark.parametrize("mode", ["isolated", "eager"])
def test_weights_keyed_by_layer_name_refuse_two_layers_that_would_share_a_key(runtime, mode):
    """With named=True two layers named "d" that both make "w" would both be "d/w": refused, naming both."""
    arch = tfshare.Architecture(factory=lambda: [_Named(("w",), name="d"), _Named(("v", "w"), name="d")],
                                input_shape=(6,), config={"input_shape": [6]}, named=True)
    make = tfshare.EagerClassifier if mode == "eager" else functools.partial(tfshare.Classifier, runtime=runtime)
    with pytest.raises(tfshare.InputError, match=r"^layers: the weight key 'd/w' would name two variables, '(classifier/)?d/w:0' "
                       r"of layer 'd' \(in layers\(\)\[0\]\) and '(classifier/)?d/w(_1)?:0' of layer 'd' \(in layers\(\)\[1\]\); "
                       r"weights keyed by layer name need layers of distinct names$"):
        make(architecture=arch, num_classes=3)


def test_a_repeated_layer_object_is_refused_and_shared_variables_are_keyed_once(runtime):
    dense = keras.layers.Dense(4)
    with pytest.raises(tfshare.InputError, match=r"^layers\(\)\[1\] \('dense.*'\) appears twice; layers\(\) must return each layer once "
                       r"\(to apply one layer twice, write a layer whose call\(\) does\)$"):
        tfshare.Classifier(layers=lambda: [dense, dense], input_shape=(6,), num_classes=3, runtime=runtime)
    with pytest.raises(tfshare.InputError, match=r"^layers\(\)\[1\]\.layers holds 'dense.*', which layers\(\) also returns; "
                       r"layers\(\) must return each layer once \(to apply one layer twice, write a layer whose call\(\) does\)$"):
        tfshare.Classifier(layers=lambda: [dense, keras.Sequential([dense])], input_shape=(6,), num_classes=3, runtime=runtime)
    with pytest.raises(tfshare.InputError, match=r"^layers\(\)\[1\] \('dense.*'\) appears twice"):
        tfshare.Classifier(layers=lambda: [keras.Sequential([dense]), dense], input_shape=(6,), num_classes=3, runtime=runtime)

    class Scaled(keras.Model):  # owns a weight and holds a Dense: its weights list the Dense's too
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(3)

        def build(self, input_shape):
            self.scale = self.add_weight(name="scale", shape=(), initializer="ones")
            super().build(input_shape)

        def call(self, x):
            return self.dense(x) * self.scale

    clf = tfshare.Classifier(model_fn=Scaled, input_shape=(6,), runtime=runtime)
    assert clf.num_params == 6 * 3 + 3 + 1
    assert len(clf.named_variables) == len({id(v) for v in clf.variables}) == 3


class _Tied(keras.layers.Layer):
    """Tracks an earlier layer's kernel as its own attribute, then makes a weight of its own."""

    def __init__(self, source):
        super().__init__()
        self._source = lambda: source  # not a sublayer

    def build(self, input_shape):
        self.tied = self._source().kernel
        self.own = self.add_weight(name="own", shape=(), initializer="ones")

    def call(self, x):
        return x * self.own


def test_a_variable_tracked_again_is_keyed_once_and_the_layers_own_after_it_still_are(runtime):
    def body():
        dense = keras.layers.Dense(3)
        return [dense, _Tied(dense)]

    clf = tfshare.Classifier(layers=body, input_shape=(4,), num_classes=2, runtime=runtime)
    assert list(clf.named_variables) == ["layer_0/kernel", "layer_0/bias", "layer_1/own", "head/kernel", "head/bias"]


def test_an_initializer_that_cannot_be_remade_keeps_its_own_values(runtime):
    class Scaled(keras.initializers.Initializer):
        def __init__(self, scale, seed=None):
            self.scale, self.seed = scale, seed

        def __call__(self, shape, dtype=None, **kwargs):
            return tf.fill(shape, self.scale)

        def get_config(self):  # leaves out scale: from_config() cannot remake it
            return {"seed": self.seed}

    clf = tfshare.Classifier(layers=lambda: [keras.layers.Dense(2, kernel_initializer=Scaled(0.5))], input_shape=(3,),
                             num_classes=2, runtime=runtime, seed=0)
    np.testing.assert_array_equal(clf.get_weights()["layer_0/kernel"], np.full((3, 2), 0.5, np.float32))


def test_a_mixed_precision_policy_is_refused():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        for make in (lambda: tfshare.DenseClassifier(8, 3, (4,)), lambda: tfshare.EagerDenseClassifier(8, 3, (4,))):
            with pytest.raises(tfshare.InputError, match=r"global dtype policy must be 'float32'.*'mixed_float16'; "
                               r"call tf_keras\.mixed_precision\.set_global_policy\('float32'\) before building them$"):
                make()
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_heads_trained_in_turn_have_their_own_adam_slots(runtime, rng):
    trunk = tfshare.SharedTrunk(runtime, layers=tfshare.conv_body(filters=(4,)), input_shape=(6, 6, 1), seed=0)
    heads = [tfshare.Classifier(trunk=trunk, num_classes=3, seed=i) for i in range(3)]  # classifier, _1, _2
    x, y = rng.random((32, 6, 6, 1)).astype(np.float32), rng.integers(0, 3, 32)
    for _ in range(2):
        for head in heads:
            history = head.fit(x, y, learning_rate=0.01)
            assert np.isfinite(history["loss"][0])
    kernel = trunk.named_variables()["layer_0/kernel"]
    slots = [v for v in runtime.global_variables() if f"/{kernel.op.name}/" in f"/{v.name}" and v is not kernel]
    assert len(slots) == 2 * len(heads)  # m and v for each head's Adam


def test_a_model_with_variables_made_outside_build_gets_a_clear_error():
    class Early(keras.Model):
        def __init__(self):
            super().__init__()
            self.scale = self.add_weight(name="scale", shape=(), initializer="ones")  # in __init__: eager

        def call(self, x):
            return x[:, :3] * self.scale

    with pytest.raises(tfshare.InputError, match=r"could not be built in a TF1 graph: a layer keeps variables made "
                                                 r"outside build\(\).*layers="):
        tfshare.Classifier(model_fn=Early, input_shape=(6,))
