"""Concurrent use: many threads predicting, building, training and closing at once."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

import tfshare
from tfshare import checkpoints
from tfshare.drills import concurrency
from tfshare._tf import tf1
from tfshare.bench import models
from tfshare.shards import DEFAULT_SHARD_SIZE

from conftest import WAIT_SECONDS, join_all, wait_for


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
    join_all([thread])
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
    join_all([thread])
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


def test_construction_drill_checks_classifiers_beyond_the_first_shard():
    """More builders than one shard holds: each classifier's ops are counted in its own shard's graph."""
    threads = DEFAULT_SHARD_SIZE + 1
    figures = concurrency.construction_drill(threads=threads)
    assert figures.built == figures.unique_names == figures.same_as_serial == threads
    assert figures.errors == 0 and figures.passed


def test_explicit_names_race_one_winner(runtime):
    errors, built = [], []
    barrier = threading.Barrier(8, timeout=WAIT_SECONDS)

    def build():
        barrier.wait()
        try:
            built.append(tfshare.DenseClassifier(4, 2, (4,), runtime=runtime, name="same"))
        except tfshare.InputError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(8)]
    for t in threads:
        t.start()
    join_all(threads)
    assert len(built) == 1 and len(errors) == 7
    assert all("name 'same' is already used" in str(e) for e in errors)


def test_fit_in_one_thread_while_others_predict():
    figures = concurrency.fit_while_predict_drill(readers=4, epochs=2)
    assert figures.errors == 0
    assert figures.invalid == 0
    assert figures.predictions > 0


def test_close_during_concurrent_predictions_raises_only_closed_error(rng):
    runtime = tfshare.GraphSession(device="cpu")
    clf = tfshare.DenseClassifier(64, 4, (32,), runtime=runtime, seed=0)
    x = rng.random((8, 64), dtype=np.float32)
    clf.predict_proba(x)
    outcomes = {"ok": 0, "closed": 0}
    others: list[BaseException] = []
    lock = threading.Lock()
    started = threading.Barrier(9, timeout=WAIT_SECONDS)
    busy = threading.Event()  # 200 predictions succeeded (or a thread failed): time to close

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
                busy.set()
                return
            with lock:
                outcomes[key] += 1
                if outcomes["ok"] >= 200:
                    busy.set()
            if key == "closed":
                return

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    started.wait()
    assert busy.wait(WAIT_SECONDS)
    runtime.close()
    join_all(threads)
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
    join_all(threads)
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

    start = clf.get_weights()["head/bias"]
    thread = threading.Thread(target=train)
    thread.start()
    # Close once training is under way: the weights moved (or fit already failed).
    wait_for(lambda: outcome or not np.array_equal(clf.get_weights()["head/bias"], start), what="a training step")
    gs.close()
    join_all([thread])
    assert len(outcome) == 1 and isinstance(outcome[0], tfshare.ClosedError), outcome


def test_saves_within_a_process_are_serialized(tmp_path, monkeypatch):
    # The first save is held inside its write; a second save started meanwhile
    # must wait for it (the save lock), not pick the same step and collide.
    clf = tfshare.DenseClassifier(6, 3, (5,), seed=0)
    real_write = checkpoints.atomic_write
    first_inside, release, second_inside = threading.Event(), threading.Event(), threading.Event()
    writers: list[str] = []

    def held_write(path, write, *args, **kwargs):
        writers.append(threading.current_thread().name)
        if len(writers) == 1:
            first_inside.set()
            assert release.wait(WAIT_SECONDS)
        else:
            second_inside.set()
        return real_write(path, write, *args, **kwargs)

    monkeypatch.setattr(checkpoints, "atomic_write", held_write)
    prefixes: dict[str, str] = {}
    errors: list[BaseException] = []

    def save(name: str) -> None:
        try:
            prefixes[name] = clf.save(tmp_path)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    first = threading.Thread(target=save, args=("first",), name="first")
    first.start()
    assert first_inside.wait(WAIT_SECONDS)
    second = threading.Thread(target=save, args=("second",), name="second")
    second.start()
    # A bounded look for the second writer inside while the first is held: with
    # the lock it cannot get there (under load it may not even have started,
    # and then the distinct prefixes below still catch a collision).
    overlapped = second_inside.wait(0.5)
    release.set()
    join_all([first, second])
    clf.close()
    assert errors == []
    assert not overlapped, "a second save ran while the first was writing"
    assert writers == ["first", "second"]
    assert (os.path.basename(prefixes["first"]), os.path.basename(prefixes["second"])) == ("ckpt-1", "ckpt-2")


def test_many_threads_saving_into_one_directory_get_distinct_complete_checkpoints(tmp_path, rng):
    x = rng.random((4, 6), dtype=np.float32)
    with tfshare.DenseClassifier(6, 3, (5,), seed=0) as clf:
        expected = clf.predict_proba(x)
        prefixes: list[str] = []
        errors = concurrency._run_threads(lambda i: prefixes.extend(clf.save(tmp_path) for _ in range(3)), 6)
    assert errors == []
    assert sorted(os.path.basename(p) for p in prefixes) == sorted(f"ckpt-{i}" for i in range(1, 19))
    kept = sorted(f for f in os.listdir(tmp_path) if f.endswith(".index"))
    assert kept == ["ckpt-16.index", "ckpt-17.index", "ckpt-18.index"]  # the newest 3, nothing else left
    assert sorted(f for f in os.listdir(tmp_path) if f.endswith(".tfshare.json")) == [
        f"ckpt-{i}.tfshare.json" for i in (16, 17, 18)]
    with tfshare.DenseClassifier(6, 3, (5,), seed=9) as other:
        other.restore(tmp_path)
        np.testing.assert_array_equal(other.predict_proba(x), expected)


def _restore_one(classifiers, path):
    classifiers[0].restore(path)


def _restore_all(classifiers, path):
    tfshare.restore_runtime(classifiers, path)


@pytest.mark.parametrize("how", ["restore", "restore_runtime"])
def test_restore_while_other_threads_predict(runtime, tmp_path, rng, how):
    # Readers predict without pause while the weights are restored back and
    # forth: no reader fails or sees an invalid row, and once the restores
    # end every reader sees the last checkpoint's predictions exactly.
    trunk = tfshare.SharedTrunk(runtime, 12, (8,), seed=0)
    heads = [tfshare.DenseClassifier(trunk=trunk, num_classes=3, name=f"h{i}", seed=i) for i in range(3)]
    x = rng.random((5, 12), dtype=np.float32)
    data_x, data_y = rng.random((64, 12), dtype=np.float32), rng.integers(0, 3, 64)
    paths, expected = [], []
    for i in range(2):
        heads[0].fit(data_x, data_y, batch_size=16, learning_rate=0.1)
        paths.append(heads[0].save(tmp_path / f"c{i}") if how == "restore" else
                     tfshare.save_runtime(heads, tmp_path / f"c{i}.npz"))
        expected.append({c.name: c.predict_proba(x) for c in heads})
    assert np.abs(expected[0]["h0"] - expected[1]["h0"]).max() > 1e-3
    restore = _restore_one if how == "restore" else _restore_all
    stop, predicted = threading.Event(), threading.Semaphore(0)
    errors: list[BaseException] = []
    invalid = [0]

    def read(i: int) -> None:
        try:
            while not stop.is_set():
                got = tfshare.predict_many(heads, x) if i % 2 else {"h0": heads[0].predict_proba(x)}
                for value in got.values():
                    if not (np.all(np.isfinite(value)) and np.allclose(value.sum(axis=1), 1.0, atol=1e-5)):
                        invalid[0] += 1
                predicted.release()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            predicted.release()

    readers = [threading.Thread(target=read, args=(i,)) for i in range(4)]
    for t in readers:
        t.start()
    try:
        for _ in range(4):  # every reader is under way
            assert predicted.acquire(timeout=WAIT_SECONDS)
        for i in range(10):
            restore(heads, paths[i % 2])
    finally:
        stop.set()
        join_all(readers)
    assert errors == [] and invalid == [0]
    final = tfshare.predict_many(heads, x)
    for clf in heads:
        np.testing.assert_array_equal(clf.predict_proba(x), expected[1][clf.name])
        np.testing.assert_allclose(final[clf.name], expected[1][clf.name], atol=1e-6)
