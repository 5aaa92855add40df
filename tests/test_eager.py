"""EagerDenseClassifier: the TF2 baseline with the same API and the same results."""

from __future__ import annotations

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
