"""DenseClassifier in every sharing mode: what is shared, what is built, what is learned."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import tfshare
from tfshare._tf import keras, tf, tf1
from conftest import assert_same_weights, before_raw_calls


def _ids(variables):
    return {id(v) for v in variables}


def test_two_classifiers_from_one_builder_share_one_graph_not_variables(runtime):
    a = tfshare.DenseClassifier(runtime=runtime, seed=0)
    b = tfshare.DenseClassifier(runtime=runtime, seed=1)
    assert a.runtime.graph is b.runtime.graph is runtime.graph
    assert a.runtime.session is b.runtime.session
    assert len(a.variables) == len(b.variables) == 4
    assert _ids(a.variables).isdisjoint(_ids(b.variables))
    assert a.name == "dense_classifier" and b.name == "dense_classifier_1"


def test_different_num_classes_share_nothing(runtime):
    a = tfshare.DenseClassifier(num_classes=10, runtime=runtime, seed=0)
    b = tfshare.DenseClassifier(num_classes=3, runtime=runtime, seed=0)
    assert _ids(a.variables).isdisjoint(_ids(b.variables))
    assert b.named_variables["head/kernel"].shape.as_list() == [64, 3]


def test_isolated_instances_have_their_own_graph_and_session():
    a, b = tfshare.DenseClassifier(seed=0), tfshare.DenseClassifier(seed=0)
    try:
        assert a.runtime is not b.runtime
        assert a.runtime.graph is not b.runtime.graph
        x = np.zeros((1, 784), np.float32)
        a.predict(x), b.predict(x)
        assert a.runtime.session is not b.runtime.session
        # Same seed, same architecture: the same function, in two graphs.
        np.testing.assert_array_equal(a.predict_proba(x), b.predict_proba(x))
    finally:
        a.close(), b.close()
    assert a.runtime.closed and b.runtime.closed


@pytest.mark.parametrize("trunk_cls", [tfshare.SharedTrunk, tfshare.TemplateTrunk], ids=["shared", "template"])
def test_trunk_variables_are_the_same_objects(runtime, trunk_cls):
    trunk = trunk_cls(runtime, 784, (32, 16), seed=0)
    a = tfshare.DenseClassifier(num_classes=10, trunk=trunk, seed=1)
    b = tfshare.DenseClassifier(num_classes=4, trunk=trunk, seed=2)
    trunk_keys = [f"hidden_{i}/{p}" for i in range(2) for p in ("kernel", "bias")]
    for key in trunk_keys:
        assert a.named_variables[key] is b.named_variables[key] is trunk.named_variables()[key]
    assert a.named_variables["head/kernel"] is not b.named_variables["head/kernel"]
    assert len(runtime.global_variables()) == 4 + 2 + 2  # trunk + two heads
    assert a.hidden_units == (32, 16) and a.input_dim == 784


@pytest.mark.parametrize("trunk_cls", [tfshare.SharedTrunk, tfshare.TemplateTrunk], ids=["shared", "template"])
def test_trunk_call_on_new_tensor_reuses_variables(runtime, trunk_cls):
    trunk = trunk_cls(runtime, 8, (4,), seed=0)
    n_vars = len(runtime.global_variables())
    with runtime.building():
        x = tf1.placeholder(tf.float32, [None, 8])
    y = trunk(x)
    assert len(runtime.global_variables()) == n_vars
    assert y.name.startswith(f"{trunk.name}/")  # the call's ops go in the trunk's name scope
    value = np.random.default_rng(0).random((3, 8), dtype=np.float32)
    a, b = runtime.run([y, trunk.output], {x: value, trunk.input: value})
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_a_trunk_lives_in_a_graph_session_and_takes_only_its_graphs_tensors(runtime):
    with pytest.raises(TypeError, match=r"^runtime must be a tfshare.GraphSession, got str; a trunk lives in one shared graph$"):
        tfshare.SharedTrunk("gs", 4, (3,))
    trunk = tfshare.SharedTrunk(runtime, 4, (3,))
    with tf.Graph().as_default():
        other = tf1.placeholder(tf.float32, [None, 4])
    with pytest.raises(tfshare.InputError, match=r"^x must be a tensor of GraphSession\(.*\)'s graph, got <tf.Tensor 'Placeholder:0'"):
        trunk(other)
    with pytest.raises(tfshare.InputError, match=r"^x must be a tensor of GraphSession\(.*\)'s graph, got array\("):
        trunk(np.zeros((1, 4), np.float32))  # not a tensor at all
    with pytest.raises(TypeError, match=r"^input_tensor must be a tensor of the runtime's graph, got numpy\.ndarray$"):
        tfshare.SharedTrunk(runtime, 4, (3,), input_tensor=np.zeros((1, 4), np.float32))


def test_a_trunk_on_a_shards_tensor_is_built_in_that_shard(rng):
    """input_tensor of a later shard's graph: the trunk goes to that shard, and its runtime is the root."""
    with tfshare.GraphSession(device="cpu", shard_size=1) as gs:
        first, second = (tfshare.DenseClassifier(4, 2, (3,), runtime=gs, seed=i) for i in range(2))
        assert second.shard is gs.shards[1] and first.shard is gs
        trunk = tfshare.SharedTrunk(gs, 4, (3,), input_tensor=second.input_tensor, seed=0)
        assert trunk.runtime is gs and trunk.shard is gs.shards[1] and trunk.input is second.input_tensor
        alone = tfshare.SharedTrunk(gs, 4, (3,), seed=0)
        assert alone.runtime is gs and alone.shard is gs.shards[2]
        x = rng.random((3, 4), dtype=np.float32)
        np.testing.assert_array_equal(gs.run(trunk.output, {trunk.input: x}), gs.run(alone.output, {alone.input: x}))


