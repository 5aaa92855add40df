"""model_fn=: a whole tf_keras model, as people write them, in isolated and shared-runtime modes."""

from __future__ import annotations

import re
from typing import Callable

import keras as keras3
import numpy as np
import pytest

import tfshare
from tfshare import forward, initial_values, keras_model
from tfshare._tf import func_graph, keras, tf, tf1


def build_model(input_shape, seed=0, batch_norm=False):
    """The seed article's kind of model: a Sequential ending in Dense(10, softmax), compiled."""
    init = lambda i: keras.initializers.GlorotUniform(seed=seed + i)  # noqa: E731
    layers = [keras.Input(input_shape), keras.layers.Dense(32, activation="relu", kernel_initializer=init(0))]
    if batch_norm:
        layers.append(keras.layers.BatchNormalization(momentum=0.9))
    layers.append(keras.layers.Dense(10, activation="softmax", kernel_initializer=init(1)))
    model = keras.Sequential(layers)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.parametrize("shared", [False, True], ids=["isolated", "shared_runtime"])
def test_a_whole_model_keeps_its_weights_and_outputs(runtime, digits, shared):
    rows = digits.flatten()
    reference = build_model((64,)).predict(rows.x_test, verbose=0)  # the same model, run by Keras eagerly
    clf = tfshare.Classifier(model_fn=lambda: build_model((64,)), runtime=runtime if shared else None)
    assert clf.input_shape == (64,) and clf.num_classes == 10
    assert clf.runtime is runtime if shared else clf.runtime is not runtime
    np.testing.assert_allclose(clf.predict_proba(rows.x_test), reference, atol=1e-5)
    assert sorted(clf.named_variables) == ["layer_0/bias", "layer_0/kernel", "layer_1/bias", "layer_1/kernel"]
    assert clf.keras_model.weights[0] is clf.named_variables["layer_0/kernel"]  # graph variables now
    history = clf.fit(rows.x_train, rows.y_train, epochs=12)
    assert history["loss"][-1] < history["loss"][0]
    assert clf.evaluate(rows.x_test, rows.y_test)["accuracy"] > 0.9
    if not shared:
        clf.close()


def test_the_loss_uses_the_logits_under_the_softmax(runtime, rng):
    def saturated():
        model = build_model((4,))
        kernel, bias = model.layers[-1].get_weights()
        model.layers[-1].set_weights([kernel * 1e4, bias])  # softmax outputs of exactly 0 and 1 in float32
        return model

    clf = tfshare.Classifier(model_fn=saturated, runtime=runtime)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    proba = clf.predict_proba(x)
    wrong = (np.argmax(proba, axis=1) + 1) % 10
    assert (proba[np.arange(64), wrong] == 0).any()  # -log(p) of these would be inf
    loss = clf.evaluate(x, wrong)["loss"]
    assert np.isfinite(loss) and loss > 100


def test_logits_of_reads_back_a_softmax_and_leaves_other_outputs():
    """forward.logits_of: Keras's cached logits (eager or graph), a bare graph Softmax's input, else the output."""
    x = tf.constant([[1.0, 2.0, 3.0]])
    logits, removed = forward.logits_of(keras.activations.softmax(x))  # eager: only the cached logits tell
    assert removed and logits is x
    eager = tf.nn.softmax(x)  # no cached logits, and an eager tensor has no op to read back
    assert forward.logits_of(eager) == (eager, False)
    with tf.Graph().as_default():
        p = tf1.placeholder(tf.float32, [None, 3])
        assert forward.logits_of(tf.nn.softmax(p)) == (p, True)  # no cached logits: the op's input
        relu = tf.nn.relu(p)
        assert forward.logits_of(relu) == (relu, False)


