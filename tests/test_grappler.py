"""GraphSession(grappler=): whether TensorFlow's graph optimizer runs.

Grappler's work is visible in the partition graphs a run places: with it on,
the Dense head's MatMul + BiasAdd become one fused MatMul (a conv body's
Conv2D + BatchNorm + ReLU are one fused op either way: tfshare builds that
one itself, tfshare.conv_fusion).
"""

from unittest import mock

import numpy as np
import pytest

import tfshare
from tfshare._tf import tf1


def _placed_op_types(runtime, clf, x):
    clf.predict_proba(x)  # initializes the variables
    metadata = tf1.RunMetadata()
    runtime.session.run(
        clf.probabilities_tensor, {clf.input_tensor: x},
        options=tf1.RunOptions(output_partition_graphs=True), run_metadata=metadata,
    )
    return {node.op for graph in metadata.partition_graphs for node in graph.node}


def _classifier(kind, runtime):
    if kind == "cnn":
        return tfshare.ConvClassifier((8, 8, 1), 10, filters=(4,), runtime=runtime, seed=0)
    return tfshare.DenseClassifier(64, 10, runtime=runtime, seed=0)


def _input(kind):
    shape = (3, 8, 8, 1) if kind == "cnn" else (3, 64)
    return np.random.default_rng(0).random(shape, dtype=np.float32)


@pytest.mark.parametrize(
    ("kind", "grappler", "fused"),
    [("cnn", None, False), ("mlp", None, False), ("cnn", False, False), ("mlp", True, True), ("cnn", True, True)],
)
def test_grappler_fuses_only_when_on(kind, grappler, fused):
    with tfshare.GraphSession(device="cpu", grappler=grappler) as runtime:
        clf = _classifier(kind, runtime)
        types = _placed_op_types(runtime, clf, _input(kind))
        assert any("FusedMatMul" in t for t in types) is fused, sorted(types)
        # Pruned placement and Grappler exclude each other (graph_execution_state.cc).
        assert runtime.config.graph_options.place_pruned_graph is not fused


def test_grappler_does_not_change_predictions():
    x = _input("cnn")
    predictions = []
    for grappler in (False, True):
        with tfshare.GraphSession(device="cpu", grappler=grappler) as runtime:
            predictions.append(_classifier("cnn", runtime).predict_proba(x))
    np.testing.assert_allclose(predictions[0], predictions[1], rtol=1e-5, atol=1e-6)


def test_grappler_none_follows_the_config():
    with tfshare.GraphSession(device="cpu") as runtime:  # tfshare's default: pruned placement, so off
        assert runtime.config.graph_options.place_pruned_graph
        assert not runtime.config.graph_options.rewrite_options.disable_meta_optimizer
    config = tf1.ConfigProto()
    config.graph_options.rewrite_options.disable_meta_optimizer = True
    with tfshare.GraphSession(device="cpu", config=config, grappler=True) as runtime:  # True overrides it
        assert not runtime.config.graph_options.rewrite_options.disable_meta_optimizer
        assert not runtime.config.graph_options.place_pruned_graph


def test_grappler_none_keeps_tensorflows_default_on_gpu_and_remote_runtimes():
    # Pruned placement (which keeps Grappler off) is for in-process CPU runtimes only; read on paper
    # for a GPU: the device is what resolve_device would answer on a GPU machine.
    with mock.patch("tfshare.runtime.resolve_device", return_value="/device:GPU:0"):
        gpu = tfshare.GraphSession(device="gpu")
    remote = tfshare.GraphSession(device="cpu", target="grpc://localhost:1")  # no Session is made
    for runtime in (gpu, remote):
        with runtime:
            assert not runtime.config.graph_options.place_pruned_graph
            assert not runtime.config.graph_options.rewrite_options.disable_meta_optimizer


def test_grappler_false_turns_it_off_in_a_given_config():
    config = tf1.ConfigProto()
    with tfshare.GraphSession(device="cpu", config=config, grappler=False) as runtime:
        assert runtime.config.graph_options.rewrite_options.disable_meta_optimizer
        clf = _classifier("cnn", runtime)
        assert not any("FusedMatMul" in t for t in _placed_op_types(runtime, clf, _input("cnn")))
    with tfshare.GraphSession(device="cpu", config=config) as runtime:
        assert not runtime.config.graph_options.rewrite_options.disable_meta_optimizer
        assert not runtime.config.graph_options.place_pruned_graph


def test_grappler_must_be_a_bool_or_none():
    with pytest.raises(TypeError, match="grappler must be a bool or None, got str"):
        tfshare.GraphSession(device="cpu", grappler="yes")
