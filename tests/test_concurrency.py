"""Concurrent use: many threads predicting, building, training and closing at once."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import tfshare
from tfshare.drills import concurrency
from tfshare._tf import tf1
from tfshare.bench import models


_SMALL_CNN = models.model("cnn", filters=(4, 8))


@pytest.mark.parametrize("classifiers", [1, 4], ids=["one_classifier", "four_heads_on_shared_trunk"])
def test_32_threads_x_200_calls_match_serial_results(classifiers):
    figures = concurrency.load_drill(threads=32, calls=200, classifiers=classifiers)
    assert figures.threads * figures.calls_per_thread == 6400
    assert figures.errors == 0
    assert figures.mismatches == 0


@pytest.mark.parametrize("classifiers", [1, 3], ids=["one_cnn", "three_heads_on_a_cnn_trunk"])
def test_cnn_threads_match_serial_results(classifiers):
    figures = concurrency.load_drill(_SMALL_CNN, threads=8, calls=20, classifiers=classifiers)
    assert (figures.model, figures.classifiers, figures.threads * figures.calls_per_thread) == ("cnn", classifiers, 160)
    assert figures.errors == 0
    assert figures.mismatches == 0


def test_cnn_construction_from_several_threads():
    figures = concurrency.construction_drill(_SMALL_CNN, threads=6)
    assert figures.model == "cnn"
    assert figures.built == figures.unique_names == figures.same_as_serial == 6
    assert figures.errors == 0


def test_cnn_fit_in_one_thread_while_others_predict():
    # Readers predict in inference mode (moving statistics) while fit runs BatchNorm in training mode.
    figures = concurrency.fit_while_predict_drill(_SMALL_CNN, readers=3, epochs=1, num_train=256)
    assert figures.model == "cnn"
    assert figures.train_steps == 8
    assert figures.errors == 0
    assert figures.invalid == 0
    assert figures.predictions > 0
    assert figures.saw_before + figures.saw_after + figures.saw_between == figures.predictions


def test_prediction_from_a_fresh_thread_without_graph_context(runtime, rng):
    clf = tfshare.DenseClassifier(16, 3, (8,), runtime=runtime, seed=0)
    x = rng.random((5, 16), dtype=np.float32)
    expected = clf.predict_proba(x)
    seen = {}

    def predict():
        # A new thread starts with TF's global default graph, not the runtime's.
        seen["default_graph_is_runtime"] = tf1.get_default_graph() is runtime.graph
        seen["proba"] = clf.predict_proba(x)
        seen["ids"] = clf.predict(x)

    thread = threading.Thread(target=predict)
    thread.start()
    thread.join()
    assert seen["default_graph_is_runtime"] is False
    np.testing.assert_array_equal(seen["proba"], expected)
    np.testing.assert_array_equal(seen["ids"], expected.argmax(axis=1))


def test_first_prediction_of_a_new_classifier_happens_in_a_fresh_thread(runtime, rng):
    # Nothing was run in the main thread: the Session, the variable
    # initialization and the fast callable are all created in the worker.
    clf = tfshare.DenseClassifier(16, 3, (8,), runtime=runtime, seed=0)
    x = rng.random((5, 16), dtype=np.float32)
    out = []
    thread = threading.Thread(target=lambda: out.append(clf.predict_proba(x)))
    thread.start()
    thread.join()
    assert runtime.has_session
    with tfshare.DenseClassifier(16, 3, (8,), seed=0) as twin:
        np.testing.assert_array_equal(out[0], twin.predict_proba(x))


def test_construction_from_several_threads_is_serialized_with_unique_names():
    figures = concurrency.construction_drill(threads=16)
    assert figures.errors == 0
    assert figures.built == 16
    assert figures.unique_names == 16
    # Each classifier's ops all lie in its own scope, as many as a serial
    # build makes, and it predicts as the same classifier built alone.
    assert figures.same_as_serial == 16


def test_explicit_names_race_one_winner(runtime):
    errors, built = [], []
    barrier = threading.Barrier(8)

    def build():
        barrier.wait()
        try:
            built.append(tfshare.DenseClassifier(4, 2, (4,), runtime=runtime, name="same"))
        except tfshare.InputError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(built) == 1 and len(errors) == 7
    assert all("name 'same' is already used" in str(e) for e in errors)


def test_fit_in_one_thread_while_others_predict():
    figures = concurrency.fit_while_predict_drill(readers=4, epochs=2)
    assert figures.errors == 0
    assert figures.invalid == 0
    assert figures.predictions > 0
    # Readers see some weights: from before, after, or in between (documented).
    assert figures.saw_before + figures.saw_after + figures.saw_between == figures.predictions


def test_close_during_concurrent_predictions_raises_only_closed_error(rng):
    runtime = tfshare.GraphSession(device="cpu")
    clf = tfshare.DenseClassifier(64, 4, (32,), runtime=runtime, seed=0)
    x = rng.random((8, 64), dtype=np.float32)
    clf.predict_proba(x)
    outcomes = {"ok": 0, "closed": 0}
    others: list[BaseException] = []
    lock = threading.Lock()
    started = threading.Barrier(9)

    def hammer():
        started.wait()
        while True:
            try:
                clf.predict_proba(x)
                key = "ok"
            except tfshare.ClosedError:
                key = "closed"
            except Exception as exc:  # noqa: BLE001 - anything else is the bug
                others.append(exc)
                return
            with lock:
                outcomes[key] += 1
            if key == "closed":
                return

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    started.wait()
    while outcomes["ok"] < 200:
        time.sleep(0.001)
    runtime.close()
    for t in threads:
        t.join()
    assert others == []
    assert outcomes["closed"] == 8


def test_isolated_classifiers_built_from_several_threads_at_once(rng):
    x = rng.random((4, 32), dtype=np.float32)
    with tfshare.DenseClassifier(32, seed=3) as alone:
        expected = alone.predict_proba(x)
    built = []
    errors = concurrency._run_threads(lambda i: built.append(tfshare.DenseClassifier(32, seed=3)), 8)
    try:
        assert errors == []
        assert len({id(clf.runtime.graph) for clf in built}) == 8
        for clf in built:
            np.testing.assert_array_equal(clf.predict_proba(x), expected)
    finally:
        for clf in built:
            clf.close()


def test_a_first_call_racing_a_restore_cannot_overwrite_the_restored_weights(runtime, tmp_path, monkeypatch, rng):
    x = rng.random((4, 16), dtype=np.float32)
    with tfshare.DenseClassifier(16, 3, (8,), seed=1) as trained:
        trained.save(tmp_path)
        expected = trained.predict_proba(x)
    fresh = tfshare.DenseClassifier(16, 3, (8,), runtime=runtime, seed=2)  # never initialized
    real_restore = tfshare.checkpoints.restore

    def restore_then_race(*args, **kwargs):
        prefix = real_restore(*args, **kwargs)
        runtime.initialize()  # what another thread's first call does right after the assignment
        return prefix

    monkeypatch.setattr(tfshare.checkpoints, "restore", restore_then_race)
    fresh.restore(tmp_path)
    np.testing.assert_array_equal(fresh.predict_proba(x), expected)


def test_predict_many_from_threads_while_a_head_trains(runtime, rng):
    trunk = tfshare.SharedTrunk(runtime, 16, (8,), seed=0)
    heads = [tfshare.DenseClassifier(num_classes=3, trunk=trunk, name=f"t{i}", seed=i) for i in range(6)]
    x = rng.random((4, 16), dtype=np.float32)
    data_x = rng.random((256, 16), dtype=np.float32)
    data_y = rng.integers(0, 3, 256)
    frozen = {c.name: c.predict_proba(x) for c in heads}
    errors: list[BaseException] = []
    checked = [0]

    def predict() -> None:
        try:
            for _ in range(200):
                got = tfshare.predict_many(heads, x)
                for name, value in got.items():
                    assert value.shape == (4, 3) and np.all(np.isfinite(value))
                    np.testing.assert_allclose(value.sum(axis=1), 1.0, rtol=1e-5)
                checked[0] += 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=predict) for _ in range(4)]
    for t in threads:
        t.start()
    heads[2].fit(data_x, data_y, epochs=3, batch_size=16, learning_rate=0.05)  # moves the trunk and head 2
    for t in threads:
        t.join()
    assert errors == [] and checked[0] == 800
    final = tfshare.predict_many(heads, x)  # after training: the bank caught up with every step
    for clf in heads:
        np.testing.assert_allclose(final[clf.name], clf.predict_proba(x), atol=1e-6)
    assert np.abs(final["t2"] - frozen["t2"]).max() > 1e-3


def test_close_during_fit_raises_closed_error(rng):
    gs = tfshare.GraphSession(device="cpu")
    clf = tfshare.DenseClassifier(16, 3, (8,), runtime=gs, seed=0)
    x, y = rng.random((4096, 16), dtype=np.float32), rng.integers(0, 3, 4096)
    clf.fit(x[:8], y[:8])
    outcome: list[BaseException] = []

    def train() -> None:
        try:
            clf.fit(x, y, epochs=200, batch_size=8)
        except BaseException as exc:  # noqa: BLE001 - inspected below
            outcome.append(exc)

    thread = threading.Thread(target=train)
    thread.start()
    time.sleep(0.3)
    gs.close()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], tfshare.ClosedError), outcome