@pytest.mark.parametrize("batch_norm", [False, True], ids=["plain", "batch_norm"])
def test_a_model_builds_a_training_path_only_when_a_layer_needs_one(runtime, batch_norm):
    """keras.Input's InputLayer does not count as mode-dependent: without BatchNorm (or Dropout)
    the model runs once in the graph, training and inference alike; with it, twice."""
    clf = tfshare.Classifier(model_fn=lambda: build_model((4,), batch_norm=batch_norm), runtime=runtime)
    clf.fit(np.zeros((8, 4), np.float32), np.arange(8) % 10)  # builds the training path, if any
    scope = clf.name + "/"
    matmuls = [op for op in runtime.graph.get_operations() if op.type == "MatMul" and op.name.startswith(scope)]
    # Two Dense layers: two MatMuls per forward path (the gradients' MatMuls left out).
    forward_matmuls = [op for op in matmuls if "gradients" not in op.name]
    assert len(forward_matmuls) == (4 if batch_norm else 2), [op.name for op in forward_matmuls]


def test_a_model_with_batch_norm_trains_its_statistics(runtime, digits):
    rows = digits.flatten()
    clf = tfshare.Classifier(model_fn=lambda: build_model((64,), batch_norm=True), runtime=runtime)
    before = clf.get_weights()["layer_1/moving_mean"]
    clf.fit(rows.x_train[:256], rows.y_train[:256])
    assert not np.allclose(clf.get_weights()["layer_1/moving_mean"], before)
    assert not clf.named_variables["layer_1/moving_mean"].trainable


def test_a_functional_model_with_branches(runtime, rng):
    def functional():
        inputs = keras.Input((6,))
        a, b = keras.layers.Dense(4)(inputs), keras.layers.Dense(4, activation="tanh")(inputs)
        return keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Concatenate()([a, b])))

    clf = tfshare.Classifier(model_fn=functional, runtime=runtime)
    assert clf.num_classes == 3 and len(clf.named_variables) == 6
    x = rng.normal(size=(5, 6)).astype(np.float32)
    assert clf.predict_proba(x).shape == (5, 3)


def test_two_classifiers_of_one_model_fn_have_their_own_variables(runtime):
    a = tfshare.Classifier(model_fn=lambda: build_model((8,), seed=1), runtime=runtime)
    b = tfshare.Classifier(model_fn=lambda: build_model((8,), seed=2), runtime=runtime)
    assert not set(map(id, a.variables)) & set(map(id, b.variables))
    with tfshare.audit() as report:
        c = tfshare.Classifier(model_fn=lambda: build_model((8,)), runtime=runtime)
    # The Keras model model_fn made, the copy the classifier rebuilds (the caller's stays usable), the classifier.
    assert report.models_created == 3 and report.shared_variables == 0
    assert not np.allclose(a.get_weights()["layer_0/kernel"], b.get_weights()["layer_0/kernel"])
    assert c.num_classes == 10


def test_the_eager_twin_takes_the_same_model_fn(digits):
    rows = digits.flatten()
    with tfshare.Classifier(model_fn=lambda: build_model((64,))) as graph:
        eager = tfshare.EagerClassifier(model_fn=lambda: build_model((64,)), use_tf_function=True)
        np.testing.assert_allclose(graph.predict_proba(rows.x_test), eager.predict_proba(rows.x_test), atol=1e-5)
        graph.fit(rows.x_train, rows.y_train, epochs=2)
        eager.set_weights(graph.get_weights())
        np.testing.assert_allclose(graph.predict_proba(rows.x_test), eager.predict_proba(rows.x_test), atol=1e-5)


def test_the_eager_twin_fits_a_whole_model_in_training_mode(digits):
    """fit calls the model with training=True: its BatchNorm's moving statistics move as the graph class's do."""
    rows = digits.flatten()
    x, y = rows.x_train[:64], rows.y_train[:64]
    with tfshare.Classifier(model_fn=lambda: build_model((64,), batch_norm=True)) as graph:
        eager = tfshare.EagerClassifier(model_fn=lambda: build_model((64,), batch_norm=True))
        eager.set_weights(graph.get_weights())
        for clf in (graph, eager):
            clf.fit(x, y, epochs=1, batch_size=64, shuffle=False)
        expected, got = graph.get_weights(), eager.get_weights()
    assert np.abs(expected["layer_1/moving_mean"]).max() > 1e-3  # one momentum step away from 0
    for key in ("layer_1/moving_mean", "layer_1/moving_variance"):  # not the weights: Adam's first step is noisy near 0
        np.testing.assert_allclose(got[key], expected[key], atol=1e-5, err_msg=key)