@pytest.mark.parametrize("trunk_cls", [tfshare.SharedTrunk, tfshare.TemplateTrunk], ids=["shared", "template"])
def test_a_trunks_training_path_is_its_own_only_when_a_layer_depends_on_the_mode(runtime, trunk_cls, rng):
    """Dense layers: the training path is the inference output. Dropout: its own path, built in the trunk's
    name scope, while a call on another tensor stays in inference mode (no learning-phase switch)."""
    plain = trunk_cls(runtime, 4, (3,), name="plain")
    assert plain.training_output is plain.output and plain.training_updates == []
    trunk = trunk_cls(runtime, layers=lambda: [keras.layers.Dense(6), keras.layers.Dropout(0.5)], input_shape=(4,),
                      name="dropping")
    training = trunk.training_output
    assert training is not trunk.output and training.name.startswith("dropping/")
    with runtime.building():
        x = tf1.placeholder(tf.float32, [None, 4])
    again = trunk(x)
    switches = [op.name for op in runtime.graph.get_operations() if op.type in ("If", "StatelessIf", "PlaceholderWithDefault")]
    assert switches == []
    value = rng.random((64, 4), dtype=np.float32) + 1.0
    called, inference, trained = runtime.run([again, trunk.output, training], {x: value, trunk.input: value})
    np.testing.assert_allclose(called, inference, atol=1e-6)
    assert np.mean(inference == 0) < 0.1 and 0.3 < np.mean(trained == 0) < 0.7  # Dropout in training only


@pytest.mark.parametrize("trunk_cls", [tfshare.SharedTrunk, tfshare.TemplateTrunk], ids=["shared", "template"])
def test_a_trunks_repr_names_its_kind_name_shape_and_config(runtime, trunk_cls):
    trunk = trunk_cls(runtime, 4, (3,), name="body")
    assert repr(trunk) == (f"{trunk_cls.__name__}(name='body', input_shape=(4,), "
                           "config={'input_dim': 4, 'hidden_units': [3]})")


@pytest.mark.parametrize(
    "mode", ["shared_trunk", "template_trunk", "separate"], ids=["shared-trunk", "template-trunk", "separate"]
)
def test_training_one_changes_the_other_only_when_sharing(runtime, data, mode):
    if mode == "separate":
        a = tfshare.DenseClassifier(runtime=runtime, seed=1)
        b = tfshare.DenseClassifier(runtime=runtime, seed=2)
    else:
        cls = tfshare.SharedTrunk if mode == "shared_trunk" else tfshare.TemplateTrunk
        trunk = cls(runtime, 784, (64,), seed=0)
        a = tfshare.DenseClassifier(trunk=trunk, seed=1)
        b = tfshare.DenseClassifier(trunk=trunk, seed=2)
    before = b.predict_proba(data.x_test)
    a.fit(data.x_train[:256], data.y_train[:256], epochs=1)
    change = np.abs(b.predict_proba(data.x_test) - before).max()
    if mode == "separate":
        assert change == 0.0
    else:
        assert change > 1e-4


def test_fit_predict_evaluate_add_no_ops_after_first_use(runtime, data, tmp_path):
    clf = tfshare.DenseClassifier(runtime=runtime, seed=0)
    clf.fit(data.x_train[:64], data.y_train[:64])
    clf.predict(data.x_test[:5]), clf.predict_proba(data.x_test[:5]), clf.evaluate(data.x_test, data.y_test)
    clf.save(runtime_tmp := str(tmp_path))
    clf.restore(runtime_tmp)
    ops = len(runtime.graph.get_operations())
    for _ in range(3):
        clf.fit(data.x_train[:64], data.y_train[:64], epochs=2, batch_size=16, learning_rate=1e-4)
        clf.predict(data.x_test[:7])
        clf.predict_proba(data.x_test)
        clf.evaluate(data.x_test, data.y_test)
        clf.save(runtime_tmp)
        clf.restore(runtime_tmp)
    assert len(runtime.graph.get_operations()) == ops


def test_learns_the_default_data(data):
    with tfshare.DenseClassifier(seed=0) as clf:
        history = clf.fit(data.x_train, data.y_train, epochs=4)
        result = clf.evaluate(data.x_test, data.y_test)
    assert len(history["loss"]) == len(history["accuracy"]) == 4
    assert history["loss"][-1] < history["loss"][0]
    assert result["accuracy"] >= 0.90


def test_prediction_shapes_dtypes_and_consistency(runtime, data):
    clf = tfshare.DenseClassifier(runtime=runtime, seed=0)
    proba = clf.predict_proba(data.x_test[:9])
    ids = clf.predict(data.x_test[:9])
    assert proba.shape == (9, 10) and proba.dtype == np.float32
    assert ids.shape == (9,) and ids.dtype == np.int64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(ids, proba.argmax(axis=1))
    ref = runtime.run(clf.probabilities_tensor, {clf.input_tensor: data.x_test[:9]})
    np.testing.assert_allclose(proba, ref, atol=1e-6)


def test_float64_and_int_inputs_give_the_float32_result(runtime, data):
    clf = tfshare.DenseClassifier(runtime=runtime, seed=0)
    x32 = data.x_test[:4]
    np.testing.assert_array_equal(clf.predict_proba(x32.astype(np.float64)), clf.predict_proba(x32))
    ints = (x32 > 0.5).astype(np.int32)
    np.testing.assert_array_equal(clf.predict_proba(ints), clf.predict_proba(ints.astype(np.float32)))
    np.testing.assert_array_equal(clf.predict_proba(x32.tolist()), clf.predict_proba(x32))


def test_empty_batch(runtime, data):
    clf = tfshare.DenseClassifier(runtime=runtime, num_classes=3, seed=0)
    assert clf.predict_proba(np.zeros((0, 784), np.float32)).shape == (0, 3)
    assert clf.predict(np.zeros((0, 784))).shape == (0,)
    with pytest.raises(tfshare.InputError, match=r"x must hold at least one row, got shape \(0, 784\)"):
        clf.fit(np.zeros((0, 784), np.float32), np.zeros((0,), np.int64))


