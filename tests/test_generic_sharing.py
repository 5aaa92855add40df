"""Any body in every sharing mode: what is shared, what is copied, what checkpoints carry."""

from __future__ import annotations

import numpy as np
import pytest

import tfshare
from tfshare._tf import keras, tf, tf1
from conftest import assert_same_weights, small_cnn_body


def _trained(clf, digits, epochs=1):
    clf.fit(digits.x_train[:256], digits.y_train[:256], epochs=epochs)
    return clf


@pytest.mark.parametrize("kind", ["shared", "template"])
def test_a_trunk_shares_every_variable_and_each_head_owns_only_its_own(runtime, kind):
    make = tfshare.SharedTrunk if kind == "shared" else tfshare.TemplateTrunk
    trunk = make(runtime, layers=small_cnn_body, input_shape=(8, 8, 1), seed=0)
    heads = [tfshare.Classifier(trunk=trunk, num_classes=n, seed=i) for i, n in enumerate((10, 5, 2))]
    shared = trunk.named_variables()
    assert len(shared) == 6 and {k.rsplit("/", 1)[1] for k in shared} >= {"moving_mean", "moving_variance"}
    for head in heads:
        for key, variable in shared.items():
            assert head.named_variables[key] is variable
        own = set(head.named_variables) - set(shared)
        assert own == {"head/kernel", "head/bias"}
    assert len({id(h.named_variables["head/kernel"]) for h in heads}) == 3
    assert heads[0].input_tensor is heads[1].input_tensor is trunk.input


def test_training_one_head_moves_the_statistics_every_head_reads(runtime, digits):
    trunk = tfshare.SharedTrunk(runtime, layers=small_cnn_body, input_shape=(8, 8, 1), seed=0)
    a, b = (tfshare.Classifier(trunk=trunk, num_classes=10, seed=i) for i in range(2))
    x = digits.x_test[:32]
    before_b, stats_before = b.predict_proba(x), b.get_weights()
    head_b = stats_before["head/kernel"]
    _trained(a, digits)
    after = b.get_weights()
    np.testing.assert_array_equal(after["head/kernel"], head_b)  # b never trained
    for key in ("layer_1/moving_mean", "layer_1/moving_variance"):
        assert not np.allclose(after[key], stats_before[key])  # but a moved the statistics b uses
    assert not np.allclose(b.predict_proba(x), before_b, atol=1e-4)


def test_audit_counts_shared_statistics_as_interference(runtime):
    with tfshare.audit() as report:
        trunk = tfshare.SharedTrunk(runtime, layers=small_cnn_body, input_shape=(8, 8, 1))
        heads = [tfshare.Classifier(trunk=trunk, num_classes=10) for _ in range(3)]
        alone = tfshare.Classifier(layers=small_cnn_body, input_shape=(8, 8, 1), num_classes=10, runtime=runtime)
    assert report.shared_variables == 6 and report.shared_statistics == 2
    assert "shared statistics" in str(report) and "training one model moves them for all" in str(report)
    assert len(heads) == 3 and alone is not None


def test_a_graph_copy_has_its_own_statistics_and_trains_them(runtime, digits):
    first = tfshare.ConvClassifier((8, 8, 1), 10, filters=(4, 8), runtime=runtime, seed=0)
    copy = tfshare.ConvClassifier((8, 8, 1), 10, filters=(4, 8), runtime=runtime, seed=1)
    assert copy._copied and not first._copied
    ops = {op.type for op in runtime.graph.get_operations() if op.name.startswith(copy.name + "/")}
    assert "FusedBatchNormV3" in ops and not any("Random" in t for t in ops)
    assert sorted(first.named_variables) == sorted(copy.named_variables)
    for key in first.named_variables:
        assert first.named_variables[key].name != copy.named_variables[key].name
    stats = [k for k in copy.named_variables if "moving_" in k]
    assert len(stats) == 4
    first_before = first.get_weights()
    _trained(copy, digits)
    assert copy.layers is not None  # it got layer objects for its training path, bound to its variables
    assert all(not np.allclose(copy.get_weights()[k], first_before[k]) for k in stats)
    for key, value in first.get_weights().items():  # the first one is untouched
        np.testing.assert_array_equal(value, first_before[key])
    collections = {v.name for v in runtime.graph.get_collection(tf1.GraphKeys.TRAINABLE_VARIABLES)}
    assert not any(copy.named_variables[k].name in collections for k in stats)
    assert copy.named_variables["conv_0/kernel"].name in collections
    assert len(copy.runtime.global_variables()) == len({v.name for v in copy.runtime.global_variables()})