def _two_inputs():
    a, b = keras.Input((4,)), keras.Input((4,))
    return keras.Model([a, b], keras.layers.Dense(3)(keras.layers.Concatenate()([a, b])))


def _two_outputs():
    x = keras.Input((4,))
    return keras.Model(x, [keras.layers.Dense(3)(x), keras.layers.Dense(2)(x)])


class _TwoOutputsSubclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(3)

    def call(self, x):
        return self.dense(x), self.dense(x)


@pytest.mark.parametrize("model_fn,kwargs,error,match", [
    (lambda: keras3.Sequential([keras3.Input((4,)), keras3.layers.Dense(3)]), {}, TypeError,
     r"^model_fn\(\) returned a Keras 3 model \([\w.]+\.Sequential\); tfshare builds TF1 graphs, which need Keras 2: build it "
     r"with tf_keras \(`import tf_keras`\), not keras \(which tf\.keras is on TF >= 2\.16\)$"),
    (lambda: keras.layers.Dense(3), {}, TypeError, r"model_fn\(\) must return a tf_keras Model, got .*Dense"),
    (build_model, {}, TypeError, r"missing 1 required positional argument"),
    ("not callable", {}, TypeError, r"^model_fn must be a zero-argument callable returning a tf_keras Model, got str$"),
    (lambda: keras.Sequential([keras.layers.Dense(3)]), {}, tfshare.InputError,
     r"does not know its input shape: start it with tf_keras.Input\(shape\) or pass input_shape="),
    (lambda: build_model((4,)), dict(num_classes=3), tfshare.InputError,
     r"num_classes must match model_fn\(\)'s output width 10, got 3"),
    (lambda: build_model((4,)), dict(input_shape=(5,)), tfshare.InputError, r"input_shape must match the model's \(4,\), got \(5,\)"),
    (lambda: keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)]), {}, tfshare.InputError,
     r"must output \[batch, num_classes >= 2\], got width 1"),
    (lambda: _two_inputs(), {}, tfshare.InputError,
     r"^model_fn\(\)'s model must take one input, got input shapes \[\(None, 4\), \(None, 4\)\]$"),
    (lambda: keras.Sequential([keras.Input((None, 4)), keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(3)]),
     {}, tfshare.InputError, r"^model_fn\(\)'s model must have a fully known input shape, got \(None, None, 4\)$"),
    (lambda: keras.Sequential([keras.Input((4, 2)), keras.layers.Dense(3)]), {}, tfshare.InputError,
     r"^model_fn\(\)'s model must output \[batch, num_classes\], got shape \(None, 4, 3\)$"),
    (_two_outputs, {}, tfshare.InputError,
     r"^model_fn\(\)'s model must have one output \[batch, num_classes\], got 2 in a list, of shapes \(None, 3\), \(None, 2\)$"),
    (_TwoOutputsSubclassed, dict(input_shape=(4,)), tfshare.InputError,
     r"^model_fn\(\)'s model must have one output \[batch, num_classes\], got 2 in a tuple, of shapes \(None, 3\), \(None, 3\)$"),
    (lambda: keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, dtype="mixed_float16"), keras.layers.Dense(3)]),
     {}, tfshare.InputError, r"^model_fn\(\)'s model \('sequential.*', its layer 'dense.*'\) must compute in its "
     r"variables' dtype \(tfshare builds float32 classifiers, without mixed precision\), got the dtype policy "
     r"'mixed_float16'; make it without dtype=, or with dtype='float32'$"),
], ids=["keras3", "not_a_model", "needs_args", "not_callable", "no_input_shape", "num_classes", "input_shape", "one_output",
        "two_inputs", "unknown_input_dim", "rank_3_output", "two_outputs", "two_outputs_subclassed", "mixed_precision"])
def test_bad_models_get_clear_errors(model_fn, kwargs, error, match):
    with pytest.raises(error, match=match):
        tfshare.Classifier(model_fn=model_fn, **kwargs)