def test_an_empty_batch_is_answered_without_a_tensorflow_call(runtime, monkeypatch, rng):
    """Also once the prediction callables are cached (the hot path), and while a one-row batch does call them."""
    calls, lookups = [], []
    before_raw_calls(runtime, monkeypatch, lambda: calls.append(1), lookups)
    clf = tfshare.DenseClassifier(4, 3, (5,), runtime=runtime, seed=0)
    one = rng.normal(size=(1, 4)).astype(np.float32)
    for _ in range(3):  # later calls take the raw callables cached by the first: no lookup in the runtime
        clf.predict_proba(one), clf.predict(one)
    assert len(calls) == 6 and len(lookups) == 2
    empty = np.zeros((0, 4), np.float32)
    proba, ids = clf.predict_proba(empty), clf.predict(empty)
    assert proba.shape == (0, 3) and proba.dtype == np.float32 and ids.shape == (0,) and ids.dtype == np.int64
    assert len(calls) == 6


def test_first_predictions_in_one_runtime_are_served_together(runtime, rng):
    """tfshare.fused.first_call: the first prediction of each classifier comes from one fused callable, released
    once every member had its first call; later ones from each classifier's own callable."""
    a, b = (tfshare.DenseClassifier(4, 3, (5,), runtime=runtime, seed=i) for i in range(2))
    x = rng.normal(size=(2, 4)).astype(np.float32)
    assert a.awaiting_first_call and b.awaiting_first_call
    first = a.predict_proba(x)
    assert not a.awaiting_first_call and b.awaiting_first_call
    b.predict_proba(x)
    assert not b.awaiting_first_call and len(runtime._callables) == 0
    np.testing.assert_allclose(a.predict_proba(x), first, atol=1e-6)
    assert len(runtime._callables) == 1


def test_save_restore_in_a_fresh_runtime_gives_identical_predictions(tmp_path, data):
    with tfshare.GraphSession(device="cpu") as gs:
        clf = tfshare.DenseClassifier(runtime=gs, seed=0)
        clf.fit(data.x_train[:512], data.y_train[:512])
        expected = clf.predict_proba(data.x_test)
        clf.save(str(tmp_path / "ck"))
    with tfshare.GraphSession(device="cpu") as gs:
        fresh = tfshare.DenseClassifier(runtime=gs, seed=99)
        assert not np.array_equal(fresh.predict_proba(data.x_test), expected)
        fresh.restore(str(tmp_path / "ck"))
        np.testing.assert_array_equal(fresh.predict_proba(data.x_test), expected)


def test_checkpoint_moves_between_sharing_modes(tmp_path, data):
    with tfshare.GraphSession(device="cpu") as gs:
        trunk = tfshare.TemplateTrunk(gs, 784, (64,), seed=0)
        clf = tfshare.DenseClassifier(trunk=trunk, seed=1)
        clf.fit(data.x_train[:256], data.y_train[:256])
        expected = clf.predict_proba(data.x_test)
        clf.save(str(tmp_path / "ck"))
    with tfshare.DenseClassifier(seed=5) as isolated:
        isolated.restore(str(tmp_path / "ck"))
        np.testing.assert_allclose(isolated.predict_proba(data.x_test), expected, atol=1e-6)


def test_restore_rejects_other_architecture(tmp_path, runtime):
    tfshare.DenseClassifier(runtime=runtime, hidden_units=(32,), seed=0).save(str(tmp_path / "ck"))
    other = tfshare.DenseClassifier(runtime=runtime, hidden_units=(64,), seed=0)
    with pytest.raises(tfshare.CheckpointError, match=r"saved with hidden_units=\[32\].*has hidden_units=\[64\]"):
        other.restore(str(tmp_path / "ck"))


def test_use_after_close(runtime, data):
    clf = tfshare.DenseClassifier(runtime=runtime, seed=0)
    clf.close()
    with pytest.raises(tfshare.ClosedError, match="is closed"):
        clf.predict(data.x_test[:1])
    assert not runtime.closed  # a shared runtime outlives its classifiers


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"num_classes": 1}, tfshare.InputError, "num_classes must be an int >= 2, got 1"),
        ({"input_dim": 0}, tfshare.InputError, "input_dim must be an int >= 1, got 0"),
        ({"hidden_units": (64, 0)}, tfshare.InputError, r"hidden_units\[1\] must be an int >= 1, got 0"),
        ({"hidden_units": "64"}, TypeError, "hidden_units must be a sequence of ints"),
        ({"seed": -1}, tfshare.InputError, r"seed must be in \[0, 2\*\*31\), got -1"),
        ({"name": "a b"}, tfshare.InputError, "name must match"),
        ({"runtime": "gs"}, TypeError, "runtime must be a tfshare.GraphSession or None, got str"),
        ({"trunk": object()}, TypeError, "trunk must be a SharedTrunk or TemplateTrunk, got object$"),
    ],
    ids=["one-class", "zero-dim", "zero-units", "str-units", "neg-seed", "bad-name", "bad-runtime", "bad-trunk"],
)
def test_bad_constructor_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        tfshare.DenseClassifier(**kwargs)


def test_the_shipped_mlp_architecture():
    """architectures.dense: Dense(relu) layers named hidden_i, its checkpoint config and key; () is a linear body."""
    arch = tfshare.architectures.dense(4, (3, 2))
    layers = arch.make_layers()
    assert [layer.name for layer in layers] == ["hidden_0", "hidden_1"] and [layer.units for layer in layers] == [3, 2]
    assert all(layer.activation is keras.activations.relu for layer in layers)
    assert arch.config == {"input_dim": 4, "hidden_units": [3, 2]} and arch.input_shape == (4,)
    assert arch.key == ("dense", 4, (3, 2)) and arch.named
    assert tfshare.architectures.dense(4, ()).make_layers() == []


