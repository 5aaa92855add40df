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

from tfshare import checkpoints, fused, graph_template, mlp_graph, validation
from tfshare._tf import tf, tf1
from tfshare.base import ClassifierBase
from tfshare.errors import ClosedError, InputError
from tfshare.runtime import GraphSession
from tfshare.trunks import _Trunk

class DenseClassifier(ClassifierBase):
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
        self._init_architecture(input_dim, num_classes, hidden_units, trunk, seed)
        if runtime is None:
            runtime = GraphSession()
            self._owns_runtime = True
        elif isinstance(runtime, GraphSession):
            self._owns_runtime = False
        else:
            raise TypeError(f"runtime must be a tfshare.GraphSession or None, got {type(runtime).__name__}")
        self._runtime = runtime
        self._name = runtime.reserve_name(name, "dense_classifier")
        self._scope = self._name + "/"
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
        """Builds the prediction ops: with tf_keras layers, or as a copy of an earlier classifier's."""
        key = graph_template.template_key(self)
        with self._runtime.building(self._scope) as graph:
            template = graph_template.find(self._runtime, key)  # under the build lock
            if template is None:
                first_op = len(graph.get_operations())
                self._hidden_layers, self._head, tensors = mlp_graph.build(
                    self._trunk, self._input_dim, self._hidden_units, self._num_classes, self._seed
                )
                own = mlp_graph.named_variables(None, self._hidden_layers, self._head)
                fed = mlp_graph.fed_initial_values(self._hidden_layers, self._head)
                built, scope = graph.get_operations()[first_op:], self._scope  # the recipe must not hold self
                graph_template.record(
                    self._runtime, key, lambda: graph_template.Template(built, scope, tensors, own, fed)
                )
                fed_pairs = [(own[k], init) for k, init in fed.items()]
            else:
                offsets, seed = mlp_graph.kernel_offsets(self._hidden_units), self._seed
                tensors, own, fed_pairs = template.copy(
                    graph, self._scope, lambda k: mlp_graph.kernel_maker(seed, offsets[k])
                )
                self._hidden_layers, self._head = [], None  # no tf_keras layer objects: the ops are copies
            self._runtime.add_initial_values(fed_pairs)
        self._x, self._logits, self._proba, self._class_ids = (tensors[r] for r in graph_template.ROLES)
        self._model_variables = dict(self._trunk.named_variables()) if self._trunk is not None else {}
        self._model_variables.update(own)

    def _build_eval(self) -> None:
        with self._runtime.building(self._scope):
            if self._eval is None:
                self._y, loss, accuracy = mlp_graph.evaluation(self._logits, self._class_ids)
                self._eval = (loss, accuracy)

    def _build_train(self) -> None:
        if self._eval is None:
            self._build_eval()
        with self._runtime.building(self._scope):
            if self._train is None:
                self._learning_rate, op, finite = mlp_graph.train_step(
                    self._eval[0], list(self._model_variables.values()), f"adam_{self._name}"
                )
                self._train = (op, finite)

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
            fn = self._ids_fn = self._runtime.callable([self._class_ids], [self._x], read_only=True).unwrap()
            self._drop_callables_if_closed()
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
        x, y, epochs, batch_size, learning_rate = self._fit_arguments(
            x, y, epochs, batch_size, learning_rate, shuffle
        )
        if self._train is None:
            self._build_train()
        train_op, finite = self._train
        loss_op, accuracy_op = self._eval
        run = self._runtime.callable(
            [loss_op, accuracy_op, finite], [self._x, self._y, self._learning_rate], [train_op]
        ).unwrap()
        lr = np.asarray(learning_rate, np.float32)
        try:
            return self._fit_loop(x, y, epochs, batch_size, shuffle, lambda xb, yb: run(xb, yb, lr))
        except tf.errors.CancelledError:  # close() interrupted training
            self._raise_if_closed()
            raise

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



__all__ = ["DenseClassifier"]