@pytest.mark.parametrize("make", [lambda: build_model((4,)), lambda: keras3.Sequential([keras3.Input((4,)), keras3.layers.Dense(3)])],
                         ids=["tf_keras", "keras3"])
def test_a_model_object_is_refused_as_model_fn_naming_its_type(make):
    """A model is callable, but not without arguments: it was called as the factory, and failed inside Keras."""
    model = make()
    with pytest.raises(TypeError, match=rf"^model_fn must be a zero-argument callable returning a tf_keras Model, got "
                                        rf"{re.escape(type(model).__module__)}\.Sequential$"):
        tfshare.Classifier(model_fn=model)


def test_a_model_without_input_shape_takes_input_shape(runtime, rng):
    clf = tfshare.Classifier(model_fn=lambda: keras.Sequential([keras.layers.Dense(3)]), input_shape=(4,), runtime=runtime)
    assert clf.num_classes == 3 and clf.predict(rng.normal(size=(2, 4))).shape == (2,)


def test_a_whole_models_inference_path_has_no_training_switch(runtime, rng):
    """Its ops are built with training=False: Dropout and BatchNorm in inference form, with no learning-phase
    placeholder and no cond between the modes (what Keras builds with training=None), and deterministic."""
    def model():
        inputs = keras.Input((6,))
        hidden = keras.layers.Dropout(0.5)(keras.layers.BatchNormalization()(keras.layers.Dense(8)(inputs)))
        return keras.Model(inputs, keras.layers.Dense(3)(hidden))

    clf = tfshare.Classifier(model_fn=model, runtime=runtime, name="m")
    types = {op.type for op in runtime.graph.get_operations()}
    assert not types & {"If", "StatelessIf", "Switch", "Merge", "PlaceholderWithDefault"}, types
    x = rng.random((4, 6), dtype=np.float32)
    np.testing.assert_array_equal(clf.predict_proba(x), clf.predict_proba(x))


class _Subclassed(keras.Model):
    """A subclassed model taking a function: clone_model cannot copy it, so a classifier adopts the object itself."""

    def __init__(self, fn):
        super().__init__()
        self.fn, self.dense = fn, keras.layers.Dense(3)

    def call(self, x, training=False):
        return self.dense(self.fn(x))


def _built(model, width=4):
    model(np.zeros((1, width), np.float32))
    return model


def test_a_model_that_cannot_be_cloned_serves_one_classifier(runtime):
    model = _built(_Subclassed(tf.identity))
    first = tfshare.Classifier(model_fn=lambda: model, input_shape=(4,), runtime=runtime)
    assert first.keras_model is model
    with pytest.raises(tfshare.InputError, match=(
            r"^model_fn\(\) returned a model that another classifier already adopted; model_fn must build a new "
            r"model on every call \(e\.g\. model_fn=lambda: build_model\(\.\.\.\), not lambda: model\)$")):
        tfshare.Classifier(model_fn=lambda: model, input_shape=(4,), runtime=runtime)
    other = tfshare.Classifier(model_fn=lambda: _built(_Subclassed(tf.identity)), input_shape=(4,), runtime=runtime)
    assert other.keras_model is not model


def test_a_model_that_can_be_cloned_is_copied_and_stays_the_callers(runtime, rng):
    """A Sequential built by a call (its clone is not built yet) serves several classifiers, each a copy with its
    weights, and still runs eagerly for its owner."""
    model = _built(keras.Sequential([keras.layers.Dense(3)]))
    x = rng.normal(size=(5, 4)).astype(np.float32)
    logits = model(x).numpy()
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    made = [tfshare.Classifier(model_fn=lambda: model, input_shape=(4,), runtime=runtime) for _ in range(2)]
    for clf in made:
        assert clf.keras_model is not model
        np.testing.assert_allclose(clf.predict_proba(x), expected, atol=1e-6)
    np.testing.assert_array_equal(model(x).numpy(), logits)


