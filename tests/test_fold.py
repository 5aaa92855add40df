"""BatchNorm folded into the convolution before it, on graph inference paths (tfshare.forward).

The folded path must compute what the two layers compute, from the variables
as they are at each call, and only where the fold is exact. On CPU it is
TensorFlow's fused op (tfshare.conv_fusion, a plain ReLU after the pair taken
in); elsewhere the normalization is folded into the kernel with ordinary ops:
the ``kernel`` fixture runs a test both ways (the second by making
``conv_fusion.usable`` say no, as it does on GPU).
"""

import numpy as np
import pytest

import tfshare
from tfshare import conv_fusion, forward
from tfshare._tf import keras, tf, tf1
from tfshare.bench import models, reference


@pytest.fixture(params=["fused_op", "folded_ops"])
def kernel(request, monkeypatch):
    """"fused_op": CPU's _FusedConv2D; "folded_ops": the kernel scaled with ordinary ops (GPU's)."""
    if request.param == "folded_ops":
        monkeypatch.setattr(conv_fusion, "usable", lambda tensor: False)
    return request.param


def _layers(norm=None, **conv):
    return [keras.layers.Conv2D(4, 3, padding="same", **conv), keras.layers.BatchNormalization(**(norm or {})),
            keras.layers.ReLU()]


def _random_statistics(session, layers, rng):
    """Gives gamma, beta, the moving mean and variance values far from their initial 1, 0, 0, 1."""
    for w in layers[1].weights:
        name = w.name.rsplit("/", 1)[-1].split(":")[0]
        shape = w.shape.as_list()
        value = rng.uniform(0.5, 2.0, shape) if name in ("gamma", "moving_variance") else rng.normal(0, 0.5, shape)
        _load(session, w, value)


def _load(session, variable, value):
    with session.graph.as_default():
        variable.load(np.asarray(value, np.float32), session)


def _graph_paths(layers, fold, training=False):
    """(session, x, folded output, the same layers' unfolded output) in one graph."""
    graph = tf.Graph()
    with graph.as_default(), tf1.device("/device:CPU:0"):  # as a CPU GraphSession builds
        x = tf1.placeholder(tf.float32, [None, 6, 6, 2])
        out = forward.apply(layers, x, training=training, fold_batch_norm=fold)
        plain = forward.apply(layers, x, training=training)
        session = tf1.Session(graph=graph)
        session.run(tf1.global_variables_initializer())
    return session, x, out, plain


def _op_types_feeding(tensor):
    seen, stack, types = set(), [tensor.op], []
    while stack:
        op = stack.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        types.append(op.type)
        stack.extend(t.op for t in op.inputs)
    return types


@pytest.mark.parametrize("use_bias, norm", [(False, {}), (True, {}), (True, dict(center=False, scale=False))],
                         ids=["no_bias", "bias", "bias_no_beta_gamma"])
def test_the_folded_path_equals_the_two_layers(use_bias, norm, kernel, rng):
    layers = _layers(norm, use_bias=use_bias)
    session, x, out, plain = _graph_paths(layers, fold=True)
    _random_statistics(session, layers, rng)
    if use_bias:
        _load(session, layers[0].bias, rng.normal(0, 1, 4))
    values = rng.normal(0, 1, (5, 6, 6, 2)).astype(np.float32)
    folded, unfolded = session.run([out, plain], {x: values})
    assert np.abs(unfolded).max() > 0.5  # the statistics matter: far from an identity normalization
    np.testing.assert_allclose(folded, unfolded, rtol=1e-5, atol=1e-5)
    types = _op_types_feeding(out)
    assert "FusedBatchNormV3" not in types
    if kernel == "fused_op":  # one op for Conv2D, BatchNorm and the ReLU after them
        assert types.count("_FusedConv2D") == 1 and "Conv2D" not in types and "Relu" not in types
        assert out.op.get_attr("fused_ops") == [b"FusedBatchNorm", b"Relu"]
    else:
        assert types.count("Conv2D") == 1 and "_FusedConv2D" not in types
    assert "FusedBatchNormV3" in _op_types_feeding(plain)
    session.close()


