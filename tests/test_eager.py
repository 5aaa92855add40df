"""EagerDenseClassifier: the TF2 baseline with the same API and the same results."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tfshare
from tfshare._tf import keras, tf


@pytest.mark.parametrize("use_tf_function", [False, True], ids=["eager", "tf_function"])
def test_eager_twin_learns_in_the_same_band_as_the_graph_class(data, use_tf_function):
    eager = tfshare.EagerDenseClassifier(seed=0, use_tf_function=use_tf_function)
    eager.fit(data.x_train, data.y_train, epochs=4)
    with tfshare.DenseClassifier(seed=0) as graph_clf:
        graph_clf.fit(data.x_train, data.y_train, epochs=4)
        graph_acc = graph_clf.evaluate(data.x_test, data.y_test)["accuracy"]
    eager_acc = eager.evaluate(data.x_test, data.y_test)["accuracy"]
    assert eager_acc >= 0.90 and graph_acc >= 0.90
    assert abs(eager_acc - graph_acc) <= 0.03


def test_eager_builds_no_graph_and_no_session():
    graph = tf.compat.v1.get_default_graph()
    before = len(graph.get_operations())
    clf = tfshare.EagerDenseClassifier(seed=0)
    clf.predict(np.zeros((2, 784), np.float32))
    assert clf.runtime is None
    assert len(graph.get_operations()) == before


def test_tf_function_traces_once_per_instance_not_per_batch_size():
    a = tfshare.EagerDenseClassifier(seed=0, use_tf_function=True)
    b = tfshare.EagerDenseClassifier(seed=0, use_tf_function=True)
    for n in (1, 5, 17):
        a.predict_proba(np.zeros((n, 784), np.float32))
    b.predict_proba(np.zeros((3, 784), np.float32))
    proba_a, proba_b = a.tf_functions[0], b.tf_functions[0]
    assert proba_a is not proba_b
    assert proba_a.experimental_get_tracing_count() == 1
    assert proba_b.experimental_get_tracing_count() == 1


def test_eager_trunk_is_shared_and_training_one_moves_the_other(data):
    trunk = tfshare.EagerTrunk(784, (32,), seed=0)
    a = tfshare.EagerDenseClassifier(trunk=trunk, seed=1)
    b = tfshare.EagerDenseClassifier(num_classes=10, trunk=trunk, seed=2)
    assert a.named_variables["hidden_0/kernel"] is b.named_variables["hidden_0/kernel"]
    assert a.named_variables["head/kernel"] is not b.named_variables["head/kernel"]
    before = b.predict_proba(data.x_test[:50])
    a.fit(data.x_train[:128], data.y_train[:128])
    assert np.abs(b.predict_proba(data.x_test[:50]) - before).max() > 1e-4


def test_graph_checkpoint_restores_into_the_eager_twin(tmp_path, data):
    with tfshare.DenseClassifier(seed=0) as clf:
        clf.fit(data.x_train[:256], data.y_train[:256])
        expected = clf.predict_proba(data.x_test[:20])
        clf.save(str(tmp_path / "ck"))
    eager = tfshare.EagerDenseClassifier(seed=3)
    eager.restore(str(tmp_path / "ck"))
    np.testing.assert_allclose(eager.predict_proba(data.x_test[:20]), expected, atol=1e-5)
    eager.save(str(tmp_path / "ck2"))
    again = tfshare.EagerDenseClassifier(seed=4)
    again.restore(str(tmp_path / "ck2"))
    np.testing.assert_array_equal(again.predict_proba(data.x_test[:20]), eager.predict_proba(data.x_test[:20]))


def test_eager_rejects_bad_input_like_the_graph_class():
    clf = tfshare.EagerDenseClassifier(input_dim=4, num_classes=3, hidden_units=(2,), seed=0)
    with pytest.raises(tfshare.InputError, match=r"x must have 4 features per row"):
        clf.predict(np.zeros((2, 5), np.float32))
    with pytest.raises(tfshare.InputError, match=r"y must hold class ids in \[0, 3\), got 3"):
        clf.fit(np.zeros((2, 4), np.float32), np.array([0, 3]))
    assert clf.predict_proba(np.zeros((0, 4))).shape == (0, 3)
    clf.close()
    with pytest.raises(tfshare.ClosedError):
        clf.predict(np.zeros((1, 4)))


def test_eager_layers_keep_working_after_graph_classifiers_are_built(data):
    """tf_keras rewrites Dense's base class by construction mode; tfshare must not flip it."""
    eager = tfshare.EagerDenseClassifier(seed=0)
    before = eager.predict_proba(data.x_test[:3])
    with tfshare.GraphSession(device="cpu") as gs:
        tfshare.DenseClassifier(runtime=gs, seed=0)
        tfshare.SharedTrunk(gs, 784, (8,), seed=0)
    np.testing.assert_array_equal(eager.predict_proba(data.x_test[:3]), before)