class _GraphRefusing(keras.layers.Layer):
    """Works eagerly and in Keras's functional graph; raises in a TF1 graph."""

    def __init__(self, message="a first line of context\n  the actual cause  \n\n"):
        super().__init__()
        self.message = message

    def call(self, x):
        if tf.executing_eagerly() or isinstance(x.graph, func_graph.FuncGraph):
            return x
        raise ValueError(self.message)


class _EagerExtras(keras.layers.Dense):
    """Makes four variables in __init__, eagerly, which it never uses."""

    def __init__(self):
        super().__init__(3)
        self.extras = [tf.Variable(float(i), name=f"extra_{i}") for i in range(4)]


@pytest.mark.parametrize("layer, match", [
    (_GraphRefusing, r"^model_fn\(\)'s model could not be built in a TF1 graph: the actual cause; "
                     r"give its layers as a factory instead \(layers=\)$"),
    (lambda: _GraphRefusing(""), r"^model_fn\(\)'s model could not be built in a TF1 graph: ValueError; "
                                 r"give its layers as a factory instead \(layers=\)$"),
    (_EagerExtras, r"^model_fn\(\)'s model keeps eager variables \['[^']*extra_0[^']*', '[^']*extra_1[^']*', "
                   r"'[^']*extra_2[^']*'\] after it was rebuilt in a graph \(a layer made them outside build\(\)\); "
                   r"give its layers as a factory instead \(layers=\)$"),
], ids=["graph_error", "graph_error_without_message", "eager_variables"])
def test_a_model_that_cannot_move_to_a_graph_is_refused_saying_why(runtime, layer, match):
    """The error gives the last line of TensorFlow's message (its type, if the message is empty), or the first
    three variables left eager."""
    def model_fn():
        inputs = keras.Input((4,))
        return keras.Model(inputs, keras.layers.Dense(3)(layer()(inputs)))

    with pytest.raises(tfshare.InputError, match=match):
        tfshare.Classifier(model_fn=model_fn, runtime=runtime)


class _Configurable(keras.Model):
    """A subclassed model with a get_config: clone_model remakes it unbuilt, so the copy is built by a call."""

    def __init__(self, units=2, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.hidden, self.norm, self.out = keras.layers.Dense(5), keras.layers.BatchNormalization(), keras.layers.Dense(units)

    def call(self, x, training=False):
        return self.out(self.norm(self.hidden(x), training=training))

    def get_config(self):
        return {"units": self.units}


def test_a_subclassed_model_is_copied_built_by_an_inference_call(runtime, rng):
    """The copy has the caller's weights; no call made to build or measure either model ran in training mode
    (BatchNorm's moving statistics would have moved); two classes are enough."""
    model = _Configurable()
    x = rng.normal(size=(6, 4)).astype(np.float32)
    model(x)
    model.layers[0].set_weights([rng.normal(size=(4, 5)).astype(np.float32), np.ones(5, np.float32)])
    logits = model(x).numpy()
    clf = tfshare.Classifier(model_fn=lambda: model, input_shape=(4,), runtime=runtime)
    assert clf.keras_model is not model and isinstance(clf.keras_model, _Configurable) and clf.num_classes == 2
    np.testing.assert_allclose(clf.predict_proba(x), tf.nn.softmax(logits).numpy(), atol=1e-6)
    for statistics in (clf.get_weights(), {w.name: w.numpy() for w in model.weights}):
        [mean] = [v for k, v in statistics.items() if "moving_mean" in k]
        [variance] = [v for k, v in statistics.items() if "moving_variance" in k]
        np.testing.assert_array_equal(mean, np.zeros(5, np.float32))
        np.testing.assert_array_equal(variance, np.ones(5, np.float32))


def test_a_model_that_needs_input_shape_rebuilds_and_exports(runtime, rng, tmp_path):
    """rebuild (and so export_saved_model) calls model_fn again with the input shape the classifier was given."""
    clf = tfshare.Classifier(model_fn=lambda: keras.Sequential([keras.layers.Dense(3)]), input_shape=(4,),
                             runtime=runtime, name="m")
    x = rng.normal(size=(3, 4)).astype(np.float32)
    other = clf.rebuild(tfshare.GraphSession())
    try:
        assert other.input_shape == (4,) and other.num_classes == 3 and other.name == "m"
        other.set_weights(clf.get_weights())
        np.testing.assert_allclose(other.predict_proba(x), clf.predict_proba(x), atol=1e-6)
    finally:
        other.runtime.close()
    served = tf.saved_model.load(clf.export_saved_model(str(tmp_path / "m")))
    np.testing.assert_allclose(served.signatures["serving_default"](tf.constant(x))["probabilities"].numpy(),
                               clf.predict_proba(x), atol=1e-6)


def test_a_rebuilt_model_keeps_its_seed_and_so_fits_the_same(runtime, rng):
    """rebuild passes the seed: the twin, given the same weights, shuffles and so trains exactly as the original."""
    clf = tfshare.Classifier(model_fn=lambda: build_model((4,)), input_shape=(4,), num_classes=10, seed=7,
                             runtime=runtime, name="m")
    x, y = rng.normal(size=(64, 4)).astype(np.float32), rng.integers(0, 10, 64)
    twin = clf.rebuild(tfshare.GraphSession())
    try:
        assert twin._seed == clf._seed == 7
        twin.set_weights(clf.get_weights())
        for c in (clf, twin):
            c.fit(x, y, epochs=2, batch_size=8, shuffle=True)
        for key, value in clf.get_weights().items():
            np.testing.assert_array_equal(twin.get_weights()[key], value, err_msg=key)
    finally:
        twin.runtime.close()


def _dense_model(activation: str | None) -> Callable[[], keras.Model]:
    """A model_fn: Sequential "m" of Dense(5, activation) "hidden" and Dense(3) "out" on 4 features."""
    return lambda: keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation=activation, name="hidden"),
                                     keras.layers.Dense(3, name="out")], name="m")


