"""Lifecycle: close releases everything, use after close raises, no leaks, no default-graph ops."""

from __future__ import annotations

import numpy as np
import pytest

import tfshare
from tfshare.drills import lifecycle
from tfshare._tf import tf, tf1
from tfshare.bench import models
from conftest import before_raw_calls


def _uses(clf, tmp_path):
    x = np.zeros((2, clf.input_dim), np.float32)
    y = np.zeros(2, np.int64)
    return {
        "predict": lambda: clf.predict(x),
        "predict_proba": lambda: clf.predict_proba(x),
        "fit": lambda: clf.fit(x, y),
        "evaluate": lambda: clf.evaluate(x, y),
        "save": lambda: clf.save(tmp_path / "ckpt"),
        "restore": lambda: clf.restore(tmp_path / "ckpt"),
        "save_runtime": lambda: tfshare.save_runtime([clf], tmp_path / "r.npz"),
        "restore_runtime": lambda: tfshare.restore_runtime([clf], tmp_path / "r.npz"),
    }


@pytest.mark.parametrize("what", ["classifier", "its_runtime"])
def test_every_use_after_close_raises_closed_error(tmp_path, what):
    runtime = tfshare.GraphSession(device="cpu")
    clf = tfshare.DenseClassifier(4, 2, (4,), runtime=runtime, name="c", seed=0)
    clf.fit(np.zeros((2, 4), np.float32), np.zeros(2, np.int64))
    clf.save(tmp_path / "ckpt")
    tfshare.save_runtime([clf], tmp_path / "r.npz")
    (clf if what == "classifier" else runtime).close()
    uses = _uses(clf, tmp_path)
    if what == "classifier":
        uses["enter"] = clf.__enter__
    for name, use in uses.items():
        # The message says which of the two was closed.
        closed = "classifier 'c'" if what == "classifier" else "the runtime of classifier 'c'"
        with pytest.raises(tfshare.ClosedError, match=rf"^{closed} is closed$"):
            use()
            pytest.fail(f"{name} after close did not raise")
    runtime.close()


def test_runtime_use_after_close_raises_closed_error():
    runtime = tfshare.GraphSession(device="cpu")
    clf = tfshare.DenseClassifier(4, 2, (4,), runtime=runtime, seed=0)
    fn = runtime.callable([clf.probabilities_tensor], [clf.input_tensor])
    runtime.close()
    for use in (
        lambda: runtime.session,
        lambda: runtime.run(clf.probabilities_tensor, {clf.input_tensor: np.zeros((1, 4), np.float32)}),
        lambda: runtime.callable([clf.probabilities_tensor], [clf.input_tensor]),
        lambda: fn(np.zeros((1, 4), np.float32)),
        lambda: runtime.initialize(),
        lambda: runtime.finalize(),
        lambda: runtime.building().__enter__(),
        lambda: tfshare.DenseClassifier(4, 2, (4,), runtime=runtime),
        lambda: tfshare.SharedTrunk(runtime, 4, (4,)),
        lambda: runtime.__enter__(),
    ):
        with pytest.raises(tfshare.ClosedError):
            use()


@pytest.mark.parametrize("method", ["predict_proba", "predict", "fit"])
def test_a_runtime_closed_during_a_call_raises_closed_error(monkeypatch, method):
    """The hot paths call raw TF callables: their CancelledError becomes ClosedError naming the classifier."""
    runtime = tfshare.GraphSession(device="cpu")
    clf = tfshare.DenseClassifier(4, 2, (4,), runtime=runtime, name="c", seed=0)
    x, y = np.zeros((4, 4), np.float32), np.arange(4) % 2
    use = (lambda: clf.fit(x, y)) if method == "fit" else (lambda: getattr(clf, method)(x))
    armed = []
    # Once armed, a call first closes the runtime, as another thread's close() racing the call would:
    # TensorFlow's callable then raises CancelledError.
    before_raw_calls(runtime, monkeypatch, lambda: armed and runtime.close())
    use(), use()  # the second call of a prediction takes the cached callable
    armed.append(True)
    with pytest.raises(tfshare.ClosedError, match=r"^classifier 'c' or its runtime is closed$"):
        use()
    assert runtime.closed and not clf.closed


def test_close_releases_the_session_and_twice_is_harmless():
    clf = tfshare.DenseClassifier(4, 2, (4,), seed=0)
    clf.predict(np.zeros((1, 4), np.float32))
    session = clf.runtime.session
    clf.close()
    assert clf.runtime.closed and not clf.runtime.has_session
    with pytest.raises(RuntimeError, match="closed Session"):
        session.run(clf.probabilities_tensor, {clf.input_tensor: np.zeros((1, 4), np.float32)})
    clf.close()
    clf.runtime.close()