def test_the_fold_reads_the_variables_at_every_call(kernel, rng):
    layers = _layers()
    session, x, out, plain = _graph_paths(layers, fold=True)
    values = rng.normal(0, 1, (2, 6, 6, 2)).astype(np.float32)
    before = session.run(out, {x: values})
    _random_statistics(session, layers, rng)
    after, unfolded = session.run([out, plain], {x: values})
    assert np.abs(after - before).max() > 0.1
    np.testing.assert_allclose(after, unfolded, rtol=1e-5, atol=1e-5)
    session.close()


def test_training_paths_are_never_folded():
    layers = _layers()
    graph = tf.Graph()
    with graph.as_default(), forward.collecting_updates() as updates:
        x = tf1.placeholder(tf.float32, [None, 6, 6, 2])
        out = forward.apply(layers, x, training=True, fold_batch_norm=True)
    assert "FusedBatchNormV3" in _op_types_feeding(out)  # batch statistics, and their updates
    assert len(updates) == 2


@pytest.mark.parametrize("conv, norm", [
    (lambda: keras.layers.Conv2D(4, 3, activation="relu"), lambda: keras.layers.BatchNormalization()),
    (lambda: keras.layers.DepthwiseConv2D(3), lambda: keras.layers.BatchNormalization()),
    (lambda: keras.layers.Conv2DTranspose(4, 3), lambda: keras.layers.BatchNormalization()),
    (lambda: keras.layers.Conv2D(4, 3, groups=2), lambda: keras.layers.BatchNormalization()),
    (lambda: keras.layers.Conv2D(4, 3), lambda: keras.layers.BatchNormalization(axis=1)),
    (lambda: keras.layers.Conv2D(4, 3), lambda: keras.layers.BatchNormalization(renorm=True)),
    (lambda: keras.layers.Conv2D(4, 3), lambda: keras.layers.BatchNormalization(virtual_batch_size=2)),
    (lambda: keras.layers.Conv2D(4, 3), lambda: keras.layers.LayerNormalization()),
    (lambda: keras.layers.Dense(4), lambda: keras.layers.BatchNormalization()),
    (lambda: keras.layers.Conv2D(4, 3, dtype="float64"), lambda: keras.layers.BatchNormalization(dtype="float64")),
    (lambda: keras.layers.Conv2D(4, 3, dtype="mixed_float16"), lambda: keras.layers.BatchNormalization(dtype="mixed_float16")),
])
def test_only_exact_pairs_fold(conv, norm):
    assert not forward.foldable(conv(), norm())


def test_a_plain_pair_folds():
    assert forward.foldable(keras.layers.Conv2D(4, 3), keras.layers.BatchNormalization())
    assert forward.foldable(keras.layers.Conv2D(4, 3, use_bias=False), keras.layers.BatchNormalization(center=False, scale=False))


def test_an_unfoldable_pair_runs_as_the_layers_do(rng):
    layers = [keras.layers.Conv2D(4, 3, padding="same", activation="relu"), keras.layers.BatchNormalization()]
    session, x, out, plain = _graph_paths(layers, fold=True)
    assert "FusedBatchNormV3" in _op_types_feeding(out)
    values = rng.normal(0, 1, (2, 6, 6, 2)).astype(np.float32)
    folded, unfolded = session.run([out, plain], {x: values})
    np.testing.assert_array_equal(folded, unfolded)
    session.close()


def test_a_trained_conv_classifier_predicts_as_the_unfolded_graph(kernel, rng):
    """Trained (moving statistics moved), then against a hand-built graph with the same weights, unfolded."""
    with tfshare.GraphSession() as runtime:
        clf = tfshare.ConvClassifier((28, 28, 1), 10, runtime=runtime, seed=0)
        x = rng.random((64, 28, 28, 1), dtype=np.float32)
        clf.fit(x, rng.integers(0, 10, 64), epochs=2, batch_size=16)
        weights = clf.get_weights()
        assert np.abs(weights["bn_0/moving_mean"]).max() > 1e-3
        raw = reference.raw_graph(models.model("cnn"), weights)
        np.testing.assert_allclose(clf.predict_proba(x[:32]), raw.call(x[:32])[0], rtol=1e-5, atol=1e-6)
        assert "FusedBatchNormV3" not in _op_types_feeding(clf.probabilities_tensor)
        raw.session.close()


