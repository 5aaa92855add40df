"""Classifier: any tf_keras body with a Dense head, built on a tf.compat.v1 graph and Session.

Three sharing modes, chosen by the constructor's arguments:

* ``runtime=None``: isolated, its own graph and Session.
* ``runtime=gs``: built into a shared ``GraphSession``, with its own variables.
* ``trunk=t``: its body is the trunk's, shared with every other classifier
  on ``t`` (it reads the trunk's input and features tensors); it owns only
  its head.

And three ways to say what the model is: ``layers=`` (a factory of tf_keras
layers: the body), ``model_fn=`` (a factory of a whole tf_keras model,
head included), or ``trunk=``.

Every op is built once: the inference path (``training=False``) at
construction, the loss and accuracy on the first ``evaluate``/``fit``, the
training path (``training=True``, only if a layer such as Dropout or
BatchNorm depends on it) and the train step on the first ``fit``, the Saver
on the first ``save``/``restore``. Repeated calls reuse cached fast callables
and add nothing to the graph.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Sequence

import numpy as np

from tfshare import (
    architectures, checkpoints, forward, fused, graph_ops, graph_template, initial_values, keras_model, validation,
)
from tfshare._tf import keras, tf, tf1, v2_layers
from tfshare.architectures import Architecture
from tfshare.base import ClassifierBase, resolve_form
from tfshare.errors import ClosedError, InputError
from tfshare.runtime import GraphSession
from tfshare.trunks import _Trunk


def make_head(num_classes: int) -> Any:
    """The classifier's own ``Dense(num_classes)`` head, made in eager mode (see ``tfshare._tf.v2_layers``)."""
    with v2_layers():
        return keras.layers.Dense(num_classes, name="head")