def test_trunk_mismatch_is_a_clear_error(runtime):
    trunk = tfshare.SharedTrunk(runtime, 20, (8,))
    with pytest.raises(tfshare.InputError, match=r"input_dim must match the trunk's input_dim 20, got 784"):
        tfshare.DenseClassifier(input_dim=784, trunk=trunk)
    with pytest.raises(tfshare.InputError, match=r"hidden_units must match the trunk's hidden_units \(8,\), got \(4,\)"):
        tfshare.DenseClassifier(hidden_units=(4,), trunk=trunk)
    other = tfshare.GraphSession(device="cpu")
    with pytest.raises(tfshare.InputError, match="runtime must be the trunk's runtime"):
        tfshare.DenseClassifier(trunk=trunk, runtime=other)
    other.close()
    assert tfshare.DenseClassifier(num_classes=3, trunk=trunk).input_dim == 20


def _body():
    return [keras.layers.Dense(3)]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(input_dim=4, hidden_units=(3,), layers=_body, input_shape=(4,)),
         r"^give either layers= with input_shape=, or input_dim and hidden_units, not both \(got input_dim=4, hidden_units=\(3,\)\)$"),
        (dict(hidden_units=(3,), layers=_body, input_shape=(4,)), r"not both \(got input_dim=None, hidden_units=\(3,\)\)$"),
        (dict(input_dim=4, layers=_body, input_shape=(4,)), r"not both \(got input_dim=4, hidden_units=None\)$"),
        (dict(layers=_body), r"^input_shape is required with layers=, e.g. input_shape=\(28, 28, 1\)$"),
        (dict(input_dim=4), r"^a trunk needs layers= and input_shape=, or input_dim and hidden_units \(got input_dim=4, hidden_units=None\)$"),
        (dict(hidden_units=(3,)), r"^a trunk needs .* \(got input_dim=None, hidden_units=\(3,\)\)$"),
        (dict(input_dim=4, hidden_units=()), r"^hidden_units must name at least one layer for a trunk, got \(\)$"),
        (dict(input_dim=4, hidden_units=(3,), input_shape=(5,)), r"^input_shape must be \(4,\) with input_dim, got \(5,\)$"),
    ],
    ids=["both", "both-units", "both-dim", "no-shape", "no-units", "no-dim", "no-layers", "other-shape"],
)
def test_bad_trunk_arguments(runtime, kwargs, match):
    """Both constructor forms of a trunk, mixed or incomplete, are refused before anything is built."""
    before = len(runtime.graph.get_operations())
    with pytest.raises(tfshare.InputError, match=match):
        tfshare.SharedTrunk(runtime, **kwargs)
    assert len(runtime.graph.get_operations()) == before


@pytest.mark.parametrize("trunk_cls", [tfshare.SharedTrunk, tfshare.TemplateTrunk], ids=["shared", "template"])
def test_a_trunk_rebuilds_its_kind_name_config_and_seeded_weights_elsewhere(runtime, trunk_cls):
    """rebuild (as export does): the same trunk in another runtime, on a given input tensor."""
    trunk = trunk_cls(runtime, layers=_body, input_shape=(4,), name="body", seed=5)
    assert trunk.config == {"input_shape": [4], "layers": tfshare.architectures.config_key(_body())}
    if trunk_cls is tfshare.SharedTrunk:
        assert [type(layer) for layer in trunk.layers] == [keras.layers.Dense]
    with tfshare.GraphSession() as other:
        with other.building():
            x = tf1.placeholder(tf.float32, [None, 4], name="given")
        twin = trunk.rebuild(other, input_tensor=x)
        assert type(twin) is trunk_cls and twin.name == "body" and twin.input is x
        assert twin.config == trunk.config and sorted(twin.named_variables()) == ["layer_0/bias", "layer_0/kernel"]
        for mine, its in zip(runtime.run(trunk.variables), other.run(twin.variables)):
            np.testing.assert_array_equal(mine, its)


def _tf1_dense(x, training):
    """A TF1 body: get_variable with a Keras initializer (the trunk's seed seeds it) and a regularizer, Dropout's TF1
    form in training."""
    w = tf1.get_variable("w", [4, 3], initializer=keras.initializers.GlorotUniform(),
                         regularizer=lambda w: 0.5 * tf.reduce_sum(w * w))
    h = tf.matmul(x, w)
    return tf.nn.dropout(h, rate=0.5) if training else h


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(fn="f", input_shape=(4,)), TypeError, r"^fn must be a callable fn\(x, training\), got str$"),
    (dict(fn=_tf1_dense, layers=_body, input_shape=(4,)), tfshare.InputError,
     r"^fn= takes input_shape= only, not layers=, input_dim or hidden_units$"),
    (dict(fn=_tf1_dense, input_dim=4, input_shape=(4,)), tfshare.InputError, r"^fn= takes input_shape= only"),
    (dict(fn=_tf1_dense, hidden_units=(3,), input_shape=(4,)), tfshare.InputError, r"^fn= takes input_shape= only"),
    (dict(fn=_tf1_dense), tfshare.InputError, r"^input_shape is required with fn=, e.g. input_shape=\(28, 28, 1\)$"),
], ids=["not-callable", "with-layers", "with-dim", "with-units", "no-shape"])
def test_bad_template_trunk_functions(runtime, kwargs, error, match):
    with pytest.raises(error, match=match):
        tfshare.TemplateTrunk(runtime, **kwargs)


