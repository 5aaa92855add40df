"""No false alarms: tfshare's cheap patterns and well-written TF1 and TF2 programs raise no warning or error."""

from __future__ import annotations

import numpy as np
import pytest

import tfshare
from tfshare._tf import keras, tf, tf1
from conftest import small_cnn_body


def alarms(report) -> list:
    return [f for f in report.findings if f.severity in ("error", "warning")]


def test_a_shared_runtime_built_one_classifier_at_a_time_between_calls(runtime, data):
    with tfshare.audit() as report:
        classifiers = []
        for i in range(4):  # built, then used right away: the runtime's graph grows by one model each time
            clf = tfshare.DenseClassifier(input_dim=784, num_classes=10, hidden_units=(8,), runtime=runtime, seed=i)
            clf.predict_proba(data.x_test[:2])
            clf.evaluate(data.x_test[:8], data.y_test[:8])
            classifiers.append(clf)
        for clf in classifiers:  # a predict loop on cached callables
            for _ in range(3):
                clf.predict(data.x_test[:2])
    assert report.graphs_created == 0 and report.sessions_created == 1
    assert alarms(report) == []
    assert [f.kind for f in report.findings] == ["nothing_shared"]  # the isolated-model pattern, as information


@pytest.mark.parametrize("trunk_class", [tfshare.SharedTrunk, tfshare.TemplateTrunk], ids=["shared", "template"])
def test_trunks_with_heads_predicting_in_a_loop(runtime, data, trunk_class):
    with tfshare.audit() as report:
        trunk = trunk_class(runtime, 784, (8,))
        heads = [tfshare.DenseClassifier(trunk=trunk, num_classes=10) for _ in range(3)]
        for _ in range(3):
            tfshare.predict_many(heads, data.x_test[:4])
            for head in heads:
                head.predict_proba(data.x_test[:2])
    assert report.shared_variables == 2
    assert report.findings == []


def test_a_cnn_trained_evaluated_saved_and_restored_with_graph_copies(runtime, digits, tmp_path):
    with tfshare.audit() as report:
        first = tfshare.ConvClassifier((8, 8, 1), 10, filters=(4, 8), runtime=runtime, seed=0)
        copy = tfshare.ConvClassifier((8, 8, 1), 10, filters=(4, 8), runtime=runtime, seed=1)
        copied = copy._copied  # its ops are an import_graph_def copy of the first one's
        for clf in (first, copy):
            clf.fit(digits.x_train[:96], digits.y_train[:96], epochs=1)
            clf.evaluate(digits.x_test[:32], digits.y_test[:32])
        first.save(str(tmp_path / "first"))
        first.restore(str(tmp_path / "first"))
        first.predict(digits.x_test[:4])
    assert copied
    assert report.shared_variables == 0 and alarms(report) == []
    roles = report.variables_by_role
    assert roles["statistics"] == 8 and roles["weights"] == 2 * 8 and roles["optimizer"] > 0


def test_a_shared_cnn_trunk_built_and_used_for_prediction(runtime, digits):
    with tfshare.audit() as report:
        trunk = tfshare.SharedTrunk(runtime, layers=small_cnn_body, input_shape=(8, 8, 1))
        heads = [tfshare.Classifier(trunk=trunk, num_classes=10) for _ in range(2)]
        for head in heads:
            head.predict(digits.x_test[:4])
    assert report.shared_statistics == 2 and report.findings == []


def test_the_eager_twins_and_a_keras_model_in_eager_mode(digits):
    rows = digits.flatten()
    with tfshare.audit() as report:
        twin = tfshare.EagerDenseClassifier(input_dim=64, num_classes=10, hidden_units=(8,), use_tf_function=True)
        twin.fit(rows.x_train[:64], rows.y_train[:64], epochs=1)
        twin.predict(rows.x_test[:4])
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
        model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(rows.x_train[:64], rows.y_train[:64], epochs=1, verbose=0)
    assert report.graphs_created == 0 and report.sessions_created == 0
    assert alarms(report) == []


def test_a_well_written_tf1_program(tmp_path):
    """Build everything, initialize once, train in a loop, one Saver, evaluate, restore into a new graph."""
    def build():
        x = tf1.placeholder(tf.float32, [None, 4], name="x")
        y = tf1.placeholder(tf.int64, [None], name="y")
        hidden = keras.layers.Dense(8, activation="relu")(x)
        logits = keras.layers.Dense(3)(hidden)
        loss = tf1.losses.sparse_softmax_cross_entropy(y, logits)
        step = tf1.train.AdamOptimizer(0.01).minimize(loss, global_step=tf1.train.get_or_create_global_step())
        accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1), y), tf.float32))
        return x, y, step, accuracy, tf1.global_variables_initializer(), tf1.train.Saver()

    rng = np.random.default_rng(0)
    xs, ys = rng.normal(size=(32, 4)).astype(np.float32), rng.integers(0, 3, 32)
    with tfshare.audit() as report:
        with tf.Graph().as_default():
            x, y, step, accuracy, init, saver = build()
            with tf1.Session() as session:
                session.run(init)
                for epoch in range(3):
                    for i in range(0, 32, 8):
                        session.run(step, {x: xs[i:i + 8], y: ys[i:i + 8]})
                    session.run(accuracy, {x: xs, y: ys})
                    saver.save(session, str(tmp_path / "model"), global_step=epoch)
        with tf.Graph().as_default():
            x, y, step, accuracy, init, saver = build()
            with tf1.Session() as session:
                saver.restore(session, tf1.train.latest_checkpoint(str(tmp_path)))
                session.run(accuracy, {x: xs, y: ys})
    assert alarms(report) == []
    # The training graph's model and the restored one are two copies: information, not a warning.
    assert [f.kind for f in report.findings] == ["nothing_shared"]
    assert report.variables_by_role["bookkeeping"] == 2  # a global step per graph


def test_a_well_written_tf2_program():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
    def predict(x):
        return tf.nn.softmax(model(x))

    with tfshare.audit() as report:
        for n in (1, 2, 5):
            predict(tf.ones([n, 4]))
    assert report.function_traces == 1 and report.findings == []
