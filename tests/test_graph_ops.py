"""graph_ops builders: the softmax that avoids oneDNN's slow Softmax kernel; the training tensors' names and shapes."""

from __future__ import annotations

import numpy as np
import pytest

import tfshare
from tfshare import graph_ops
from tfshare._tf import keras, tf, tf1


@pytest.mark.parametrize("shape", [(1, 10), (32, 10), (4, 32, 10)], ids=["1x10", "32x10", "4x32x10"])
def test_softmax_matches_tf_softmax(shape):
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal(shape) * 8).astype(np.float32)
    logits[0, ..., 0] = 80.0  # exp would overflow without the shift
    graph = tf.Graph()
    with graph.as_default():
        z = tf1.placeholder(tf.float32, [None] * len(shape))
        ours, reference = graph_ops.softmax(z, name="probabilities"), tf.nn.softmax(z)
    assert ours.op.name == "probabilities"
    with tf1.Session(graph=graph) as sess:
        got, want = sess.run([ours, reference], {z: logits})
    assert got.dtype == np.float32 and got.shape == shape
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(got.sum(axis=-1), 1.0, rtol=1e-5)
    assert {op.type for op in graph.get_operations()} >= {"LogSoftmax", "Exp"}


def test_a_classifier_names_and_shapes_its_training_tensors_as_documented(runtime, rng):
    """The tensors TF1 code feeds and fetches by name and TensorBoard shows: "x" (float32 [batch, *input_shape]),
    "probabilities" (float32 [batch, classes]),
    "class_ids" and "y" (int64 [batch]), "loss" and "accuracy" (float32 scalars; "_training" on a training path
    of its own), "learning_rate" (a float32 scalar), "step_is_finite" (a bool scalar), "optimizer/train_step"."""
    clf = tfshare.Classifier(layers=lambda: [keras.layers.Dense(4), keras.layers.Dropout(0.5)], input_shape=(6,),
                             num_classes=3, runtime=runtime, name="clf", seed=0)
    clf.fit(rng.random((8, 6), dtype=np.float32), rng.integers(0, 3, 8), epochs=1)
    expected = {"x": (tf.float32, [None, 6]), "probabilities": (tf.float32, [None, 3]), "class_ids": (tf.int64, [None]),
                "y": (tf.int64, [None]), "loss": (tf.float32, []), "accuracy": (tf.float32, []),
                "loss_training": (tf.float32, []), "accuracy_training": (tf.float32, []),
                "learning_rate": (tf.float32, []), "step_is_finite": (tf.bool, [])}
    for name, (dtype, shape) in expected.items():
        tensor = runtime.graph.get_tensor_by_name(f"clf/{name}:0")
        assert tensor.dtype == dtype and tensor.shape.rank is not None and tensor.shape.as_list() == shape, name
    assert runtime.graph.get_operation_by_name("clf/optimizer/train_step").type in ("If", "StatelessIf")
    # Adam's slots carry the classifier's own optimizer name, not TF's default "Adam".
    slots = sorted(v.name.rsplit("/", 1)[1] for v in runtime.global_variables() if v.name.startswith("optimizer/clf/"))
    assert slots == ["clf_adam:0"] * 4 + ["clf_adam_1:0"] * 4


def test_fit_trains_on_loss_regularized_and_evaluation_reads_the_predicted_class_ids(runtime, rng):
    """With a weight regularizer, fit minimizes "loss_regularized" (a float32 scalar: "loss" plus the penalties,
    checked against NumPy here); "accuracy" compares the prediction's own "class_ids" with "y": one ArgMax."""
    l2 = 0.5
    clf = tfshare.Classifier(layers=lambda: [keras.layers.Dense(4, kernel_regularizer=keras.regularizers.L2(l2))],
                             input_shape=(6,), num_classes=3, runtime=runtime, name="clf", seed=0)
    x, y = rng.random((8, 6), dtype=np.float32), rng.integers(0, 3, 8)
    clf.fit(x, y, epochs=1)
    graph = runtime.graph
    regularized = graph.get_tensor_by_name("clf/loss_regularized:0")
    assert regularized.dtype == tf.float32 and regularized.shape.as_list() == []
    feeds = {clf.input_tensor: x, graph.get_tensor_by_name("clf/y:0"): y}
    loss, total = runtime.run([graph.get_tensor_by_name("clf/loss:0"), regularized], feeds)
    kernel = clf.get_weights()["layer_0/kernel"]
    assert total == pytest.approx(loss + l2 * float(np.sum(kernel**2)), rel=1e-5)
    assert [op.name for op in graph.get_operations() if op.type == "ArgMax" and op.name.startswith("clf/")] == [
        clf.class_ids_tensor.op.name]


def test_a_weight_the_loss_does_not_depend_on_stays_unchanged_while_the_others_train(runtime, rng, caplog):
    """As in tf_keras's Model.fit; the train step used to fail to build ("None values not supported")."""

    class Unused(keras.layers.Layer):
        def build(self, input_shape):
            self.unused = self.add_weight(name="unused", shape=(), initializer="ones")

        def call(self, x):
            return x

    clf = tfshare.Classifier(layers=lambda: [keras.layers.Dense(4), Unused()], input_shape=(6,), num_classes=3,
                             runtime=runtime, name="clf", seed=0)
    before = clf.get_weights()
    with caplog.at_level("WARNING", logger="tfshare.graph_ops"):
        clf.fit(rng.random((8, 6), dtype=np.float32), rng.integers(0, 3, 8), epochs=1)
    after = clf.get_weights()
    [unused_key] = [k for k in before if k.endswith("unused")]
    assert after[unused_key] == before[unused_key] == 1.0
    assert not np.array_equal(after["layer_0/kernel"], before["layer_0/kernel"])
    assert "the loss does not depend on" in caplog.text and "unused" in caplog.text