def test_a_template_trunk_of_a_tf1_function_keeps_its_names_penalties_and_kind(runtime, rng):
    """The fn form: config names the function, keys drop the template's scope, penalties are the trunk's own."""
    trunk = tfshare.TemplateTrunk(runtime, fn=_tf1_dense, input_shape=(4,), name="tf1", seed=0)
    other = tfshare.TemplateTrunk(runtime, fn=_tf1_dense, input_shape=(4,), name="tf1_b", seed=0)
    assert trunk.config == {"input_shape": [4], "function": f"{__name__}._tf1_dense"}
    assert trunk.training_sensitive and trunk.template.variable_scope.name == "tf1/layers"
    assert list(trunk.named_variables()) == ["w"] and trunk.variables[0].name == "tf1/layers/w:0"
    (penalty,) = trunk.regularization_losses
    (w,) = runtime.run(trunk.variables)
    assert runtime.run(penalty) == pytest.approx(0.5 * np.sum(w * w), rel=1e-5)
    assert len(other.regularization_losses) == 1 and other.regularization_losses[0] is not penalty
    with tfshare.GraphSession(device="cpu") as elsewhere:
        with elsewhere.building():
            given = tf1.placeholder(tf.float32, [None, 4], name="given")
        twin = trunk.rebuild(elsewhere, input_tensor=given)
        assert type(twin) is tfshare.TemplateTrunk and twin.name == "tf1" and twin.config == trunk.config
        assert twin.input is given
        np.testing.assert_array_equal(elsewhere.run(twin.variables)[0], w)
        x = rng.random((64, 4), dtype=np.float32) + 1.0
        trained, inference = elsewhere.run([twin.training_output, twin.output], {given: x})
    assert 0.3 < np.mean(trained == 0) < 0.7 and np.mean(inference == 0) < 0.1


class _CallableBody:
    """A callable instance as a trunk function."""

    def __call__(self, x, training):
        return _tf1_dense(x, training)


def test_a_template_trunk_names_a_partial_by_its_function_and_an_instance_by_its_class(runtime):
    """The config's "function": not "functools.partial" for every partial, whatever it wraps."""
    partial = tfshare.TemplateTrunk(runtime, fn=functools.partial(_tf1_dense), input_shape=(4,))
    instance = tfshare.TemplateTrunk(runtime, fn=_CallableBody(), input_shape=(4,))
    assert partial.config == {"input_shape": [4], "function": f"functools.partial({__name__}._tf1_dense)"}
    assert instance.config == {"input_shape": [4], "function": f"{__name__}._CallableBody"}


def _tf1_with_an_outside_variable(x, training):
    """A TF1 body that also makes a variable in an absolute variable scope, outside the template's."""
    w = tf1.get_variable("w", [4, 3])
    with tf1.variable_scope(tf1.VariableScope(tf1.AUTO_REUSE, name="outside"), auxiliary_name_scope=False):
        scale = tf1.get_variable("scale", [], initializer=tf1.ones_initializer())
    return tf.matmul(x, w) * scale


def test_a_template_trunks_ops_and_variables_are_named_in_its_scope(runtime):
    """Ops go in "<trunk>/layers/" ("layers_1/" for the training path), not a second "<trunk>/"; keys drop
    "<trunk>/layers/", and a variable made outside the template keeps its whole graph name as its key."""
    trunk = tfshare.TemplateTrunk(runtime, fn=_tf1_with_an_outside_variable, input_shape=(4,), name="tf1")
    assert [v.name for v in trunk.variables] == ["tf1/layers/w:0", "outside/scale:0"]
    assert trunk.named_variables() == {"w": trunk.variables[0], "outside/scale": trunk.variables[1]}
    assert trunk.output.op.name == "tf1/layers/mul" and trunk.training_output.op.name == "tf1/layers_1/mul"


def test_a_template_trunks_layer_variables_are_named_by_layer_or_by_position(runtime):
    """get_variable names follow the architecture: layer names when it names its layers, else "layer_<i>"."""
    named = tfshare.TemplateTrunk(runtime, 784, (64,), name="mlp")
    unnamed = tfshare.TemplateTrunk(runtime, layers=_body, input_shape=(4,), name="body")
    assert [v.name for v in named.variables] == ["mlp/layers/hidden_0/kernel:0", "mlp/layers/hidden_0/bias:0"]
    assert [v.name for v in unnamed.variables] == ["body/layers/layer_0/kernel:0", "body/layers/layer_0/bias:0"]
    assert list(named.named_variables()) == ["hidden_0/kernel", "hidden_0/bias"]


def _tf1_counting(x, training):
    """A TF1 body whose training path puts a counter's update in UPDATE_OPS."""
    count = tf1.get_variable("count", [], initializer=tf1.zeros_initializer(), trainable=False)
    if training:
        tf1.add_to_collection(tf1.GraphKeys.UPDATE_OPS, count.assign_add(1.0))
    return x * 1.0


def test_a_template_trunks_training_updates_are_only_its_own(runtime):
    """Each trunk's train steps run the UPDATE_OPS its own training path added, not those already in the graph."""
    a, b = (tfshare.TemplateTrunk(runtime, fn=_tf1_counting, input_shape=(4,), name=name) for name in ("a", "b"))
    (update_a,) = a.training_updates
    (update_b,) = b.training_updates
    assert update_a.name.startswith("a/") and update_b.name.startswith("b/")


def test_a_tf1_functions_update_ops_run_on_every_train_step(runtime, rng):
    """The TF1 recipe: the UPDATE_OPS a trunk function adds in training mode run once per step (3 batches: 3)."""
    trunk = tfshare.TemplateTrunk(runtime, fn=_tf1_counting, input_shape=(4,), name="counting")
    head = tfshare.Classifier(trunk=trunk, num_classes=2, seed=0)
    head.fit(rng.random((12, 4), dtype=np.float32), rng.integers(0, 2, 12), epochs=1, batch_size=4)
    (count,) = [v for v in trunk.variables if v.name == "counting/layers/count:0"]
    assert runtime.run(count) == 3.0


def test_fit_builds_inside_a_callers_reusing_variable_scope(runtime, rng):
    """Adam's slots are made with get_variable: a caller's reuse=True scope in the runtime's graph must not make
    fit look for slots that do not exist yet."""
    x, y = rng.random((8, 6), dtype=np.float32), rng.integers(0, 3, 8)
    with runtime.graph.as_default(), tf1.variable_scope("outer", reuse=True):
        clf = tfshare.DenseClassifier(6, 3, (4,), runtime=runtime, seed=0)
        before = clf.get_weights()
        clf.fit(x, y, epochs=1)
    assert not np.array_equal(before["head/kernel"], clf.get_weights()["head/kernel"])


