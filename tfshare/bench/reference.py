"""The benchmarks' models written out by hand in tf_keras: the references tfshare is compared with.

``keras_model(model)`` is the ``--model`` as a plain tf_keras ``Sequential``
(an ``Input``, the body's layers, a softmax ``Dense`` head), written here
layer by layer rather than taken from tfshare's architectures, so that the
eager, ``tf.function`` and ``Model.predict`` modes measure what a user who
never heard of tfshare would write. Its layers carry the names tfshare's
classifiers give theirs ("hidden_0", "conv_0", "bn_0", ..., "head"), so
``set_named_weights`` copies a classifier's ``named_variables`` values into it.

``raw_graph(model, values)`` is the same model the TF1 way without tfshare:
its own ``tf.Graph`` and Session with TensorFlow's default options.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from tfshare._tf import config_pb2, keras, tf, tf1, v2_layers
from tfshare.bench.models import Model
from tfshare.errors import InputError

#: ConvClassifier's defaults (``tfshare.architectures.conv``); neither changes inference.
_DROPOUT, _MOMENTUM = 0.25, 0.9


def _body(model: Model) -> list[Any]:
    if model.name == "mlp":
        return [keras.layers.Dense(u, activation="relu", name=f"hidden_{i}") for i, u in enumerate(model.hidden_units)]
    layers: list[Any] = []
    for i, filters in enumerate(model.filters):
        layers += [
            keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv_{i}"),
            keras.layers.BatchNormalization(momentum=_MOMENTUM, name=f"bn_{i}"),
            keras.layers.ReLU(name=f"relu_{i}"),
        ]
        last = i == len(model.filters) - 1
        layers.append(keras.layers.GlobalAveragePooling2D(name="global_pool") if last else keras.layers.MaxPool2D(name=f"pool_{i}"))
    return layers + [keras.layers.Dropout(_DROPOUT, name="dropout")]


def keras_model(model: Model, num_classes: int = 10) -> Any:
    """The model as a tf_keras ``Sequential``, made in eager mode.

    Args:
      model: the benchmark's ``Model`` ("mlp" or "cnn", with its sizes).
      num_classes: units of the softmax head.

    Returns:
      A built ``Sequential`` taking float32 [batch, *model.input_shape] and
      returning probabilities [batch, num_classes].
    """
    with v2_layers():
        head = keras.layers.Dense(num_classes, activation="softmax", name="head")
        return keras.Sequential([keras.Input(model.input_shape), *_body(model), head])


def set_named_weights(keras_model: Any, values: Mapping[str, np.ndarray]) -> None:
    """Assigns ``values`` (keyed "layer_name/weight", as ``Classifier.get_weights()``) to ``keras_model``.

    Raises:
      InputError: the keys differ from the model's weights (the message names both sets).
    """
    weights = {}
    for layer in keras_model.layers:
        for weight in layer.weights:
            weights[f"{layer.name}/{weight.name.rsplit('/', 1)[-1].split(':')[0]}"] = weight
    if set(weights) != set(values):
        raise InputError(f"values must have the keys {sorted(weights)}, got {sorted(values)}")
    for key, weight in weights.items():
        weight.assign(values[key])


@dataclasses.dataclass(frozen=True)
class RawGraph:
    """A model built by hand in its own graph and Session (``raw_graph``).

    Attributes:
      call: the callable: float32 [batch, *input_shape] -> [probabilities
        float32 [batch, num_classes]].
      session: its Session (close it).
      input: the float32 [None, *input_shape] placeholder.
      probabilities: the float32 [None, num_classes] output.
    """

    call: Any
    session: Any
    input: Any
    probabilities: Any


def raw_graph(
    model: Model, values: Mapping[str, np.ndarray], num_classes: int = 10, session_config: Any = None
) -> RawGraph:
    """The model in a plain ``tf.Graph`` and Session with TensorFlow's default options, as a callable.

    What a TF1 user writes without tfshare: tf_keras layers (made in eager
    mode, see DESIGN.md) called on a placeholder with ``training=False``,
    ``tf.nn.softmax``, a ``tf.compat.v1.Session`` with a default
    ``ConfigProto`` (Grappler on), and
    ``Session._make_callable_from_options`` run in the calling thread
    (``inter_op_thread_pool = -1``): the floor tfshare is measured against.

    Args:
      model: the benchmark's ``Model``.
      values: the weights, keyed as ``Classifier.get_weights()``.
      num_classes: units of the head.
      session_config: the Session's ``ConfigProto`` (default: TensorFlow's
        own); the apps pass ``RunConfig.session_config()``, TensorFlow's
        default with the run's thread flags, so both sides of a comparison
        use the same threads.

    Returns:
      The callable, its Session, input and output.
    """
    with v2_layers():
        layers = [*_body(model), keras.layers.Dense(num_classes, name="head")]
    graph = tf.Graph()
    with graph.as_default():
        x = tf1.placeholder(tf.float32, [None, *model.input_shape], name="x")
        h = x
        for layer in layers:
            h = layer(h, training=False)
        probabilities = tf.nn.softmax(h)
        weights = {f"{layer.name}/{w.name.rsplit('/', 1)[-1].split(':')[0]}": w for layer in layers for w in layer.weights}
        if set(weights) != set(values):
            raise InputError(f"values must have the keys {sorted(weights)}, got {sorted(values)}")
        session = tf1.Session(graph=graph, config=tf1.ConfigProto() if session_config is None else session_config)
        session.run([w.initializer for w in weights.values()],
                    {w.initializer.inputs[1]: values[k] for k, w in weights.items()})
    options = config_pb2.CallableOptions()
    options.feed.append(x.name)
    options.fetch.append(probabilities.name)
    options.run_options.inter_op_thread_pool = -1
    return RawGraph(session._make_callable_from_options(options), session, x, probabilities)


__all__ = ["RawGraph", "keras_model", "raw_graph", "set_named_weights"]