def test_a_closed_eager_classifier_names_itself():
    clf = tfshare.EagerDenseClassifier(4, 2, (3,), name="e", seed=0)
    assert clf.closed is False
    clf.close()
    assert clf.closed is True
    with pytest.raises(tfshare.ClosedError, match=r"^classifier 'e' is closed$"):
        clf.predict(np.zeros((1, 4), np.float32))


def test_the_eager_twin_uses_model_fns_model_as_it_is():
    """Not a copy prepared for a graph (as the graph Classifier makes): the very model and its weights."""
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    clf = tfshare.EagerClassifier(model_fn=lambda: model)
    assert clf.keras_model is model and clf.variables[0] is model.weights[0]


def test_eager_predict_returns_int64_class_ids_and_repr_names_the_class():
    clf = tfshare.EagerDenseClassifier(input_dim=4, num_classes=3, hidden_units=(2,), name="twin", seed=0)
    ids = clf.predict(np.ones((5, 4), np.float32))
    assert ids.dtype == np.int64 and ids.shape == (5,)
    np.testing.assert_array_equal(ids, np.argmax(clf.predict_proba(np.ones((5, 4), np.float32)), axis=1))
    assert repr(clf) == "EagerDenseClassifier(name='twin', input_shape=(4,), num_classes=3, use_tf_function=False)"


def test_eager_conv_classifier_passes_every_argument_to_its_body():
    """num_classes, dropout, momentum, name and use_tf_function reach the model, defaults as ConvClassifier's."""
    default = tfshare.EagerConvClassifier((8, 8, 1), filters=(2,), seed=0)
    assert default.num_classes == 10 and not default.use_tf_function and default.name == "eager_conv_classifier"
    clf = tfshare.EagerConvClassifier((8, 8, 1), 3, filters=(2,), dropout=0.5, momentum=0.75, use_tf_function=True,
                                      name="cnn", seed=0)
    assert clf.num_classes == 3 and clf.use_tf_function and clf.name == "cnn"
    assert [layer.momentum for layer in clf.layers if "bn" in layer.name] == [0.75]
    assert [layer.rate for layer in clf.layers if layer.name == "dropout"] == [0.5]


def test_eager_trunk_names_layers_and_training_mode(rng):
    """An EagerTrunk's own properties, and its call in either mode (its body has Dropout)."""
    assert tfshare.EagerTrunk(4, (3,), seed=0).name == "eager_trunk"
    trunk = tfshare.EagerTrunk(layers=lambda: [keras.layers.Dense(6), keras.layers.Dropout(0.5)], input_shape=(4,),
                               name="body", seed=0)
    assert trunk.name == "body" and trunk.output_dim == 6 and trunk.num_params == 4 * 6 + 6
    assert [type(layer).__name__ for layer in trunk.layers] == ["Dense", "Dropout"] and trunk.layers is not trunk.layers
    x = rng.random((64, 4), dtype=np.float32) + 1.0
    inference = trunk(x).numpy()
    np.testing.assert_array_equal(trunk(x, training=False).numpy(), inference)
    np.testing.assert_allclose(inference, trunk.layers[0](x).numpy(), atol=1e-6)
    dropped = trunk(x, training=True).numpy()
    assert 0.3 < np.mean(dropped == 0) < 0.7  # about half of the features dropped, in training only
    assert np.mean(inference == 0) < 0.3


