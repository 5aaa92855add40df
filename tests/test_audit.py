"""tfshare.audit: its numbers against TensorFlow's own introspection, per code shape."""

from __future__ import annotations

import gc
import importlib
import json
import weakref

import numpy as np
import pytest

import tfshare
from tfshare._tf import keras, resource_variable_ops, tf, tf1, tf_session, tracing_compilation

audit_module = importlib.import_module("tfshare.audit")  # the attribute tfshare.audit is the function


def _global_variables(graph):
    return graph.get_collection(tf1.GraphKeys.GLOBAL_VARIABLES)


def _nbytes(variables) -> int:
    return sum(v.shape.num_elements() * v.dtype.size for v in variables)


def _live_variables() -> dict[int, object]:
    """Every live variable that owns storage, found by the garbage collector (not by the audit)."""
    gc.collect()
    return {
        id(o): o
        for o in gc.get_objects()
        if isinstance(o, tf.Variable) and not isinstance(o, resource_variable_ops._UnreadVariable)
    }


def _mlp(inputs, num_classes: int):
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    return keras.layers.Dense(num_classes)(hidden)


def _patched_attributes():
    import tfshare.classifiers
    import tfshare.eager

    targets = [
        (tf.Graph, "__init__"),
        (tf.Graph, "_add_op"),
        (type(tf.Variable), "__call__"),
        (tf_session.BaseSession, "__init__"),
        (keras.Model, "__init__"),
        (tfshare.classifiers.DenseClassifier, "__init__"),
        (tfshare.eager.EagerDenseClassifier, "__init__"),
        (tracing_compilation, "_create_concrete_function"),
    ]
    return {f"{owner.__name__}.{name}": vars(owner).get(name) for owner, name in targets}


# ------------------------------------------------------------- code shapes
def test_graph_mode_keras_models_match_graph_introspection():
    with tfshare.audit() as report:
        graph = tf.Graph()
        with graph.as_default():
            x = keras.Input((8,))
            model_a = keras.Model(x, _mlp(x, 3))
            model_b = keras.Model(x, _mlp(x, 5))
    variables = _global_variables(graph)
    assert report.graphs_created == 1
    assert report.ops_added == len(graph.get_operations()) > 0
    assert report.ops_by_graph == {"new graph 1": len(graph.get_operations())}
    assert report.variables_created == len(variables) == 8
    assert report.variable_bytes == _nbytes(variables)
    assert report.models_created == 2
    assert report.shared_variables == 0
    assert report.sessions_created == 0
    assert report.function_traces == 0
    assert {id(v) for v in model_a.variables + model_b.variables} == {id(v) for v in variables}


def test_eager_keras_model_builds_no_graph(rng):
    default_ops = len(tf1.get_default_graph().get_operations())
    before = _live_variables()
    with tfshare.audit() as report:
        x = keras.Input((8,))
        model = keras.Model(x, _mlp(x, 3))
        model(rng.normal(size=(2, 8)).astype(np.float32))
    new = {k: v for k, v in _live_variables().items() if k not in before}
    assert report.graphs_created == 0
    assert report.ops_added == 0
    assert len(tf1.get_default_graph().get_operations()) == default_ops
    assert report.models_created == 1
    # The model's 4 weights, plus the step counters tf_keras gives an eager model.
    assert report.variables_created == len(new) >= len(model.variables) == 4
    assert report.variable_bytes == _nbytes(new.values())


def test_make_template_and_variable_scope_reuse_match_collections():
    def scale(x):
        w = tf1.get_variable("w", [4], initializer=tf1.ones_initializer())
        return x * w

    with tfshare.audit() as report:
        graph = tf.Graph()
        with graph.as_default():
            template = tf1.make_template("scale", scale)
            x = tf1.placeholder(tf.float32, [None, 4])
            template(x)
            template(x + 1.0)  # second call: new ops, same variable
            with tf1.variable_scope("head"):
                tf1.get_variable("b", [3, 2])
            with tf1.variable_scope("head", reuse=True):
                tf1.get_variable("b", [3, 2])  # reused, not created
            v = _global_variables(graph)[0]
            v.assign(tf.zeros([4]))  # returns a view of v, not a new variable
    variables = _global_variables(graph)
    assert report.graphs_created == 1
    assert report.ops_added == len(graph.get_operations())
    assert report.variables_created == len(variables) == 2
    assert report.variable_bytes == _nbytes(variables) == (4 + 6) * 4
    assert report.models_created == 0


def test_tf_function_methods_trace_per_instance():
    class Scorer:
        def __init__(self) -> None:
            self.w = tf.Variable(tf.ones([4, 2]))

        @tf.function
        def score(self, x):
            return tf.matmul(x, self.w)

    scorers = [Scorer() for _ in range(3)]
    with tfshare.audit() as report:
        for scorer in scorers:
            scorer.score(tf.ones([1, 4]))
            scorer.score(tf.ones([1, 4]))  # same signature: no new trace
        scorers[0].score(tf.ones([2, 4]))  # new shape: retrace
    counts = [s.score.experimental_get_tracing_count() for s in scorers]
    assert counts == [2, 1, 1]
    assert report.function_traces == sum(counts) == 4
    assert report.traced_functions == 3
    assert report.traces_by_function == {"test_tf_function_methods_trace_per_instance.<locals>.Scorer.score": 4}
    assert report.graphs_created == 0 and report.ops_added == 0  # FuncGraphs are traces, not graphs


