"""What fit and evaluate compute, checked against independent NumPy calculations.

- ``evaluate``'s loss is the mean of -log p[y] over ``predict_proba``'s rows, and its
  accuracy the mean of ``predict(x) == y``, also over several evaluation chunks.
- ``fit``'s history is the mean over the rows it trained on, each row with its own label.
- ``shuffle``: off, two fits from one start give bit-identical weights; on, the
  order (and so the weights) differs, and each row keeps its label.
- Classifiers of one architecture in one runtime (graph copies included) are
  independent: training one leaves every other one's weights bit-identical.
"""

from __future__ import annotations

import numpy as np
import pytest

import tfshare
from tfshare.base import EVAL_CHUNK

from conftest import small_cnn_body


def _numpy_metrics(clf, x, y):
    """The mean cross-entropy and accuracy, computed in float64 from predict_proba and predict."""
    p = clf.predict_proba(x).astype(np.float64)
    loss = float(np.mean(-np.log(p[np.arange(len(y)), y])))
    accuracy = float(np.mean(clf.predict(x) == y))
    return loss, accuracy


def _separable(rng, n, dim, num_classes):
    """Rows whose class is readable from the features (each class has its own mean)."""
    y = rng.integers(0, num_classes, n)
    centers = rng.normal(0, 1.5, (num_classes, dim)).astype(np.float32)
    x = centers[y] + rng.normal(0, 0.5, (n, dim)).astype(np.float32)
    return x.astype(np.float32), y


_MAKERS = {
    "graph_mlp": lambda: tfshare.DenseClassifier(8, 3, (6,), seed=0),
    "eager_mlp": lambda: tfshare.EagerDenseClassifier(8, 3, (6,), seed=0),
    "eager_mlp_tf_function": lambda: tfshare.EagerDenseClassifier(8, 3, (6,), seed=0, use_tf_function=True),
}


@pytest.mark.parametrize("kind", list(_MAKERS))
@pytest.mark.parametrize("rows", [37, 2 * EVAL_CHUNK + 37], ids=["one_chunk", "three_chunks"])
def test_evaluate_is_the_mean_cross_entropy_and_accuracy_of_the_predictions(kind, rows, rng):
    x, y = _separable(rng, rows, 8, 3)
    with _MAKERS[kind]() as clf:
        clf.fit(x[:256], y[:256], epochs=2, batch_size=32, learning_rate=0.02)  # informative, not perfect
        got = clf.evaluate(x, y)
        loss, accuracy = _numpy_metrics(clf, x, y)
    assert 0.05 < loss < 1.0 and 0.5 < accuracy < 1.0  # the case is not degenerate
    np.testing.assert_allclose(got["loss"], loss, rtol=1e-5)
    np.testing.assert_allclose(got["accuracy"], accuracy, atol=1e-6)


def test_evaluate_of_a_cnn_runs_in_inference_mode(digits):
    # Dropout and BatchNorm: evaluate must use the moving statistics and no dropout, as predict_proba does.
    with tfshare.Classifier(layers=small_cnn_body, input_shape=(8, 8, 1), num_classes=10, seed=0) as clf:
        clf.fit(digits.x_train[:256], digits.y_train[:256], epochs=2, batch_size=32)
        x, y = digits.x_test[:150], digits.y_test[:150]
        got = clf.evaluate(x, y)
        loss, accuracy = _numpy_metrics(clf, x, y)
    np.testing.assert_allclose(got["loss"], loss, rtol=1e-5)
    np.testing.assert_allclose(got["accuracy"], accuracy, atol=1e-6)


@pytest.mark.parametrize("shuffle", [False, True], ids=["in_order", "shuffled"])
@pytest.mark.parametrize("kind", ["graph_mlp", "eager_mlp"])
def test_fit_history_is_the_mean_over_the_rows_it_trained_on(kind, shuffle, rng):
    # With a negligible step, the weights stay put, so the epoch's history must
    # equal evaluate's on the same rows: every row once, with its own label,
    # the last (partial) batch weighted by its size.
    x, y = _separable(rng, 37, 8, 3)
    with _MAKERS[kind]() as clf:
        clf.fit(x, y, epochs=3, batch_size=8, learning_rate=0.05)  # confident predictions: mislabelled rows would show
        expected = clf.evaluate(x, y)
        history = clf.fit(x, y, epochs=2, batch_size=16, learning_rate=1e-10, shuffle=shuffle)
    assert expected["loss"] < 0.5
    np.testing.assert_allclose(history["loss"], [expected["loss"]] * 2, rtol=1e-5)
    np.testing.assert_allclose(history["accuracy"], [expected["accuracy"]] * 2, atol=1e-6)