def test_eager_trunk_stays_eager_inside_a_callers_graph():
    """Built and called inside graph.as_default(), an EagerTrunk adds nothing to that graph."""
    graph = tf.Graph()
    with graph.as_default():
        trunk = tfshare.EagerTrunk(4, (3,), seed=0)
        out = trunk(np.ones((2, 4), np.float32))
        assert tf.executing_eagerly() is False
    assert out.numpy().shape == (2, 3)
    assert graph.get_operations() == []


def test_the_eager_classes_ignore_a_callers_learning_phase():
    """Inside tf_keras's (deprecated) learning_phase_scope(1), as in the graph classes: building runs in inference
    mode (BatchNorm's statistics keep their initial values) and so does predict_proba (no Dropout)."""
    body = lambda: [keras.layers.BatchNormalization(), keras.layers.Dropout(0.5)]  # noqa: E731
    x = np.ones((4, 6), np.float32)
    expected = tfshare.EagerClassifier(layers=body, input_shape=(6,), num_classes=3, seed=0).predict_proba(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the scope's deprecation warning
        with keras.backend.learning_phase_scope(1):
            trunk = tfshare.EagerTrunk(layers=body, input_shape=(6,), seed=0)
            clf = tfshare.EagerClassifier(layers=body, input_shape=(6,), num_classes=3, seed=0)
            got = clf.predict_proba(x)
    for variables in (trunk.named_variables(), clf.named_variables):
        np.testing.assert_array_equal(variables["layer_0/moving_variance"].numpy(), np.ones(6, np.float32))
    np.testing.assert_array_equal(got, expected)


def test_get_weights_works_inside_a_callers_graph():
    """get_weights stays eager inside graph.as_default(), as predict and set_weights do, and adds nothing there."""
    clf = tfshare.EagerDenseClassifier(4, 3, (4,), seed=0)
    expected = clf.get_weights()
    graph = tf.Graph()
    with graph.as_default():
        got = clf.get_weights()
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        np.testing.assert_array_equal(got[key], value)
    assert graph.get_operations() == []


def test_an_eager_trunk_checks_an_array_x_like_predict_proba():
    """A wrongly shaped or non-finite NumPy x is an InputError naming x, the expected and the actual shape."""
    trunk = tfshare.EagerTrunk(4, (3,), seed=0)
    with pytest.raises(tfshare.InputError, match=r"^x must have 4 features per row.*got shape \(2, 5\)"):
        trunk(np.ones((2, 5), np.float32))
    with pytest.raises(tfshare.InputError, match=r"^x must be 2-D with shape \[batch, 4\], got 1-D shape \(4,\)"):
        trunk(np.ones(4, np.float32))
    with pytest.raises(tfshare.InputError, match=r"^x must be finite, got nan at index \(0, 0\)"):
        trunk(np.full((1, 4), np.nan, np.float32))
    assert trunk(np.ones((2, 4))).shape == (2, 3)  # float64 and lists are converted, as predict_proba's x
    assert trunk(tf.ones((2, 4))).shape == (2, 3)  # a tensor is the caller's (a classifier's own call)


def test_a_layer_failing_in_an_eager_op_is_an_input_error_naming_the_layer_and_cause():
    """Built eagerly, a body's shape error is an op's InvalidArgumentError, not the ValueError a graph gives."""
    factory = lambda: [keras.layers.Flatten(), keras.layers.Reshape((5,))]
    with pytest.raises(tfshare.InputError, match=r"^layers\(\)\[1\] \(Reshape 'reshape.*'\) failed on an input of shape "
                       r"\[batch, 64\]: .*Input to reshape is a tensor with 64 values, but the requested shape has 5"):
        tfshare.EagerClassifier(layers=factory, input_shape=(8, 8, 1), num_classes=3)


def test_a_layer_failing_on_a_numpy_input_names_its_shape():
    """forward.apply on a NumPy array (whose shape is a tuple, not a TensorShape) reports the layer's failure."""
    from tfshare import forward
    layer = keras.layers.Dense(2)
    layer.build((None, 4))
    with pytest.raises(tfshare.InputError, match=r"^layers\(\)\[0\] \(Dense 'dense.*'\) failed on an input of shape "
                       r"\[batch, 5\]: "):
        forward.apply([layer], np.ones((2, 5), np.float32), training=False)
