"""A whole tf_keras model from ``model_fn``, made in eager mode and rebuilt in a graph with its weights.

People who ask "do graphs need one instance per class?" write a function that
returns a complete model (``Sequential([Input, ..., Dense(10, "softmax")])``).
Calling it inside a TF1 graph would construct its layers there, which swaps
their classes' bases to the TF1 ones and breaks every eager model of those
classes (see ``tfshare._tf.v2_layers``). So ``model_fn`` runs in eager mode,
where the model builds eager variables; their values are kept, each layer
that owns weights is returned to the unbuilt state, and calling the model on
a graph placeholder builds it again, with graph variables whose initial values
are the kept ones (fed, see ``tfshare.initial_values``). The model's own
layers, call and structure (Sequential, functional or subclassed) run
unchanged, and weights the function loaded (pretrained ones) are kept.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from tfshare import architectures, forward, validation
from tfshare._tf import eager_mode, keras, tf
from tfshare.errors import InputError
from tfshare.initial_values import Created


def _in_graph(variable: Any, graph: Any) -> bool:
    try:
        return variable.graph is graph
    except (AttributeError, RuntimeError):  # an eager variable has no graph
        return False


def leaves(model: Any) -> list[Any]:
    """The layers of ``model`` that own variables, in tracking order."""
    return [
        layer for layer in model._flatten_layers(include_self=True)  # pylint: disable=protected-access
        if architectures.own_weights(layer)
    ]


class AdoptedModel:
    """``model_fn()``'s model, ready to be called on graph tensors.

    Args:
      model_fn: a zero-argument callable returning a tf_keras Model with one
        input and an output of shape [batch, num_classes] (logits, or
        probabilities from a softmax, which is taken off).
      input_shape: the shape of one example, needed only when the model does
        not know it (a subclassed or unbuilt model).
      unbuild: prepare it for a graph (the eager twin keeps it as it is).

    Attributes:
      model: the tf_keras model.
      model_fn: the function that made it (to make another, e.g. for an export).
      input_shape: shape of one example.
      num_classes: the width of the output.

    Raises:
      TypeError: model_fn is not callable, is a model itself (not a function
        making one), or returns no tf_keras Model (a Keras 3 model gets an
        error that names tf_keras).
      InputError: the input shape is unknown or not one input, or the output
        is not [batch, num_classes >= 2].
    """

    def __init__(
        self, model_fn: Callable[[], Any], input_shape: Sequence[int] | None = None, *, unbuild: bool
    ) -> None:
        if not callable(model_fn) or isinstance(model_fn, keras.layers.Layer) or architectures.is_keras3(model_fn):
            # A model object is callable too, but not without arguments.
            raise TypeError(f"model_fn must be a zero-argument callable returning a tf_keras Model, got {validation.describe(model_fn)}")
        with eager_mode():
            model = model_fn()
            if architectures.is_keras3(model):
                raise TypeError(
                    f"model_fn() returned a Keras 3 model ({validation.describe(model)}); tfshare builds TF1 graphs, "
                    "which need Keras 2: build it with tf_keras (`import tf_keras`), not keras (which tf.keras is on TF >= 2.16)"
                )
            if not isinstance(model, keras.Model):
                raise TypeError(f"model_fn() must return a tf_keras Model, got {validation.describe(model)}")
            if getattr(model, "_tfshare_adopted", False):  # first: it now holds graph variables, unusable eagerly
                raise InputError(
                    "model_fn() returned a model that another classifier already adopted; model_fn must build "
                    "a new model on every call (e.g. model_fn=lambda: build_model(...), not lambda: model)"
                )
            architectures.check_not_mixed(model, "model_fn()'s model")
            self.input_shape = self._input_shape(model, input_shape)
            width = self._output_width(model)
        if width < 2:
            raise InputError(f"model_fn()'s model must output [batch, num_classes >= 2], got width {width}")
        if unbuild:
            model = self._own_copy(model, self.input_shape)
        self.model = model
        self.model_fn = model_fn
        self.num_classes = width
        self.training_sensitive = forward.training_sensitive([model])
        self.config = {"architecture": "model", "input_shape": list(self.input_shape)}
        key = architectures.config_key([model])
        if key is not None:
            self.config["layers"] = key
        self._values = self._unbuild() if unbuild else []

    @staticmethod
    def _input_shape(model: Any, given: Sequence[int] | None) -> tuple[int, ...]:
        try:
            known = model.input_shape
        except (AttributeError, ValueError, RuntimeError):
            known = None
        if isinstance(known, list):
            raise InputError(f"model_fn()'s model must take one input, got input shapes {known}")
        if known is not None:
            shape = tuple(known[1:])
            if given is not None and validation.input_shape(given) != shape:  # an int n is (n,)
                raise InputError(f"input_shape must match the model's {shape}, got {validation.input_shape(given)}")
            if any(d is None for d in shape):
                raise InputError(f"model_fn()'s model must have a fully known input shape, got {tuple(known)}")
            return shape
        if given is None:
            raise InputError(
                "model_fn()'s model does not know its input shape: start it with tf_keras.Input(shape) "
                "or pass input_shape="
            )
        shape = validation.input_shape(given)
        model(tf.zeros((1, *shape)), training=False)  # builds it, eagerly
        return shape

    def _output_width(self, model: Any) -> int:
        try:
            shape = model.output_shape
        except (AttributeError, ValueError, RuntimeError):
            shape = tf.nest.map_structure(
                lambda t: (None, *t.shape[1:]), model(tf.zeros((1, *self.input_shape)), training=False))
        if not isinstance(shape, tuple) or any(isinstance(d, (tuple, list, dict)) for d in shape):
            shapes = shape.values() if isinstance(shape, dict) else shape
            raise InputError(
                f"model_fn()'s model must have one output [batch, num_classes], got {len(shapes)} in a "
                f"{type(shape).__name__}, of shapes {', '.join(str(tuple(s)) for s in shapes)}"
            )
        if len(shape) != 2 or shape[1] is None:
            raise InputError(f"model_fn()'s model must output [batch, num_classes], got shape {shape}")
        return int(shape[1])

    @staticmethod
    def _own_copy(model: Any, input_shape: tuple[int, ...]) -> Any:
        """A copy of ``model`` (same layers, configs and weights) to rebuild, so the caller's model stays usable.

        ``clone_model`` copies Sequential and functional models, and subclassed
        ones whose configuration it can rebuild them from; a model it cannot
        copy (e.g. a subclassed one taking a function) is adopted itself, and
        marked: the same object cannot serve two classifiers.
        """
        with eager_mode():
            try:
                copy = keras.models.clone_model(model)
                if not copy.built:
                    copy(tf.zeros((1, *input_shape)), training=False)
                copy.set_weights(model.get_weights())
            except (ValueError, TypeError, NotImplementedError, AttributeError):
                object.__setattr__(model, "_tfshare_adopted", True)
                return model
        return copy

    def _unbuild(self) -> list[tuple[Any, list[np.ndarray]]]:
        """Keeps every weight-owning layer's values, then returns every layer to the unbuilt state.

        Layers without weights of their own (an RNN around its cell) are
        unbuilt too, so that their build runs again in the graph.
        """
        kept = []
        for layer in leaves(self.model):
            kept.append((layer, [w.numpy() for w in architectures.own_weights(layer)]))
            layer._trainable_weights = []  # pylint: disable=protected-access
            layer._non_trainable_weights = []  # pylint: disable=protected-access
        owners = {id(layer) for layer, _ in kept}
        for layer in self.model._flatten_layers(include_self=True):  # pylint: disable=protected-access
            # A functional or Sequential model owns no weights and stays built (its graph of layers);
            # every layer, and a subclassed model with weights of its own, is built again.
            if not isinstance(layer, keras.Model) or id(layer) in owners:
                layer.built = False
        return kept

    def logits(self, x: Any, training: bool) -> Any:
        """The model on ``x`` as logits (its softmax, if it ends in one, taken off).

        Raises:
          InputError: the model cannot be rebuilt in a graph (a layer keeps
            eager state that its build does not make again).
        """
        try:
            output = self.model(x, training=training)
        except (RuntimeError, ValueError, TypeError) as exc:
            cause = str(exc)
            if "capture an EagerTensor" in cause:
                cause = "a layer keeps variables made outside build() (in __init__), which cannot move to a graph"
            else:
                # The last line of the error itself: tf_keras appends the layer's call arguments after it,
                # and autograph writes an empty message as "ValueError: " (then the type alone is the cause).
                cause = cause.split("\n\nCall arguments received", 1)[0]
                cause = next((line.strip() for line in reversed(cause.splitlines()) if line.strip()), type(exc).__name__)
                if cause == f"{type(exc).__name__}:":
                    cause = type(exc).__name__
            raise InputError(
                f"model_fn()'s model could not be built in a TF1 graph: {cause}; "
                "give its layers as a factory instead (layers=)"
            ) from exc
        stale = [v.name for v in self.model.weights if not _in_graph(v, x.graph)]
        if stale:
            raise InputError(
                f"model_fn()'s model keeps eager variables {stale[:3]} after it was rebuilt in a graph "
                "(a layer made them outside build()); give its layers as a factory instead (layers=)"
            )
        return forward.logits_of(output)[0]

    def feed_kept_values(self, created: Sequence[Created]) -> None:
        """Gives the graph variables made by the first ``logits`` call the eager model's values.

        Args:
          created: the records of ``initial_values.creating(..., feed_all=True)``.

        Raises:
          RuntimeError: a layer made other variables in the graph than in eager mode.
        """
        fed = {id(c.variable): c.fed for c in created}
        for layer, values in self._values:
            weights = architectures.own_weights(layer)
            if len(weights) != len(values):
                raise RuntimeError(f"layer {layer.name!r} made {len(weights)} variables in the graph, {len(values)} eagerly")
            for variable, value in zip(weights, values):
                initializer = fed.get(id(variable))
                if initializer is None:
                    raise RuntimeError(f"variable {variable.name!r} of layer {layer.name!r} has no fed initial value")
                initializer.set_value(value)
        self._values = []  # the graph now holds them


__all__ = ["AdoptedModel", "leaves"]
