"""Fed initial values: one placeholder per kernel, the keras initializer's values fed at init."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest

import tfshare
from tfshare import initial_values
from tfshare._tf import keras, tf, tf1


def test_a_kernels_initializer_reads_a_placeholder_and_no_random_op(runtime):
    clf = tfshare.DenseClassifier(runtime=runtime, seed=0)
    kernel = clf.named_variables["hidden_0/kernel"]
    assert kernel.initializer.inputs[1].op.type == "Placeholder"
    types = {op.type for op in runtime.graph.get_operations()}
    assert not any("Random" in t for t in types)
    assert len(runtime.graph.get_operations()) == 34


def test_initialize_feeds_the_keras_initializers_values(runtime):
    clf = tfshare.DenseClassifier(runtime=runtime, seed=3)
    runtime.initialize()
    kernel = runtime.run(clf.named_variables["hidden_0/kernel"])
    np.testing.assert_array_equal(kernel, keras.initializers.GlorotUniform(seed=3)((784, 64)).numpy())
    head = runtime.run(clf.named_variables["head/kernel"])
    np.testing.assert_array_equal(head, keras.initializers.GlorotUniform(seed=4)((64, 10)).numpy())


def test_running_the_initializers_needs_the_feeds(runtime):
    clf = tfshare.DenseClassifier(runtime=runtime, seed=0)
    ops = [v.initializer for v in clf.variables]
    with pytest.raises(tf.errors.InvalidArgumentError, match="must feed a value for placeholder"):
        runtime.session.run(ops)
    feeds = runtime.initial_value_feeds(clf.variables)
    assert len(feeds) == 2  # the two kernels; biases start from a constant
    runtime.session.run(ops, feeds)
    eager = tfshare.EagerDenseClassifier(seed=0)
    for value, var in zip(runtime.session.run(clf.variables), eager.variables):
        np.testing.assert_array_equal(value, var.numpy())


def test_unseeded_classifiers_start_from_different_weights(runtime):
    a, b = (tfshare.DenseClassifier(runtime=runtime) for _ in range(2))
    runtime.initialize()
    assert not np.array_equal(*runtime.run([a.named_variables["head/kernel"], b.named_variables["head/kernel"]]))


def test_a_fed_initializer_serves_one_variable():
    init = initial_values.FedInitializer(lambda: initial_values.glorot_uniform(0))
    graph = tf1.Graph()
    with graph.as_default():
        init((3, 2))
        with pytest.raises(RuntimeError, match=r"^a FedInitializer initializes one variable; make one per variable$"):
            init((3, 2))
    np.testing.assert_array_equal(init.value(), keras.initializers.GlorotUniform(seed=0)((3, 2)).numpy())


@pytest.mark.parametrize("dtype", [tf.float64, tf.float16], ids=["float64", "float16"])
def test_a_fed_value_has_its_variables_dtype_and_shape(dtype):
    """``value()`` follows the placeholder's dtype, bound or built; a kept value (``set_value``, a whole model's
    weights) is cast to it, and one of another shape is refused naming both shapes."""
    graph = tf1.Graph()
    with graph.as_default():
        built = initial_values.FedInitializer(lambda: keras.initializers.Constant(0.5))
        built((3,), dtype=dtype)
        bound = initial_values.FedInitializer.bound(lambda: keras.initializers.Constant(0.5),
                                                    tf1.placeholder(dtype, (2, 3)))
    for init, shape in ((built, (3,)), (bound, (2, 3))):
        value = init.value()
        assert value.dtype == dtype.as_numpy_dtype and value.shape == shape
        np.testing.assert_array_equal(value, np.full(shape, 0.5))
    bound.set_value(np.arange(6, dtype=np.float32).reshape(2, 3) + 0.25)  # another dtype than the variable's
    kept = bound.value()
    assert kept.dtype == dtype.as_numpy_dtype
    np.testing.assert_array_equal(kept, (np.arange(6).reshape(2, 3) + 0.25).astype(dtype.as_numpy_dtype))
    with pytest.raises(ValueError, match=r"^initial value of shape \(3,\) for a variable of shape \(2, 3\)$"):
        bound.set_value(np.zeros(3))


def test_initial_values_refuse_a_variable_its_initializer_does_not_feed():
    graph = tf1.Graph()
    with graph.as_default():
        feeds = initial_values.FedInitializer(lambda: keras.initializers.Zeros())
        variable = tf1.Variable(feeds((2,)), use_resource=True, name="v")
        other = initial_values.FedInitializer(lambda: keras.initializers.Zeros())
        other((2,))
    table = initial_values.InitialValues()
    for unrelated in (other, initial_values.FedInitializer(lambda: keras.initializers.Zeros())):  # no placeholder yet
        with pytest.raises(ValueError, match=r"^variable 'v:0' was not initialized from this FedInitializer's placeholder$"):
            table.add(variable, unrelated)
    table.add(variable, feeds)
    assert list(table.feeds([variable])) == [feeds.placeholder]


def test_running_the_initializers_by_hand_without_feeds_names_who_feeds_them(runtime):
    tfshare.DenseClassifier(runtime=runtime, seed=0)
    from tfshare._tf import tf, tf1

    with runtime.building():
        init = tf1.global_variables_initializer()
    with pytest.raises(tf.errors.InvalidArgumentError, match="initial_value_fed_by_GraphSession_initialize"):
        runtime.session.run(init)
    runtime.session.run(init, runtime.initial_value_feeds(runtime.global_variables()))  # the documented way


def test_a_seed_the_layer_fixed_wins_over_the_classifiers(runtime):
    """A kernel initializer the user seeded keeps its seed in every classifier (the first, built, and its graph
    copy); the head's, unseeded, follows each classifier's seed."""
    body = lambda: [keras.layers.Dense(4, kernel_initializer=keras.initializers.GlorotUniform(seed=42))]  # noqa: E731
    first, copy = (tfshare.Classifier(layers=body, input_shape=(6,), num_classes=3, runtime=runtime, seed=s)
                   for s in (0, 7))
    assert copy._copied
    runtime.initialize()
    expected = keras.initializers.GlorotUniform(seed=42)((6, 4)).numpy()
    for clf in (first, copy):
        np.testing.assert_array_equal(runtime.run(clf.named_variables["layer_0/kernel"]), expected)
    heads = runtime.run([first.named_variables["head/kernel"], copy.named_variables["head/kernel"]])
    np.testing.assert_array_equal(heads[1], keras.initializers.GlorotUniform(seed=8)((4, 3)).numpy())  # 7 + 1
    assert not np.array_equal(*heads)


class _Filled(keras.initializers.Initializer):
    """A seeded initializer whose config leaves out its constructor's arguments (the base class's {})."""

    def __init__(self, value, seed=None):
        self.value, self.seed = value, seed

    def __call__(self, shape, dtype=None, **kwargs):
        return tf.fill(shape, tf.constant(self.value, dtype or tf.float32))


def test_an_initializer_that_cannot_be_remade_keeps_its_own_values_and_says_so(runtime, caplog):
    init = _Filled(0.5)
    with caplog.at_level(logging.INFO, logger="tfshare.initial_values"):
        clf = tfshare.Classifier(layers=lambda: [keras.layers.Dense(4, kernel_initializer=init)], input_shape=(6,),
                                 num_classes=3, runtime=runtime, seed=0)
    runtime.initialize()
    np.testing.assert_array_equal(runtime.run(clf.named_variables["layer_0/kernel"]), np.full((6, 4), 0.5))
    logged = [r.getMessage() for r in caplog.records if r.name == "tfshare.initial_values"]
    assert len(logged) == 1 and re.fullmatch(
        rf"initializer {re.escape(repr(init))} keeps its own values: it cannot be remade from its config "
        r"\((_Filled\.)?__init__\(\) missing 1 required positional argument: 'value'\)", logged[0]), logged


def test_an_initializer_that_cannot_be_remade_takes_no_seed_offset_in_any_class(runtime):
    """The head's seed offset counts the reseeded initializers only: the graph classifier (body and head in one
    count), its eager twin, and heads on a SharedTrunk or an EagerTrunk of that body start bit-identical."""
    body = lambda: [keras.layers.Dense(2, kernel_initializer=_Filled(0.5))]  # noqa: E731
    graph = tfshare.Classifier(layers=body, input_shape=(3,), num_classes=2, runtime=runtime, seed=0)
    on_trunk = tfshare.Classifier(trunk=tfshare.SharedTrunk(runtime, layers=body, input_shape=(3,), seed=0),
                                  num_classes=2, seed=0)
    runtime.initialize()
    eager = tfshare.EagerClassifier(layers=body, input_shape=(3,), num_classes=2, seed=0)
    on_eager_trunk = tfshare.EagerClassifier(trunk=tfshare.EagerTrunk(layers=body, input_shape=(3,), seed=0),
                                             num_classes=2, seed=0)
    expected = graph.get_weights()
    for clf in (eager, on_trunk, on_eager_trunk):
        got = clf.get_weights()
        assert got.keys() == expected.keys()
        for key, value in expected.items():
            np.testing.assert_array_equal(got[key], value, err_msg=f"{clf.name}: {key}")
    np.testing.assert_array_equal(expected["head/kernel"], keras.initializers.GlorotUniform(seed=0)((2, 2)).numpy())


def test_creation_name_is_the_name_given_before_a_graph_numbers_it():
    """What weight keys are made of: "w" for a graph's "d/w_1", "Variable" for an unnamed one (TensorFlow's default),
    and a variable's own last name part when it was made outside ``creating`` (eagerly, nothing is renumbered)."""
    graph = tf.Graph()
    with graph.as_default(), initial_values.creating(seed=0), tf.name_scope("d/"):
        made = [tf.Variable(1.0, name="w"), tf.Variable(1.0, name="w"), tf.Variable(1.0), tf.Variable(1.0)]
    assert [v.name for v in made] == ["d/w:0", "d/w_1:0", "d/Variable:0", "d/Variable_1:0"]
    assert [initial_values.creation_name(v) for v in made] == ["w", "w", "Variable", "Variable"]
    with graph.as_default(), tf.name_scope("e/"):
        outside = tf.Variable(1.0, name="w_1")
    assert initial_values.creation_name(outside) == "w_1"
    assert initial_values.creation_name(tf.Variable(1.0, name="d/w_1")) == "w_1"