@pytest.mark.parametrize("kind", ["shared", "template"])
def test_trunk_heads_predict_as_their_eager_twins_after_training(kind, kernel, rng):
    """Trunks fold too: heads on a conv trunk, trained, equal an eager copy of their weights."""
    layers = models.model("cnn", filters=(4, 8)).architecture
    with tfshare.GraphSession() as runtime:
        make = tfshare.SharedTrunk if kind == "shared" else tfshare.TemplateTrunk
        trunk = make(runtime, layers=layers, input_shape=(28, 28, 1))
        head = tfshare.Classifier(trunk=trunk, num_classes=10, seed=1)
        x = rng.random((32, 28, 28, 1), dtype=np.float32)
        head.fit(x, rng.integers(0, 10, 32), epochs=1, batch_size=16)
        twin = tfshare.EagerClassifier(layers=layers, input_shape=(28, 28, 1), num_classes=10)
        twin.set_weights(head.get_weights())
        np.testing.assert_allclose(head.predict_proba(x), twin.predict_proba(x), rtol=1e-5, atol=1e-6)
        assert "FusedBatchNormV3" not in _op_types_feeding(head.probabilities_tensor)


def _fused_ops(tensor):
    return [op.get_attr("fused_ops") for op in tensor.graph.get_operations() if op.type == "_FusedConv2D"]


@pytest.mark.parametrize("conv, norm", [
    (dict(strides=2), {}),
    (dict(dilation_rate=2), {}),
    (dict(padding="valid", use_bias=False), {}),
    ({}, dict(center=False, scale=False, epsilon=0.1)),
], ids=["strided", "dilated", "valid-no-bias", "no-gamma-or-beta"])
def test_the_fused_op_takes_the_layers_strides_padding_dilation_and_epsilon(conv, norm, rng):
    layers = [
        keras.layers.Conv2D(4, 3, **{"padding": "same", **conv}),
        keras.layers.BatchNormalization(**norm),
        keras.layers.ReLU(),
    ]
    session, x, out, plain = _graph_paths(layers, fold=True)
    _random_statistics(session, layers, rng)
    values = rng.normal(0, 1, (3, 6, 6, 2)).astype(np.float32)
    fused, unfused = session.run([out, plain], {x: values})
    assert _fused_ops(out) == [[b"FusedBatchNorm", b"Relu"]]
    assert fused.shape == unfused.shape and np.abs(unfused).max() > 0.5
    np.testing.assert_allclose(fused, unfused, rtol=1e-5, atol=1e-5)
    session.close()


@pytest.mark.parametrize("after, fused_ops", [
    (lambda: keras.layers.Activation("relu"), [b"FusedBatchNorm", b"Relu"]),
    (lambda: keras.layers.ReLU(max_value=6.0), [b"FusedBatchNorm"]),
    (lambda: keras.layers.ReLU(negative_slope=0.1), [b"FusedBatchNorm"]),
    (lambda: keras.layers.ReLU(threshold=0.5), [b"FusedBatchNorm"]),
    (lambda: keras.layers.MaxPooling2D(), [b"FusedBatchNorm"]),
], ids=["activation-relu", "relu6", "leaky", "threshold", "pooling"])
def test_only_a_plain_relu_after_the_pair_is_taken_into_the_fused_op(after, fused_ops, rng):
    layers = [keras.layers.Conv2D(4, 3, padding="same"), keras.layers.BatchNormalization(), after()]
    session, x, out, plain = _graph_paths(layers, fold=True)
    _random_statistics(session, layers, rng)
    values = 3 * rng.normal(0, 1, (3, 6, 6, 2)).astype(np.float32)  # some outputs above 6, some below 0
    fused, unfused = session.run([out, plain], {x: values})
    assert _fused_ops(out) == [fused_ops]
    np.testing.assert_allclose(fused, unfused, rtol=1e-5, atol=1e-5)
    session.close()


def test_a_pair_last_in_the_stack_is_fused_without_a_relu(rng):
    layers = [keras.layers.Conv2D(4, 3, padding="same"), keras.layers.BatchNormalization()]
    session, x, out, plain = _graph_paths(layers, fold=True)
    _random_statistics(session, layers, rng)
    values = rng.normal(0, 1, (2, 6, 6, 2)).astype(np.float32)
    fused, unfused = session.run([out, plain], {x: values})
    assert out.op.type == "_FusedConv2D" and out.op.get_attr("fused_ops") == [b"FusedBatchNorm"]
    assert (unfused < 0).any()  # no ReLU was applied
    np.testing.assert_allclose(fused, unfused, rtol=1e-5, atol=1e-5)
    session.close()


