"""Shared pytest fixtures and the gpu marker's skip rule."""

from __future__ import annotations

import numpy as np
import pytest

import tfshare
from tfshare._tf import tf1


def pytest_report_header(config):
    return f"tfshare {tfshare.__version__}: TensorFlow {tfshare.TF_VERSION}, tf_keras {tfshare.KERAS_VERSION}"


def pytest_collection_modifyitems(config, items):
    if tfshare.visible_gpus():
        return
    skip = pytest.mark.skip(reason="needs a visible GPU; TensorFlow sees none on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def data() -> tfshare.Dataset:
    """A small slice of the embedded data set (shared read-only by all tests)."""
    return tfshare.synthetic(num_train=2000, num_test=500)


@pytest.fixture
def runtime():
    """A fresh CPU GraphSession per test, closed afterwards."""
    gs = tfshare.GraphSession(device="cpu")
    yield gs
    gs.close()


@pytest.fixture(autouse=True)
def _default_graph_untouched(request):
    """Every test proves that tfshare added nothing to the user's default graph.

    Tests that build into the default graph on purpose (as user code would)
    opt out with @pytest.mark.uses_default_graph.
    """
    if request.node.get_closest_marker("uses_default_graph"):
        yield
        return
    graph = tf1.get_default_graph()
    before = len(graph.get_operations())
    yield
    assert len(graph.get_operations()) == before, "something was built into the default graph"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def digits() -> tfshare.Dataset:
    """scikit-learn's 8x8 digits as images [n, 8, 8, 1] (1437 train, 360 test rows)."""
    return tfshare.load_digits()


def small_cnn_body():
    """A small Conv-BN-ReLU-Pool-Dropout-Flatten body (the issue's example, 8 filters)."""
    from tfshare._tf import keras

    return [
        keras.layers.Conv2D(8, 3, padding="same"), keras.layers.BatchNormalization(momentum=0.9),
        keras.layers.ReLU(), keras.layers.MaxPool2D(), keras.layers.Dropout(0.25), keras.layers.Flatten(),
    ]