def test_a_classifiers_saver_is_built_in_its_name_scope(runtime, tmp_path):
    """The Saver's ops (built on the first save) sit under "<classifier>/", as TensorBoard groups them."""
    clf = tfshare.DenseClassifier(6, 3, (4,), runtime=runtime, name="saved", seed=0)
    clf.save(tmp_path / "saved")
    savers = [op.name for op in runtime.graph.get_operations() if op.type in ("SaveV2", "RestoreV2")]
    assert savers and all(name.startswith("saved/") for name in savers), savers


def test_non_finite_loss_stops_fit_and_keeps_weights(runtime, data):
    clf = tfshare.DenseClassifier(runtime=runtime, seed=0)
    clf.fit(data.x_train[:64], data.y_train[:64])
    weights = runtime.run(clf.variables)
    huge = np.full((8, 784), 3e38, np.float32)  # finite input, but the logits overflow
    with pytest.raises(tfshare.TrainingError, match="non-finite.*that step was not applied"):
        clf.fit(huge, np.zeros(8, np.int64), batch_size=8)
    for old, new in zip(weights, runtime.run(clf.variables)):
        np.testing.assert_array_equal(old, new)


@pytest.mark.parametrize("method", ["predict_proba", "predict"])
def test_close_during_a_first_call_leaves_no_live_callable(runtime, method):
    # Another thread closes the classifier while its first call builds the
    # callable: later calls must raise ClosedError, not keep serving.
    clf = tfshare.DenseClassifier(4, 2, (4,), runtime=runtime, seed=0)
    x = np.zeros((1, 4), np.float32)
    real_callable = runtime.callable

    def callable_then_close(*args, **kwargs):
        fn = real_callable(*args, **kwargs)
        clf.close()
        return fn

    runtime.callable = callable_then_close
    try:
        getattr(clf, method)(x)
    except tfshare.ClosedError:
        pass
    del runtime.callable
    with pytest.raises(tfshare.ClosedError, match="is closed"):
        getattr(clf, method)(x)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"hidden_units": 8}, TypeError, "hidden_units must be a sequence of ints >= 1, got int 8"),
        ({"input_dim": "20"}, TypeError, "input_dim must be an int >= 1, got str '20'"),
    ],
    ids=["int-units", "str-dim"],
)
def test_bad_arguments_with_a_trunk_name_the_argument(runtime, kwargs, error, match):
    trunk = tfshare.SharedTrunk(runtime, 20, (8,))
    with pytest.raises(error, match=match):
        tfshare.DenseClassifier(trunk=trunk, **kwargs)


def _seeded_model(classes=3, with_input=True):
    """A whole tf_keras model with seeded initializers (model_fn=): the same weights each call."""
    return keras.Sequential([keras.Input((4,))] * with_input + [
        keras.layers.Dense(5, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(seed=1)),
        keras.layers.Dense(classes, kernel_initializer=keras.initializers.GlorotUniform(seed=2)),
    ])


def _given_input(runtime):
    with runtime.building():
        return tf1.placeholder(tf.float32, [None, 4], name="given")


@pytest.mark.parametrize("form", ["architecture", "model_fn"])
def test_a_classifier_rebuilds_its_form_name_and_initial_weights_elsewhere(runtime, rng, form):
    """rebuild (as export does): a plain Classifier of the same body, name and seed, reading the given input."""
    if form == "architecture":
        clf = tfshare.DenseClassifier(4, 3, (5,), runtime=runtime, name="mlp", seed=7)
    else:
        clf = tfshare.Classifier(model_fn=_seeded_model, runtime=runtime, name="mlp")
    initial = clf.get_weights()
    x, y = rng.normal(size=(16, 4)).astype(np.float32), rng.integers(0, 3, 16)
    clf.fit(x, y, epochs=3)  # the twin starts from the seed's weights, not these
    with tfshare.GraphSession(device="cpu") as other, tfshare.GraphSession(device="cpu") as third:
        given = _given_input(other)
        twin = clf.rebuild(other, input_tensor=given)
        assert type(twin) is tfshare.Classifier and twin.name == "mlp" and twin.runtime is other
        assert twin.input_tensor is given and twin.num_classes == 3 and twin.config == clf.config
        assert (twin.keras_model is None) == (form == "architecture")
        assert_same_weights(initial, twin)
        own = clf.rebuild(third)  # without input_tensor: a placeholder of its own
        assert own.runtime is third and own.input_tensor.op.type == "Placeholder"
        np.testing.assert_array_equal(twin.predict_proba(x), own.predict_proba(x))


def test_a_classifier_on_a_trunk_rebuilds_on_the_given_trunk(runtime):
    trunk = tfshare.SharedTrunk(runtime, 4, (5,), name="body", seed=0)
    head = tfshare.DenseClassifier(num_classes=3, trunk=trunk, name="head", seed=2)
    plain = tfshare.DenseClassifier(4, 3, (5,), runtime=runtime, name="plain", seed=2)
    with tfshare.GraphSession(device="cpu") as other:
        twin_trunk = trunk.rebuild(other)
        with pytest.raises(tfshare.InputError, match=r"^trunk must be given exactly when 'head' sits on one \(it does\), got None$"):
            head.rebuild(other)
        with pytest.raises(tfshare.InputError, match=r"^trunk must be given exactly when 'plain' sits on one \(it does not\), got SharedTrunk\(name='body'"):
            plain.rebuild(other, trunk=twin_trunk)
        with pytest.raises(tfshare.InputError, match=r"^trunk must be built in runtime GraphSession\(.*\), got one of GraphSession"):
            head.rebuild(runtime, trunk=twin_trunk)  # the trunk would take the head to its own runtime
        wider = tfshare.SharedTrunk(other, 4, (6,), name="wider")
        with pytest.raises(tfshare.InputError, match=r"^trunk must have the body of 'head'\'s trunk, \{'input_dim': 4, "
                           r"'hidden_units': \[5\]\}, got \{'input_dim': 4, 'hidden_units': \[6\]\}$"):
            head.rebuild(other, trunk=wider)
        twin = head.rebuild(other, trunk=twin_trunk)
        assert type(twin) is tfshare.Classifier and twin.trunk is twin_trunk and twin.runtime is other
        assert twin.name == "head" and twin.num_classes == 3
        assert_same_weights(head.get_weights(), twin)  # nothing trained: the trunk's and the head's seeded weights


