"""Every method that takes x takes [batch, *input_shape]; bad input and bad factories get clear errors first."""

from __future__ import annotations

import keras as keras3
import numpy as np
import pytest

import tfshare
from tfshare import forward
from tfshare._tf import keras, tf, tf1
from conftest import assert_same_weights, small_cnn_body

GOOD = np.zeros((2, 8, 8, 1), np.float32)
BAD_X = [
    (np.zeros((2, 8, 8), np.float32), r"x must be 4-D with shape \[batch, 8, 8, 1\], got 3-D shape \(2, 8, 8\)"),
    (np.zeros((2, 9, 8, 1), np.float32), r"x must have shape \[batch, 8, 8, 1\], got shape \(2, 9, 8, 1\)$"),
    (np.zeros((2, 1, 8, 8), np.float32), r"got shape \(2, 1, 8, 8\); it looks channels-first.*np.transpose\(x, \(0, 2, 3, 1\)\)"),
    (np.zeros((2, 64), np.float32), r"got 2-D shape \(2, 64\); it looks like flattened rows: use x.reshape\(-1, 8, 8, 1\)"),
    (np.zeros((8, 8, 1), np.float32), r"got 3-D shape \(8, 8, 1\); it looks like one example without the batch axis"),
    (np.where(np.arange(128).reshape(2, 8, 8, 1) == 70, np.nan, 0.0).astype(np.float32),
     r"x must be finite, got nan at index \(1, 0, 6, 0\)"),
    (np.full((1, 8, 8, 1), np.inf, np.float64), r"x must be finite, got inf"),
    (np.full((1, 8, 8, 1), 1e39, np.float64), r"beyond float32's range"),
]


def _classifiers(runtime):
    trunk = tfshare.SharedTrunk(runtime, layers=small_cnn_body, input_shape=(8, 8, 1))
    return {
        "layers": tfshare.Classifier(layers=small_cnn_body, input_shape=(8, 8, 1), num_classes=3, runtime=runtime),
        "conv": tfshare.ConvClassifier((8, 8, 1), 3, filters=(4,), runtime=runtime),
        "trunk": tfshare.Classifier(trunk=trunk, num_classes=3),
        "eager": tfshare.EagerClassifier(layers=small_cnn_body, input_shape=(8, 8, 1), num_classes=3),
    }


@pytest.mark.parametrize("x,match", BAD_X, ids=["rank", "size", "channels_first", "flat", "no_batch", "nan", "inf", "range"])
def test_every_method_rejects_bad_images_before_tensorflow_sees_them(runtime, x, match):
    classifiers = _classifiers(runtime)
    ops = len(runtime.graph.get_operations())
    y = np.zeros(len(x) if x.ndim == 4 else 2, np.int64)
    for clf in classifiers.values():
        for call in (clf.predict_proba, clf.predict, lambda v: clf.evaluate(v, y), lambda v: clf.fit(v, y)):
            with pytest.raises(tfshare.InputError, match=match):
                call(x)
    graph_heads = [c for c in classifiers.values() if c.runtime is not None]
    with pytest.raises(tfshare.InputError, match=match):
        tfshare.predict_many(graph_heads, x)
    assert len(runtime.graph.get_operations()) == ops and not runtime.has_session


def test_a_tensor_or_strings_are_type_errors(runtime):
    clf = tfshare.ConvClassifier((8, 8, 1), 3, filters=(4,), runtime=runtime)
    with pytest.raises(TypeError, match=r"x must be a NumPy array .* got a tensorflow"):
        clf.predict_proba(tf.zeros((1, 8, 8, 1)))
    with pytest.raises(TypeError, match=r"numeric"):
        clf.predict_proba(np.full((1, 8, 8, 1), "a"))


class _TwoOutputs(keras.layers.Layer):
    def call(self, x):
        return x, 2.0 * x