def test_hand_opened_sessions_are_counted():
    graph = tf.Graph()
    with graph.as_default():
        c = tf.constant(2.0)
    with tfshare.audit() as report:
        with tf1.Session(graph=graph) as session:
            assert session.run(c) == 2.0
        session = tf1.Session(graph=graph)
        session.close()
        runtime = tfshare.GraphSession(device="cpu")
        runtime.session  # created lazily, on first access
        runtime.close()
    assert report.sessions_created == 3
    assert report.graphs_created == 1  # the GraphSession's
    assert report.ops_added == 0


def test_ops_added_to_graphs_that_existed_before(runtime):
    first = tfshare.DenseClassifier(input_dim=8, num_classes=3, hidden_units=(4,), runtime=runtime)
    before = len(runtime.graph.get_operations())
    with tfshare.audit() as report:
        tfshare.DenseClassifier(input_dim=8, num_classes=3, hidden_units=(4,), runtime=runtime)
        first.evaluate(np.zeros((2, 8), np.float32), np.zeros(2, np.int64))  # builds the eval ops lazily
    assert report.graphs_created == 0
    assert report.ops_by_graph == {"existing graph 1": len(runtime.graph.get_operations()) - before}
    assert report.ops_added > 0
    assert report.variables_created == 4
    assert report.models_created == 1
    assert report.sessions_created == 1  # the runtime's Session, first used by evaluate


@pytest.fixture
def fresh_default_graph():
    tf1.reset_default_graph()
    yield tf1.get_default_graph()
    tf1.reset_default_graph()


@pytest.mark.uses_default_graph
def test_ops_added_to_the_default_graph(fresh_default_graph):
    with tfshare.audit() as report:
        # Eager is on, so TF1-style code enters the (global) default graph to build in it.
        with tf1.get_default_graph().as_default():
            x = tf1.placeholder(tf.float32, [None, 3])
            keras.layers.Dense(2)(x)
    assert report.graphs_created == 0
    assert report.ops_by_graph == {"default graph": len(fresh_default_graph.get_operations())}
    assert report.variables_created == len(_global_variables(fresh_default_graph)) == 2


def test_graph_entered_before_the_audit_is_its_default_graph():
    graph = tf.Graph()
    with graph.as_default():
        with tfshare.audit() as report:
            tf.constant(1.0)
            with tf.Graph().as_default():
                tf.constant(1.0)
                tf.constant(2.0)
    assert report.ops_by_graph == {"default graph": 1, "new graph 1": 2}


# ------------------------------------------------------- models and sharing
def test_reused_layer_object_shares_its_variables():
    with tfshare.audit() as report:
        with tf.Graph().as_default():
            shared = keras.layers.Dense(16, activation="relu")
            xa, xb = keras.Input((8,)), keras.Input((8,))
            model_a = keras.Model(xa, keras.layers.Dense(3)(shared(xa)))
            model_b = keras.Model(xb, keras.layers.Dense(5)(shared(xb)))
    assert report.models_created == 2
    assert report.variables_created == 6
    assert report.shared_variables == 2
    assert report.shared_variable_bytes == (8 * 16 + 16) * 4
    in_both = {id(v) for v in model_a.variables} & {id(v) for v in model_b.variables}
    assert in_both == {id(shared.kernel), id(shared.bias)}


class _Subclassed(keras.Model):
    def __init__(self) -> None:
        super().__init__()
        self.dense = keras.layers.Dense(3)

    def call(self, x):
        return self.dense(x)


@pytest.mark.parametrize(
    "make",
    [
        lambda: (lambda x: keras.Model(x, keras.layers.Dense(3)(x)))(keras.Input((4,))),
        lambda: keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)]),
        _Subclassed,
    ],
    ids=["functional", "sequential", "subclassed"],
)
def test_every_kind_of_keras_model_counts_once(make):
    with tfshare.audit() as report:
        with tf.Graph().as_default():
            model = make()
    assert report.models_created == 1
    assert isinstance(model, keras.Model)


@pytest.mark.parametrize("trunk_class", [tfshare.SharedTrunk, tfshare.TemplateTrunk], ids=["shared", "template"])
def test_tfshare_trunks_share_their_variables(runtime, trunk_class):
    with tfshare.audit() as report:
        trunk = trunk_class(runtime, input_dim=8, hidden_units=(4,))
        heads = [tfshare.DenseClassifier(num_classes=3, trunk=trunk) for _ in range(3)]
    assert report.models_created == 3
    assert report.variables_created == len(runtime.global_variables()) == 2 + 3 * 2
    assert report.shared_variables == len(trunk.variables) == 2
    assert report.shared_variable_bytes == _nbytes(trunk.variables)
    assert all(set(map(id, trunk.variables)) <= set(map(id, h.variables)) for h in heads)