def _fit_from_seed(x, y, shuffle, seed=0, **kwargs):
    with tfshare.DenseClassifier(8, 3, (6,), seed=seed) as clf:
        clf.fit(x, y, epochs=2, batch_size=8, learning_rate=0.01, shuffle=shuffle, **kwargs)
        return clf.get_weights()


def _equal(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_shuffle_false_gives_identical_weights_and_shuffle_true_a_different_order(rng):
    x, y = _separable(rng, 64, 8, 3)
    in_order = _fit_from_seed(x, y, shuffle=False)
    assert _equal(_fit_from_seed(x, y, shuffle=False), in_order)  # deterministic from one start
    shuffled = _fit_from_seed(x, y, shuffle=True)
    assert not _equal(shuffled, in_order)  # the default reorders the rows
    assert _equal(_fit_from_seed(x, y, shuffle=True), shuffled)  # the seed also fixes the order
    with tfshare.DenseClassifier(8, 3, (6,), seed=0) as clf:
        start = clf.get_weights()
    assert not _equal(start, in_order)  # training moved the weights


@pytest.mark.parametrize("kind", ["graph_mlp", "eager_mlp"])
def test_shuffle_must_be_a_bool(kind, rng):
    """Not a truthy value: shuffle=1 or "no" would silently pick an order. NumPy's bool is a bool."""
    x, y = _separable(rng, 8, 8, 3)
    with _MAKERS[kind]() as clf:
        with pytest.raises(TypeError, match=r"^shuffle must be a bool, got int 1$"):
            clf.fit(x, y, shuffle=1)
        with pytest.raises(TypeError, match=r"^shuffle must be a bool, got str 'no'$"):
            clf.fit(x, y, shuffle="no")
        assert len(clf.fit(x, y, shuffle=np.bool_(False))["loss"]) == 1  # e.g. from a config array


def test_shuffling_keeps_features_and_labels_aligned(rng):
    # One batch of all the rows: the mean gradient does not depend on their
    # order, so a shuffled fit must land where the unshuffled one does (within
    # float rounding), unless rows were separated from their labels.
    x, y = _separable(rng, 48, 8, 3)
    with tfshare.DenseClassifier(8, 3, (6,), seed=0) as a, tfshare.DenseClassifier(8, 3, (6,), seed=0) as b:
        a.fit(x, y, epochs=3, batch_size=48, learning_rate=0.01, shuffle=False)
        b.fit(x, y, epochs=3, batch_size=48, learning_rate=0.01, shuffle=True)
        wa, wb = a.get_weights(), b.get_weights()
        for key in wa:
            np.testing.assert_allclose(wb[key], wa[key], atol=1e-5, err_msg=key)
        np.testing.assert_allclose(b.predict_proba(x), a.predict_proba(x), atol=1e-5)


_ARCHITECTURES = {
    "mlp": lambda gs, i: tfshare.DenseClassifier(8, 3, (6,), runtime=gs, name=f"c{i}", seed=i),
    "cnn": lambda gs, i: tfshare.ConvClassifier((8, 8, 1), 3, filters=(4,), runtime=gs, name=f"c{i}", seed=i),
}


@pytest.mark.parametrize("kind", list(_ARCHITECTURES))
def test_classifiers_of_one_architecture_in_one_runtime_are_independent(runtime, kind, rng):
    clfs = [_ARCHITECTURES[kind](runtime, i) for i in range(4)]
    assert [c._copied for c in clfs] == [False, True, True, True]  # the later ones are graph copies
    shape = clfs[0].input_shape
    x = rng.random((32, *shape), dtype=np.float32)
    y = rng.integers(0, 3, 32)
    for trained in (2, 0, 3):  # a copy in the middle, the template, the last copy
        before = [c.get_weights() for c in clfs]
        probe = [c.predict_proba(x) for c in clfs]
        clfs[trained].fit(x, y, epochs=1, batch_size=8, learning_rate=0.05)
        after = [c.get_weights() for c in clfs]
        for i, clf in enumerate(clfs):
            if i == trained:
                moved = [k for k in before[i] if not np.array_equal(before[i][k], after[i][k])]
                assert set(moved) == set(before[i]), f"{clf.name}: {set(before[i]) - set(moved)} did not move"
            else:
                assert _equal(after[i], before[i]), f"training {clfs[trained].name} moved {clf.name}"
                np.testing.assert_array_equal(clf.predict_proba(x), probe[i])