@pytest.mark.parametrize("factory,error,match", [
    (lambda: [], tfshare.InputError, r"layers\(\) must return at least one tf_keras layer, got \[\]"),
    (lambda: None, tfshare.InputError, r"layers\(\) must return at least one tf_keras layer, got None"),
    (lambda: [keras.layers.Flatten(), "relu"], TypeError, r"layers\(\)\[1\] must be a tf_keras layer, got str"),
    (lambda: [keras.layers.Flatten(), np.zeros(3)], TypeError, r"layers\(\)\[1\] must be a tf_keras layer, got numpy.ndarray"),
    (lambda: [keras3.layers.Dense(4)], TypeError,
     r"layers\(\)\[0\] is a Keras 3 object \(keras.*Dense\); tfshare builds TF1 graphs, which need Keras 2: make the "
     r"layer with tf_keras.layers \(`import tf_keras`\), not keras.layers \(which tf.keras is on TF >= 2.16\)$"),
    (lambda: keras3.layers.Flatten(), TypeError, r"layers\(\) is a Keras 3 object"),
    (lambda: [keras.layers.Conv2D(4, 3)], tfshare.InputError,
     r"the output of layers\(\) must be \[batch, features\] to feed the Dense head, got shape \[batch, 6, 6, 4\]"),
    (lambda: [keras.layers.Dense(4)], tfshare.InputError, r"must be \[batch, features\].*got shape \[batch, 8, 8, 4\]"),
    (lambda: [keras.layers.LSTM(4)], tfshare.InputError, r"layers\(\)\[0\] \(LSTM 'lstm.*'\) failed on an input of shape \[batch, 8, 8, 1\]: "
     r"Input 0 of layer \"lstm.*\" is incompatible with the layer: expected ndim=3, found ndim=4"),
    (lambda: [keras.layers.Flatten(), _TwoOutputs()], tfshare.InputError,
     r"^the output of layers\(\) must be one tensor \[batch, features\] to feed the Dense head, got a tuple of 2 "
     r"\(\[batch, 64\], \[batch, 64\]\); end the body with a layer of one output$"),
    (lambda: [keras.layers.Flatten(), keras.Sequential([keras.layers.Dense(4, dtype="mixed_float16")])],
     tfshare.InputError, r"^layers\(\)\[1\]\.layers\(\)\[0\] \('dense.*'\) must compute in its variables' dtype "
     r"\(tfshare builds float32 classifiers, without mixed precision\), got the dtype policy 'mixed_float16'; make it "
     r"without dtype=, or with dtype='float32'$"),
], ids=["empty", "none", "string", "array", "keras3", "keras3_single", "conv_map", "dense_map", "wrong_layer", "two_outputs",
        "mixed_precision_nested"])
def test_a_bad_factory_gets_a_clear_error_at_construction(runtime, factory, error, match):
    before = len(runtime.global_variables())
    for make in (
        lambda: tfshare.Classifier(layers=factory, input_shape=(8, 8, 1), num_classes=3, runtime=runtime),
        lambda: tfshare.SharedTrunk(runtime, layers=factory, input_shape=(8, 8, 1)),
        lambda: tfshare.EagerClassifier(layers=factory, input_shape=(8, 8, 1), num_classes=3),
    ):
        with pytest.raises(error, match=match):
            make()
    assert len(runtime.global_variables()) == before  # a failed build leaves no pending variable
    tfshare.Classifier(layers=small_cnn_body, input_shape=(8, 8, 1), num_classes=3, runtime=runtime).predict(GOOD)


@pytest.mark.parametrize("factory, cause", [
    (lambda: [keras.layers.Flatten(), keras.layers.Reshape((5,))],
     r"layers\(\)\[1\] \(Reshape 'reshape.*'\) failed on an input of shape \[batch, 64\]: "
     r"total size of new array must be unchanged, input_shape = \[64\], output_shape = \[5\]$"),
    (lambda: [keras.layers.MaxPooling2D(16), keras.layers.Flatten()],
     r"layers\(\)\[0\] \(MaxPooling2D 'max_pooling2d.*'\) failed on an input of shape \[batch, 8, 8, 1\]: "
     r"Negative dimension size caused by subtracting 16 from 8"),
], ids=["reshape", "pooling"])
def test_a_layer_failing_in_its_call_is_reported_with_the_cause_not_keras_header(runtime, factory, cause):
    """tf_keras re-raises a call's error under "Exception encountered when calling layer ...": the message
    must give the cause, as it does for the input checks Keras runs before the call."""
    for make in (
        lambda: tfshare.Classifier(layers=factory, input_shape=(8, 8, 1), num_classes=3, runtime=runtime),
        lambda: tfshare.SharedTrunk(runtime, layers=factory, input_shape=(8, 8, 1)),
    ):
        with pytest.raises(tfshare.InputError, match=cause):
            make()


def test_keras3_objects_are_told_apart_by_their_module():
    """architectures.is_keras3: the `keras` package and its submodules, not tf_keras or a look-alike name."""
    from tfshare import architectures

    def made_in(module):
        return type("Thing", (), {"__module__": module})()

    assert architectures.is_keras3(made_in("keras")) and architectures.is_keras3(made_in("keras.src.layers"))
    assert architectures.is_keras3(keras3.layers.Dense(2))
    for module in ("tf_keras", "tf_keras.src.layers", "kerasx", "mykeras.layers", ""):
        assert not architectures.is_keras3(made_in(module)), module
    assert not architectures.is_keras3(keras.layers.Dense(2))