class Classifier(ClassifierBase):
    """A tf_keras body, then ``Dense(num_classes)`` and softmax, in graph mode.

    Example:
      >>> body = lambda: [tf_keras.layers.Conv2D(32, 3), tf_keras.layers.BatchNormalization(),
      ...                 tf_keras.layers.ReLU(), tf_keras.layers.GlobalAveragePooling2D()]
      >>> clf = Classifier(layers=body, input_shape=(28, 28, 1), num_classes=10, seed=0)

    Args:
      layers: a zero-argument callable returning new tf_keras layers (or one
        layer): the body. Its output must be [batch, features]; the
        classifier adds its own Dense head.
      input_shape: the shape of one example, e.g. (28, 28, 1); required with
        ``layers``, taken from the trunk or model otherwise.
      num_classes: number of classes (>= 2); required with ``layers`` and
        ``trunk``, taken from the model with ``model_fn``.
      model_fn: a zero-argument callable returning a complete tf_keras model
        with one input and an output [batch, num_classes] (logits, or a
        softmax, which is taken off for the loss). Its compile settings are
        not used: ``fit`` trains with Adam on the cross-entropy.
      trunk: a SharedTrunk or TemplateTrunk whose body to share.
      runtime: a GraphSession to share; None gives the classifier its own
        (on a trunk: the trunk's).
      name: the name scope in the graph (unique per runtime); default
        "classifier", made unique.
      seed: seed for the initial weights (the k-th randomly initialized
        variable gets seed + k) and for shuffling; None for random.
      architecture: an ``tfshare.architectures.Architecture``, instead of
        ``layers`` (what ``DenseClassifier`` and ``ConvClassifier`` pass).

    Raises:
      TypeError: an argument has the wrong type (a Keras 3 layer gets an
        error that names tf_keras).
      InputError: arguments are missing, out of range or in conflict, or the
        body cannot feed a Dense head.
    """

    _default_name = "classifier"

    def __init__(
        self,
        layers: Callable[[], Any] | None = None,
        input_shape: Sequence[int] | None = None,
        num_classes: int | None = None,
        *,
        model_fn: Callable[[], Any] | None = None,
        trunk: _Trunk | None = None,
        runtime: GraphSession | None = None,
        name: str | None = None,
        seed: int | None = None,
        architecture: Architecture | None = None,
    ) -> None:
        if trunk is not None:
            if not isinstance(trunk, _Trunk):
                raise TypeError(f"trunk must be a SharedTrunk or TemplateTrunk, got {type(trunk).__name__}")
            if runtime is not None and runtime is not trunk.runtime:
                raise InputError(f"runtime must be the trunk's runtime {trunk.runtime!r}, got {runtime!r}")
            runtime = trunk.runtime
        if runtime is not None and not isinstance(runtime, GraphSession):
            raise TypeError(f"runtime must be a tfshare.GraphSession or None, got {type(runtime).__name__}")
        validation.seed(seed)
        validation.name(name)
        form = resolve_form(layers, input_shape, num_classes, model_fn, trunk, architecture)
        self._init_form(form, seed)
        self._owns_runtime = runtime is None
        self._runtime = runtime = runtime if runtime is not None else GraphSession()
        self._name = runtime.reserve_name(name, self._default_name)
        self._scope = self._name + "/"
        self._architecture = form.architecture
        self._adopted = form.adopted
        self._layers: list[Any] | None = None  # the body's layer objects (None: a copy, until it trains)
        self._head: Any = None
        self._copied = False
        self._train_forward: tuple[Any, list[Any]] | None = None  # (training logits, updates), on first fit
        self._train = None  # built on first fit
        self._eval = None  # built on first evaluate / fit
        self._saver = None  # built on first save / restore
        self._proba_fn: Callable[..., list] | None = None  # raw TF callable
        self._first_call_served = False  # see tfshare.fused.first_call
        self._ids_fn: Callable[..., list] | None = None
        try:
            self._build()
        except BaseException:
            if self._owns_runtime:
                runtime.close()
            raise
        runtime.add_finalize_hook(self._build_lazy_ops)
        runtime.register_head(self)
        self._constructed()

    # ------------------------------------------------------------- building
    def _body_layers(self) -> list[Any]:
        if self._layers is None:
            self._layers = self._architecture.make_layers()
        return self._layers

    def _copy_key(self) -> tuple | None:
        """What another classifier must share for this one to be a copy of its ops (None: never copied)."""
        if self._adopted is not None:
            self._config = dict(self._adopted.config)
        elif self._trunk is not None:
            self._config = self._trunk.config
        else:
            arch = self._architecture
            layers = self._body_layers() if arch.key is None else ()
            self._config = architectures.checkpoint_config(arch, layers)
        self._config["num_classes"] = self._num_classes
        if self._adopted is not None:
            return None  # its initial values are its own model's
        if self._trunk is not None:
            # A trunk's name is unique in its runtime (its id() could be reused).
            return ("trunk", self._trunk.name, self._num_classes)
        body_key = self._architecture.key if self._architecture.key is not None else self._config.get("layers")
        return None if body_key is None else (body_key, self._input_shape, self._num_classes)

    def _build(self) -> None:
        """Builds the inference ops: through tf_keras, or as a copy of an earlier classifier's."""
        key = self._template_key = self._copy_key()
        with self._runtime.building(self._scope) as graph:
            template = graph_template.find(self._runtime, key) if key is not None else None  # under the build lock
            if template is None:
                tensors, own, fed = self._build_with_keras(graph, key)
            else:
                tensors, own, fed = template.copy(graph, self._scope, self._seed)
                self._copied = True
            self._runtime.add_initial_values(fed)
        self._x, self._logits, self._proba, self._class_ids = (tensors[r] for r in graph_template.ROLES)
        self._own = list(own.values())  # in creation order: a copy's layers take them in this order
        self._model_variables = dict(self._trunk.named_variables()) if self._trunk is not None else {}
        self._model_variables.update(own)

    def _build_with_keras(self, graph: Any, key: tuple | None) -> tuple[dict, dict, list]:
        first_op = len(graph.get_operations())
        if self._trunk is not None:
            x, features, start = self._trunk.input, self._trunk.output, self._trunk._num_random
        else:
            x, features, start = tf1.placeholder(tf.float32, [None, *self._input_shape], name="x"), None, 0
        if self._adopted is not None:
            with initial_values.creating(self._seed, feed_all=True) as created:
                logits = self._adopted.logits(x, training=False)
            self._adopted.feed_kept_values(created)
            keyed = architectures.weight_keys(keras_model.leaves(self._adopted.model), named=False)
        else:
            with initial_values.creating(self._seed, start=start) as created:
                if features is None:
                    features = forward.check_features(forward.apply(self._body_layers(), x, training=False))
                self._head = make_head(self._num_classes)
                logits = self._head(features)
            keyed = {} if self._trunk is not None else architectures.weight_keys(self._layers, self._architecture.named)
            keyed.update({"head/kernel": self._head.kernel, "head/bias": self._head.bias})
        proba, class_ids = graph_ops.prediction(logits)
        tensors = {"x": x, "logits": logits, "probabilities": proba, "class_ids": class_ids}
        order = {id(c.variable): i for i, c in enumerate(created)}
        own = dict(sorted(keyed.items(), key=lambda item: order[id(item[1])]))
        by_variable = {id(c.variable): c for c in created}
        fed = {k: (by_variable[id(v)].fed, by_variable[id(v)].spec) for k, v in own.items() if by_variable[id(v)].fed is not None}
        if key is not None:
            built, scope = graph.get_operations()[first_op:], self._scope  # the recipe must not hold self
            graph_template.record(self._runtime, key, lambda: graph_template.Template(built, scope, tensors, own, fed))
        return tensors, own, [(own[k], f) for k, (f, _) in fed.items()]

    def _build_training_forward(self) -> tuple[Any, list[Any]]:
        """The training path: (logits float32 [batch, num_classes], the layers' state updates)."""
        if self._adopted is not None:
            if not self._adopted.training_sensitive:
                return self._logits, []
            with forward.collecting_updates([self._adopted.model]) as updates:
                return self._adopted.logits(self._x, training=True), updates
        if self._trunk is not None:
            if not self._trunk.training_sensitive:
                return self._logits, []
            features, updates = self._trunk.training_output, self._trunk.training_updates
            layers: list[Any] = []
        else:
            layers = self._body_layers()
            if not forward.training_sensitive(layers):
                return self._logits, []
            features, updates = self._x, []
        # A copy has no layer objects bound to its (copied) variables yet:
        # fresh ones take them, in creation order, as they build.
        bind = initial_values.reusing(self._own) if self._copied else contextlib.nullcontext()
        head = make_head(self._num_classes) if self._head is None else self._head
        with bind, forward.collecting_updates(layers) as own_updates:
            if layers:
                features = forward.apply(layers, features, training=True)
            logits = head(features)
        self._head, self._copied = head, False
        return logits, list(updates) + own_updates

    def _build_eval(self) -> None:
        with self._runtime.building(self._scope):
            if self._eval is None:
                self._y = graph_ops.labels()
                self._eval = graph_ops.evaluation(self._logits, self._y, self._class_ids)

    def _build_train(self) -> None:
        if self._eval is None:
            self._build_eval()
        with self._runtime.building(self._scope):
            if self._train is None:
                if self._train_forward is None:
                    self._train_forward = self._build_training_forward()
                logits, updates = self._train_forward
                if logits is self._logits:  # no layer depends on the mode: one path serves both
                    loss, accuracy = self._eval
                else:
                    loss, accuracy = graph_ops.evaluation(logits, self._y, name_suffix="_training")
                self._learning_rate, op, finite = graph_ops.train_step(
                    loss, self.trainable_variables, f"adam_{self._name}", updates
                )
                self._train = (op, finite, loss, accuracy)

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
    def layers(self) -> list[Any] | None:
        """The body's tf_keras layer objects; None on a trunk, for a whole model, or for a graph copy before its first fit."""
        return None if self._layers is None or self._copied else list(self._layers)

    @property
    def keras_model(self) -> Any:
        """The tf_keras model of ``model_fn`` (its layers hold this classifier's graph variables), or None."""
        return None if self._adopted is None else self._adopted.model

    @property
    def input_tensor(self) -> Any:
        """The float32 placeholder of shape [batch, *input_shape] predictions are fed to."""
        return self._x

    @property
    def logits_tensor(self) -> Any:
        """float32 tensor of shape [batch, num_classes]: the inference path's logits."""
        return self._logits

    @property
    def probabilities_tensor(self) -> Any:
        """float32 tensor of shape [batch, num_classes]: softmax probabilities (inference mode)."""
        return self._proba

    @property
    def class_ids_tensor(self) -> Any:
        """int64 tensor of shape [batch]: the most probable class."""
        return self._class_ids

    @property
    def awaiting_first_call(self) -> bool:
        """Whether the classifier has had no prediction yet (see ``tfshare.fused.first_call``)."""
        return self._proba_fn is None and not self._first_call_served

    def __repr__(self) -> str:
        mode = "isolated" if self._owns_runtime else (
            f"trunk={self._trunk.name!r}" if self._trunk is not None else "shared runtime"
        )
        return (
            f"{type(self).__name__}(name={self._name!r}, input_shape={self._input_shape}, "
            f"num_classes={self._num_classes}, {mode})"
        )

    # ------------------------------------------------------------ inference
    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError(f"classifier {self._name!r} is closed")
        if self._runtime.closed:
            raise ClosedError(f"the runtime of classifier {self._name!r} is closed")

    def predict_proba(self, x: Any) -> np.ndarray:
        """Returns class probabilities, in inference mode (Dropout off, BatchNorm's moving statistics).

        Args:
          x: array-like of shape [batch, *input_shape]; float32 is used as is,
            float64 and integers are cast to float32.

        Returns:
          float32 array of shape [batch, num_classes]; rows sum to 1. Row i
          depends on x[i] only.

        Raises:
          TypeError, InputError: x is not a finite numeric [batch, *input_shape] array.
          ClosedError: the classifier or its runtime is closed.
        """
        x = validation.inputs(x, self._input_shape)
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
        fn = self._proba_fn = self._runtime.callable([self._proba], [self._x], read_only=True).unwrap()
        self._drop_callables_if_closed()
        return fn(x)[0]

    def _drop_callables_if_closed(self) -> None:
        # close() may have run (in another thread) while a callable was being
        # made: it cleared the cached callables before this one was stored.
        if self._closed or self._runtime.closed:
            self._drop_callables()
            self._check_open()

    def _drop_callables(self) -> None:
        """Forgets the cached raw callables (they hold the Session); the slow path then raises ClosedError."""
        self._proba_fn = self._ids_fn = None

    def predict(self, x: Any) -> np.ndarray:
        """Returns the most probable class of each example, in inference mode.

        Args:
          x: array-like of shape [batch, *input_shape].

        Returns:
          int64 array of shape [batch].

        Raises:
          TypeError, InputError: as ``predict_proba``.
          ClosedError: the classifier or its runtime is closed.
        """
        x = validation.inputs(x, self._input_shape)
        fn = self._ids_fn
        if fn is None or x.shape[0] == 0:
            self._check_open()
            if x.shape[0] == 0:
                return np.zeros((0,), np.int64)
            fn = self._ids_fn = self._runtime.callable([self._class_ids], [self._x], read_only=True).unwrap()
            self._drop_callables_if_closed()
        try:
            return fn(x)[0]
        except tf.errors.CancelledError:
            self._raise_if_closed()
            raise

    def evaluate(self, x: Any, y: Any) -> dict[str, float]:
        """Returns the mean cross-entropy loss and the accuracy on (x, y), in inference mode.

        Args:
          x: array-like of shape [n, *input_shape], n >= 1.
          y: integer array-like of shape [n], values in [0, num_classes).

        Returns:
          {"loss": float, "accuracy": float}.

        Raises:
          TypeError, InputError: bad x or y (see ``tfshare.validation``).
          ClosedError: the classifier or its runtime is closed.
        """
        self._check_open()
        return self._evaluate_loop(x, y, self._eval_chunk)

    def _eval_chunk(self, xb: np.ndarray, yb: np.ndarray) -> tuple[float, float]:
        # Built on first use, i.e. after _evaluate_loop validated the input:
        # bad input never adds ops or creates the Session.
        if self._eval is None:
            self._build_eval()
        return self._runtime.callable(list(self._eval), [self._x, self._y], read_only=True)(xb, yb)

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
        """Trains with Adam on the softmax cross-entropy, in training mode.

        Dropout is active and BatchNorm normalizes with batch statistics and
        updates its moving statistics, in the training step only.

        Args:
          x: array-like of shape [n, *input_shape], n >= 1.
          y: integer array-like of shape [n], values in [0, num_classes).
          epochs: passes over the data (>= 1).
          batch_size: rows per step (>= 1).
          learning_rate: Adam's step size (> 0).
          shuffle: reshuffle the rows before every epoch.

        Returns:
          {"loss": [per-epoch mean loss], "accuracy": [per-epoch accuracy]},
          measured on the batches as they were trained (in training mode).

        Raises:
          TypeError, InputError: bad data or arguments.
          TrainingError: a step's loss or gradient was NaN/Inf; that step was
            not applied, so the weights and moving statistics are those from
            before it.
          ClosedError: the classifier or its runtime is closed.
        """
        x, y, epochs, batch_size, learning_rate = self._fit_arguments(
            x, y, epochs, batch_size, learning_rate, shuffle
        )
        if self._train is None:
            self._build_train()
        train_op, finite, loss_op, accuracy_op = self._train
        run = self._runtime.callable(
            [loss_op, accuracy_op, finite], [self._x, self._y, self._learning_rate], [train_op]
        ).unwrap()
        lr = np.asarray(learning_rate, np.float32)
        try:
            return self._fit_loop(x, y, epochs, batch_size, shuffle, lambda xb, yb: run(xb, yb, lr))
        except tf.errors.CancelledError:  # close() interrupted training
            self._raise_if_closed()
            raise

    # -------------------------------------------------------------- weights
    def _read(self, variables: list[Any]) -> list[np.ndarray]:
        return [np.asarray(v) for v in self._runtime.run(variables)]

    def _assign(self, pairs: list[tuple[Any, np.ndarray]]) -> None:
        # Feeding an initializer's value input assigns without adding ops
        # (works on a finalized graph); run() first initializes pending variables.
        self._runtime.run([v.initializer for v, _ in pairs], {v.initializer.inputs[1]: value for v, value in pairs})
        self._runtime.mark_initialized([v for v, _ in pairs])

    # ---------------------------------------------------------- checkpoints
    def save(self, path: str) -> str:
        """Saves the model variables (BatchNorm statistics included) and configuration to the directory ``path``.

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
        """Restores model variables saved by ``save`` (from any sharing mode, or the eager twin).

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
        # Initialize pending variables first: otherwise another thread's first
        # call could initialize them after the restore and overwrite its values.
        self._runtime.initialize()
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
        self._drop_callables()  # the slow path then raises ClosedError
        fused.forget(self)
        if self._owns_runtime:
            self._runtime.close()


__all__ = ["Classifier", "make_head"]
