"""A NaN/Inf loss during fit stops training and keeps the weights from before the failing step."""

from __future__ import annotations

import numpy as np
import pytest

import tfshare
from tfshare.drills import training
from tfshare.bench import models

_SMALL_CNN = models.model("cnn", filters=(4,))


def test_training_fault_drill():
    figures = training.training_fault_drill()
    assert figures.model == "mlp"
    assert figures.runs == 2
    assert figures.stopped == 2
    assert figures.weights_kept == 2
    assert figures.others_unchanged == 2
    assert figures.statistics == 0 and figures.passed


def test_training_fault_drill_cnn_keeps_batchnorm_statistics():
    figures = training.training_fault_drill(_SMALL_CNN)
    assert figures.model == "cnn"
    assert figures.stopped == figures.weights_kept == figures.others_unchanged == 2
    # One BatchNorm layer: moving mean and variance, moved by the good step before each failure.
    assert figures.statistics == 2
    assert figures.statistics_moved == 2
    assert figures.passed


def test_statistics_moved():
    assert not training.statistics_moved({"head/kernel": np.ones(2)})
    fresh = {"bn_0/moving_mean": np.zeros(3), "bn_0/moving_variance": np.ones(3)}
    assert not training.statistics_moved(fresh)
    assert not training.statistics_moved({**fresh, "bn_0/moving_mean": np.array([0.0, 0.1, 0.0])})
    assert training.statistics_moved({"bn_0/moving_mean": np.array([0.0, 0.1, 0.0]),
                                            "bn_0/moving_variance": np.array([1.0, 1.0, 0.9])})


def test_cnn_failing_step_keeps_weights_and_batchnorm_statistics(runtime, rng):
    clf = _SMALL_CNN.classifier(3, runtime=runtime, seed=0)
    x = rng.random((16, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 3, 16)
    initial = clf.get_weights()
    clf.fit(x, y, epochs=1, batch_size=16)  # a good step moves the moving statistics
    before = clf.get_weights()
    assert np.abs(before["bn_0/moving_mean"]).max() > 0
    assert not np.array_equal(before["bn_0/moving_variance"], initial["bn_0/moving_variance"])
    state = runtime.run(runtime.global_variables())
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(
        tfshare.TrainingError, match=r"non-finite \(loss=(nan|inf)\) at epoch 0, rows 0:16; that step was not applied"
    ):
        clf.fit(x * np.float32(3e38), y, epochs=1, batch_size=16)
    after = clf.get_weights()
    assert after.keys() == before.keys()
    for key in before:
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)
    assert all(np.array_equal(a, b) for a, b in zip(state, runtime.run(runtime.global_variables())))


@pytest.mark.parametrize("make", ["graph", "eager"])
def test_overflowing_step_stops_with_a_clear_error_and_changes_nothing(runtime, rng, make):
    if make == "graph":
        clf = tfshare.DenseClassifier(16, 3, (8,), runtime=runtime, seed=0)
        weights = lambda: [np.array(v) for v in runtime.run(clf.variables)]  # noqa: E731
    else:
        clf = tfshare.EagerDenseClassifier(16, 3, (8,), seed=0)
        weights = lambda: [v.numpy().copy() for v in clf.variables]  # noqa: E731
    x = rng.random((64, 16), dtype=np.float32)
    y = rng.integers(0, 3, 64)
    clf.fit(x, y, epochs=1, batch_size=64)  # one good step; the optimizer now has state
    before = weights()
    huge = x.copy()
    huge[40:] *= np.float32(3e38)  # finite, valid input; the activations overflow
    with np.errstate(over="ignore"):
        with pytest.raises(tfshare.TrainingError, match=(
            r"the loss or a gradient became non-finite \(loss=(nan|inf)\) at epoch 0, rows 32:64; "
            r"that step was not applied\. Lower learning_rate or check the data\."
        )):
            clf.fit(huge, y, epochs=1, batch_size=32, shuffle=False)
    # Rows 0:32 were a good step and were applied; rows 32:64 failed and were not.
    after_first_batch = weights()
    assert not all(np.array_equal(a, b) for a, b in zip(before, after_first_batch))
    assert all(np.isfinite(w).all() for w in after_first_batch)
    # Training goes on from there with sane data.
    history = clf.fit(x, y, epochs=2, batch_size=32)
    assert np.isfinite(history["loss"]).all()


def test_failing_step_leaves_the_exact_state_before_it(runtime, rng):
    clf = tfshare.DenseClassifier(16, 3, (8,), runtime=runtime, seed=0)
    x = rng.random((32, 16), dtype=np.float32)
    y = rng.integers(0, 3, 32)
    clf.fit(x, y, epochs=1, batch_size=32)
    state = runtime.run(runtime.global_variables())  # model, Adam slots and beta powers
    with np.errstate(over="ignore"), pytest.raises(tfshare.TrainingError):
        clf.fit(x * np.float32(3e38), y, epochs=1, batch_size=32)
    after = runtime.run(runtime.global_variables())
    assert len(after) == len(state)
    assert all(np.array_equal(a, b) for a, b in zip(state, after))
