"""BatchNorm folded into the convolution before it, on graph inference paths (tfshare.forward).

The folded path must compute what the two layers compute, from the variables
as they are at each call, and only where the fold is exact.
"""

import numpy as np
import pytest

import tfshare
from tfshare import forward
from tfshare._tf import keras, tf, tf1
from tfshare.bench import models, reference


def _layers(norm=None, **conv):
    return [keras.layers.Conv2D(4, 3, padding="same", **conv), keras.layers.BatchNormalization(**(norm or {})),
            keras.layers.ReLU()]


def _random_statistics(session, layers, rng):
    """Gives gamma, beta, the moving mean and variance values far from their initial 1, 0, 0, 1."""
    for w in layers[1].weights:
        name = w.name.rsplit("/", 1)[-1].split(":")[0]
        shape = w.shape.as_list()
        value = rng.uniform(0.5, 2.0, shape) if name in ("gamma", "moving_variance") else rng.normal(0, 0.5, shape)
        _load(session, w, value)


def _load(session, variable, value):
    with session.graph.as_default():
        variable.load(np.asarray(value, np.float32), session)


def _graph_paths(layers, fold, training=False):
    """(session, x, folded output, the same layers' unfolded output) in one graph."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf1.placeholder(tf.float32, [None, 6, 6, 2])
        out = forward.apply(layers, x, training=training, fold_batch_norm=fold)
        plain = forward.apply(layers, x, training=training)
        session = tf1.Session(graph=graph)
        session.run(tf1.global_variables_initializer())
    return session, x, out, plain


def _op_types_feeding(tensor):
    seen, stack, types = set(), [tensor.op], []
    while stack:
        op = stack.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        types.append(op.type)
        stack.extend(t.op for t in op.inputs)
    return types


@pytest.mark.parametrize("use_bias, norm", [(False, {}), (True, {}), (True, dict(center=False, scale=False))],
                         ids=["no_bias", "bias", "bias_no_beta_gamma"])
def test_the_folded_path_equals_the_two_layers(use_bias, norm, rng):
    layers = _layers(norm, use_bias=use_bias)
    session, x, out, plain = _graph_paths(layers, fold=True)
    _random_statistics(session, layers, rng)
    if use_bias:
        _load(session, layers[0].bias, rng.normal(0, 1, 4))
    values = rng.normal(0, 1, (5, 6, 6, 2)).astype(np.float32)
    folded, unfolded = session.run([out, plain], {x: values})
    assert np.abs(unfolded).max() > 0.5  # the statistics matter: far from an identity normalization
    np.testing.assert_allclose(folded, unfolded, rtol=1e-5, atol=1e-5)
    types = _op_types_feeding(out)
    assert "FusedBatchNormV3" not in types and types.count("Conv2D") == 1
    assert "FusedBatchNormV3" in _op_types_feeding(plain)
    session.close()


def test_the_fold_reads_the_variables_at_every_call(rng):
    layers = _layers()
    session, x, out, plain = _graph_paths(layers, fold=True)
    values = rng.normal(0, 1, (2, 6, 6, 2)).astype(np.float32)
    before = session.run(out, {x: values})
    _random_statistics(session, layers, rng)
    after, unfolded = session.run([out, plain], {x: values})
    assert np.abs(after - before).max() > 0.1
    np.testing.assert_allclose(after, unfolded, rtol=1e-5, atol=1e-5)
    session.close()


def test_training_paths_are_never_folded():
    layers = _layers()
    graph = tf.Graph()
    with graph.as_default(), forward.collecting_updates() as updates:
        x = tf1.placeholder(tf.float32, [None, 6, 6, 2])
        out = forward.apply(layers, x, training=True, fold_batch_norm=True)
    assert "FusedBatchNormV3" in _op_types_feeding(out)  # batch statistics, and their updates
    assert len(updates) == 2


@pytest.mark.parametrize("conv, norm", [
    (lambda: keras.layers.Conv2D(4, 3, activation="relu"), lambda: keras.layers.BatchNormalization()),
    (lambda: keras.layers.DepthwiseConv2D(3), lambda: keras.layers.BatchNormalization()),
    (lambda: keras.layers.Conv2DTranspose(4, 3), lambda: keras.layers.BatchNormalization()),
    (lambda: keras.layers.Conv2D(4, 3, groups=2), lambda: keras.layers.BatchNormalization()),
    (lambda: keras.layers.Conv2D(4, 3), lambda: keras.layers.BatchNormalization(axis=1)),
    (lambda: keras.layers.Conv2D(4, 3), lambda: keras.layers.BatchNormalization(renorm=True)),
    (lambda: keras.layers.Conv2D(4, 3), lambda: keras.layers.BatchNormalization(virtual_batch_size=2)),
    (lambda: keras.layers.Conv2D(4, 3), lambda: keras.layers.LayerNormalization()),
    (lambda: keras.layers.Dense(4), lambda: keras.layers.BatchNormalization()),
    (lambda: keras.layers.Conv2D(4, 3, dtype="float64"), lambda: keras.layers.BatchNormalization(dtype="float64")),
    (lambda: keras.layers.Conv2D(4, 3, dtype="mixed_float16"), lambda: keras.layers.BatchNormalization(dtype="mixed_float16")),
])
def test_only_exact_pairs_fold(conv, norm):
    assert not forward.foldable(conv(), norm())


def test_a_plain_pair_folds():
    assert forward.foldable(keras.layers.Conv2D(4, 3), keras.layers.BatchNormalization())
    assert forward.foldable(keras.layers.Conv2D(4, 3, use_bias=False), keras.layers.BatchNormalization(center=False, scale=False))


def test_an_unfoldable_pair_runs_as_the_layers_do(rng):
    layers = [keras.layers.Conv2D(4, 3, padding="same", activation="relu"), keras.layers.BatchNormalization()]
    session, x, out, plain = _graph_paths(layers, fold=True)
    assert "FusedBatchNormV3" in _op_types_feeding(out)
    values = rng.normal(0, 1, (2, 6, 6, 2)).astype(np.float32)
    folded, unfolded = session.run([out, plain], {x: values})
    np.testing.assert_array_equal(folded, unfolded)
    session.close()


def test_a_trained_conv_classifier_predicts_as_the_unfolded_graph(rng):
    """Trained (moving statistics moved), then against a hand-built graph with the same weights, unfolded."""
    with tfshare.GraphSession() as runtime:
        clf = tfshare.ConvClassifier((28, 28, 1), 10, runtime=runtime, seed=0)
        x = rng.random((64, 28, 28, 1), dtype=np.float32)
        clf.fit(x, rng.integers(0, 10, 64), epochs=2, batch_size=16)
        weights = clf.get_weights()
        assert np.abs(weights["bn_0/moving_mean"]).max() > 1e-3
        raw = reference.raw_graph(models.model("cnn"), weights)
        np.testing.assert_allclose(clf.predict_proba(x[:32]), raw.call(x[:32])[0], rtol=1e-5, atol=1e-6)
        assert "FusedBatchNormV3" not in _op_types_feeding(clf.probabilities_tensor)
        raw.session.close()


@pytest.mark.parametrize("kind", ["shared", "template"])
def test_trunk_heads_predict_as_their_eager_twins_after_training(kind, rng):
    """Trunks fold too: heads on a conv trunk, trained, equal an eager copy of their weights."""
    layers = models.model("cnn", filters=(4, 8)).architecture
    with tfshare.GraphSession() as runtime:
        make = tfshare.SharedTrunk if kind == "shared" else tfshare.TemplateTrunk
        trunk = make(runtime, layers=layers, input_shape=(28, 28, 1))
        head = tfshare.Classifier(trunk=trunk, num_classes=10, seed=1)
        x = rng.random((32, 28, 28, 1), dtype=np.float32)
        head.fit(x, rng.integers(0, 10, 32), epochs=1, batch_size=16)
        twin = tfshare.EagerClassifier(layers=layers, input_shape=(28, 28, 1), num_classes=10)
        twin.set_weights(head.get_weights())
        np.testing.assert_allclose(head.predict_proba(x), twin.predict_proba(x), rtol=1e-5, atol=1e-6)
        assert "FusedBatchNormV3" not in _op_types_feeding(head.probabilities_tensor)
