"""The eager twin: the same architecture and seed start from the same weights, and weights move both ways."""

from __future__ import annotations

import numpy as np
import pytest

import tfshare
from conftest import small_cnn_body
from tfshare._tf import keras

PAIRS = {
    "mlp": (lambda: tfshare.DenseClassifier(64, 10, (32,), seed=3),
            lambda: tfshare.EagerDenseClassifier(64, 10, (32,), seed=3, use_tf_function=True), (64,)),
    "cnn": (lambda: tfshare.ConvClassifier((8, 8, 1), 10, seed=3),
            lambda: tfshare.EagerConvClassifier((8, 8, 1), 10, seed=3, use_tf_function=True), (8, 8, 1)),
    "user_body": (lambda: tfshare.Classifier(layers=small_cnn_body, input_shape=(8, 8, 1), num_classes=10, seed=3),
                  lambda: tfshare.EagerClassifier(layers=small_cnn_body, input_shape=(8, 8, 1), num_classes=10, seed=3),
                  (8, 8, 1)),
}


def _data(digits, shape):
    """The digits as the classifier takes them: images, or flat rows for the MLP."""
    return digits if len(shape) == 3 else digits.flatten()


@pytest.mark.parametrize("kind", list(PAIRS))
def test_the_same_seed_gives_the_same_initial_predictions(kind, digits):
    make_graph, make_eager, shape = PAIRS[kind]
    with make_graph() as graph:
        eager = make_eager()
        assert sorted(graph.named_variables) == sorted(eager.named_variables)
        assert graph.config == eager.config
        x = _data(digits, shape).x_test
        np.testing.assert_allclose(graph.predict_proba(x), eager.predict_proba(x), atol=1e-5)


@pytest.mark.parametrize("kind", list(PAIRS))
def test_weights_move_between_graph_and_eager_both_ways(kind, digits):
    make_graph, make_eager, shape = PAIRS[kind]
    data = _data(digits, shape)
    x, y = data.x_test, data.y_test
    with make_graph() as graph:
        eager = make_eager()
        graph.fit(data.x_train[:300], data.y_train[:300], epochs=2)
        eager.set_weights(graph.get_weights())
        np.testing.assert_allclose(eager.predict_proba(x), graph.predict_proba(x), atol=1e-5)
        eager.fit(data.x_train[:300], data.y_train[:300], epochs=2)
        assert not np.allclose(eager.predict_proba(x), graph.predict_proba(x), atol=1e-3)
        graph.set_weights(eager.get_weights())
        np.testing.assert_allclose(graph.predict_proba(x), eager.predict_proba(x), atol=1e-5)
        assert graph.evaluate(x, y)["accuracy"] == pytest.approx(eager.evaluate(x, y)["accuracy"], abs=1 / len(y))


def test_set_weights_refuses_wrong_names_shapes_and_values_before_assigning(runtime):
    clf = tfshare.ConvClassifier((8, 8, 1), 10, filters=(4,), runtime=runtime, seed=0)
    good = clf.get_weights()
    cases = [
        ({k: v for k, v in good.items() if k != "bn_0/moving_mean"}, tfshare.InputError, r"missing \['bn_0/moving_mean'\]"),
        ({**good, "extra": good["head/bias"]}, tfshare.InputError, r"unknown \['extra'\]"),
        ({**good, "conv_0/kernel": np.zeros((3, 3, 1, 5))}, tfshare.InputError,
         r"weights\['conv_0/kernel'\] must have shape \(3, 3, 1, 4\), got shape \(3, 3, 1, 5\)"),
        ({**good, "head/bias": np.full(10, np.nan)}, tfshare.InputError, r"weights\['head/bias'\] must be finite"),
        ({**good, "head/bias": ["a"] * 10}, TypeError, r"weights\['head/bias'\] must have a numeric"),
        ([1, 2], TypeError, r"weights must be a dict of \{name: array\}"),
    ]
    for weights, error, match in cases:
        with pytest.raises(error, match=match):
            clf.set_weights(weights)
    after = clf.get_weights()
    for key in good:
        np.testing.assert_array_equal(after[key], good[key])


def test_get_weights_keys_do_not_depend_on_the_name_scope(runtime):
    a = tfshare.Classifier(layers=small_cnn_body, input_shape=(8, 8, 1), num_classes=10, runtime=runtime, name="a")
    b = tfshare.Classifier(layers=small_cnn_body, input_shape=(8, 8, 1), num_classes=10, runtime=runtime, name="b")
    trunk = tfshare.SharedTrunk(runtime, layers=small_cnn_body, input_shape=(8, 8, 1))
    c = tfshare.Classifier(trunk=trunk, num_classes=10)
    eager = tfshare.EagerClassifier(layers=small_cnn_body, input_shape=(8, 8, 1), num_classes=10)
    keys = sorted(a.get_weights())
    assert keys == sorted(b.get_weights()) == sorted(c.get_weights()) == sorted(eager.get_weights())
    assert keys == ["head/bias", "head/kernel", "layer_0/bias", "layer_0/kernel", "layer_1/beta", "layer_1/gamma",
                    "layer_1/moving_mean", "layer_1/moving_variance"]
    b.set_weights(a.get_weights())
    c.set_weights(a.get_weights())
    x = np.random.default_rng(0).random((5, 8, 8, 1)).astype(np.float32)
    np.testing.assert_array_equal(b.predict_proba(x), a.predict_proba(x))
    np.testing.assert_allclose(c.predict_proba(x), a.predict_proba(x), atol=1e-6)


