"""tfshare.bench.reference: the models written out by hand in tf_keras compute what tfshare's classifiers do."""

from __future__ import annotations

import numpy as np
import pytest

import tfshare
from tfshare.bench import models, reference, session_reuse


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_hand_written_model_with_copied_weights_predicts_as_the_classifier(runtime, name):
    model = models.model(name, hidden_units=(16,), filters=(4, 8))
    clf = model.classifier(10, runtime=runtime, seed=0)
    data = model.dataset(64, 16, seed=0)
    # A few steps move the weights and, for the CNN, the BatchNorm moving statistics off their initial values.
    clf.fit(data.x_train, data.y_train, epochs=2, batch_size=16, learning_rate=1e-2)
    keras_model = reference.keras_model(model, 10)
    fresh = keras_model(data.x_test, training=False).numpy()
    reference.set_named_weights(keras_model, clf.get_weights())
    expected = clf.predict_proba(data.x_test)
    np.testing.assert_allclose(keras_model(data.x_test, training=False).numpy(), expected, atol=1e-5)
    assert np.max(np.abs(fresh - expected)) > 1e-3  # the copy is what made them agree
    if name == "cnn":
        assert np.max(np.abs(clf.get_weights()["bn_0/moving_mean"])) > 0
    raw = reference.raw_graph(model, clf.get_weights(), 10)
    try:
        np.testing.assert_allclose(raw.call(data.x_test)[0], expected, atol=1e-5)
        assert raw.session.graph is not runtime.graph
    finally:
        raw.session.close()


def test_set_named_weights_rejects_other_keys():
    keras_model = reference.keras_model(models.model("mlp", hidden_units=(4,)), 3)
    with pytest.raises(tfshare.InputError, match=r"values must have the keys \['head/bias', 'head/kernel', "
                                                 r"'hidden_0/bias', 'hidden_0/kernel'\], got \['head/kernel'\]"):
        reference.set_named_weights(keras_model, {"head/kernel": np.zeros((4, 3), np.float32)})


def test_raw_graph_rejects_other_keys():
    with pytest.raises(tfshare.InputError, match=r"values must have the keys \['head/bias', 'head/kernel', "
                                                 r"'hidden_0/bias', 'hidden_0/kernel'\], got \['head/kernel'\]"):
        reference.raw_graph(models.model("mlp", hidden_units=(4,)), {"head/kernel": np.zeros((4, 3), np.float32)}, 3)


def test_session_reuse_builds_the_raw_graph_only_when_it_is_measured():
    model = models.model("mlp", hidden_units=(4,))
    x = model.inputs(2)
    for modes, built in ((("callable_floor", "predict_proba"), False), (("callable_floor", "raw_graph"), True)):
        setup = session_reuse.Setup(session_reuse.Config(modes=modes, model=model))
        try:
            assert (setup.raw_graph is not None) is built
            for mode in modes:
                assert setup.call(mode, x)().shape == (2, 10)
        finally:
            setup.close()


def test_the_raw_graph_takes_the_runs_thread_settings():
    """--num_intra_threads / --num_inter_threads reach the hand-built floor too: both sides use the same threads."""
    model = models.model("mlp", hidden_units=(4,))
    setup = session_reuse.Setup(session_reuse.Config(modes=("callable_floor", "raw_graph"), model=model,
                                                     intra_op_threads=1, inter_op_threads=2))
    try:
        config = setup.raw_graph.session._config
        assert (config.intra_op_parallelism_threads, config.inter_op_parallelism_threads) == (1, 2)
        weights = setup.classifier.get_weights()
    finally:
        setup.close()
    default = reference.raw_graph(model, weights, 10)
    try:
        assert default.session._config == tfshare._tf.tf1.ConfigProto()  # TensorFlow's own, when no config is given
    finally:
        default.session.close()