def test_a_models_checkpoint_records_its_kind_input_shape_and_layers(runtime, tmp_path):
    """A model whose variables have the same shapes but whose layers differ (an activation) is refused on restore."""
    relu = tfshare.Classifier(model_fn=_dense_model("relu"), runtime=runtime, name="relu")
    assert relu.config == {"architecture": "model", "input_shape": [4], "num_classes": 3,
                           "layers": tfshare.architectures.config_key([relu.keras_model])}
    tanh = tfshare.Classifier(model_fn=_dense_model("tanh"), runtime=runtime, name="tanh")
    assert tanh.config["layers"] != relu.config["layers"]
    path = relu.save(str(tmp_path / "relu"))
    before = tanh.get_weights()
    with pytest.raises(tfshare.CheckpointError, match=r"was saved with layers='[0-9a-f]{16}', but this classifier has layers="):
        tanh.restore(path)
    for key, value in tanh.get_weights().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


def _functional(width: int = 4, swap: bool = False) -> Callable[[], keras.Model]:
    """A model_fn: two Dense(width) branches on 8 features, concatenated (in swapped order if ``swap``), to Dense(3)."""
    def model_fn() -> keras.Model:
        inp = keras.Input((8,))
        first = keras.layers.Dense(width, activation="relu")(inp)
        second = keras.layers.Dense(width)(inp)
        joined = keras.layers.Concatenate()([second, first] if swap else [first, second])
        return keras.Model(inp, keras.layers.Dense(3)(joined))
    return model_fn


def test_a_functional_models_checkpoint_restores_into_a_classifier_of_the_same_model_fn(runtime, tmp_path, rng):
    """Layer names counted up per process (input_1, input_2, ...) leave the recorded layers digest alone."""
    x = rng.normal(size=(5, 8)).astype(np.float32)
    saved = tfshare.Classifier(model_fn=_functional(), runtime=runtime, seed=0, name="a")
    again = tfshare.Classifier(model_fn=_functional(), runtime=runtime, seed=1, name="b")
    assert again.config["layers"] == saved.config["layers"]
    again.restore(saved.save(str(tmp_path / "ck")))
    np.testing.assert_allclose(again.predict_proba(x), saved.predict_proba(x), rtol=1e-6)
    path = tfshare.save_runtime([saved], tmp_path / "runtime.npz")
    with tfshare.GraphSession(device="cpu") as other:
        twin = tfshare.Classifier(model_fn=_functional(), runtime=other, seed=2, name="a")
        assert tfshare.restore_runtime([twin], path) == ["a"]
        np.testing.assert_allclose(twin.predict_proba(x), saved.predict_proba(x), rtol=1e-6)


