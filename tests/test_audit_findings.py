"""tfshare.audit's findings: a known-bad snippet triggers each, at its line; the good version triggers none."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

import tfshare
from tfshare._tf import keras, tf, tf1

HERE = pathlib.Path(__file__)
_SOURCE = HERE.read_text().splitlines()


def line_of(marker: str) -> str:
    """'test_audit_findings.py:N' for the line that carries ``# <- marker``."""
    hits = [i + 1 for i, text in enumerate(_SOURCE) if f"# <- {marker}" in text]
    assert len(hits) == 1, marker
    return f"{HERE.name}:{hits[0]}"


def of_kind(report, kind: str) -> list:
    return [f for f in report.findings if f.kind == kind]


def alarms(report) -> list:
    """Findings at warning level or worse."""
    return [f for f in report.findings if f.severity in ("error", "warning")]


def _mlp_graph():
    x = tf1.placeholder(tf.float32, [None, 4], name="x")
    w = tf1.get_variable("w", [4, 3])
    return x, tf.matmul(x, w)


# ------------------------------------------------------------- graph growth
def test_ops_built_in_a_predict_loop_are_graph_growth():
    with tfshare.audit() as report:
        with tf.Graph().as_default():
            x, logits = _mlp_graph()
            with tf1.Session() as session:
                session.run(tf1.global_variables_initializer())
                for _ in range(4):
                    session.run(tf.nn.softmax(logits), {x: np.ones((2, 4))})  # <- leak
    [growth] = of_kind(report, "graph_growth")
    assert growth.severity == "warning" and growth.where.endswith(line_of("leak"))
    assert growth.details["times"] == 4 and growth.details["ops"] == 4
    assert "4 ops" in growth.message and growth.docs.endswith("#graph-growth")


def test_a_saver_made_per_checkpoint_is_graph_growth_and_one_saver_is_not(tmp_path):
    def train(saver_per_checkpoint: bool):
        with tfshare.audit() as report:
            with tf.Graph().as_default():
                x, logits = _mlp_graph()
                step = tf1.train.GradientDescentOptimizer(0.1).minimize(tf.reduce_sum(logits))
                saver = None if saver_per_checkpoint else tf1.train.Saver()
                with tf1.Session() as session:
                    session.run(tf1.global_variables_initializer())
                    for epoch in range(3):
                        session.run(step, {x: np.ones((2, 4))})
                        (saver or tf1.train.Saver()).save(session, str(tmp_path / "m"), epoch)  # <- saver
        return report

    [growth] = of_kind(train(saver_per_checkpoint=True), "graph_growth")
    assert growth.where.endswith(line_of("saver")) and growth.details["times"] == 3
    assert alarms(train(saver_per_checkpoint=False)) == []


def test_building_once_and_running_in_a_loop_is_not_growth():
    with tfshare.audit() as report:
        with tf.Graph().as_default():
            x, logits = _mlp_graph()
            probs = tf.nn.softmax(logits)
            with tf1.Session() as session:
                session.run(tf1.global_variables_initializer())
                for _ in range(4):
                    session.run(probs, {x: np.ones((2, 4))})
    assert report.findings == []


# ------------------------------------------------------------ Sessions
def test_a_session_per_call_is_reported_with_its_cost():
    graph = tf.Graph()
    with graph.as_default():
        x = tf1.placeholder(tf.float32, [None, 4])
        total = tf.reduce_sum(x)
    with tfshare.audit() as report:
        for _ in range(4):
            with tf1.Session(graph=graph) as session:  # <- per call
                session.run(total, {x: np.ones((1, 4))})
    [finding] = of_kind(report, "session_per_call")
    assert finding.where.endswith(line_of("per call")) and finding.count == 4
    assert finding.details["seconds_each"] > 0 and "4 Sessions created on one graph" in finding.message


def _predict_with_a_new_graph_and_session(rows):
    with tf.Graph().as_default():
        x = tf1.placeholder(tf.float32, [None, 4])
        total = tf.reduce_sum(x)
        with tf1.Session() as session:  # <- per prediction
            return session.run(total, {x: rows})


def test_a_graph_and_session_per_prediction_is_reported_at_its_line():
    with tfshare.audit() as report:
        for _ in range(3):
            _predict_with_a_new_graph_and_session(np.ones((1, 4)))
    [finding] = of_kind(report, "session_per_call")
    assert finding.where.endswith(line_of("per prediction")) and finding.count == 3
    assert "each closed after at most 2 calls" in finding.message