def test_the_shipped_cnn_has_the_documented_size():
    with tfshare.ConvClassifier() as cnn:
        assert cnn.num_params == 19754
        stats = [v for k, v in cnn.named_variables.items() if "moving_" in k]
        assert sum(v.shape.num_elements() for v in stats) == 192
        assert cnn.input_shape == (28, 28, 1) and cnn.config == {
            "architecture": "conv", "input_shape": [28, 28, 1], "filters": [32, 64], "num_classes": 10}


TRUNKS = {
    "mlp": (lambda gs: tfshare.SharedTrunk(gs, 64, (32, 16), seed=3), lambda: tfshare.EagerTrunk(64, (32, 16), seed=3), (64,)),
    "user_body": (lambda gs: tfshare.SharedTrunk(gs, layers=small_cnn_body, input_shape=(8, 8, 1), seed=3),
                  lambda: tfshare.EagerTrunk(layers=small_cnn_body, input_shape=(8, 8, 1), seed=3), (8, 8, 1)),
}


@pytest.mark.parametrize("kind", list(TRUNKS))
def test_an_eager_trunk_and_its_heads_start_as_a_shared_trunk_and_its_heads(kind, runtime, digits, tmp_path):
    """The same seeds give the same trunk weights and features, each head continues the trunk's seed count,
    and the checkpoint config is the same (a BatchNorm's config changes once built: the config is of unbuilt layers)."""
    make_graph, make_eager, shape = TRUNKS[kind]
    graph_trunk, eager_trunk = make_graph(runtime), make_eager()
    assert eager_trunk.output_dim == graph_trunk.output_dim and eager_trunk.num_params == graph_trunk.num_params
    assert eager_trunk.training_sensitive == graph_trunk.training_sensitive == (kind == "user_body")
    assert eager_trunk.architecture.config == graph_trunk.architecture.config
    assert sorted(eager_trunk.named_variables()) == sorted(graph_trunk.named_variables())
    assert [v.shape for v in eager_trunk.variables] == [v.shape for v in graph_trunk.variables]
    x = _data(digits, shape).x_test[:40]
    np.testing.assert_allclose(eager_trunk(x).numpy(), runtime.run(graph_trunk.output, {graph_trunk.input: x}), atol=1e-5)
    for seed in (5, 6):
        graph = tfshare.Classifier(trunk=graph_trunk, num_classes=10, seed=seed)
        eager = tfshare.EagerClassifier(trunk=eager_trunk, num_classes=10, seed=seed)
        assert graph.config == eager.config
        np.testing.assert_allclose(eager.predict_proba(x), graph.predict_proba(x), atol=1e-5)
    y = _data(digits, shape).y_test[:40]
    for clf in (graph, eager):  # a step in training mode: BatchNorm's moving statistics move alike
        clf.fit(x, y, epochs=1, batch_size=40, shuffle=False)
    moving = [k for k in graph.get_weights() if "moving_" in k]
    assert len(moving) == (2 if kind == "user_body" else 0)
    for key in moving:
        assert np.abs(graph.get_weights()[key] - eager_trunk.named_variables()[key].numpy()).max() < 1e-5
        assert np.abs(graph.get_weights()[key] - (0.0 if "mean" in key else 1.0)).max() > 1e-3
    graph.restore(eager.save(str(tmp_path / "eager")))
    np.testing.assert_allclose(graph.predict_proba(x), eager.predict_proba(x), atol=1e-5)


def _model_with_activity_regularizer():
    inputs = keras.Input((6,))
    return keras.Model(inputs, keras.layers.Dense(3, activity_regularizer="l2")(inputs))


@pytest.mark.parametrize("arg", ["layers", "model_fn"])
def test_the_eager_twin_refuses_an_activity_regularizer_naming_the_argument_given(arg):
    """As the graph classifier (test_an_activity_regularizer_is_refused_when_fit_would_drop_it): layers or model_fn."""
    if arg == "layers":
        clf = tfshare.EagerClassifier(layers=lambda: [keras.layers.Dense(4, activity_regularizer="l2")],
                                      input_shape=(6,), num_classes=3)
    else:
        clf = tfshare.EagerClassifier(model_fn=_model_with_activity_regularizer)
    with pytest.raises(tfshare.InputError, match=rf"^{arg}: layer 'dense.*' has an activity_regularizer, which tfshare "
                       r"does not add to the loss; weight regularizers \(kernel_regularizer=, bias_regularizer=\) are added$"):
        clf.fit(np.ones((4, 6), np.float32), np.array([0, 1, 2, 0]))
