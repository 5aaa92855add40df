"""tfshare.audit on the shapes of public TF1 programs: sharing found in the graph, roles, tf.data.

Each test is a small snippet of the shape of a program the audit got wrong
before: a siamese network sharing through ``variable_scope(reuse=True)``, a
``tf.data`` pipeline read by a one-shot iterator, a scikit-learn-style
classifier with Adam and BatchNorm.
"""

from __future__ import annotations

import numpy as np
import pytest

import tfshare
from tfshare._tf import keras, tf, tf1


def _tower(x):
    w1, b1 = tf1.get_variable("w1", [8, 32]), tf1.get_variable("b1", [32])
    hidden = tf.nn.relu(tf.matmul(x, w1) + b1)
    w2, b2 = tf1.get_variable("w2", [32, 4]), tf1.get_variable("b2", [4])
    return tf.matmul(hidden, w2) + b2


def test_siamese_towers_sharing_through_variable_scope_reuse_are_found():
    with tfshare.audit() as report:
        with tf.Graph().as_default() as graph:
            left, right = tf1.placeholder(tf.float32, [None, 8]), tf1.placeholder(tf.float32, [None, 8])
            with tf1.variable_scope("siamese") as scope:
                a = _tower(left)
            with tf1.variable_scope(scope, reuse=True):
                b = _tower(right)
            loss = tf.reduce_mean(tf.square(a - b))
            step = tf1.train.AdamOptimizer().minimize(loss)
            with tf1.Session() as session:
                session.run(tf1.global_variables_initializer())
                session.run(step, {left: np.ones((2, 8)), right: np.zeros((2, 8))})
    weights = graph.get_collection(tf1.GraphKeys.TRAINABLE_VARIABLES)
    assert len(weights) == 4
    assert report.shared_variables == 4
    assert report.shared_variable_bytes == sum(v.shape.num_elements() * 4 for v in weights)
    assert report.variables_trained == 4
    assert report.findings == []  # two towers of one model: sharing, no interference


def _pairs_audited(build) -> tuple:
    """Audits ``build(pairs)`` on one placeholder of pairs (rows of two 8-vectors) and a training step on its loss."""
    with tfshare.audit() as report:
        with tf.Graph().as_default() as graph:
            pairs = tf1.placeholder(tf.float32, [None, 2, 8])
            loss = build(pairs)
            step = tf1.train.AdamOptimizer().minimize(loss)
            with tf1.Session() as session:
                session.run(tf1.global_variables_initializer())
                session.run(step, {pairs: np.ones((2, 2, 8))})
    return report, graph.get_collection(tf1.GraphKeys.TRAINABLE_VARIABLES)


def _siamese_by_scope(pairs):
    with tf1.variable_scope("siamese") as scope:
        a = _tower(pairs[:, 0])
    with tf1.variable_scope(scope, reuse=True):
        b = _tower(pairs[:, 1])
    return tf.reduce_mean(tf.square(a - b))


def _siamese_by_layer_objects(pairs):
    hidden, out = keras.layers.Dense(32, activation="relu"), keras.layers.Dense(4)
    left, right = tf.unstack(pairs, axis=1)  # one op, two outputs
    return tf.reduce_mean(tf.square(out(hidden(left)) - out(hidden(right))))


def _siamese_on_one_input_twice(pairs):
    """One input, two augmentations (SimCLR's shape), or the very same tensor fed twice."""
    x = pairs[:, 0]
    with tf1.variable_scope("siamese") as scope:
        a = _tower(x)
    with tf1.variable_scope(scope, reuse=True):
        b, c = _tower(tf.reverse(x, [1])), _tower(x)
    return tf.reduce_mean(tf.square(a - b) + tf.square(a - c))


@pytest.mark.parametrize("build", [_siamese_by_scope, _siamese_by_layer_objects, _siamese_on_one_input_twice],
                         ids=["variable_scope_reuse", "layer_objects", "one_input_twice"])
def test_a_siamese_tower_on_one_placeholder_is_shared(build):
    """Both towers read the same placeholder: their uses still meet in one loss, so the weights are shared."""
    report, weights = _pairs_audited(build)
    assert len(weights) == 4
    assert report.shared_variables == 4
    assert report.shared_variable_bytes == sum(v.shape.num_elements() * 4 for v in weights)
    assert report.findings == []  # two towers of one model, trained together


def test_a_tower_built_twice_on_one_placeholder_is_not_shared():
    """The same builder without reuse: two sets of weights, each read once, however their results meet."""
    def build(pairs):
        with tf1.variable_scope("left"):
            a = _tower(pairs[:, 0])
        with tf1.variable_scope("right"):
            b = _tower(pairs[:, 1])
        return tf.reduce_mean(tf.square(a - b))

    report, weights = _pairs_audited(build)
    assert len(weights) == 8 and report.shared_variables == 0


def test_a_training_and_an_inference_path_on_one_placeholder_that_never_meet_are_one_tower():
    with tfshare.audit() as report:
        with tf.Graph().as_default():
            x = tf1.placeholder(tf.float32, [None, 8])
            hidden, dropout, out = keras.layers.Dense(8), keras.layers.Dropout(0.5), keras.layers.Dense(3)
            train_logits = out(dropout(hidden(x), training=True))
            tf1.train.GradientDescentOptimizer(0.1).minimize(tf.reduce_mean(train_logits ** 2))
            tf.nn.softmax(out(dropout(hidden(x), training=False)))
    assert report.shared_variables == 0


