"""Training versus inference mode, and BatchNorm's moving statistics, in every sharing mode."""

from __future__ import annotations

import numpy as np
import pytest

import tfshare
from tfshare._tf import keras, tf, tf1
from conftest import small_cnn_body

MODES = ["isolated", "shared", "trunk", "copy", "template_trunk", "eager", "eager_tf_function"]


def _bn_only():
    """BatchNorm straight on the input, so its statistics are the input's (momentum 0.9)."""
    return [keras.layers.BatchNormalization(momentum=0.9), keras.layers.Flatten()]


def _make(mode, runtime, factory, input_shape=(8, 8, 1), seed=0):
    """One classifier of ``factory``'s body in ``mode`` (a copy is the runtime's second of its kind)."""
    if mode == "isolated":
        return tfshare.Classifier(layers=factory, input_shape=input_shape, num_classes=10, seed=seed)
    if mode in ("shared", "copy"):
        first = tfshare.Classifier(layers=factory, input_shape=input_shape, num_classes=10, runtime=runtime, seed=seed)
        if mode == "shared":
            return first
        copy = tfshare.Classifier(layers=factory, input_shape=input_shape, num_classes=10, runtime=runtime, seed=seed + 1)
        assert copy._copied  # built as a graph copy of the first one's ops
        return copy
    if mode == "trunk":
        trunk = tfshare.SharedTrunk(runtime, layers=factory, input_shape=input_shape, seed=seed)
        return tfshare.Classifier(trunk=trunk, num_classes=10, seed=seed)
    if mode == "template_trunk":
        trunk = tfshare.TemplateTrunk(runtime, layers=factory, input_shape=input_shape, seed=seed)
        return tfshare.Classifier(trunk=trunk, num_classes=10, seed=seed)
    return tfshare.EagerClassifier(
        layers=factory, input_shape=input_shape, num_classes=10, seed=seed, use_tf_function=mode == "eager_tf_function"
    )


def _statistics(clf):
    return {k: v for k, v in clf.named_variables.items() if "moving_" in k}


@pytest.mark.parametrize("mode", MODES)
def test_fit_moves_the_moving_mean_by_one_momentum_step(runtime, mode, rng):
    clf = _make(mode, runtime, _bn_only)
    x = (rng.random((16, 8, 8, 1)) + 2.0).astype(np.float32)  # channel mean ~2.5, far from the initial 0
    y = rng.integers(0, 10, 16)
    (mean_key,) = [k for k in _statistics(clf) if k.endswith("moving_mean")]
    assert clf.get_weights()[mean_key] == pytest.approx([0.0])
    clf.fit(x, y, epochs=1, batch_size=16, learning_rate=1e-3)
    # One update with momentum 0.9 from 0: moving_mean = 0.1 * the batch mean.
    np.testing.assert_allclose(clf.get_weights()[mean_key], [0.1 * x.mean()], rtol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_moving_statistics_are_never_trainable(runtime, mode, digits):
    clf = _make(mode, runtime, small_cnn_body)
    clf.fit(digits.x_train[:64], digits.y_train[:64])
    stats = _statistics(clf)
    assert len(stats) == 2
    assert all(not v.trainable for v in stats.values())
    assert not any(v is s for v in clf.trainable_variables for s in stats.values())
    if clf.runtime is not None:
        trainable = clf.runtime.graph.get_collection(tf1.GraphKeys.TRAINABLE_VARIABLES)
        assert not any(v.name == s.name for v in trainable for s in stats.values())
        assert all(any(v.name == s.name for v in clf.runtime.global_variables()) for s in stats.values())


@pytest.mark.parametrize("mode", ["isolated", "copy", "trunk", "eager_tf_function"])
def test_inference_is_deterministic_and_row_by_row(runtime, mode, digits):
    clf = _make(mode, runtime, small_cnn_body)
    clf.fit(digits.x_train[:256], digits.y_train[:256], epochs=2)
    x = digits.x_test[:24]
    batch = clf.predict_proba(x)
    np.testing.assert_array_equal(batch, clf.predict_proba(x))  # Dropout off: two calls agree exactly
    rows = np.concatenate([clf.predict_proba(x[i : i + 1]) for i in range(len(x))])
    np.testing.assert_allclose(batch, rows, atol=1e-5)  # BN's moving statistics, not the batch's
    np.testing.assert_array_equal(clf.predict(x), np.argmax(batch, axis=1))
    first = clf.evaluate(digits.x_test, digits.y_test)
    assert first == clf.evaluate(digits.x_test, digits.y_test)


def _dropout_only():
    return [keras.layers.Dropout(0.5), keras.layers.Flatten()]


@pytest.mark.parametrize("mode", ["isolated", "copy", "eager", "eager_tf_function"])
def test_dropout_is_active_in_the_training_step_only(runtime, mode, rng):
    clf = _make(mode, runtime, _dropout_only, input_shape=(16,))
    x, y = rng.random((32, 16)).astype(np.float32) + 1.0, rng.integers(0, 10, 32)
    lr = 1e-30  # Adam's first step moves each weight by lr: the weights stay as they are
    losses = [clf.fit(x, y, batch_size=32, learning_rate=lr, shuffle=False)["loss"][0] for _ in range(3)]
    evaluated = clf.evaluate(x, y)["loss"]
    assert len(set(losses)) == 3  # a new dropout mask on every step
    assert all(abs(loss - evaluated) > 1e-4 for loss in losses)
    assert evaluated == clf.evaluate(x, y)["loss"]


@pytest.mark.parametrize("mode", ["isolated", "copy", "eager"])
def test_the_training_step_normalizes_with_the_batch_statistics(runtime, mode, rng):
    clf = _make(mode, runtime, _bn_only)
    x = (rng.random((16, 8, 8, 1)) * 3 + 5).astype(np.float32)
    y = rng.integers(0, 10, 16)
    w = clf.get_weights()
    head_kernel, head_bias = w["head/kernel"], w["head/bias"]

    def loss_of(features):
        logits = features.reshape(16, -1) @ head_kernel + head_bias
        logits -= logits.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(logits).sum(axis=1)) - logits[np.arange(16), y]))

    eps = 1e-3  # tf_keras BatchNormalization's default epsilon; gamma 1, beta 0 at the start
    batch_stats = (x - x.mean()) / np.sqrt(x.var() + eps)
    moving_stats = x / np.sqrt(1.0 + eps)  # moving mean 0 and variance 1 before any step
    trained = clf.fit(x, y, batch_size=16, learning_rate=1e-30, shuffle=False)["loss"][0]
    assert trained == pytest.approx(loss_of(batch_stats), rel=1e-4)
    assert loss_of(moving_stats) != pytest.approx(trained, rel=1e-2)
    # Inference then uses the statistics after one step of momentum 0.9 (the
    # variance's update is Bessel-corrected, as TensorFlow's FusedBatchNorm returns it).
    mean, var = 0.1 * x.mean(), 0.9 * 1.0 + 0.1 * x.var(ddof=1)
    assert clf.evaluate(x, y)["loss"] == pytest.approx(loss_of((x - mean) / np.sqrt(var + eps)), rel=1e-4)