def test_repr_names_the_class_shape_classes_and_sharing_mode(runtime):
    trunk = tfshare.SharedTrunk(runtime, 4, (3,), name="body")
    with tfshare.DenseClassifier(4, 2, (3,), seed=0) as isolated:
        assert repr(isolated) == "DenseClassifier(name='dense_classifier', input_shape=(4,), num_classes=2, isolated)"
    assert repr(tfshare.DenseClassifier(4, 2, (3,), runtime=runtime, name="b")) == (
        "DenseClassifier(name='b', input_shape=(4,), num_classes=2, shared runtime)")
    assert repr(tfshare.DenseClassifier(num_classes=3, trunk=trunk)) == (
        "DenseClassifier(name='dense_classifier', input_shape=(4,), num_classes=3, trunk='body')")
    assert repr(tfshare.ConvClassifier((8, 8, 1), 2, (4,), runtime=runtime)) == (
        "ConvClassifier(name='conv_classifier', input_shape=(8, 8, 1), num_classes=2, shared runtime)")


def test_export_saved_model_writes_this_classifier_and_overwrites_only_when_asked(runtime, tmp_path):
    clf = tfshare.DenseClassifier(4, 2, (3,), runtime=runtime, seed=0)
    path = str(tmp_path / "model")
    assert clf.export_saved_model(path) == path
    x = np.ones((2, 4), np.float32)
    with tf1.Session(graph=tf.Graph()) as session:  # the v1 loader, in a graph of its own
        signature = tf1.saved_model.load(session, ["serve"], path).signature_def["serving_default"]
        served = session.run(signature.outputs["probabilities"].name, {signature.inputs["x"].name: x})
    np.testing.assert_allclose(served, clf.predict_proba(x), atol=1e-6)
    with pytest.raises(tfshare.ExportError, match="exists"):
        clf.export_saved_model(path)
    assert clf.export_saved_model(path, overwrite=True) == path


def test_an_input_tensor_needs_a_runtime_and_no_trunk(runtime):
    given = _given_input(runtime)
    trunk = tfshare.SharedTrunk(runtime, 4, (3,))
    message = r"^input_tensor needs a runtime= it belongs to, and no trunk= \(a trunk has its own input\)$"
    with pytest.raises(tfshare.InputError, match=message):
        tfshare.Classifier(architecture=tfshare.architectures.dense(4, (3,)), num_classes=2, input_tensor=given)
    with pytest.raises(tfshare.InputError, match=message):
        tfshare.Classifier(trunk=trunk, num_classes=2, input_tensor=trunk.input)


def test_an_input_tensor_of_a_shard_puts_the_classifier_in_that_shard():
    with tfshare.GraphSession(device="cpu", shard_size=1) as sharded:
        first, second = (tfshare.DenseClassifier(4, 2, (3,), runtime=sharded, seed=i) for i in range(2))
        assert first.shard is sharded.shards[0] and second.shard is sharded.shards[1]
        given = _given_input(sharded.shards[1])
        clf = tfshare.Classifier(architecture=tfshare.architectures.dense(4, (3,)), num_classes=2, runtime=sharded,
                                 input_tensor=given, seed=1)
        assert clf.shard is sharded.shards[1] and clf.runtime is sharded and clf.input_tensor is given
        x = np.ones((2, 4), np.float32)
        np.testing.assert_array_equal(clf.predict_proba(x), second.predict_proba(x))  # same seed, same body


def test_fits_defaults_are_one_shuffled_epoch_of_batches_of_32_at_learning_rate_1e_3(runtime, rng):
    x, y = rng.normal(size=(40, 4)).astype(np.float32), rng.integers(0, 3, 40)  # 32 + 8 rows: batch 33 differs
    default, explicit = (tfshare.DenseClassifier(4, 3, (5,), runtime=runtime, seed=3) for _ in range(2))
    history = default.fit(x, y)
    assert history == explicit.fit(x, y, epochs=1, batch_size=32, learning_rate=1e-3, shuffle=True)
    assert len(history["loss"]) == 1
    assert_same_weights(explicit.get_weights(), default)


def test_predictions_and_evaluate_write_nothing_and_fit_steps_do(runtime, rng):
    """Read-only callables leave the runtime's write clock (what fused caches of weights watch) alone."""
    clf = tfshare.DenseClassifier(4, 3, (5,), runtime=runtime, seed=0)
    x, y = rng.normal(size=(40, 4)).astype(np.float32), rng.integers(0, 3, 40)
    uses = (lambda: clf.predict(x), lambda: clf.predict_proba(x), lambda: clf.evaluate(x, y))
    clf.fit(x, y)  # the first calls initialize variables (the optimizer's too)
    for use in uses + uses:
        use()
    clock = runtime.write_clock.value
    for use in uses:
        use()
    assert runtime.write_clock.value == clock
    clf.fit(x, y, batch_size=16)
    assert runtime.write_clock.value == clock + 3  # one tick per training step


def test_an_input_tensor_is_checked_against_the_runtimes_graph_and_the_input_shape(runtime):
    body = tfshare.architectures.dense(4, (3,))
    with pytest.raises(TypeError, match=r"^input_tensor must be a tensor of the runtime's graph, got numpy\.ndarray$"):
        tfshare.Classifier(architecture=body, num_classes=2, runtime=runtime, input_tensor=np.zeros((1, 4), np.float32))
    with runtime.building():
        wrong = tf1.placeholder(tf.float32, [None, 3])
    with pytest.raises(tfshare.InputError, match=r"^input_tensor must be float32 with shape \[batch, 4\], got float32 with shape \(None, 3\)$"):
        tfshare.Classifier(architecture=body, num_classes=2, runtime=runtime, input_tensor=wrong)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"seed": -1}, tfshare.InputError, r"^seed must be in \[0, 2\*\*31\), got -1$"),
    ({"name": 3}, TypeError, r"^name must be a str, got int 3$"),
], ids=["seed", "name"])
def test_a_bad_seed_or_name_is_refused_before_the_model_is_made(runtime, kwargs, error, match):
    made = []
    with pytest.raises(error, match=match):
        tfshare.Classifier(model_fn=lambda: made.append(1) or _seeded_model(), runtime=runtime, **kwargs)
    assert made == [] and runtime.graph.get_operations() == []


