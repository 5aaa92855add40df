"""EagerDenseClassifier: the TF2 eager / tf.function baseline with the same API.

It builds the same MLP with tf_keras layers, but runs it eagerly (or through a
per-instance ``tf.function`` when ``use_tf_function=True``). No graph, no
Session. It exists so benchmarks and tests can compare the graph classes with
TF2's default way of running, measured side by side.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

import numpy as np

from tfshare import checkpoints, validation
from tfshare.base import ClassifierBase
from tfshare._tf import eager_mode, keras, tf

_F = TypeVar("_F", bound=Callable[..., Any])


def _eagerly(method: _F) -> _F:
    """Runs ``method`` eagerly, even inside a caller's ``graph.as_default()`` block.

    Without it, variables and ops would be added to the caller's graph. Inside
    a ``tf.function`` being traced (this class's own), it runs as traced.
    Costs one ``tf.executing_eagerly()`` check when already eager.
    """

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if tf.executing_eagerly() or tf.inside_function():
            return method(*args, **kwargs)
        with eager_mode():
            return method(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _glorot(seed: int | None, offset: int) -> Any:
    return keras.initializers.GlorotUniform(seed=None if seed is None else seed + offset)


class EagerTrunk:
    """Hidden Dense(relu) layers shared by several EagerDenseClassifiers.

    Args:
      input_dim: features per input row.
      hidden_units: units per hidden layer (at least one).
      name: a label for the trunk (default "eager_trunk").
      seed: seed for the initial weights; None for random.
    """

    @_eagerly
    def __init__(
        self,
        input_dim: int,
        hidden_units: tuple[int, ...] | list[int],
        name: str | None = None,
        seed: int | None = None,
    ) -> None:
        self._input_dim = validation.positive_int(input_dim, "input_dim")
        self._hidden_units = validation.hidden_units(hidden_units)
        if not self._hidden_units:
            raise validation.InputError("hidden_units must name at least one layer for a trunk, got ()")
        self._name = validation.name(name) or "eager_trunk"
        seed = validation.seed(seed)
        self._layers = _dense_stack(self._input_dim, self._hidden_units, seed, self._name)

    @property
    def input_dim(self) -> int:
        """Features per input row."""
        return self._input_dim

    @property
    def hidden_units(self) -> tuple[int, ...]:
        """Units per hidden layer."""
        return self._hidden_units

    @property
    def name(self) -> str:
        """The trunk's label."""
        return self._name

    @property
    def layers(self) -> list[Any]:
        """The tf_keras Dense layer objects."""
        return list(self._layers)

    def named_variables(self) -> dict[str, Any]:
        """Maps "hidden_i/kernel" / "hidden_i/bias" to the trunk's variables."""
        return _named(self._layers)

    @property
    def variables(self) -> list[Any]:
        """The trunk's variables."""
        return list(self.named_variables().values())

    @_eagerly
    def __call__(self, x: Any) -> Any:
        """Applies the trunk: float32 [batch, input_dim] -> float32 [batch, hidden_units[-1]]."""
        for layer in self._layers:
            x = layer(x)
        return x


def _dense_stack(input_dim: int, hidden_units: tuple[int, ...], seed: int | None, prefix: str) -> list[Any]:
    layers, width = [], input_dim
    for i, units in enumerate(hidden_units):
        layer = keras.layers.Dense(
            units, activation="relu", kernel_initializer=_glorot(seed, i), name=f"{prefix}_hidden_{i}"
        )
        layer.build(tf.TensorShape([None, width]))
        layers.append(layer)
        width = units
    return layers


def _named(layers: list[Any]) -> dict[str, Any]:
    named: dict[str, Any] = {}
    for i, layer in enumerate(layers):
        named[f"hidden_{i}/kernel"] = layer.kernel
        named[f"hidden_{i}/bias"] = layer.bias
    return named


class EagerDenseClassifier(ClassifierBase):
    """The TF2 eager twin of ``DenseClassifier``, with the same methods.

    Args:
      input_dim: features per row; default 784, or the trunk's.
      num_classes: number of classes (>= 2).
      hidden_units: units per hidden layer; default (64,), or the trunk's.
      trunk: an EagerTrunk whose layers to share.
      use_tf_function: run prediction and the train step through a
        per-instance ``tf.function`` instead of op-by-op.
      name: a label (default "eager_dense_classifier").
      seed: seed for the initial weights and shuffling; None for random.

    Raises:
      TypeError, InputError: bad arguments (see ``tfshare.validation``).
    """

    @_eagerly
    def __init__(
        self,
        input_dim: int | None = None,
        num_classes: int = 10,
        hidden_units: tuple[int, ...] | list[int] | None = None,
        *,
        trunk: EagerTrunk | None = None,
        use_tf_function: bool = False,
        name: str | None = None,
        seed: int | None = None,
    ) -> None:
        if not isinstance(use_tf_function, bool):
            raise TypeError(f"use_tf_function must be a bool, got {type(use_tf_function).__name__}")
        if trunk is not None and not isinstance(trunk, EagerTrunk):
            raise TypeError(f"trunk must be an EagerTrunk, got {type(trunk).__name__}")
        self._init_architecture(input_dim, num_classes, hidden_units, trunk, seed)
        self._name = validation.name(name) or "eager_dense_classifier"
        self._use_tf_function = use_tf_function
        if trunk is not None:
            self._hidden_layers: list[Any] = []
            width = trunk.hidden_units[-1]
        else:
            self._hidden_layers = _dense_stack(self._input_dim, self._hidden_units, self._seed, self._name)
            width = self._hidden_units[-1] if self._hidden_units else self._input_dim
        self._head = keras.layers.Dense(
            self._num_classes, kernel_initializer=_glorot(self._seed, len(self._hidden_units)), name=f"{self._name}_head"
        )
        self._head.build(tf.TensorShape([None, width]))
        self._model_variables = (trunk.named_variables() if trunk is not None else {})
        self._model_variables.update(_named(self._hidden_layers))
        self._model_variables["head/kernel"] = self._head.kernel
        self._model_variables["head/bias"] = self._head.bias
        self._optimizer: Any = None
        self._saver: Any = None
        spec = tf.TensorSpec([None, self._input_dim], tf.float32)
        if use_tf_function:
            self._proba_fn = tf.function(self._proba_eager, input_signature=[spec])
            self._step_fn = tf.function(
                self._step_eager, input_signature=[spec, tf.TensorSpec([None], tf.int64)]
            )
        else:
            self._proba_fn = self._proba_eager
            self._step_fn = self._step_eager

    # ------------------------------------------------------------ the model
    def _logits(self, x: Any) -> Any:
        h = self._trunk(x) if self._trunk is not None else x
        for layer in self._hidden_layers:
            h = layer(h)
        return self._head(h)

    def _proba_eager(self, x: Any) -> Any:
        return tf.nn.softmax(self._logits(x))

    def _step_eager(self, x: Any, y: Any) -> tuple[Any, Any, Any]:
        variables = list(self._model_variables.values())
        with tf.GradientTape() as tape:
            logits = self._logits(x)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        grads = tape.gradient(loss, variables)
        finite = tf.reduce_all(
            tf.stack([tf.reduce_all(tf.math.is_finite(g)) for g in grads] + [tf.math.is_finite(loss)])
        )
        accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, axis=1), y), tf.float32))

        def apply() -> Any:
            self._optimizer.apply_gradients(zip(grads, variables))
            return tf.constant(True)

        tf.cond(finite, apply, lambda: tf.constant(False))
        return loss, accuracy, finite

    # ----------------------------------------------------------- properties
    @property
    def runtime(self) -> None:
        """Always None: an eager classifier has no graph or Session."""
        return None

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
            f"EagerDenseClassifier(name={self._name!r}, input_dim={self._input_dim}, hidden_units={self._hidden_units}, "
            f"num_classes={self._num_classes}, use_tf_function={self._use_tf_function})"
        )

    # --------------------------------------------------------------- public
    @_eagerly
    def predict_proba(self, x: Any) -> np.ndarray:
        """Returns float32 class probabilities of shape [batch, num_classes].

        Args:
          x: array-like of shape [batch, input_dim].

        Raises:
          TypeError, InputError: bad x. ClosedError: the classifier is closed.
        """
        self._check_open()
        x = validation.features(x, self._input_dim)
        if x.shape[0] == 0:
            return np.zeros((0, self._num_classes), np.float32)
        return self._proba_fn(tf.constant(x)).numpy()

    def predict(self, x: Any) -> np.ndarray:
        """Returns int64 class ids of shape [batch]."""
        proba = self.predict_proba(x)
        return np.argmax(proba, axis=1).astype(np.int64)

    @_eagerly
    def evaluate(self, x: Any, y: Any) -> dict[str, float]:
        """Returns {"loss", "accuracy"} on (x, y); see DenseClassifier.evaluate."""
        def chunk(xb: np.ndarray, yb: np.ndarray) -> tuple[float, float]:
            logits = self._logits(tf.constant(xb))
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=yb, logits=logits).numpy()
            return float(losses.mean()), float((np.argmax(logits.numpy(), axis=1) == yb).mean())

        return self._evaluate_loop(x, y, chunk)

    @_eagerly
    def fit(
        self,
        x: Any,
        y: Any,
        epochs: int = 1,
        batch_size: int = 32,
        learning_rate: float = 1e-3,
        shuffle: bool = True,
    ) -> dict[str, list[float]]:
        """Trains with Adam; same arguments, returns and errors as DenseClassifier.fit."""
        x, y, epochs, batch_size, lr = self._fit_arguments(x, y, epochs, batch_size, learning_rate, shuffle)
        if self._optimizer is None:
            self._optimizer = keras.optimizers.Adam(learning_rate=lr)
            self._optimizer.build(list(self._model_variables.values()))
        self._optimizer.learning_rate = lr

        def step(xb: np.ndarray, yb: np.ndarray) -> tuple[Any, Any, bool]:
            loss, accuracy, ok = self._step_fn(tf.constant(xb), tf.constant(yb))
            return loss, accuracy, bool(ok)

        return self._fit_loop(x, y, epochs, batch_size, shuffle, step)

    @_eagerly
    def save(self, path: str) -> str:
        """Saves in the same format as DenseClassifier.save (restorable by either)."""
        self._check_open()
        if self._saver is None:
            self._saver = checkpoints.make_saver(self._model_variables)
        return checkpoints.save(path, self._saver, None, self.config, self._model_variables)

    @_eagerly
    def restore(self, path: str) -> str:
        """Restores a checkpoint written by either classifier, after shape checks."""
        self._check_open()
        if self._saver is None:
            self._saver = checkpoints.make_saver(self._model_variables)
        return checkpoints.restore(path, self._saver, None, self.config, self._model_variables)

    def close(self) -> None:
        """Marks the classifier closed; later calls raise ClosedError."""
        self._closed = True