def test_tfshare_classifiers_count_as_models_and_failed_constructions_do_not():
    with tfshare.audit() as report:
        graph_clf = tfshare.DenseClassifier(input_dim=8, num_classes=3, hidden_units=(4,))
        eager_clf = tfshare.EagerDenseClassifier(input_dim=8, num_classes=3, hidden_units=(4,))
        with pytest.raises(tfshare.InputError, match="num_classes"):
            tfshare.DenseClassifier(input_dim=8, num_classes=1)
    assert report.models_created == 2
    assert report.graphs_created == 1  # the isolated classifier's own graph
    assert report.shared_variables == 0
    assert report.variables_created == len(graph_clf.variables) + len(eager_clf.variables)
    graph_clf.close()


# ------------------------------------------------------------- the mechanism
def test_patches_are_restored_on_exit_and_when_the_block_raises():
    original = _patched_attributes()
    with tfshare.audit():
        assert audit_module.is_active()
        assert _patched_attributes() != original
    assert _patched_attributes() == original
    with pytest.raises(ZeroDivisionError):
        with tfshare.audit() as report:
            tf.Graph()
            1 / 0
    assert _patched_attributes() == original
    assert not audit_module.is_active()
    assert report.graphs_created == 1  # frozen despite the error


def test_nested_audits_each_count_what_happens_inside_them():
    original = _patched_attributes()
    with tfshare.audit() as outer:
        tf.Graph()
        with tfshare.audit() as inner:
            with tf.Graph().as_default():
                tf.Variable(tf.zeros([3]))
        assert audit_module.is_active()  # the outer audit still counts
        tf.Variable(tf.zeros([5]))
    assert _patched_attributes() == original
    assert (inner.graphs_created, inner.variables_created, inner.variable_bytes) == (1, 1, 12)
    assert (outer.graphs_created, outer.variables_created, outer.variable_bytes) == (2, 2, 32)
    assert outer.ops_added == inner.ops_added > 0


def test_the_audit_keeps_nothing_alive():
    with tfshare.audit() as report:
        graph = tf.Graph()
        with graph.as_default():
            x = keras.Input((4,))
            model = keras.Model(x, keras.layers.Dense(2)(x))
    refs = [weakref.ref(graph), weakref.ref(model)]
    del graph, model, x
    gc.collect()
    assert [r() for r in refs] == [None, None]
    assert report.graphs_created == 1 and report.models_created == 1


def test_the_report_is_live_inside_the_block_and_frozen_after():
    with tfshare.audit() as report:
        assert report.graphs_created == 0
        tf.Graph()
        assert report.graphs_created == 1
    tf.Graph()
    assert report.graphs_created == 1
    assert report.seconds > 0


def test_as_dict_is_plain_numbers_and_str_is_a_table():
    with tfshare.audit() as report:
        with tf.Graph().as_default():
            tf.Variable(tf.zeros([2, 2]))
    numbers = report.as_dict()
    assert json.loads(json.dumps(numbers)) == numbers
    assert set(numbers) >= {
        "graphs_created", "ops_added", "ops_by_graph", "variables_created", "variable_bytes",
        "models_created", "shared_variables", "sessions_created", "function_traces", "seconds",
    }
    text = str(report)
    for row in ("graphs created", "ops added", "variables created", "models created",
                "shared variables", "sessions created", "function traces"):
        assert row in text
    assert "new graph 1: " in text and "16 B" in text



def test_a_wrapper_left_behind_by_an_interleaved_patch_does_not_count_twice():
    # Someone patches BaseSession.__init__ on top of the audit's wrapper and
    # undoes it only after the audit ended: the audit's wrapper stays installed.
    # A later audit wraps it again; each graph must still count once.
    session_init = tf_session.BaseSession.__dict__["__init__"]
    try:  # TensorFlow's entry point is put back whatever happens
        with tfshare.audit():
            ours = tf_session.BaseSession.__dict__["__init__"]
            tf_session.BaseSession.__init__ = lambda self, *a, **k: ours(self, *a, **k)
        tf_session.BaseSession.__init__ = ours  # the other patch is undone: ours is left behind
        with tfshare.audit() as report:
            tf1.Session(graph=tf.Graph()).close()
        assert report.sessions_created == 1
    finally:
        tf_session.BaseSession.__init__ = session_init


def test_a_graph_the_audit_cannot_read_is_logged_and_the_block_goes_on(monkeypatch, caplog):
    def broken(*_, **__):
        raise RuntimeError("an unreadable graph")

    monkeypatch.setattr(importlib.import_module("tfshare.audit.report"), "analyze", broken)
    with caplog.at_level("WARNING", logger="tfshare.audit.report"):
        with tfshare.audit() as report:
            with tf.Graph().as_default():
                tf.Variable(tf.zeros([2]))
    assert report.graphs_created == 1 and report.variables_created == 1 and report.findings == []
    assert "could not read the sharing of new graph 1" in caplog.text