def test_isolated_classifiers_with_a_session_each_are_not_a_session_per_call(data):
    with tfshare.audit() as report:
        classifiers = [tfshare.DenseClassifier(input_dim=784, num_classes=10, hidden_units=(4,)) for _ in range(3)]
        for clf in classifiers:
            clf.predict(data.x_test[:2])
            clf.predict(data.x_test[:2])
    assert report.sessions_created == 3 and alarms(report) == []
    for clf in classifiers:
        clf.close()


def test_one_session_reused_is_not_a_session_per_call():
    graph = tf.Graph()
    with graph.as_default():
        x = tf1.placeholder(tf.float32, [None, 4])
        total = tf.reduce_sum(x)
    with tfshare.audit() as report:
        with tf1.Session(graph=graph) as session:
            for _ in range(4):
                session.run(total, {x: np.ones((1, 4))})
    assert report.findings == []


# ------------------------------------------------------ sharing and training
def _builder(x, classes):
    return keras.layers.Dense(classes)(keras.layers.Dense(16, activation="relu")(x))  # <- builder


def _builder_line() -> int:
    return int(line_of("builder").rsplit(":", 1)[1])


def test_one_builder_for_two_models_shares_nothing_as_information():
    with tfshare.audit() as report:
        with tf.Graph().as_default():
            x = tf1.placeholder(tf.float32, [None, 8])
            first = _builder(x, 3)
            second = _builder(x, 3)
    [finding] = of_kind(report, "nothing_shared")
    assert finding.severity == "info" and finding.count == 2 and first is not second
    assert finding.where.endswith(f"{HERE.name}:{_builder_line()}")  # the line that creates the weights
    assert "the same layers" in finding.message and "share no variable" in finding.message
    assert alarms(report) == []


def _two_models_on_one_layer(train_both: bool):
    with tfshare.audit() as report:
        with tf.Graph().as_default():
            shared = keras.layers.Dense(16, activation="relu")
            xa, xb = tf1.placeholder(tf.float32, [None, 8]), tf1.placeholder(tf.float32, [None, 8])
            out_a = keras.layers.Dense(3)(shared(xa))
            out_b = keras.layers.Dense(3)(shared(xb))
            loss_a, loss_b = tf.reduce_mean(out_a ** 2), tf.reduce_mean(out_b ** 2)
            loss = loss_a + loss_b if train_both else loss_a
            step = tf1.train.AdamOptimizer().minimize(loss)  # <- trains a
            with tf1.Session() as session:
                session.run(tf1.global_variables_initializer())
                for _ in range(3):
                    session.run(step, {xa: np.ones((2, 8)), xb: np.ones((2, 8))})
    return report


def test_training_one_model_of_a_shared_layer_interferes():
    report = _two_models_on_one_layer(train_both=False)
    [finding] = of_kind(report, "shared_interference")
    assert finding.severity == "warning" and finding.where.endswith(line_of("trains a"))
    assert finding.details["variables"] == 2 and finding.details["calls"] == 3
    assert report.shared_variables == 2 and of_kind(report, "nothing_shared") == []


def test_training_every_model_of_a_shared_layer_in_one_loss_does_not_interfere():
    report = _two_models_on_one_layer(train_both=True)
    assert report.shared_variables == 2 and alarms(report) == []


# ---------------------------------------------------------------- retracing
class _Scorer:
    def __init__(self) -> None:
        self.w = tf.Variable(tf.ones([4, 2]))

    @tf.function  # <- method (the decorator: where input_signature= goes)
    def score(self, x):
        return tf.matmul(x, self.w)


@tf.function
def _scale(x, k):
    return x * k


_SCALE_LINE = _scale.python_function.__code__.co_firstlineno


@tf.function(input_signature=[tf.TensorSpec([None], tf.float32), tf.TensorSpec([], tf.float32)])
def _scale_signed(x, k):
    return x * k


def test_a_method_traces_once_per_instance():
    scorers = [_Scorer() for _ in range(3)]
    with tfshare.audit() as report:
        for scorer in scorers:
            scorer.score(tf.ones([1, 4]))
    [finding] = of_kind(report, "retracing")
    assert finding.where.endswith(line_of("method")) and finding.count == 3
    assert finding.details["causes"] == ["per instance"] and finding.severity == "warning"


@pytest.mark.parametrize("calls, cause", [
    ([(tf.ones([n]), 2.0) for n in (1, 2, 3)], "shape"),
    ([(tf.ones([2], dtype), tf.constant(2, dtype)) for dtype in (tf.float32, tf.float64, tf.int32)], "dtype"),
    ([(tf.ones([2]), k) for k in (1.0, 2.0, 3.0)], "python value"),
], ids=["shape", "dtype", "python-value"])
def test_retracing_names_its_cause(calls, cause):
    fn = tf.function(_scale.python_function)  # a fresh cache: tf.function keeps its traces across tests
    with tfshare.audit() as report:
        for args in calls:
            fn(*args)  # <- retrace call
    [finding] = of_kind(report, "retracing")
    assert finding.details["causes"] == [cause] and finding.count == 3
    assert cause in finding.message
    # Python values: the call that passed a new one; otherwise the function's decorator line.
    expected = line_of("retrace call") if cause == "python value" else f"{HERE.name}:{_SCALE_LINE}"
    assert finding.where.endswith(expected)