def test_unknown_dimensions_show_as_question_marks_in_shape_errors():
    """A graph body's output with unknown feature dimensions: the message prints each one as "?"."""
    with tf.Graph().as_default():
        with pytest.raises(tfshare.InputError, match=r"got shape \[batch, \?\]; end the body with Flatten"):
            forward.check_features(tf1.placeholder(tf.float32, [None, None]))
        with pytest.raises(tfshare.InputError, match=r"must be \[batch, features\].*got shape \[batch, 8, \?, 4\]"):
            forward.check_features(tf1.placeholder(tf.float32, [None, 8, None, 4]))


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(layers=[keras.layers.Flatten()], input_shape=(4,), num_classes=3), TypeError,
     r"^layers must be a zero-argument callable returning tf_keras layers \(e\.g\. layers=lambda: "
     r"\[tf_keras\.layers\.Dense\(64, activation='relu'\)\]\), got list; each classifier needs layer objects of its own$"),
    (dict(layers=keras3.layers.Dense(4), input_shape=(4,), num_classes=3), TypeError,
     r"^layers must be a zero-argument callable returning tf_keras layers \(e\.g\. layers=lambda: "
     r"\[tf_keras\.layers\.Dense\(64, activation='relu'\)\]\), got keras\.[\w.]+\.Dense; each classifier needs "
     r"layer objects of its own$"),
    (dict(layers=small_cnn_body, num_classes=3), tfshare.InputError, r"input_shape is required with layers="),
    (dict(layers=small_cnn_body, input_shape=(None, 8, 8, 1), num_classes=3), tfshare.InputError,
     r"input_shape is the shape of one example, without the batch axis"),
    (dict(layers=small_cnn_body, input_shape=(8, 8, 1)), tfshare.InputError, r"num_classes is required with layers="),
    (dict(layers=small_cnn_body, input_shape=(8, 8, 1), num_classes=1), tfshare.InputError, r"num_classes must be an int >= 2, got 1"),
    (dict(), tfshare.InputError, r"give exactly one of layers= .* got none"),
    (dict(layers=small_cnn_body, model_fn=lambda: None, input_shape=(8, 8, 1), num_classes=3), tfshare.InputError,
     r"give exactly one of .* got \['layers', 'model_fn'\]"),
], ids=["list_not_factory", "keras3_layer_not_factory", "no_shape", "batch_axis", "no_classes", "one_class", "nothing", "two_forms"])
def test_bad_constructor_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        tfshare.Classifier(**kwargs)


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(filters=()), tfshare.InputError, r"^filters must name at least one block, got \(\)$"),
    (dict(filters=(4, 0)), tfshare.InputError, r"^filters\[1\] must be an int >= 1, got 0$"),
    (dict(dropout=1.0), tfshare.InputError, r"^dropout must be in \[0, 1\), got 1.0$"),
    (dict(dropout=-0.1), tfshare.InputError, r"^dropout must be in \[0, 1\), got -0.1$"),
    (dict(momentum=0), tfshare.InputError, r"^momentum must be in \(0, 1\), got 0$"),
    (dict(momentum=1.0), tfshare.InputError, r"^momentum must be in \(0, 1\), got 1.0$"),
    (dict(momentum=True), TypeError, r"^momentum must be a float, got bool True$"),
    (dict(dropout="0.5"), TypeError, r"^dropout must be a float, got str '0.5'$"),
    (dict(input_shape=(8, 8)), tfshare.InputError, r"^input_shape must be \(height, width, channels\) for a CNN, got \(8, 8\)$"),
], ids=["no_blocks", "zero_filters", "dropout_1", "dropout_negative", "momentum_0", "momentum_1", "momentum_bool",
        "dropout_str", "flat_shape"])
def test_bad_cnn_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        tfshare.architectures.conv(**kwargs)


def test_cnn_arguments_at_their_bounds_make_the_documented_layers():
    """dropout=0 leaves the Dropout layer out (0 is allowed, 1 is not); momentum reaches every BatchNorm."""
    arch = tfshare.architectures.conv((8, 8, 1), filters=(2, 3), dropout=0, momentum=0.5)
    layers = arch.make_layers()
    assert [layer.name for layer in layers] == ["conv_0", "bn_0", "relu_0", "pool_0", "conv_1", "bn_1", "relu_1", "global_pool"]
    assert [layer.momentum for layer in layers if "bn" in layer.name] == [0.5, 0.5]
    assert [(layer.filters, layer.kernel_size, layer.padding, layer.use_bias) for layer in layers if "conv" in layer.name] == [
        (2, (3, 3), "same", False), (3, (3, 3), "same", False)]
    assert arch.config == {"architecture": "conv", "input_shape": [8, 8, 1], "filters": [2, 3]}
    assert arch.key == ("conv", (8, 8, 1), (2, 3), 0.0, 0.5) and arch.named
    dropout = tfshare.architectures.conv((8, 8, 1), filters=(2,), dropout=0.5).make_layers()[-1]
    assert dropout.name == "dropout" and dropout.rate == 0.5


