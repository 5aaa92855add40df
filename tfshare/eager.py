"""EagerClassifier: the TF2 eager / tf.function baseline, with the graph classifier's API.

It builds the same architecture with the same tf_keras layers and runs them
through the same ``tfshare.forward`` code, but eagerly (or through a
per-instance ``tf.function`` when ``use_tf_function=True``): no graph, no
Session. Its variables are made under the same seeding rule
(``tfshare.initial_values.creating``), so with the same seed it starts from
the graph classifier's weights, and ``get_weights``/``set_weights`` and
checkpoints move between the two. It exists so benchmarks and tests can
compare the graph classes with TF2's default way of running, side by side.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from tfshare import architectures, checkpoints, forward, initial_values, keras_model, validation
from tfshare._tf import keras, tf
from tfshare.architectures import Architecture
from tfshare.base import ClassifierBase, dense_form, resolve_form
from tfshare.eager_trunk import EagerTrunk, build, eagerly

class EagerClassifier(ClassifierBase):
    """The TF2 eager twin of ``Classifier``, with the same constructor forms and methods.

    Args:
      layers, input_shape, num_classes, model_fn: as ``Classifier``.
      trunk: an EagerTrunk whose layers to share.
      use_tf_function: run prediction and the train step through a
        per-instance ``tf.function`` instead of op-by-op.
      name: a label (default "eager_classifier").
      seed: seed for the initial weights (the graph classifier's rule) and
        shuffling; None for random.
      architecture: an ``Architecture`` instead of ``layers``.

    Raises:
      TypeError, InputError: bad arguments (see ``Classifier``).
    """

    _default_name = "eager_classifier"

    @eagerly
    def __init__(
        self,
        layers: Callable[[], Any] | None = None,
        input_shape: Sequence[int] | None = None,
        num_classes: int | None = None,
        *,
        model_fn: Callable[[], Any] | None = None,
        trunk: EagerTrunk | None = None,
        use_tf_function: bool = False,
        name: str | None = None,
        seed: int | None = None,
        architecture: Architecture | None = None,
    ) -> None:
        if not isinstance(use_tf_function, bool):
            raise TypeError(f"use_tf_function must be a bool, got {type(use_tf_function).__name__}")
        if trunk is not None and not isinstance(trunk, EagerTrunk):
            raise TypeError(f"trunk must be an EagerTrunk, got {type(trunk).__name__}")
        form = resolve_form(layers, input_shape, num_classes, model_fn, trunk, architecture, for_graph=False)
        self._init_form(form, seed)
        self._name = validation.name(name) or self._default_name
        self._use_tf_function = use_tf_function
        self._model = form.adopted.model if form.adopted is not None else None
        self._layers: list[Any] = []
        if self._model is not None:
            self._config = dict(form.adopted.config)
            self._model_variables = architectures.weight_keys(keras_model.leaves(self._model), named=False)
        else:
            if trunk is not None:
                self._config, start, width = trunk.config, trunk._num_random, trunk.output_dim
                self._model_variables = trunk.named_variables()
            else:
                self._layers = form.architecture.make_layers()
                self._config = architectures.checkpoint_config(form.architecture, self._layers)
                output, created = build(self._layers, self._input_shape, self._seed)
                start, width = sum(c.spec is not None for c in created), int(output.shape[-1])
                self._model_variables = architectures.weight_keys(self._layers, form.architecture.named)
            self._head = keras.layers.Dense(self._num_classes, name=f"{self._name}_head")
            with initial_values.creating(self._seed, start=start, feed=False):
                self._head.build(tf.TensorShape([None, width]))
            self._model_variables.update({"head/kernel": self._head.kernel, "head/bias": self._head.bias})
        self._config["num_classes"] = self._num_classes
        self._all_layers = [self._model] if self._model is not None else (
            (trunk.layers if trunk is not None else []) + self._layers + [self._head]
        )
        self._frozen = architectures.frozen_keys(self._model_variables, self._all_layers)
        self._optimizer: Any = None
        self._saver: Any = None
        spec = tf.TensorSpec([None, *self._input_shape], tf.float32)
        if use_tf_function:
            self._proba_fn = tf.function(self._proba_eager, input_signature=[spec])
            self._step_fn = tf.function(self._step_eager, input_signature=[spec, tf.TensorSpec([None], tf.int64)])
        else:
            self._proba_fn = self._proba_eager
            self._step_fn = self._step_eager
        self._constructed()

    # ------------------------------------------------------------ the model
    def _logits(self, x: Any, training: bool) -> Any:
        if self._model is not None:
            return forward.logits_of(self._model(x, training=training))[0]
        h = self._trunk(x, training=training) if self._trunk is not None else forward.apply(self._layers, x, training)
        return self._head(h)

    def _proba_eager(self, x: Any) -> Any:
        return tf.nn.softmax(self._logits(x, training=False))

    def _step_eager(self, x: Any, y: Any) -> tuple[Any, Any, Any]:
        variables = self.trainable_variables
        with tf.GradientTape() as tape, forward.collecting_updates() as updates:
            logits = self._logits(x, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
            penalties = forward.weight_penalties(self._all_layers, "model_fn" if self._model is not None else "layers")
            if penalties:  # weight regularization, as Model.fit and the graph classifier add it
                loss = loss + tf.add_n(penalties)
        # A variable the loss does not depend on (behind tf.stop_gradient) has no gradient: it keeps its value.
        pairs = [(g, v) for g, v in zip(tape.gradient(loss, variables), variables) if g is not None]
        finite = tf.reduce_all(
            tf.stack([tf.reduce_all(tf.math.is_finite(g)) for g, _ in pairs] + [tf.math.is_finite(loss)])
        )
        accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, axis=1), y), tf.float32))

        def apply() -> Any:
            self._optimizer.apply_gradients(pairs)
            forward.run_updates(updates)  # BatchNorm's moving statistics: only with an applied step
            return tf.constant(True)

        tf.cond(finite, apply, lambda: tf.constant(False))
        return loss, accuracy, finite

    # ----------------------------------------------------------- properties
    @property
    def runtime(self) -> None:
        """Always None: an eager classifier has no graph or Session."""
        return None

    @property
    def keras_model(self) -> Any:
        """The tf_keras model of ``model_fn``, or None."""
        return self._model

    @property
    def layers(self) -> list[Any] | None:
        """The body's tf_keras layer objects; None on a trunk or for a whole model."""
        return list(self._layers) if self._layers else None

    @property
    def use_tf_function(self) -> bool:
        """Whether predictions and train steps run through tf.function."""
        return self._use_tf_function

    @property
    def tf_functions(self) -> list[Any]:
        """This instance's ``tf.function`` objects (empty unless use_tf_function)."""
        return [self._proba_fn, self._step_fn] if self._use_tf_function else []

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self._name!r}, input_shape={self._input_shape}, "
            f"num_classes={self._num_classes}, use_tf_function={self._use_tf_function})"
        )

    # --------------------------------------------------------------- public
    @eagerly
    def predict_proba(self, x: Any) -> np.ndarray:
        """Returns float32 class probabilities of shape [batch, num_classes], in inference mode.

        Args:
          x: array-like of shape [batch, *input_shape].

        Raises:
          TypeError, InputError: bad x. ClosedError: the classifier is closed.
        """
        self._check_open()
        x = validation.inputs(x, self._input_shape)
        if x.shape[0] == 0:
            return np.zeros((0, self._num_classes), np.float32)
        return self._proba_fn(tf.constant(x)).numpy()

    def predict(self, x: Any) -> np.ndarray:
        """Returns int64 class ids of shape [batch]."""
        proba = self.predict_proba(x)
        return np.argmax(proba, axis=1).astype(np.int64)

    @eagerly
    def evaluate(self, x: Any, y: Any) -> dict[str, float]:
        """Returns {"loss", "accuracy"} on (x, y) in inference mode; see Classifier.evaluate."""
        def chunk(xb: np.ndarray, yb: np.ndarray) -> tuple[float, float]:
            logits = self._logits(tf.constant(xb), training=False)
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=yb, logits=logits).numpy()
            return float(losses.mean()), float((np.argmax(logits.numpy(), axis=1) == yb).mean())

        return self._evaluate_loop(x, y, chunk)

    @eagerly
    def fit(
        self,
        x: Any,
        y: Any,
        epochs: int = 1,
        batch_size: int = 32,
        learning_rate: float = 1e-3,
        shuffle: bool = True,
    ) -> dict[str, list[float]]:
        """Trains with Adam in training mode; same arguments, returns and errors as Classifier.fit."""
        x, y, epochs, batch_size, lr = self._fit_arguments(x, y, epochs, batch_size, learning_rate, shuffle)
        if self._optimizer is None:
            # epsilon as tf.compat.v1.train.AdamOptimizer's (the graph classifier's); Keras's default is 1e-7
            self._optimizer = keras.optimizers.Adam(learning_rate=lr, epsilon=1e-8)
            self._optimizer.build(self.trainable_variables)
        self._optimizer.learning_rate = lr

        def step(xb: np.ndarray, yb: np.ndarray) -> tuple[Any, Any, bool]:
            loss, accuracy, ok = self._step_fn(tf.constant(xb), tf.constant(yb))
            return loss, accuracy, bool(ok)

        return self._fit_loop(x, y, epochs, batch_size, shuffle, step)

    @eagerly
    def _read(self, variables: list[Any]) -> list[np.ndarray]:
        return [v.numpy() for v in variables]

    @eagerly
    def _assign(self, pairs: list[tuple[Any, np.ndarray]]) -> None:
        for variable, value in pairs:
            variable.assign(value)

    @eagerly
    def save(self, path: str) -> str:
        """Saves in the same format as Classifier.save (restorable by either)."""
        self._check_open()
        if self._saver is None:
            self._saver = checkpoints.make_saver(self._model_variables)
        return checkpoints.save(path, self._saver, None, self.config, self._model_variables)

    @eagerly
    def restore(self, path: str) -> str:
        """Restores a checkpoint written by either classifier, after shape checks."""
        self._check_open()
        if self._saver is None:
            self._saver = checkpoints.make_saver(self._model_variables)
        return checkpoints.restore(path, self._saver, None, self.config, self._model_variables)

    def close(self) -> None:
        """Marks the classifier closed; later calls raise ClosedError."""
        self._closed = True


