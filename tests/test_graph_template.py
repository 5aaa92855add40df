"""Copied classifiers: the same ops, names and initial values as tf_keras builds, and their own variables."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest

import tfshare
from tfshare import _placement, graph_template
from tfshare._tf import keras, tf, tf1


def _nodes(runtime, scope):
    """{relative name: (op type, relative inputs, device, relative colocation, shared_name)} of a scope.

    An op colocated with a variable is placed with it, whatever its device
    field says (tf_keras leaves it empty, import_graph_def copies the
    variable's), so its device is not compared.
    """
    out = {}
    for op in runtime.graph.get_operations():
        if not op.name.startswith(scope):
            continue
        rel = lambda s: s.replace(scope, "")  # noqa: E731
        shared = op.get_attr("shared_name").decode() if op.type == "VarHandleOp" else None
        debug = op.node_def.attr["debug_name"].s.decode() if "debug_name" in op.node_def.attr else None
        out[rel(op.name)] = (
            op.type,
            [rel(t.name) for t in op.inputs],
            op.device if op.colocation_groups() == [b"loc:@" + op.name.encode()] else "colocated",
            [rel(g.decode()) for g in op.colocation_groups()],
            rel(shared) if shared is not None else None,
            rel(debug) if debug is not None else None,
        )
    return out


@pytest.mark.parametrize("with_trunk", [False, True], ids=["plain", "trunk"])
def test_a_copy_has_the_same_ops_as_the_tf_keras_built_classifier(runtime, with_trunk):
    if with_trunk:
        trunk = tfshare.SharedTrunk(runtime, 784, (16,), seed=0)
        first, second = (tfshare.DenseClassifier(trunk=trunk, name=f"c{i}", seed=i) for i in range(2))
    else:
        first, second = (tfshare.DenseClassifier(runtime=runtime, name=f"c{i}", seed=i) for i in range(2))
    assert first._head is not None and second._head is None  # keras-built, then copied
    a, b = _nodes(runtime, "c0/"), _nodes(runtime, "c1/")
    assert a == b and len(a) == (18 if with_trunk else 34)
    handles = [op for op in runtime.graph.get_operations() if op.type == "VarHandleOp"]
    shared_names = {op.get_attr("shared_name") for op in handles}
    assert b"c1/head/kernel" in shared_names and b"c0/head/kernel" in shared_names
    # TensorFlow's resource errors name a variable by its debug name (every supported TF has it): the copy's own.
    debug_names = {op.node_def.attr["debug_name"].s for op in handles}
    assert {b"c0/head/kernel/", b"c1/head/kernel/"} <= debug_names
    # A copy's variables carry their copied VarIsInitializedOp, as tf_keras's do: asking whether they are
    # initialized (a cluster's init check) adds no op, also on a finalized graph.
    ops_before = len(runtime.graph.get_operations())
    for variable in second.variables:
        flag = _placement._is_initialized_op(variable)
        assert flag.op.type == "VarIsInitializedOp" and flag.op.inputs[0] is variable.handle
    assert len(runtime.graph.get_operations()) == ops_before


def test_a_copy_has_its_own_variables_in_the_collections(runtime, data):
    first, second = (tfshare.DenseClassifier(runtime=runtime, seed=i) for i in range(2))
    assert {v.name for v in second.variables}.isdisjoint(v.name for v in first.variables)
    global_vars = {id(v) for v in runtime.graph.get_collection(tf1.GraphKeys.GLOBAL_VARIABLES)}
    trainable = {id(v) for v in runtime.graph.get_collection(tf1.GraphKeys.TRAINABLE_VARIABLES)}
    for v in second.variables:
        assert id(v) in global_vars and id(v) in trainable and v.initializer is not None
    before = runtime.run(first.variables)
    second.fit(data.x_train[:256], data.y_train[:256])
    for old, new in zip(before, runtime.run(first.variables)):
        np.testing.assert_array_equal(old, new)  # training the copy never moved the first
    assert not np.array_equal(runtime.run(second.variables)[0], before[0])


@pytest.mark.parametrize("dropout", [False, True], ids=["one_path", "training_path"])
def test_a_copys_layers_appear_when_fit_builds_them_bound_to_its_own_variables(runtime, rng, dropout):
    """A copy has no tf_keras layer objects (``layers`` is None) until fit builds a training path of its own
    (Dropout); from then on ``layers`` holds those, bound to the copy's own variables. A body that computes the same
    in both modes trains on the copied inference path: its layers stay None."""
    body = lambda: [keras.layers.Dense(4), *([keras.layers.Dropout(0.5)] if dropout else [])]  # noqa: E731
    first, copy = (tfshare.Classifier(layers=body, input_shape=(6,), num_classes=3, runtime=runtime, seed=i)
                   for i in range(2))
    assert copy._copied and copy.layers is None and len(first.layers) == len(body())
    copy.fit(rng.random((8, 6), dtype=np.float32), rng.integers(0, 3, 8))
    if not dropout:
        assert copy.layers is None
        return
    assert len(copy.layers) == len(body())
    assert [w for layer in copy.layers for w in layer.weights] == [
        copy.named_variables["layer_0/kernel"], copy.named_variables["layer_0/bias"]]
    assert copy.layers == copy.layers and copy.layers is not copy.layers  # a new list each time


def test_a_copy_starts_from_the_eager_twins_weights_and_predicts_like_session_run(runtime, data):
    tfshare.DenseClassifier(runtime=runtime, seed=0)
    copy = tfshare.DenseClassifier(runtime=runtime, seed=7)
    eager = tfshare.EagerDenseClassifier(seed=7)
    for graph_value, eager_var in zip(runtime.run(copy.variables), eager.variables):
        np.testing.assert_array_equal(graph_value, eager_var.numpy())
    x = data.x_test[:5]
    expected = runtime.run(copy.probabilities_tensor, {copy.input_tensor: x})
    np.testing.assert_allclose(copy.predict_proba(x), expected, atol=1e-6)
    np.testing.assert_allclose(copy.predict_proba(x), eager.predict_proba(x), atol=1e-6)


def test_a_copy_saves_and_restores(runtime, data, tmp_path):
    tfshare.DenseClassifier(runtime=runtime, seed=0)
    copy = tfshare.DenseClassifier(runtime=runtime, seed=1)
    copy.fit(data.x_train[:256], data.y_train[:256])
    expected = copy.predict_proba(data.x_test[:4])
    copy.save(str(tmp_path))
    with tfshare.DenseClassifier(seed=5) as other:
        other.restore(str(tmp_path))
        np.testing.assert_allclose(other.predict_proba(data.x_test[:4]), expected, atol=1e-6)


def test_different_architectures_and_trunks_get_their_own_template(runtime):
    trunk_a = tfshare.SharedTrunk(runtime, 784, (16,), seed=0)
    trunk_b = tfshare.SharedTrunk(runtime, 784, (16,), seed=1)
    a = tfshare.DenseClassifier(trunk=trunk_a, seed=0)
    b = tfshare.DenseClassifier(trunk=trunk_b, seed=0)  # another trunk: built by tf_keras
    c = tfshare.DenseClassifier(trunk=trunk_b, num_classes=3, seed=0)  # another head width: too
    d = tfshare.DenseClassifier(trunk=trunk_b, seed=1)  # a copy of b, reading trunk_b
    assert [x._head is not None for x in (a, b, c, d)] == [True, True, True, False]
    assert d.input_tensor is trunk_b.input
    assert d._template_key == b._template_key
    assert runtime.graph.get_operation_by_name(f"{d.name}/head/MatMul").inputs[0] is trunk_b.output


def test_an_isolated_classifier_never_serializes_a_template():
    with tfshare.DenseClassifier(seed=0) as clf:
        entries = graph_template._templates[clf.runtime]
        assert all(not isinstance(e, graph_template.Template) for e in entries.values())


def test_a_build_that_fails_midway_leaves_no_pending_variable(runtime, data, monkeypatch):
    from tfshare import initial_values

    first = tfshare.DenseClassifier(runtime=runtime, seed=0)
    first.predict_proba(data.x_test[:1])  # initialized

    def broken(*args, **kwargs):
        raise RuntimeError("interrupted while copying")

    with monkeypatch.context() as m:
        m.setattr(initial_values.FedInitializer, "bound", classmethod(broken))
        with pytest.raises(RuntimeError, match="interrupted while copying"):
            tfshare.DenseClassifier(runtime=runtime, seed=1)  # its variables were already in the collections
    assert runtime.pending_variables() == []
    second = tfshare.DenseClassifier(runtime=runtime, seed=2)  # a healthy copy
    for clf in (first, second):
        assert clf.predict_proba(data.x_test[:2]).shape == (2, 10)
    assert len(runtime.global_variables()) == 8


def test_a_callers_control_dependencies_do_not_reach_the_classifiers_ops(runtime):
    with runtime.graph.as_default():
        gate = tf1.no_op(name="gate")
        with tf1.control_dependencies([gate]):
            first = tfshare.DenseClassifier(runtime=runtime, seed=0)
            copy = tfshare.DenseClassifier(runtime=runtime, seed=1)
    for clf in (first, copy):
        ops = [op for op in runtime.graph.get_operations() if op.name.startswith(clf.name + "/")]
        assert ops and not [op for op in ops if gate in op.control_inputs]
    assert graph_template.find(runtime, copy._template_key) is not None  # the copy was a copy


def test_the_first_classifier_of_an_architecture_in_a_later_shard_is_a_copy(rng):
    """The template table is the root runtime's: a new shard's first classifier of a known architecture is an
    import_graph_def copy of the first shard's, not built again through tf_keras, with its own seeded weights."""
    with tfshare.GraphSession(device="cpu", shard_size=1) as gs:
        first, second = (tfshare.DenseClassifier(6, 3, (4,), runtime=gs, seed=i) for i in range(2))
        assert first.shard is gs and second.shard is gs.shards[1]
        assert first._head is not None and second._head is None and second._copied and not first._copied
        x = rng.random((5, 6), dtype=np.float32)
        with tfshare.GraphSession() as alone:
            np.testing.assert_array_equal(
                second.predict_proba(x), tfshare.DenseClassifier(6, 3, (4,), runtime=alone, seed=1).predict_proba(x))


def _ops_in_scope(build, scope="c/"):
    """Builds ``build(outside)`` under the name scope ``scope`` of a new graph, beside ops outside it.

    Returns:
      (graph, the ops in ``scope``, {role: tensor} of what build returned).
    """
    graph = tf.Graph()
    with graph.as_default():
        outside = tf.split(tf.constant([1.0, 2.0], name="outside"), 2, name="halves")
        with tf1.name_scope(scope):
            tensors = build(outside)
    return graph, [op for op in graph.get_operations() if op.name.startswith(scope)], tensors


@pytest.mark.parametrize("case, match", [
    ("constraint", r"^its variables \['kernel'\] have constraints, which a copy would lose$"),
    ("random_op", r"^its ops hold random ops \['RandomUniform'\], whose seeds a copy would repeat$"),
    ("truncated_normal", r"^its ops hold random ops \['Multinomial', 'StatelessRandomGetKeyCounter', "
                         r"'StatelessTruncatedNormalV2', 'TruncatedNormal'\], whose seeds a copy would repeat$"),
    ("outside_control_input", r"^op 'c/y' has a control input '\^outside' outside 'c/'$"),
])
def test_a_template_refuses_ops_a_copy_would_get_wrong(case, match):
    """Refused, a classifier's later twins are built through tf_keras instead (``find`` logs why)."""
    variables = {}

    def build(outside):
        if case == "constraint":
            variables["kernel"] = tf1.Variable(tf.zeros([2]), constraint=lambda w: w, use_resource=True, name="kernel")
            return {"x": variables["kernel"].value()}
        if case == "random_op":
            return {"x": tf.random.uniform([2], name="noise")}
        if case == "truncated_normal":  # a TF1 initializer's op, and other random ops without "Random" in their type
            noise = tf.random.truncated_normal([2]) + tf.random.stateless_truncated_normal([2], seed=[1, 2])
            return {"x": noise + tf.cast(tf1.multinomial(tf.zeros([1, 2]), 2)[0], tf.float32)}
        with tf.control_dependencies([outside[0].graph.get_operation_by_name("outside")]):
            return {"x": tf.identity(outside[1], name="y")}

    _, ops, tensors = _ops_in_scope(build)
    with pytest.raises(ValueError, match=match):
        graph_template.Template(ops, "c/", tensors, variables, {})


def test_a_copy_keeps_control_edges_inside_its_scope_and_reads_outputs_outside_it():
    """An op's control input from its own scope stays a control input (now from the copy's op); a data input
    from output 1 of an op in its scope reads the copy's op; one from outside (output 1 of an op there) is read
    by the copy as it is, not copied. The scope starts with "X", which no name-stripping may eat."""
    def build(outside):
        pair = tf.split(tf.stack([outside[1], outside[1] * 3.0]), 2, name="pair")
        first = tf.identity(pair[0], name="first")
        with tf.control_dependencies([first.op]):
            return {"x": tf.identity(pair[1], name="then")}

    graph, ops, tensors = _ops_in_scope(build, scope="Xc/")
    template = graph_template.Template(ops, "Xc/", tensors, {}, {})
    with graph.as_default():
        copied, _, _, _ = template.copy(graph, "Xd/", seed=0)
    then = graph.get_operation_by_name("Xd/then")
    assert copied["x"] is then.outputs[0]
    assert [op.name for op in then.control_inputs] == ["Xd/first"]
    assert [t.name for t in then.inputs] == ["Xd/pair:1"]
    assert [t.name for t in graph.get_operation_by_name("Xd/mul").inputs][0] == "halves:1"
    with tf1.Session(graph=graph) as session:
        assert session.run(copied["x"]).tolist() == [[6.0]]


def test_a_refused_template_is_logged_once_and_every_classifier_is_built(runtime, caplog):
    """Constrained kernels cannot be copied: each classifier of that body is built through tf_keras, and the log
    says why, once per runtime and body."""
    body = lambda: [keras.layers.Dense(4, kernel_constraint=keras.constraints.NonNeg())]  # noqa: E731
    with caplog.at_level(logging.INFO, logger="tfshare.graph_template"):
        made = [tfshare.Classifier(layers=body, input_shape=(6,), num_classes=3, runtime=runtime, seed=i)
                for i in range(3)]
    assert [clf._copied for clf in made] == [False, False, False]
    assert all(clf.layers[0].kernel.constraint is not None for clf in made)
    logged = [r.getMessage() for r in caplog.records if r.name == "tfshare.graph_template"]
    assert len(logged) == 1 and re.fullmatch(
        rf"{re.escape(str(runtime))}: classifiers of \(.*\) are built, not copied: "
        r"its variables \['layer_0/kernel'\] have constraints, which a copy would lose", logged[0]), logged


class _Applied(keras.layers.Layer):
    """Applies a Python function: its configuration cannot be serialized (``get_config`` raises)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def call(self, x):
        return self.fn(x)


def test_bodies_without_a_configuration_are_never_copied(runtime, rng):
    """Nothing tells two such bodies apart, so neither is a copy of the other: each computes its own layers."""
    first, second = (tfshare.Classifier(layers=lambda f=f: [_Applied(f), keras.layers.Dense(4)], input_shape=(6,),
                                        num_classes=3, runtime=runtime, seed=0)
                     for f in (lambda x: x, lambda x: -x))
    assert first._config.get("layers") is None and not second._copied  # no configuration digest
    x = rng.normal(size=(5, 6)).astype(np.float32)
    np.testing.assert_allclose(second.predict_proba(x), first.predict_proba(-x), atol=1e-6)  # the same seeded Dense


def test_classifiers_on_two_given_input_tensors_each_read_their_own(runtime, rng):
    """A given input is part of what a copy must share: the second classifier of an architecture on another
    tensor is not a copy that reads the first one's."""
    with runtime.building():
        a, b = (tf1.placeholder(tf.float32, [None, 6], name=n) for n in ("a", "b"))
    body = lambda: [keras.layers.Dense(4, activation="relu")]  # noqa: E731  (one body: only the input differs)
    first, second = (tfshare.Classifier(layers=body, input_shape=(6,), num_classes=3, runtime=runtime, input_tensor=t,
                                        seed=0) for t in (a, b))
    assert second.input_tensor is b and not second._copied
    xa, xb = rng.random((4, 6), dtype=np.float32), rng.random((4, 6), dtype=np.float32)
    got = runtime.run([first.probabilities_tensor, second.probabilities_tensor], {a: xa, b: xb})
    np.testing.assert_allclose(got[1], first.predict_proba(xb), atol=1e-6)  # same seed: the same weights
    np.testing.assert_allclose(got[0], first.predict_proba(xa), atol=1e-6)


def _graph_def_bytes(runtime):
    return runtime.graph.as_graph_def().SerializeToString(deterministic=True)


def test_a_copy_is_import_graph_defs_graph_byte_for_byte_without_its_per_op_pass(monkeypatch):
    """Copies import through TensorFlow's C API without import_graph_def's per-op Python pass (devices set again
    through device functions, colocation read per op), and end with the graph import_graph_def gives, byte for
    byte: the NodeDefs' devices, colocated ops' devices, names, inputs."""
    from tensorflow.python.framework import importer

    def build(runtime, seeds):
        trunk = tfshare.SharedTrunk(runtime, 784, (16,), seed=0)
        for seed in seeds:
            tfshare.DenseClassifier(runtime=runtime, seed=seed)
            tfshare.DenseClassifier(trunk=trunk, seed=seed)
            tfshare.ConvClassifier(runtime=runtime, seed=seed, filters=(4,))

    def reference(graph, graph_def, input_map, scope, colocated):  # TensorFlow's own import
        with graph.device(None):
            tf.graph_util.import_graph_def(graph_def, input_map=input_map, name=scope)

    passes = []
    process = importer._ProcessNewOps
    monkeypatch.setattr(importer, "_ProcessNewOps", lambda graph: passes.append(graph) or process(graph))
    lean_import = graph_template._import
    with tfshare.GraphSession(device="cpu", shard_size=None) as fast, \
            tfshare.GraphSession(device="cpu", shard_size=None) as scoped_per_op:
        build(fast, [0, 1])  # keras-built, then copies
        monkeypatch.setattr(graph_template, "_import", reference)
        build(scoped_per_op, [0, 1])
        monkeypatch.setattr(graph_template, "_import", lean_import)
        assert len(passes) == 3  # the three reference copies
        del passes[:]
        build(fast, [2])
        assert not passes
        monkeypatch.setattr(graph_template, "_import", reference)
        build(scoped_per_op, [2])
        assert len(passes) == 2  # (the head sits on a new trunk: built, not copied)
        assert _graph_def_bytes(fast) == _graph_def_bytes(scoped_per_op)
        colocated = [op for op in fast.graph.get_operations()
                     if any(g != b"loc:@" + op.name.encode() for g in op.colocation_groups())]
        assert colocated  # the comparison covered colocated ops
        x = np.random.default_rng(0).random((2, 784), np.float32)
        outputs = [[c.predict_proba(x) for c in gs.heads() if c.input_shape == (784,)] for gs in (fast, scoped_per_op)]
        for a, b in zip(*outputs):
            np.testing.assert_array_equal(a, b)