@pytest.mark.parametrize("layer, plain", [
    (lambda: keras.layers.ReLU(), True),
    (lambda: keras.layers.Activation("relu"), True),
    (lambda: keras.layers.Activation(tf.nn.relu), False),  # another function: not known to be the same
    (lambda: keras.layers.Activation("relu6"), False),
    (lambda: keras.layers.ReLU(max_value=1.0), False),
    (lambda: keras.layers.ReLU(dtype="float64"), False),
    (lambda: keras.layers.LeakyReLU(), False),
])
def test_plain_relu_accepts_only_max_x_0_in_float32(layer, plain):
    assert conv_fusion.plain_relu(layer()) is plain


def test_the_fused_op_is_used_only_on_an_explicit_cpu_device_outside_portable_blocks():
    graph = tf.Graph()
    with graph.as_default():
        with tf1.device("/device:CPU:0"):
            on_cpu = tf.identity(tf1.placeholder(tf.float32))
        with tf1.device("/job:worker/task:0/device:CPU:0"):
            on_a_workers_cpu = tf.identity(tf1.placeholder(tf.float32))
        with tf1.device("/device:GPU:0"):  # built, never run: no kernel fuses BatchNorm on GPU
            on_gpu = tf.identity(tf1.placeholder(tf.float32))
        with tf1.device("/job:worker/task:0"):  # the worker's placer decides, and it may have a GPU
            on_a_worker = tf.identity(tf1.placeholder(tf.float32))
        anywhere = tf.identity(tf1.placeholder(tf.float32))
    assert conv_fusion.usable(on_cpu) and conv_fusion.usable(on_a_workers_cpu)
    assert not any(conv_fusion.usable(t) for t in (on_gpu, on_a_worker, anywhere))
    assert not conv_fusion.usable(tf.constant(1.0))  # eager: no graph op to replace
    with conv_fusion.portable():
        with conv_fusion.portable():
            assert not conv_fusion.usable(on_cpu)
        assert not conv_fusion.usable(on_cpu)  # still inside the outer block
    assert conv_fusion.usable(on_cpu)


def test_an_exported_cnn_holds_no_cpu_only_op_and_predicts_as_the_live_one(tmp_path, rng):
    """Export clears devices for the server to place: the fused op, which has no GPU kernel, stays out."""
    with tfshare.GraphSession(device="cpu") as runtime:
        clf = tfshare.ConvClassifier((8, 8, 1), 10, filters=(4,), runtime=runtime, seed=0)
        x = rng.random((4, 8, 8, 1), dtype=np.float32)
        clf.fit(x, rng.integers(0, 10, 4), epochs=1, batch_size=4)  # moving statistics away from 0 and 1
        assert "_FusedConv2D" in _op_types_feeding(clf.probabilities_tensor)
        path = tfshare.export_saved_model([clf], tmp_path / "m")
        graph = tf.Graph()
        with graph.as_default(), tf1.Session(graph=graph) as session:
            meta = tf1.saved_model.load(session, ["serve"], str(path))
            signature = meta.signature_def["serving_default"]
            types = {op.type for op in graph.get_operations()}
            assert "_FusedConv2D" not in types and "Conv2D" in types and "FusedBatchNormV3" in types
            got = session.run(signature.outputs["probabilities"].name, {signature.inputs["x"].name: x})
        np.testing.assert_allclose(got, clf.predict_proba(x), rtol=1e-5, atol=1e-6)


def test_a_gpu_graph_folds_with_ordinary_ops():
    layers = _layers()
    graph = tf.Graph()
    with graph.as_default(), tf1.device("/device:GPU:0"):
        out = forward.apply(layers, tf1.placeholder(tf.float32, [None, 6, 6, 2]), training=False, fold_batch_norm=True)
    types = _op_types_feeding(out)
    assert "_FusedConv2D" not in types and types.count("Conv2D") == 1 and "FusedBatchNormV3" not in types