def test_a_tower_per_input_of_one_layer_object_is_shared_and_one_call_is_not():
    with tfshare.audit() as report:
        with tf.Graph().as_default():
            layer = keras.layers.Dense(4)
            x1, x2 = tf1.placeholder(tf.float32, [None, 3]), tf1.placeholder(tf.float32, [None, 3])
            layer(x1), layer(x2)
            keras.layers.Dense(4)(x1)  # called once: not shared
    assert report.shared_variables == 2


def test_an_unrolled_chain_reusing_a_weight_is_one_tower():
    with tfshare.audit() as report:
        with tf.Graph().as_default():
            steps = [tf1.placeholder(tf.float32, [None, 3]) for _ in range(3)]  # one placeholder per step
            w = tf1.get_variable("w", [3, 3])
            state = tf.zeros([1, 3])
            for x in steps:
                state = tf.tanh(tf.matmul(state + x, w))
    assert report.shared_variables == 0


def test_handle_ops_with_one_shared_name_are_one_variable():
    """import_graph_def keeps a VarHandleOp's shared_name: the copy reads the same resource."""
    with tf.Graph().as_default() as source:
        x = tf1.placeholder(tf.float32, [None, 3], name="x")
        v = tf.Variable(tf.ones([3, 2]), name="v")
        tf.matmul(x, v, name="out")
    with tfshare.audit() as report:
        with tf.Graph().as_default():
            tf1.import_graph_def(source.as_graph_def(), name="a")
            tf1.import_graph_def(source.as_graph_def(), name="b")
    assert report.shared_variables == 1


def test_a_legacy_defun_graph_is_not_a_user_graph_and_tf_data_traces_carry_the_users_names():
    def decode_image(raw):
        return tf.cast(raw, tf.float32) / 255.0

    def decode_label(raw):
        return tf.cast(raw, tf.int64)

    with tfshare.audit() as report:
        with tf.Graph().as_default() as graph:
            images = tf.data.Dataset.from_tensor_slices(tf.zeros([10, 4], tf.uint8)).map(decode_image)
            labels = tf.data.Dataset.from_tensor_slices(tf.zeros([10], tf.uint8)).map(decode_label)
            batch = tf1.data.make_one_shot_iterator(tf.data.Dataset.zip((images, labels)).batch(2)).get_next()
    assert report.graphs_created == 1
    assert report.ops_by_graph == {"new graph 1": len(graph.get_operations())}
    assert report.traces_by_function == {
        "test_a_legacy_defun_graph_is_not_a_user_graph_and_tf_data_traces_carry_the_users_names.<locals>"
        ".decode_image": 1,
        "test_a_legacy_defun_graph_is_not_a_user_graph_and_tf_data_traces_carry_the_users_names.<locals>"
        ".decode_label": 1,
    }
    assert report.findings == [] and len(batch) == 2


def test_variables_are_split_into_weights_optimizer_state_statistics_and_bookkeeping():
    """The shape of a scikit-learn-style DNNClassifier: a graph per fit, Adam, BatchNorm, a global step."""

    class DNNClassifier:
        def fit(self, x, y):
            self.graph = tf.Graph()
            with self.graph.as_default():
                self.x = tf1.placeholder(tf.float32, [None, x.shape[1]])
                labels = tf1.placeholder(tf.int64, [None])
                hidden = keras.layers.Dense(8)(self.x)
                hidden = keras.layers.BatchNormalization()(hidden, training=True)
                logits = keras.layers.Dense(3)(tf.nn.relu(hidden))
                loss = tf1.losses.sparse_softmax_cross_entropy(labels, logits)
                step = tf1.train.get_or_create_global_step()
                train = tf1.train.AdamOptimizer().minimize(loss, global_step=step)
                self.session = tf1.Session()
                self.session.run(tf1.global_variables_initializer())
                self.session.run(train, {self.x: x, labels: y})
            return self

    with tfshare.audit() as report:
        clf = DNNClassifier().fit(np.ones((4, 5), np.float32), np.array([0, 1, 2, 0]))
    # Weights: 2 Dense kernels and biases, BN gamma and beta; Adam: 2 slots per weight and 2 powers;
    # BN: moving mean and variance; the global step.
    assert report.variables_by_role == {"weights": 6, "optimizer": 14, "statistics": 2, "bookkeeping": 1}
    assert sum(report.variables_by_role.values()) == report.variables_created
    assert sum(report.bytes_by_role.values()) == report.variable_bytes
    assert report.as_dict()["variables_by_role"]["optimizer"] == 14
    clf.session.close()


def test_tfshare_trunk_heads_share_the_trunk_and_training_one_head_interferes(runtime, data):
    with tfshare.audit() as built:
        trunk = tfshare.SharedTrunk(runtime, 784, (8,))
        heads = [tfshare.DenseClassifier(trunk=trunk, num_classes=10) for _ in range(3)]
        tfshare.predict_many(heads, data.x_test[:4])
    assert built.shared_variables == 2 and built.findings == []
    with tfshare.audit() as trained:
        heads[0].fit(data.x_train[:64], data.y_train[:64], epochs=1)
    [finding] = trained.findings
    assert finding.kind == "shared_interference" and finding.details["other_models"] == 2
    assert trained.variables_trained == 4  # the trunk's 2 and the head's 2