def test_an_input_signature_traces_once():
    with tfshare.audit() as report:
        for n in (1, 2, 3):
            _scale_signed(tf.ones([n]), tf.constant(2.0))
    assert report.function_traces <= 1 and report.findings == []


# -------------------------------------------------------------- tf_keras/Keras 3
def test_keras3_layers_in_a_v1_graph_are_a_warning():
    with tfshare.audit() as report:
        with tf.Graph().as_default():
            x = tf1.placeholder(tf.float32, [None, 4])
            tf.keras.layers.Dense(3)(x)  # <- keras3
    [finding] = of_kind(report, "keras3")
    assert finding.severity == "warning" and finding.where.endswith(line_of("keras3"))
    assert "tf_keras" in finding.fix


def test_tf_keras_layers_in_a_v1_graph_are_fine():
    with tfshare.audit() as report:
        with tf.Graph().as_default():
            x = tf1.placeholder(tf.float32, [None, 4])
            keras.layers.Dense(3)(x)
    assert report.findings == []


def test_a_layer_constructed_in_a_graph_breaks_eager_objects_of_its_class():
    class Probe(keras.layers.Dense):  # a class of its own: the swap must not leak into other tests
        pass

    with tfshare.audit() as report:
        eager = Probe(3)  # <- eager object
        with tf.Graph().as_default():
            Probe(3)  # <- swap
    [finding] = of_kind(report, "base_class_swap")
    assert finding.severity == "error" and finding.where.endswith(line_of("swap"))
    assert finding.details["classes"] == ["Probe"] and finding.count == 1
    [broken] = finding.details["objects"]
    assert broken.startswith("Probe made at ") and broken.endswith(line_of("eager object"))
    with pytest.raises(Exception, match="invalid state"):
        eager(tf.ones([1, 2]))  # the finding's prediction


def test_layers_constructed_eagerly_and_called_in_a_graph_are_fine():
    class Probe(keras.layers.Dense):
        pass

    with tfshare.audit() as report:
        eager, layer = Probe(3), Probe(3)
        with tf.Graph().as_default():
            layer(tf1.placeholder(tf.float32, [None, 2]))  # graph ops and variables, from an eager object
    assert report.findings == []
    assert eager(tf.ones([1, 2])).shape == (1, 3)


# --------------------------------------------------------- initialization
def _trained_session():
    x, logits = _mlp_graph()
    init = tf1.global_variables_initializer()
    step = tf1.train.GradientDescentOptimizer(0.1).minimize(tf.reduce_sum(logits))
    session = tf1.Session()
    return x, init, step, session


def test_an_initializer_run_after_training_resets_the_weights():
    with tfshare.audit() as report:
        with tf.Graph().as_default():
            x, init, step, session = _trained_session()
            session.run(tf1.global_variables_initializer())
            session.run(step, {x: np.ones((2, 4))})
            session.run(tf1.global_variables_initializer())  # <- reset
            session.close()
    [finding] = of_kind(report, "reinitialized")
    assert finding.severity == "error" and finding.where.endswith(line_of("reset"))
    assert finding.details["variables"] == 1 and finding.details["bytes"] == 48


def test_reading_a_variable_before_the_initializer_is_reported():
    with tfshare.audit() as report:
        with tf.Graph().as_default():
            v = tf1.get_variable("v", [2])
            with tf1.Session() as session:
                with pytest.raises(tf.errors.FailedPreconditionError):
                    session.run(v)  # <- uninitialized
    [finding] = of_kind(report, "uninitialized")
    assert finding.where.endswith(line_of("uninitialized")) and "v/Read/ReadVariableOp" in finding.message


def test_initializing_once_then_training_and_assigning_is_fine(runtime, data):
    with tfshare.audit() as report:
        with tf.Graph().as_default():
            x, init, step, session = _trained_session()
            session.run(init)
            for _ in range(3):
                session.run(step, {x: np.ones((2, 4))})
            session.close()
        clf = tfshare.DenseClassifier(input_dim=784, num_classes=10, hidden_units=(8,), runtime=runtime)
        clf.fit(data.x_train[:64], data.y_train[:64], epochs=1)
        clf.set_weights(clf.get_weights())  # assigns through the initializers, with fed values
        clf.predict(data.x_test[:2])
    assert report.findings == []