def test_copies_start_from_their_own_seeds_weights(runtime):
    a, b, c = (tfshare.ConvClassifier((8, 8, 1), 10, filters=(4,), runtime=runtime, seed=s) for s in (0, 1, 1))
    assert b._copied and c._copied
    wa, wb, wc = a.get_weights(), b.get_weights(), c.get_weights()
    assert not np.allclose(wa["conv_0/kernel"], wb["conv_0/kernel"])
    for key in wb:
        np.testing.assert_array_equal(wb[key], wc[key])
    isolated = tfshare.ConvClassifier((8, 8, 1), 10, filters=(4,), seed=1)
    for key, value in isolated.get_weights().items():
        np.testing.assert_array_equal(value, wb[key])  # a copy starts where a tf_keras-built one would
    isolated.close()


@pytest.mark.parametrize("how", ["save", "save_runtime"])
def test_checkpoints_carry_the_moving_statistics(runtime, digits, tmp_path, how):
    trunk = tfshare.SharedTrunk(runtime, layers=small_cnn_body, input_shape=(8, 8, 1), seed=0)
    clf = _trained(tfshare.Classifier(trunk=trunk, num_classes=10, name="h", seed=0), digits, epochs=2)
    saved = clf.get_weights()
    assert np.abs(saved["layer_1/moving_mean"]).max() > 0
    if how == "save":
        clf.save(tmp_path / "ckpt")
    else:
        tfshare.save_runtime([clf], tmp_path / "r.npz")
    # Restore into another sharing mode: an isolated classifier of the same body.
    other = tfshare.Classifier(layers=small_cnn_body, input_shape=(8, 8, 1), num_classes=10, name="h", seed=5)
    if how == "save":
        other.restore(tmp_path / "ckpt")
    else:
        tfshare.restore_runtime([other], tmp_path / "r.npz")
    for key, value in other.get_weights().items():
        np.testing.assert_array_equal(value, saved[key])
    np.testing.assert_allclose(other.predict_proba(digits.x_test), clf.predict_proba(digits.x_test), atol=1e-6)
    other.close()


def test_a_checkpoint_of_another_body_is_refused_before_anything_is_assigned(runtime, tmp_path):
    a = tfshare.Classifier(layers=small_cnn_body, input_shape=(8, 8, 1), num_classes=10, runtime=runtime)
    a.save(tmp_path / "a")
    b = tfshare.Classifier(layers=lambda: [tfshare._tf.keras.layers.Flatten()], input_shape=(8, 8, 1), num_classes=10,
                           runtime=runtime)
    before = b.get_weights()
    with pytest.raises(tfshare.CheckpointError, match=r"was saved with input_shape|was saved with layers="):
        b.restore(tmp_path / "a")
    for key, value in b.get_weights().items():
        np.testing.assert_array_equal(value, before[key])


def test_predict_many_on_conv_trunks_equals_one_by_one(runtime, digits):
    trunks = [tfshare.SharedTrunk(runtime, layers=small_cnn_body, input_shape=(8, 8, 1), seed=s) for s in (0, 1)]
    heads = [tfshare.Classifier(trunk=t, num_classes=n, name=f"t{i}_{j}", seed=j)
             for i, t in enumerate(trunks) for j, n in enumerate((10, 10, 3))]
    alone = tfshare.ConvClassifier((8, 8, 1), 10, filters=(4,), runtime=runtime, name="alone")
    _trained(heads[0], digits)  # trunk 0's statistics move; trunk 1's do not
    x = digits.x_test[:40]
    every = heads + [alone]
    fused = tfshare.predict_many(every, x)
    assert list(fused) == [c.name for c in every]
    for clf in every:
        np.testing.assert_allclose(fused[clf.name], clf.predict_proba(x), atol=1e-6)
    # Heads of two trunks with the same num_classes are not mixed up.
    assert not np.allclose(fused["t0_0"], fused["t1_0"], atol=1e-3)
    _trained(heads[3], digits)  # a write: the head bank refreshes
    fused = tfshare.predict_many(every, x)
    np.testing.assert_allclose(fused["t1_0"], heads[3].predict_proba(x), atol=1e-6)


