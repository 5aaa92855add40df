"""EagerDenseClassifier: the TF2 eager / tf.function baseline with the same API.

It builds the same MLP with tf_keras layers, but runs it eagerly (or through a
per-instance ``tf.function`` when ``use_tf_function=True``). No graph, no
Session. It exists so benchmarks and tests can compare the graph classes with
TF2's default way of running, measured side by side.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tfshare import checkpoints, validation
from tfshare._tf import keras, tf
from tfshare.errors import ClosedError, TrainingError

_EVAL_CHUNK = 4096


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


class EagerDenseClassifier:
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
        self._closed = False
        self._num_classes = validation.positive_int(num_classes, "num_classes", minimum=2)
        self._seed = validation.seed(seed)
        self._name = validation.name(name) or "eager_dense_classifier"
        if not isinstance(use_tf_function, bool):
            raise TypeError(f"use_tf_function must be a bool, got {type(use_tf_function).__name__}")
        if trunk is not None:
            if not isinstance(trunk, EagerTrunk):
                raise TypeError(f"trunk must be an EagerTrunk, got {type(trunk).__name__}")
            for arg, given, expected in (
                ("input_dim", input_dim, trunk.input_dim),
                ("hidden_units", None if hidden_units is None else tuple(hidden_units), trunk.hidden_units),
            ):
                if given is not None and given != expected:
                    raise validation.InputError(f"{arg} must match the trunk's {arg} {expected}, got {given}")
            input_dim, hidden_units = trunk.input_dim, trunk.hidden_units
        self._input_dim = validation.positive_int(784 if input_dim is None else input_dim, "input_dim")
        self._hidden_units = validation.hidden_units((64,) if hidden_units is None else hidden_units)
        self._trunk = trunk
        self._use_tf_function = use_tf_function
        self._rng = np.random.default_rng(self._seed)
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
        self._named_variables = (trunk.named_variables() if trunk is not None else {})
        self._named_variables.update(_named(self._hidden_layers))
        self._named_variables["head/kernel"] = self._head.kernel
        self._named_variables["head/bias"] = self._head.bias
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
        variables = list(self._named_variables.values())
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
    def name(self) -> str:
        """The classifier's label."""
        return self._name

    @property
    def runtime(self) -> None:
        """Always None: an eager classifier has no graph or Session."""
        return None

    @property
    def trunk(self) -> EagerTrunk | None:
        """The shared trunk, or None."""
        return self._trunk

    @property
    def input_dim(self) -> int:
        """Features per input row."""
        return self._input_dim

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return self._num_classes

    @property
    def hidden_units(self) -> tuple[int, ...]:
        """Units per hidden layer."""
        return self._hidden_units

    @property
    def use_tf_function(self) -> bool:
        """Whether predictions and train steps run through tf.function."""
        return self._use_tf_function

    @property
    def config(self) -> dict[str, Any]:
        """The architecture: input_dim, hidden_units and num_classes."""
        return {"input_dim": self._input_dim, "hidden_units": list(self._hidden_units), "num_classes": self._num_classes}

    @property
    def variables(self) -> list[Any]:
        """The model's variables (trunk or hidden layers, then head)."""
        return list(self._named_variables.values())

    @property
    def trainable_variables(self) -> list[Any]:
        """The variables ``fit`` updates."""
        return [v for v in self._named_variables.values() if v.trainable]

    @property
    def named_variables(self) -> dict[str, Any]:
        """Checkpoint keys mapped to variables (the same keys as DenseClassifier)."""
        return dict(self._named_variables)

    @property
    def num_params(self) -> int:
        """Number of scalar parameters the classifier uses."""
        return int(sum(v.shape.num_elements() for v in self._named_variables.values()))

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
    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError(f"classifier {self._name!r} is closed")

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

    def evaluate(self, x: Any, y: Any) -> dict[str, float]:
        """Returns {"loss", "accuracy"} on (x, y); see DenseClassifier.evaluate."""
        self._check_open()
        x = validation.features(x, self._input_dim, allow_empty=False)
        y = validation.labels(y, self._num_classes, x.shape[0])
        total_loss = total_correct = 0.0
        for start in range(0, x.shape[0], _EVAL_CHUNK):
            xb, yb = x[start : start + _EVAL_CHUNK], y[start : start + _EVAL_CHUNK]
            logits = self._logits(tf.constant(xb))
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=yb, logits=logits).numpy()
            total_loss += float(losses.sum())
            total_correct += float((np.argmax(logits.numpy(), axis=1) == yb).sum())
        return {"loss": total_loss / len(y), "accuracy": total_correct / len(y)}

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
        self._check_open()
        x = validation.features(x, self._input_dim, allow_empty=False)
        y = validation.labels(y, self._num_classes, x.shape[0])
        epochs = validation.positive_int(epochs, "epochs")
        batch_size = validation.positive_int(batch_size, "batch_size")
        lr = validation.positive_float(learning_rate, "learning_rate")
        if not isinstance(shuffle, bool):
            raise TypeError(f"shuffle must be a bool, got {type(shuffle).__name__}")
        if self._optimizer is None:
            self._optimizer = keras.optimizers.Adam(learning_rate=lr)
            self._optimizer.build(list(self._named_variables.values()))
        self._optimizer.learning_rate = lr
        n = x.shape[0]
        history: dict[str, list[float]] = {"loss": [], "accuracy": []}
        for epoch in range(epochs):
            order = self._rng.permutation(n) if shuffle else None
            xs, ys = (x[order], y[order]) if shuffle else (x, y)
            total_loss = total_correct = 0.0
            for start in range(0, n, batch_size):
                xb, yb = xs[start : start + batch_size], ys[start : start + batch_size]
                loss, accuracy, ok = self._step_fn(tf.constant(xb), tf.constant(yb))
                if not bool(ok):
                    raise TrainingError(
                        f"{self._name}: the loss or a gradient became non-finite (loss={float(loss)}) "
                        f"at epoch {epoch}, rows {start}:{start + len(yb)}; that step was not applied. "
                        "Lower learning_rate or check the data."
                    )
                total_loss += float(loss) * len(yb)
                total_correct += float(accuracy) * len(yb)
            history["loss"].append(total_loss / n)
            history["accuracy"].append(total_correct / n)
        return history

    def save(self, path: str) -> str:
        """Saves in the same format as DenseClassifier.save (restorable by either)."""
        self._check_open()
        if self._saver is None:
            self._saver = checkpoints.make_saver(self._named_variables)
        return checkpoints.save(path, self._saver, None, self.config, self._named_variables)

    def restore(self, path: str) -> str:
        """Restores a checkpoint written by either classifier, after shape checks."""
        self._check_open()
        if self._saver is None:
            self._saver = checkpoints.make_saver(self._named_variables)
        return checkpoints.restore(path, self._saver, None, self.config, self._named_variables)

    def close(self) -> None:
        """Marks the classifier closed; later calls raise ClosedError."""
        self._closed = True

    def __enter__(self) -> "EagerDenseClassifier":
        self._check_open()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