def test_a_classifiers_ops_and_variables_live_under_its_name_scope(runtime):
    clf = tfshare.DenseClassifier(4, 3, (5,), runtime=runtime, name="mlp")
    tensors = clf.variables + [clf.logits_tensor, clf.probabilities_tensor, clf.class_ids_tensor]
    assert all(t.name.startswith("mlp/") for t in tensors), [t.name for t in tensors]


def test_heads_on_a_trunk_stay_in_its_shard_past_the_shard_size():
    with tfshare.GraphSession(device="cpu", shard_size=1) as sharded:
        trunk = tfshare.SharedTrunk(sharded, 4, (3,), seed=0)
        heads = [tfshare.DenseClassifier(num_classes=2, trunk=trunk, seed=i) for i in range(3)]
        plain = tfshare.DenseClassifier(4, 2, (3,), runtime=sharded)
        assert {h.shard for h in heads} == {trunk.shard} and plain.shard is not trunk.shard
        assert all(h.runtime is sharded for h in heads + [plain])


def test_finalize_builds_the_lazy_ops_first_so_a_finalized_classifier_trains_evaluates_and_saves(runtime, rng, tmp_path):
    clf = tfshare.DenseClassifier(4, 3, (5,), runtime=runtime, seed=0)
    runtime.finalize()
    assert runtime.graph.finalized
    x, y = rng.normal(size=(8, 4)).astype(np.float32), rng.integers(0, 3, 8)
    assert len(clf.fit(x, y)["loss"]) == 1
    assert set(clf.evaluate(x, y)) == {"loss", "accuracy"}
    assert clf.save(str(tmp_path / "ck")).startswith(str(tmp_path / "ck"))


@pytest.mark.parametrize("kwargs, match", [
    (dict(layers=_body, input_shape=(4,), model_fn=_seeded_model, architecture=tfshare.architectures.dense(4, (3,)),
          trunk="t"), r"or trunk=, got \['layers', 'model_fn', 'trunk', 'architecture'\]$"),
    (dict(num_classes=2), r"^give exactly one of layers= \(a factory of tf_keras layers, with input_shape=\), model_fn= \(a "
                          r"factory of a whole tf_keras model\) or trunk=, got none$"),
    (dict(layers=_body, input_shape=(4,)), r"^num_classes is required with layers=, e\.g\. num_classes=10$"),
    (dict(architecture=tfshare.architectures.dense(4, (3,))), r"^num_classes is required with architecture=, "),
    (dict(trunk="t"), r"^num_classes is required with trunk=, "),
    (dict(layers=_body, num_classes=2), r"^input_shape is required with layers=, e\.g\. input_shape=\(28, 28, 1\)$"),
    (dict(trunk="t", num_classes=2, input_shape=(5,)), r"^input_shape must match the trunk's \(4,\), got \(5,\)$"),
    (dict(trunk="t", num_classes=2, input_shape=5), r"^input_shape must match the trunk's \(4,\), got \(5,\)$"),
    (dict(layers=tfshare.architectures.dense(4, (3,)), num_classes=2, input_shape=5),
     r"^input_shape must be the architecture's \(4,\), got \(5,\)$"),
    (dict(model_fn=_seeded_model, input_shape=5), r"^input_shape must match the model's \(4,\), got \(5,\)$"),
    (dict(model_fn=_seeded_model, num_classes=4), r"^num_classes must match model_fn\(\)'s output width 3, got 4$"),
    (dict(model_fn=_seeded_model, num_classes=1), r"^num_classes must be an int >= 2, got 1$"),
], ids=["every-form", "no-form", "no-classes-layers", "no-classes-architecture", "no-classes-trunk", "no-shape",
        "trunk-shape", "trunk-shape-int", "architecture-shape-int", "model-shape-int", "model-width", "model-one-class"])
def test_which_form_a_classifier_is_and_its_conflicts(runtime, kwargs, match):
    """resolve_form: exactly one of layers= / model_fn= / trunk= / architecture=, with what each needs."""
    trunk = tfshare.SharedTrunk(runtime, 4, (3,))
    kwargs = {k: trunk if v == "t" else v for k, v in kwargs.items()}
    with pytest.raises(tfshare.InputError, match=match):
        tfshare.Classifier(runtime=runtime, **kwargs)


def test_each_form_with_the_arguments_it_may_repeat(runtime):
    trunk = tfshare.SharedTrunk(runtime, 4, (3,))
    assert tfshare.Classifier(trunk=trunk, num_classes=2, input_shape=(4,)).input_shape == (4,)
    assert tfshare.Classifier(trunk=trunk, num_classes=2, input_shape=4).input_shape == (4,)  # an int n is (n,)
    assert tfshare.DenseClassifier(4, 2, (3,), trunk=trunk).trunk is trunk  # the trunk's own input_dim, hidden_units
    assert tfshare.Classifier(layers=tfshare.architectures.dense(4, (3,)), num_classes=2, runtime=runtime).input_shape == (4,)
    two = tfshare.Classifier(model_fn=lambda: _seeded_model(2), num_classes=2, runtime=runtime)
    assert two.num_classes == 2 and two.keras_model is not None
    unbuilt = tfshare.Classifier(model_fn=lambda: _seeded_model(with_input=False), input_shape=(4,), runtime=runtime)
    assert unbuilt.input_shape == (4,) and unbuilt.num_classes == 3