class EagerDenseClassifier(EagerClassifier):
    """The TF2 eager twin of ``DenseClassifier``, with the same arguments and methods.

    Args:
      input_dim: features per row; default 784, or the trunk's.
      num_classes: number of classes (>= 2).
      hidden_units: units per hidden layer; default (64,), or the trunk's.
      trunk: an EagerTrunk whose layers to share.
      use_tf_function: see ``EagerClassifier``.
      name: a label (default "eager_dense_classifier").
      seed: seed for the initial weights and shuffling; None for random.
    """

    _default_name = "eager_dense_classifier"

    def __init__(
        self,
        input_dim: int | None = None,
        num_classes: int = 10,
        hidden_units: Sequence[int] | None = None,
        *,
        trunk: EagerTrunk | None = None,
        use_tf_function: bool = False,
        name: str | None = None,
        seed: int | None = None,
    ) -> None:
        form = dense_form(input_dim, hidden_units, trunk)
        super().__init__(num_classes=num_classes, use_tf_function=use_tf_function, name=name, seed=seed, **form)


class EagerConvClassifier(EagerClassifier):
    """The TF2 eager twin of ``ConvClassifier``, with the same arguments (no runtime) and methods.

    Args:
      input_shape, num_classes, filters, dropout, momentum: as ``ConvClassifier``.
      use_tf_function: see ``EagerClassifier``.
      name: a label (default "eager_conv_classifier").
      seed: seed for the initial weights and shuffling; None for random.
    """

    _default_name = "eager_conv_classifier"

    def __init__(
        self,
        input_shape: Sequence[int] = (28, 28, 1),
        num_classes: int = 10,
        filters: Sequence[int] = (32, 64),
        dropout: float = 0.25,
        momentum: float = architectures.CONV_MOMENTUM,
        *,
        use_tf_function: bool = False,
        name: str | None = None,
        seed: int | None = None,
    ) -> None:
        arch = architectures.conv(input_shape, filters, dropout, momentum)
        super().__init__(architecture=arch, num_classes=num_classes, use_tf_function=use_tf_function, name=name, seed=seed)


__all__ = ["EagerClassifier", "EagerConvClassifier", "EagerDenseClassifier", "EagerTrunk"]