def test_a_template_trunk_of_a_tf1_function_runs_its_update_ops_every_step(runtime, rng):
    def tf1_body(x, training):
        w = tf1.get_variable("w", [3, 3, 1, 4], initializer=tf1.glorot_uniform_initializer(seed=0))
        h = tf.nn.conv2d(x, w, 1, "SAME")
        mean = tf1.get_variable("mean", [4], initializer=tf1.zeros_initializer(), trainable=False)
        if training:
            batch_mean = tf.reduce_mean(h, axis=[0, 1, 2])
            tf1.add_to_collection(tf1.GraphKeys.UPDATE_OPS, mean.assign(0.5 * mean + 0.5 * batch_mean))
            h = h - batch_mean
        else:
            h = h - mean
        return tf.reduce_mean(tf.nn.relu(h), axis=[1, 2])

    trunk = tfshare.TemplateTrunk(runtime, fn=tf1_body, input_shape=(8, 8, 1))
    head = tfshare.Classifier(trunk=trunk, num_classes=3)
    assert sorted(trunk.named_variables()) == ["mean", "w"]
    x, y = rng.random((16, 8, 8, 1)).astype(np.float32), rng.integers(0, 3, 16)
    head.fit(x, y, batch_size=16, shuffle=False)
    assert np.abs(head.get_weights()["mean"]).max() > 0
    assert [v.name for v in trunk.variables] == [f"{trunk.name}/layers/w:0", f"{trunk.name}/layers/mean:0"]


@pytest.mark.parametrize("kind", ["shared", "template"])
def test_a_head_continues_its_trunks_seeded_initializers_as_one_classifier_does(runtime, kind):
    """Trunk and head of one seed start as the classifier of the whole model with it: the head's random initializers
    continue after the trunk's 2 random kernels (not after its 8 constant-initialized BatchNorm weights)."""
    make = tfshare.SharedTrunk if kind == "shared" else tfshare.TemplateTrunk
    trunk = make(runtime, layers=tfshare.architectures.conv((8, 8, 1), filters=(4, 8)), seed=3, name="body")
    assert trunk.input.op.name == "body/x" and trunk.input.shape.as_list() == [None, 8, 8, 1]
    head = tfshare.Classifier(trunk=trunk, num_classes=10, seed=3)
    whole = tfshare.ConvClassifier((8, 8, 1), 10, filters=(4, 8), runtime=runtime, seed=3)
    assert_same_weights(whole.get_weights(), head)


@pytest.mark.parametrize("kind", ["shared", "template"])
def test_a_trunk_of_a_shipped_architecture_keeps_its_keys(runtime, digits, tmp_path, kind):
    make = tfshare.SharedTrunk if kind == "shared" else tfshare.TemplateTrunk
    arch = tfshare.architectures.conv((8, 8, 1), filters=(4, 8))
    trunk = make(runtime, layers=arch, seed=0)
    head = tfshare.Classifier(trunk=trunk, num_classes=10, name="head", seed=0)
    cnn = tfshare.ConvClassifier((8, 8, 1), 10, filters=(4, 8), runtime=runtime, seed=1)
    assert sorted(head.named_variables) == sorted(cnn.named_variables)
    assert "bn_1/moving_mean" in head.named_variables and head.config == cnn.config
    _trained(head, digits)
    head.save(tmp_path / "head")
    cnn.restore(tmp_path / "head")
    np.testing.assert_allclose(cnn.predict_proba(digits.x_test), head.predict_proba(digits.x_test), atol=1e-6)