def test_a_frozen_batch_norm_hands_over_no_update(runtime, rng):
    frozen = lambda: [keras.layers.BatchNormalization(momentum=0.9, trainable=False), keras.layers.Flatten()]  # noqa: E731
    trunk = tfshare.SharedTrunk(runtime, layers=frozen, input_shape=(8, 8, 1))
    head = tfshare.Classifier(trunk=trunk, num_classes=10)
    x, y = (rng.random((16, 8, 8, 1)) + 2.0).astype(np.float32), rng.integers(0, 10, 16)
    before = head.get_weights()
    head.fit(x, y, batch_size=16)
    after = head.get_weights()
    np.testing.assert_array_equal(after["layer_0/moving_mean"], before["layer_0/moving_mean"])
    assert not np.allclose(after["head/kernel"], before["head/kernel"])


def test_collecting_updates_catches_only_this_threads_updates():
    import threading

    from tfshare import forward

    bn = keras.layers.BatchNormalization(momentum=0.5)
    x = tfshare._tf.tf.ones((4, 3)) * 2.0
    bn(x, training=False)  # built, eagerly
    with forward.collecting_updates() as caught:
        worker = threading.Thread(target=lambda: bn(x, training=True))  # another thread's eager step
        worker.start()
        worker.join(timeout=60)
        assert not worker.is_alive()
        np.testing.assert_allclose(bn.moving_mean.numpy(), [1.0, 1.0, 1.0])  # ran at once, as in Keras
        assert caught == []
        bn(x, training=True)  # this thread's: caught, not run
        assert len(caught) == 2
        np.testing.assert_allclose(bn.moving_mean.numpy(), [1.0, 1.0, 1.0])
    forward.run_updates(caught)
    np.testing.assert_allclose(bn.moving_mean.numpy(), [1.5, 1.5, 1.5])


def test_only_mode_dependent_layers_make_a_training_path(runtime):
    """training_sensitive: Dropout or BatchNorm (nested too) counts, a Model passing training on does not;
    a trunk without one trains on its inference features."""
    from tfshare import forward

    assert not forward.training_sensitive([keras.layers.Dense(4), keras.layers.ReLU()])
    assert not forward.training_sensitive([keras.Sequential([keras.layers.Dense(4)])])
    assert forward.training_sensitive([keras.layers.Dense(4), keras.layers.Dropout(0.5)])
    assert forward.training_sensitive([keras.Sequential([keras.layers.BatchNormalization()])])
    # keras.Input's InputLayer claims a training argument (tf_keras sets _expects_training_arg) but never runs.
    assert not forward.training_sensitive([keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)])])
    inputs = keras.Input((4,))
    assert not forward.training_sensitive([keras.Model(inputs, keras.layers.Dense(4)(inputs))])
    assert forward.training_sensitive([keras.Model(inputs, keras.layers.Dropout(0.5)(inputs))])
    trunk = tfshare.SharedTrunk(runtime, layers=lambda: [keras.layers.Dense(4)], input_shape=(4,))
    assert trunk.training_output is trunk.output and trunk.training_updates == []


def test_run_updates_calls_callables_and_keeps_ops():
    """Updates handed over as ops (a layer's add_update(op) in a graph) are returned as they are."""
    from tfshare import forward

    with tf.Graph().as_default():
        v = tf1.Variable(0.0)
        op = v.assign_add(1.0)
        made = []
        ops = forward.run_updates([op, lambda: made.append(v.assign_add(2.0)) or made[-1]])
        assert ops[0] is op and ops[1] is made[0]


def test_a_trunks_inference_features_are_built_in_inference_mode(runtime):
    """Dropout is left out of the features every head reads, not put behind Keras's learning-phase switch."""
    tfshare.SharedTrunk(runtime, layers=lambda: [keras.layers.Dense(3), keras.layers.Dropout(0.5)], input_shape=(4,))
    switches = [op.name for op in runtime.graph.get_operations() if op.type in ("If", "StatelessIf", "PlaceholderWithDefault")]
    assert switches == []
