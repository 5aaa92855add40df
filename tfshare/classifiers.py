"""DenseClassifier: an MLP classifier built on a tf.compat.v1 graph and Session.

Three sharing modes, chosen by the constructor's arguments:

* ``runtime=None, trunk=None``: isolated, its own graph and Session.
* ``runtime=gs``: built into a shared ``GraphSession``, with its own variables.
* ``trunk=t``: its hidden layers are the trunk's, shared with every other
  classifier on ``t`` (and it reads the trunk's input and features tensors).

Every op is built once: the prediction ops at construction, the loss and
accuracy ops on the first ``evaluate``/``fit``, the train op on the first
``fit``, the Saver on the first ``save``/``restore``. Repeated calls reuse
cached fast callables and add nothing to the graph.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from tfshare import checkpoints, fused, validation
from tfshare._tf import keras, tf, tf1, v2_layers
from tfshare.errors import ClosedError, InputError, TrainingError
from tfshare.runtime import GraphSession
from tfshare.trunks import _Trunk

_EVAL_CHUNK = 4096


def _kernel_initializer(seed: int | None, offset: int) -> Any:
    return keras.initializers.GlorotUniform(seed=None if seed is None else seed + offset)


class DenseClassifier:
    """Dense(relu) hidden layers, then Dense(num_classes, softmax), in graph mode.

    Args:
      input_dim: features per row; default 784, or the trunk's when a trunk is given.
      num_classes: number of classes (>= 2).
      hidden_units: units per hidden layer; default (64,), or the trunk's.
        Must match the trunk's when a trunk is given.
      runtime: a GraphSession to share; None gives the classifier its own.
      trunk: a SharedTrunk or TemplateTrunk whose hidden layers to share.
      name: the name scope in the graph (unique per runtime); default
        "dense_classifier", made unique.
      seed: seed for the initial weights and for shuffling; None for random.

    Raises:
      TypeError: an argument has the wrong type.
      InputError: an argument is out of range, or conflicts with the trunk.
    """

    def __init__(
        self,
        input_dim: int | None = None,
        num_classes: int = 10,
        hidden_units: tuple[int, ...] | list[int] | None = None,
        *,
        runtime: GraphSession | None = None,
        trunk: _Trunk | None = None,
        name: str | None = None,
        seed: int | None = None,
    ) -> None:
        self._closed = False
        self._num_classes = validation.positive_int(num_classes, "num_classes", minimum=2)
        self._seed = validation.seed(seed)
        if trunk is not None:
            if not isinstance(trunk, _Trunk):
                raise TypeError(
                    f"trunk must be a SharedTrunk or TemplateTrunk, got {type(trunk).__name__}"
                )
            if runtime is not None and runtime is not trunk.runtime:
                raise InputError(
                    f"runtime must be the trunk's runtime {trunk.runtime!r}, got {runtime!r}"
                )
            runtime = trunk.runtime
            for arg, given, expected in (
                ("input_dim", input_dim, trunk.input_dim),
                ("hidden_units", None if hidden_units is None else tuple(hidden_units), trunk.hidden_units),
            ):
                if given is not None and given != expected:
                    raise InputError(f"{arg} must match the trunk's {arg} {expected}, got {given}")
            input_dim, hidden_units = trunk.input_dim, trunk.hidden_units
        self._input_dim = validation.positive_int(784 if input_dim is None else input_dim, "input_dim")
        self._hidden_units = validation.hidden_units((64,) if hidden_units is None else hidden_units)
        if runtime is None:
            runtime = GraphSession()
            self._owns_runtime = True
        elif isinstance(runtime, GraphSession):
            self._owns_runtime = False
        else:
            raise TypeError(f"runtime must be a tfshare.GraphSession or None, got {type(runtime).__name__}")
        self._runtime = runtime
        self._trunk = trunk
        self._name = runtime.reserve_name(name, "dense_classifier")
        self._scope = self._name + "/"
        self._rng = np.random.default_rng(self._seed)
        self._train = None  # built on first fit
        self._eval = None  # built on first evaluate / fit
        self._saver = None  # built on first save / restore
        self._proba_fn: Callable[..., list] | None = None  # raw TF callable
        self._first_call_served = False  # see tfshare.fused.first_call
        self._ids_fn: Callable[..., list] | None = None
        self._build()
        runtime.add_finalize_hook(self._build_lazy_ops)
        runtime.register_head(self)

    # ------------------------------------------------------------- building
    def _build(self) -> None:
        # Layer objects are constructed in eager mode (see tfshare._tf.v2_layers)
        # and called on graph tensors below.
        with v2_layers():
            self._hidden_layers: list[Any] = [] if self._trunk is not None else [
                keras.layers.Dense(
                    units, activation="relu", kernel_initializer=_kernel_initializer(self._seed, i),
                    name=f"hidden_{i}",
                )
                for i, units in enumerate(self._hidden_units)
            ]
            self._head = keras.layers.Dense(
                self._num_classes,
                kernel_initializer=_kernel_initializer(self._seed, len(self._hidden_units)),
                name="head",
            )
        with self._runtime.building(self._scope):
            if self._trunk is not None:
                self._x = self._trunk.input
                features = self._trunk.output
            else:
                self._x = tf1.placeholder(tf.float32, [None, self._input_dim], name="x")
                features = self._x
                for layer in self._hidden_layers:
                    features = layer(features)
            self._logits = self._head(features)
            self._proba = tf.nn.softmax(self._logits, name="probabilities")
            self._class_ids = tf.argmax(self._logits, axis=1, output_type=tf.int64, name="class_ids")
        self._model_variables = self._named_variables()

    def _named_variables(self) -> dict[str, Any]:
        """Maps architecture-level keys ("hidden_0/kernel", "head/bias") to variables."""
        named: dict[str, Any] = {}
        if self._trunk is not None:
            named.update(self._trunk.named_variables())
        for i, layer in enumerate(self._hidden_layers):
            named[f"hidden_{i}/kernel"] = layer.kernel
            named[f"hidden_{i}/bias"] = layer.bias
        named["head/kernel"] = self._head.kernel
        named["head/bias"] = self._head.bias
        return named

    def _build_eval(self) -> None:
        with self._runtime.building(self._scope):
            if self._eval is None:
                self._y = tf1.placeholder(tf.int64, [None], name="y")
                losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=self._y, logits=self._logits)
                loss = tf.reduce_mean(losses, name="loss")
                correct = tf.cast(tf.equal(self._class_ids, self._y), tf.float32)
                accuracy = tf.reduce_mean(correct, name="accuracy")
                self._eval = (loss, accuracy)

    def _build_train(self) -> None:
        if self._eval is None:
            self._build_eval()
        with self._runtime.building(self._scope):
            if self._train is not None:
                return
            loss, _ = self._eval
            self._learning_rate = tf1.placeholder(tf.float32, [], name="learning_rate")
            optimizer = tf1.train.AdamOptimizer(self._learning_rate, name=f"adam_{self._name}")
            var_list = list(self._model_variables.values())
            grads = tf.gradients(loss, var_list)
            finite = tf.reduce_all(
                tf.stack([tf.reduce_all(tf.math.is_finite(g)) for g in grads] + [tf.math.is_finite(loss)]),
                name="step_is_finite",
            )
            # A non-finite loss or gradient skips the update: the weights from
            # before the failing step stay in place, and fit() raises.
            with tf1.variable_scope("optimizer", reuse=tf1.AUTO_REUSE):
                train_op = tf.cond(
                    finite,
                    lambda: tf.group(optimizer.apply_gradients(zip(grads, var_list))),
                    tf.no_op,
                    name="train_step",
                )
            self._optimizer = optimizer
            self._train = (train_op, finite)

    def _build_saver(self) -> None:
        with self._runtime.building(self._scope):
            if self._saver is None:
                self._saver = checkpoints.make_saver(self._model_variables)

    def _build_lazy_ops(self) -> None:
        """Builds every lazily built op (called by GraphSession.finalize)."""
        if not self._closed:
            self._build_train()
            self._build_saver()

    # ----------------------------------------------------------- properties
    @property
    def runtime(self) -> GraphSession:
        """The GraphSession holding this classifier's graph and Session."""
        return self._runtime

    @property
    def trunk(self) -> _Trunk | None:
        """The shared trunk, or None."""
        return self._trunk

    @property
    def name(self) -> str:
        """The classifier's unique name (its name scope) in the runtime."""
        return self._name

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
    def config(self) -> dict[str, Any]:
        """The architecture: input_dim, hidden_units and num_classes."""
        return {
            "input_dim": self._input_dim,
            "hidden_units": list(self._hidden_units),
            "num_classes": self._num_classes,
        }

    @property
    def variables(self) -> list[Any]:
        """The model's variables (trunk or hidden layers, then head); no optimizer state."""
        return list(self._model_variables.values())

    @property
    def trainable_variables(self) -> list[Any]:
        """The variables ``fit`` updates (the same as ``variables``)."""
        return [v for v in self._model_variables.values() if v.trainable]

    @property
    def named_variables(self) -> dict[str, Any]:
        """Checkpoint keys ("hidden_0/kernel", "head/bias", ...) mapped to variables."""
        return dict(self._model_variables)

    @property
    def num_params(self) -> int:
        """Number of scalar parameters the classifier uses (shared ones included)."""
        return int(sum(v.shape.num_elements() for v in self._model_variables.values()))

    @property
    def input_tensor(self) -> Any:
        """The float32 placeholder of shape [batch, input_dim] predictions are fed to."""
        return self._x

    @property
    def probabilities_tensor(self) -> Any:
        """float32 tensor of shape [batch, num_classes]: softmax probabilities."""
        return self._proba

    @property
    def class_ids_tensor(self) -> Any:
        """int64 tensor of shape [batch]: the most probable class."""
        return self._class_ids

    def __repr__(self) -> str:
        mode = "isolated" if self._owns_runtime else (
            f"trunk={self._trunk.name!r}" if self._trunk is not None else "shared runtime"
        )
        return (
            f"DenseClassifier(name={self._name!r}, input_dim={self._input_dim}, "
            f"hidden_units={self._hidden_units}, num_classes={self._num_classes}, {mode})"
        )

    # ------------------------------------------------------------ inference
    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError(f"classifier {self._name!r} is closed")
        if self._runtime.closed:
            raise ClosedError(f"the runtime of classifier {self._name!r} is closed")

    def predict_proba(self, x: Any) -> np.ndarray:
        """Returns class probabilities.

        Args:
          x: array-like of shape [batch, input_dim]; float32 is used as is,
            float64 and integers are cast to float32.

        Returns:
          float32 array of shape [batch, num_classes]; rows sum to 1.

        Raises:
          TypeError, InputError: x is not a finite numeric [batch, input_dim] array.
          ClosedError: the classifier or its runtime is closed.
        """
        x = validation.features(x, self._input_dim)
        fn = self._proba_fn
        if fn is None or x.shape[0] == 0:
            return self._predict_proba_slow(x)
        try:
            return fn(x)[0]
        except tf.errors.CancelledError:
            self._raise_if_closed()
            raise

    def _raise_if_closed(self) -> None:
        if self._closed or self._runtime.closed:
            raise ClosedError(f"classifier {self._name!r} or its runtime is closed") from None

    def _predict_proba_slow(self, x: np.ndarray) -> np.ndarray:
        """First call, empty batch, or closed: everything off the hot path."""
        self._check_open()
        if x.shape[0] == 0:
            return np.zeros((0, self._num_classes), np.float32)
        if not self._first_call_served:
            self._first_call_served = True  # at most one call from a fused group
            first = fused.first_call(self, x)
            if first is not None:
                return first
        # The raw TF callable: the hot path pays no wrapper call.
        self._proba_fn = self._runtime.callable([self._proba], [self._x]).unwrap()
        return self._proba_fn(x)[0]

    def predict(self, x: Any) -> np.ndarray:
        """Returns the most probable class of each row.

        Args:
          x: array-like of shape [batch, input_dim].

        Returns:
          int64 array of shape [batch].

        Raises:
          TypeError, InputError: as ``predict_proba``.
          ClosedError: the classifier or its runtime is closed.
        """
        x = validation.features(x, self._input_dim)
        fn = self._ids_fn
        if fn is None or x.shape[0] == 0:
            self._check_open()
            if x.shape[0] == 0:
                return np.zeros((0,), np.int64)
            fn = self._ids_fn = self._runtime.callable([self._class_ids], [self._x]).unwrap()
        try:
            return fn(x)[0]
        except tf.errors.CancelledError:
            self._raise_if_closed()
            raise

    def evaluate(self, x: Any, y: Any) -> dict[str, float]:
        """Returns the mean cross-entropy loss and the accuracy on (x, y).

        Args:
          x: array-like of shape [n, input_dim], n >= 1.
          y: integer array-like of shape [n], values in [0, num_classes).

        Returns:
          {"loss": float, "accuracy": float}.

        Raises:
          TypeError, InputError: bad x or y (see ``tfshare.validation``).
          ClosedError: the classifier or its runtime is closed.
        """
        self._check_open()
        x = validation.features(x, self._input_dim, allow_empty=False)
        y = validation.labels(y, self._num_classes, x.shape[0])
        if self._eval is None:
            self._build_eval()
        fn = self._runtime.callable(list(self._eval), [self._x, self._y])
        total_loss = total_correct = 0.0
        for start in range(0, x.shape[0], _EVAL_CHUNK):
            xb, yb = x[start : start + _EVAL_CHUNK], y[start : start + _EVAL_CHUNK]
            loss, accuracy = fn(xb, yb)
            total_loss += float(loss) * len(yb)
            total_correct += float(accuracy) * len(yb)
        return {"loss": total_loss / len(y), "accuracy": total_correct / len(y)}

    # ------------------------------------------------------------- training
    def fit(
        self,
        x: Any,
        y: Any,
        epochs: int = 1,
        batch_size: int = 32,
        learning_rate: float = 1e-3,
        shuffle: bool = True,
    ) -> dict[str, list[float]]:
        """Trains with Adam on the softmax cross-entropy.

        Args:
          x: array-like of shape [n, input_dim], n >= 1.
          y: integer array-like of shape [n], values in [0, num_classes).
          epochs: passes over the data (>= 1).
          batch_size: rows per step (>= 1).
          learning_rate: Adam's step size (> 0).
          shuffle: reshuffle the rows before every epoch.

        Returns:
          {"loss": [per-epoch mean loss], "accuracy": [per-epoch accuracy]},
          measured on the batches as they were trained.

        Raises:
          TypeError, InputError: bad data or arguments.
          TrainingError: a step's loss or gradient was NaN/Inf; that step was
            not applied, so the weights are those from before it.
          ClosedError: the classifier or its runtime is closed.
        """
        self._check_open()
        x = validation.features(x, self._input_dim, allow_empty=False)
        y = validation.labels(y, self._num_classes, x.shape[0])
        epochs = validation.positive_int(epochs, "epochs")
        batch_size = validation.positive_int(batch_size, "batch_size")
        lr = np.asarray(validation.positive_float(learning_rate, "learning_rate"), np.float32)
        if not isinstance(shuffle, bool):
            raise TypeError(f"shuffle must be a bool, got {type(shuffle).__name__}")
        if self._train is None:
            self._build_train()
        train_op, finite = self._train
        loss_op, accuracy_op = self._eval
        step = self._runtime.callable(
            [loss_op, accuracy_op, finite], [self._x, self._y, self._learning_rate], [train_op]
        ).unwrap()
        n = x.shape[0]
        history: dict[str, list[float]] = {"loss": [], "accuracy": []}
        for epoch in range(epochs):
            if shuffle:
                order = self._rng.permutation(n)
                xs, ys = x[order], y[order]  # one copy per epoch; batches are views
            else:
                xs, ys = x, y
            total_loss = total_correct = 0.0
            for start in range(0, n, batch_size):
                xb, yb = xs[start : start + batch_size], ys[start : start + batch_size]
                loss, accuracy, ok = step(xb, yb, lr)
                if not ok:
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

    # ---------------------------------------------------------- checkpoints
    def save(self, path: str) -> str:
        """Saves the model variables and configuration to the directory ``path``.

        The write is atomic: a crash mid-save leaves the previous checkpoint
        in ``path`` restorable.

        Returns:
          The checkpoint prefix written, e.g. "path/ckpt-3".

        Raises:
          CheckpointError: the directory cannot be written.
        """
        self._check_open()
        if self._saver is None:
            self._build_saver()
        self._runtime.initialize()
        with self._runtime.graph.as_default():  # the Saver runs in graph mode only here
            return checkpoints.save(
                path, self._saver, self._runtime.session, self.config, self._model_variables
            )

    def restore(self, path: str) -> str:
        """Restores model variables saved by ``save`` (from any sharing mode).

        Shapes and configuration are checked before anything is assigned.

        Args:
          path: a directory written by ``save`` (its latest checkpoint is
            used) or a checkpoint prefix such as "path/ckpt-3".

        Returns:
          The checkpoint prefix restored.

        Raises:
          CheckpointError: the path is missing or corrupt, or the checkpoint
            does not match this classifier's configuration or shapes.
        """
        self._check_open()
        if self._saver is None:
            self._build_saver()
        with self._runtime.graph.as_default():
            prefix = checkpoints.restore(
                path, self._saver, self._runtime.session, self.config, self._model_variables
            )
        self._runtime.mark_initialized(list(self._model_variables.values()))
        return prefix

    # ------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Closes the classifier; an isolated one also closes its runtime."""
        if self._closed:
            return
        self._closed = True
        self._proba_fn = self._ids_fn = None  # the slow path then raises ClosedError
        if self._owns_runtime:
            self._runtime.close()

    def __enter__(self) -> "DenseClassifier":
        self._check_open()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


__all__ = ["DenseClassifier"]