def test_closing_a_shared_classifier_leaves_the_runtime_and_others_open():
    with tfshare.GraphSession(device="cpu") as runtime:
        a = tfshare.DenseClassifier(4, 2, (4,), runtime=runtime, seed=0)
        b = tfshare.DenseClassifier(4, 2, (4,), runtime=runtime, seed=1)
        a.close()
        assert not runtime.closed
        assert b.predict(np.zeros((1, 4), np.float32)).shape == (1,)
    assert runtime.closed


def test_context_managers_close():
    with tfshare.DenseClassifier(4, 2, (4,), seed=0) as clf:
        clf.predict(np.zeros((1, 4), np.float32))
    assert clf.runtime.closed
    with pytest.raises(tfshare.ClosedError):
        clf.predict(np.zeros((1, 4), np.float32))
    with tfshare.GraphSession(device="cpu") as runtime:
        pass
    assert runtime.closed
    with tfshare.EagerDenseClassifier(4, 2, (4,), seed=0) as eager:
        pass
    with pytest.raises(tfshare.ClosedError):
        eager.predict(np.zeros((1, 4), np.float32))


@pytest.mark.slow
def test_200_build_close_cycles_keep_memory_and_op_counts_bounded():
    figures = lifecycle.lifecycle_drill(cycles=200)
    assert figures.model == "mlp"
    assert figures.rss_growth_mb < 50, figures
    assert figures.ops_per_graph[0] == figures.ops_per_graph[1], figures
    assert figures.closed_errors == 200
    assert figures.runtimes_alive == 0
    assert figures.default_graph_ops_added == 0


def test_cnn_build_close_cycles_release_everything():
    figures = lifecycle.lifecycle_drill(models.model("cnn", filters=(4,)), cycles=10, warmup=2)
    assert figures.model == "cnn"
    assert figures.ops_per_graph[0] == figures.ops_per_graph[1] > 34, figures  # more ops than the MLP's graph
    assert figures.closed_errors == 10
    assert figures.runtimes_alive == 0
    assert figures.default_graph_ops_added == 0
    assert figures.passed, figures


def _every_class(tmp_path):
    """Builds and uses every tfshare class and entry point; returns nothing."""
    x = np.random.default_rng(0).random((8, 16), dtype=np.float32)
    y = np.arange(8) % 3
    with tfshare.GraphSession(device="cpu") as gs:
        shared = tfshare.SharedTrunk(gs, 16, (8,), seed=0)
        template = tfshare.TemplateTrunk(gs, 16, (8,), seed=0)
        heads = [
            tfshare.DenseClassifier(trunk=shared, num_classes=3, name="a"),
            tfshare.DenseClassifier(trunk=template, num_classes=3, name="b"),
            tfshare.DenseClassifier(16, 3, runtime=gs, name="c"),
        ]
        with tfshare.DenseClassifier(16, 3, name="d") as isolated:
            for clf in heads + [isolated]:
                clf.fit(x, y)
                clf.evaluate(x, y)
                clf.predict(x)
                clf.restore(clf.save(tmp_path / clf.name))
        tfshare.restore_runtime(heads, tfshare.save_runtime(heads, tmp_path / "r.npz"))
        shared(shared.input)  # apply the trunk to another tensor of its graph
        gs.finalize()
        gs.export_graph(str(tmp_path / "graph"))
    eager_trunk = tfshare.EagerTrunk(16, (8,), seed=0)
    for eager in (
        tfshare.EagerDenseClassifier(16, 3, seed=0),
        tfshare.EagerDenseClassifier(trunk=eager_trunk, num_classes=3, use_tf_function=True, seed=0),
    ):
        eager.fit(x, y)
        eager.evaluate(x, y)
        eager.predict(x)
        eager.restore(eager.save(tmp_path / "eager"))


def test_no_class_adds_to_the_default_graph(tmp_path):
    # The autouse fixture also checks TF's global default graph around every test.
    before = len(tf1.get_default_graph().get_operations())
    _every_class(tmp_path)
    assert len(tf1.get_default_graph().get_operations()) == before


def test_no_class_adds_to_a_users_graph_context(tmp_path):
    user_graph = tf.Graph()
    with user_graph.as_default():
        tf1.placeholder(tf.float32, [None], name="users_own")
        _every_class(tmp_path)
    assert [op.name for op in user_graph.get_operations()] == ["users_own"]


@pytest.mark.parametrize("kwargs, error, match", [
    ({"cycles": 0}, tfshare.InputError, "cycles must be an int >= 1, got 0"),
    ({"cycles": 1, "warmup": -1}, tfshare.InputError, "warmup must be an int >= 0, got -1"),
    ({"cycles": 2.0}, TypeError, "cycles must be an int >= 1, got float 2.0"),
], ids=["no-cycles", "negative-warmup", "float-cycles"])
def test_lifecycle_drill_checks_its_counts_first(kwargs, error, match):
    before = len(tf1.get_default_graph().get_operations())
    with pytest.raises(error, match=match):
        lifecycle.lifecycle_drill(**kwargs)
    assert len(tf1.get_default_graph().get_operations()) == before