class _SubclassedBody(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(4)

    def call(self, x):
        return self.dense(x)


@pytest.mark.parametrize("kind", ["shared", "template"])
def test_a_trunks_variables_are_its_graph_variables_not_a_models_eager_step_counters(runtime, kind):
    """A keras.Model in the body makes step counters (eager int64 variables) as it is constructed: not the trunk's."""
    make = tfshare.SharedTrunk if kind == "shared" else tfshare.TemplateTrunk
    trunk = make(runtime, layers=lambda: [_SubclassedBody()], input_shape=(6,), seed=0)
    assert [id(v) for v in trunk.variables] == [id(v) for v in trunk.named_variables().values()]
    assert all(v.graph is runtime.graph for v in trunk.variables)
    assert trunk.num_params == 6 * 4 + 4
    kernel, bias = runtime.run(trunk.variables)
    assert kernel.shape == (6, 4) and bias.shape == (4,)


def test_a_template_trunks_errors_end_with_tfshares_message_not_make_templates_stack(runtime):
    """make_template appends "originally defined at:" and a stack to errors raised inside; tfshare's own are kept plain."""
    with pytest.raises(tfshare.InputError, match=r"^layers\(\)\[0\] \(LSTM 'lstm.*'\) failed on an input of shape "
                       r"\[batch, 8, 8, 1\]: Input 0 of layer \"lstm.*\" is incompatible with the layer: "
                       r"expected ndim=3, found ndim=4\. Full shape received: \(None, 8, 8, 1\)$"):
        tfshare.TemplateTrunk(runtime, layers=lambda: [keras.layers.LSTM(4)], input_shape=(8, 8, 1))


def test_a_template_trunk_refuses_layers_of_one_name_which_a_shared_trunk_takes(runtime):
    """A TemplateTrunk finds its variables again by layer name scope: a second 'd' would be scoped 'd_1' and lost."""
    body = lambda: [keras.layers.Dense(4, name="d"), keras.layers.Dense(5, name="d")]  # noqa: E731
    with pytest.raises(tfshare.InputError, match=r"^layers\(\) of a TemplateTrunk must return layers of distinct names "
                       r"\(their variables are found by layer name scope\), got 2 layers named 'd'$"):
        tfshare.TemplateTrunk(runtime, layers=body, input_shape=(6,))
    trunk = tfshare.SharedTrunk(runtime, layers=body, input_shape=(6,))
    assert [tuple(v.shape) for v in trunk.variables] == [(6, 4), (4,), (4, 5), (5,)]


@pytest.mark.parametrize("kind", ["shared", "template"])
def test_a_float64_body_gives_float32_features_that_predict_many_fuses(runtime, rng, kind):
    """The head bank's one matmul over the trunk's features takes float32 ones, whatever the body's last layer is."""
    make = tfshare.SharedTrunk if kind == "shared" else tfshare.TemplateTrunk
    trunk = make(runtime, layers=lambda: [keras.layers.Dense(4, dtype="float64"), keras.layers.Dropout(0.5, dtype="float64")],
                 input_shape=(6,), seed=0)
    assert trunk.output.dtype == tf.float32 and trunk.training_output.dtype == tf.float32
    heads = [tfshare.Classifier(trunk=trunk, num_classes=3, seed=i) for i in range(3)]
    x = rng.random((5, 6)).astype(np.float32)
    fused = tfshare.predict_many(heads, x)
    for head in heads:
        np.testing.assert_allclose(fused[head.name], head.predict_proba(x), atol=1e-6)


@pytest.mark.parametrize("fn,match", [
    (lambda x, training: x, r"^the output of fn\(\) must be \[batch, features\] to feed the Dense head, got shape "
                            r"\[batch, 4, 4, 1\]; end the body with Flatten\(\) or GlobalAveragePooling2D\(\)$"),
    (lambda x, training: None, r"^the output of fn\(\) must be one tensor \[batch, features\] to feed the Dense head, "
                               r"got NoneType; end the body with a layer of one output$"),
], ids=["feature_map", "none"])
def test_a_tf1_functions_bad_output_is_named_as_fn(runtime, fn, match):
    with pytest.raises(tfshare.InputError, match=match):
        tfshare.TemplateTrunk(runtime, fn=fn, input_shape=(4, 4, 1))