@pytest.mark.parametrize("other", [_functional(width=5), _functional(swap=True)], ids=["sizes", "wiring"])
def test_a_functional_model_of_other_sizes_or_wiring_is_refused_on_restore(runtime, tmp_path, other):
    saved = tfshare.Classifier(model_fn=_functional(), runtime=runtime, name="a")
    different = tfshare.Classifier(model_fn=other, runtime=runtime, name="b")
    assert different.config["layers"] != saved.config["layers"]
    with pytest.raises(tfshare.CheckpointError, match=r"was saved with layers='[0-9a-f]{16}', but this classifier has layers="):
        different.restore(saved.save(str(tmp_path / "ck")))


class _GraphExtra(keras.layers.Layer):
    """Makes one variable eagerly and two in a TF1 graph."""

    def build(self, input_shape):
        self.w = self.add_weight(name="w", shape=(input_shape[-1], 3))
        if not tf1.executing_eagerly_outside_functions():
            self.extra = self.add_weight(name="extra", shape=())

    def call(self, x):
        return tf.matmul(x, self.w)


def test_a_layer_that_makes_other_variables_in_a_graph_is_refused(runtime):
    def model_fn():
        inputs = keras.Input((4,))
        return keras.Model(inputs, _GraphExtra(name="odd")(inputs))

    with pytest.raises(RuntimeError, match=r"^layer 'odd' made 2 variables in the graph, 1 eagerly$"):
        tfshare.Classifier(model_fn=model_fn, runtime=runtime)


def test_kept_values_go_only_to_the_variables_fed_by_them():
    """feed_kept_values refuses a graph variable that the creation records do not feed, naming it."""
    adopted = keras_model.AdoptedModel(_dense_model(None), unbuild=True)
    with tf.Graph().as_default():
        with initial_values.creating(0, feed_all=True) as created:
            adopted.logits(tf1.placeholder(tf.float32, [None, 4]), training=False)
        assert len(created) == 4
        with pytest.raises(RuntimeError, match=r"^variable 'm/hidden/bias:0' of layer 'hidden' has no fed initial value$"):
            adopted.feed_kept_values([c for c in created if "bias" not in c.variable.name])


def test_a_recurrent_model_is_rebuilt_around_its_cell(runtime, rng):
    """The RNN layer owns no weights (its cell does) and is rebuilt too; the outputs are Keras's own."""
    model = keras.Sequential([keras.Input((5, 3)), keras.layers.SimpleRNN(4), keras.layers.Dense(3)])
    x = rng.normal(size=(2, 5, 3)).astype(np.float32)
    expected = tf.nn.softmax(model(x)).numpy()
    clf = tfshare.Classifier(model_fn=lambda: model, runtime=runtime)  # a copy with its weights
    np.testing.assert_allclose(clf.predict_proba(x), expected, atol=1e-5)


@pytest.mark.parametrize("kind", ["graph", "eager"])
def test_a_model_of_float64_output_gives_float32_probabilities(runtime, rng, kind):
    """The classifier's logits are float32 whatever the model's last layer computes in (the loss and the docs say so)."""
    def model():
        x = keras.Input((4,))
        return keras.Model(x, keras.layers.Dense(3, dtype="float64", activation="softmax")(keras.layers.Dense(5)(x)))

    clf = (tfshare.Classifier(model_fn=model, runtime=runtime) if kind == "graph"
           else tfshare.EagerClassifier(model_fn=model))
    x, y = rng.normal(size=(8, 4)).astype(np.float32), rng.integers(0, 3, 8)
    proba = clf.predict_proba(x)
    assert proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert np.isfinite(clf.fit(x, y)["loss"][0])