@pytest.mark.parametrize("kwargs, rate, momentum", [({}, 0.25, 0.9), ({"dropout": 0.4, "momentum": 0.6}, 0.4, 0.6)],
                         ids=["defaults", "given"])
def test_conv_classifier_passes_its_arguments_on(runtime, kwargs, rate, momentum):
    """Dropout and momentum reach the layers; runtime, name and seed the classifier."""
    clf = tfshare.ConvClassifier((8, 8, 1), 3, (2, 3), runtime=runtime, name="cnn", seed=3, **kwargs)
    layers = clf.layers
    assert [layer.momentum for layer in layers if "bn" in layer.name] == [momentum, momentum]
    assert layers[-1].name == "dropout" and layers[-1].rate == rate
    assert clf.runtime is runtime and clf.name == "cnn" and clf.num_classes == 3
    with tfshare.ConvClassifier((8, 8, 1), 3, (2, 3), seed=3, **kwargs) as twin:
        assert_same_weights(twin.get_weights(), clf)


def test_an_architecture_given_as_layers_keeps_its_input_shape(runtime):
    """layers=architectures.conv(...): input_shape may repeat the architecture's, never differ from it."""
    arch = tfshare.architectures.conv((8, 8, 1), filters=(2,))
    with pytest.raises(tfshare.InputError, match=r"^input_shape must be the architecture's \(8, 8, 1\), got \(9, 9, 1\)$"):
        tfshare.Classifier(layers=arch, input_shape=[9, 9, 1], num_classes=3, runtime=runtime)
    clf = tfshare.Classifier(layers=arch, input_shape=[8, 8, 1], num_classes=3, runtime=runtime)
    assert clf.input_shape == (8, 8, 1) and "conv_0/kernel" in clf.named_variables


def test_a_factory_must_make_new_layers_each_time(runtime):
    shared = [keras.layers.Flatten(), keras.layers.Dense(4)]
    tfshare.Classifier(layers=lambda: shared, input_shape=(8, 8, 1), num_classes=3, runtime=runtime)
    with pytest.raises(tfshare.InputError, match=r"layers\(\)\[1\] \('dense.*'\) is already built.*make new, unbuilt layers"):
        tfshare.Classifier(layers=lambda: shared, input_shape=(8, 8, 1), num_classes=3, runtime=runtime)


def test_an_unbuilt_sequential_in_a_body_is_used_as_its_layers(runtime):
    body = lambda: [keras.Sequential([keras.layers.Conv2D(4, 3), keras.layers.BatchNormalization()]),  # noqa: E731
                    keras.layers.GlobalAveragePooling2D()]
    clf = tfshare.Classifier(layers=body, input_shape=(8, 8, 1), num_classes=3, runtime=runtime)
    assert [type(layer).__name__ for layer in clf.layers] == ["Conv2D", "BatchNormalization", "GlobalAveragePooling2D"]
    assert clf.predict_proba(GOOD).shape == (2, 3)
    empty = lambda: [keras.Sequential([]), keras.layers.Flatten()]  # noqa: E731
    with pytest.raises(tfshare.InputError, match=r"^layers\(\)\[0\]\.layers\(\) must return at least one tf_keras layer, got \[\]$"):
        tfshare.Classifier(layers=empty, input_shape=(8, 8, 1), num_classes=3, runtime=runtime)


def test_a_user_body_is_checkpointed_as_its_input_shape_and_a_digest_of_its_layers(runtime):
    clf = tfshare.Classifier(layers=lambda: [keras.layers.Dense(3)], input_shape=(4,), num_classes=3, runtime=runtime)
    assert sorted(clf.config) == ["input_shape", "layers", "num_classes"]
    assert clf.config["input_shape"] == [4] and clf.config["num_classes"] == 3
    assert clf.config["layers"] == tfshare.architectures.config_key([keras.layers.Dense(3)])


def test_images_of_other_shapes_and_flat_rows_work(runtime, rng):
    color = tfshare.Classifier(layers=lambda: [keras.layers.Conv2D(4, 3), keras.layers.Flatten()],
                               input_shape=(12, 10, 3), num_classes=4, runtime=runtime)
    x = rng.random((3, 12, 10, 3))  # float64 in range: cast to float32
    assert color.predict_proba(x).shape == (3, 4) and color.predict(x.astype(np.float32)).dtype == np.int64
    rows = tfshare.Classifier(layers=lambda: keras.layers.Dense(8), input_shape=(5,), num_classes=2, runtime=runtime)
    assert rows.predict_proba(rng.integers(0, 3, (4, 5))).shape == (4, 2)
    with pytest.raises(tfshare.InputError, match=r"x must have 5 features per row \(shape \[batch, 5\]\), got shape \(4, 6\)"):
        rows.predict(np.zeros((4, 6)))
