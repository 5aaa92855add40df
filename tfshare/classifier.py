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

from typing import Any, Callable, Sequence

import numpy as np

from tfshare import checkpoints, export, fused, mirrors, validation
from tfshare._tf import tf
from tfshare.architectures import Architecture
from tfshare.base import resolve_form
from tfshare.graph_build import GraphBuilder
from tfshare.errors import ClosedError, InputError
from tfshare.runtime import GraphSession
from tfshare.trunk_base import _Trunk


class Classifier(GraphBuilder):
    """A tf_keras body, then ``Dense(num_classes)`` and softmax, in graph mode.

    Example:
      >>> body = lambda: [tf_keras.layers.Conv2D(32, 3), tf_keras.layers.BatchNormalization(),
      ...                 tf_keras.layers.ReLU(), tf_keras.layers.GlobalAveragePooling2D()]
      >>> clf = Classifier(layers=body, input_shape=(28, 28, 1), num_classes=10, seed=0)

    Args:
      layers: a zero-argument callable returning new tf_keras layers (or one
        layer): the body; or an ``Architecture`` such as ``architectures.conv()``. Its output must be [batch, features]; the
        classifier adds its own Dense head.
      input_shape: the shape of one example, e.g. (28, 28, 1); required with
        ``layers``, taken from the trunk or model otherwise.
      num_classes: number of classes (>= 2); required with ``layers`` and
        ``trunk``, taken from the model with ``model_fn``.
      model_fn: a zero-argument callable returning a complete tf_keras model
        with one input and an output [batch, num_classes] (logits, or a
        softmax, which is taken off for the loss). Its compile settings are
        not used: ``fit`` trains with Adam on the cross-entropy.
      trunk: a SharedTrunk or TemplateTrunk whose body to share. The head
        joins the trunk's shard while that graph holds fewer than
        ``tfshare.mirrors.HEAD_OPS`` ops, then a shard holding a mirror of the
        trunk, kept equal to it (``trunk_in_shard``; see ``tfshare.mirrors``). A
        mirror given here stands for the trunk it mirrors.
      runtime: a GraphSession to share; None gives the classifier its own
        (on a trunk: the trunk's).
      name: the name scope in the graph (unique per runtime); default
        "classifier", made unique.
      seed: seed for the initial weights (the k-th randomly initialized
        variable gets seed + k) and for shuffling; None for random.
      architecture: an ``tfshare.architectures.Architecture``, instead of
        ``layers`` (what ``DenseClassifier`` and ``ConvClassifier`` pass).
      input_tensor: a float32 tensor [batch, *input_shape] of the runtime's
        graph to read instead of a placeholder of its own (not with a trunk,
        which has its input); classifiers reading one input take one feed in
        ``predict_many``.

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
        input_tensor: Any = None,
    ) -> None:
        if trunk is not None:
            if not isinstance(trunk, _Trunk):
                raise TypeError(f"trunk must be a SharedTrunk or TemplateTrunk, got {type(trunk).__name__}")
            trunk = mirrors.origin(trunk)  # a mirror's heads are its trunk's (tfshare.mirrors)
            if runtime is not None and runtime is not trunk.runtime:
                raise InputError(f"runtime must be the trunk's runtime {trunk.runtime!r}, got {runtime!r}")
            runtime = trunk.runtime
        if runtime is not None and not isinstance(runtime, GraphSession):
            raise TypeError(f"runtime must be a tfshare.GraphSession or None, got {type(runtime).__name__}")
        validation.seed(seed)
        validation.name(name)
        form = resolve_form(layers, input_shape, num_classes, model_fn, trunk, architecture)
        self._init_form(form, seed)
        shard = None
        if input_tensor is not None:
            if trunk is not None or runtime is None:
                raise InputError("input_tensor needs a runtime= it belongs to, and no trunk= (a trunk has its own input)")
            shard = runtime._shard_holding(input_tensor)
            validation.input_tensor(input_tensor, shard.graph, form.input_shape)
        self._input_tensor = input_tensor
        self._owns_runtime = runtime is None
        if runtime is None:
            runtime = GraphSession()
        placer = runtime if shard is None and trunk is None else None  # gives its slot back if the build fails
        if shard is None and trunk is not None:
            # A trunk's heads sit in its shard while it has room, then on mirrors of it (tfshare.mirrors).
            self._trunk = mirrors.host(trunk)  # counts this head's unit in its shard
            shard = self._trunk.shard
        elif shard is None:
            shard = runtime.place()  # where the runtime has room (tfshare.shards)
        placed = placer is not None and placer.sharded
        if not placed:
            # Built into a shard directly (a head, input_tensor=, runtime= a shard): counted before the build, so
            # that the shard is not reclaimed meanwhile (another thread closing its last other unit).
            if trunk is None:
                runtime.root.hold(shard)
            self._release_slot = runtime.root.own(shard, self)
        undo = (lambda: placer.unplace(shard)) if placed else self._release_slot
        self._public_runtime = runtime.root
        self._runtime = runtime = shard
        try:
            self._name = runtime.reserve_name(name, self._default_name)
        except BaseException:
            undo()
            raise
        self._scope = self._name + "/"
        self._architecture = form.architecture
        self._adopted = form.adopted
        self._layers: list[Any] | None = None  # the body's layer objects (None: a copy, until it trains)
        self._head: Any = None
        self._copied = False
        self._train_forward: tuple[Any, list[Any]] | None = None  # (training logits, updates), on first fit
        self._train = None  # built on first fit
        self._train_refused: str | None = None  # why fit cannot train this classifier, once finalize found it
        self._eval = None  # built on first evaluate / fit
        self._saver = None  # built on first save / restore
        self._proba_fn: Callable[..., list] | None = None  # raw TF callable
        self._first_call_served = False  # see tfshare.fused.first_call
        self._ids_fn: Callable[..., list] | None = None
        try:
            self._build()
        except BaseException:
            undo()
            if self._owns_runtime:
                self._public_runtime.close()
            raise
        if placed:
            placer.built(shard)  # its ops are in the graph: the next placement may count them
            # close() releases it, and its shard closes once nothing open is left in it (tfshare.shards).
            self._release_slot = runtime.root.own(shard, self)
        runtime.add_finalize_hook(self._build_lazy_ops)
        runtime.register_head(self)
        self._constructed()

    # ----------------------------------------------------------- properties
    @property
    def runtime(self) -> GraphSession:
        """The GraphSession this classifier was built into (the one given, or its own when isolated)."""
        return self._public_runtime

    @property
    def shard(self) -> GraphSession:
        """The shard of ``runtime`` whose graph and Session hold this classifier (``runtime`` itself when small)."""
        return self._runtime

    @property
    def trunk_in_shard(self) -> _Trunk | None:
        """The trunk object whose tensors this head reads: ``trunk`` in its own shard, or a mirror of it.

        A mirror (``tfshare.mirrors``) is a copy of ``trunk`` in this head's
        shard, kept equal to it at every call boundary; ``variables`` then
        lists the mirror's variables. None for a classifier on no trunk.
        """
        return self._trunk

    @property
    def layers(self) -> list[Any] | None:
        """The body's tf_keras layer objects.

        None on a trunk, for a whole model, and for a graph copy until ``fit``
        builds a training path of its own (a body with Dropout or BatchNorm;
        other bodies train on the copied inference ops).
        """
        return None if self._layers is None or self._copied else list(self._layers)

    @property
    def keras_model(self) -> Any:
        """The tf_keras model of ``model_fn`` (its layers hold this classifier's graph variables), or None."""
        return None if self._adopted is None else self._adopted.model

    @property
    def input_tensor(self) -> Any:
        """The float32 tensor of shape [batch, *input_shape] predictions are fed to.

        The classifier's own placeholder; on a trunk, the trunk's input; with
        ``input_tensor=``, the tensor given.
        """
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
            f"trunk={self._public_trunk.name!r}" if self._trunk is not None else "shared runtime"
        )
        return (
            f"{type(self).__name__}(name={self._name!r}, input_shape={self._input_shape}, "
            f"num_classes={self._num_classes}, {mode})"
        )

    # ------------------------------------------------------------ inference
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
            before it (not the ``UPDATE_OPS`` of a TemplateTrunk's TF1
            function, which run on every step, as the TF1 recipe runs them).
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
            with mirrors.deferring(self._runtime):  # a mirrored trunk's changes reach it once, at the end
                return self._fit_loop(x, y, epochs, batch_size, shuffle, lambda xb, yb: run(xb, yb, lr))
        except tf.errors.CancelledError:  # close() interrupted training
            self._raise_if_closed()
            raise

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

    # --------------------------------------------------------------- export
    def rebuild(self, runtime: GraphSession, *, input_tensor: Any = None, trunk: _Trunk | None = None) -> "Classifier":
        """The same architecture, name and seed, built into another runtime.

        The new classifier starts from the initial weights of its seed (or
        model_fn's), not from this one's trained weights: copy those with
        ``set_weights(self.get_weights())``.

        Args:
          runtime: the GraphSession to build into.
          input_tensor: a float32 tensor of ``runtime``'s graph to read (see the constructor).
          trunk: for a classifier on a trunk, the trunk to sit on in ``runtime``
            (``self.trunk.rebuild(runtime)``).

        Returns:
          A ``Classifier`` (whatever this one's class: the thin forms add nothing to it).

        Raises:
          InputError: a trunk is missing or given where there is none, or
            it is not in ``runtime`` or has another body than this one's trunk.
        """
        if (self._trunk is None) != (trunk is None):
            raise InputError(
                f"trunk must be given exactly when {self._name!r} sits on one "
                f"(it {'does' if self._trunk is not None else 'does not'}), got {trunk!r}"
            )
        common = dict(num_classes=self._num_classes, name=self._name, seed=self._seed)
        if trunk is not None:
            if isinstance(trunk, _Trunk) and trunk.runtime is not runtime:
                raise InputError(f"trunk must be built in runtime {runtime!r}, got one of {trunk.runtime!r}")
            if isinstance(trunk, _Trunk) and trunk.config != self._trunk.config:
                raise InputError(
                    f"trunk must have the body of {self._name!r}'s trunk, {self._trunk.config}, got {trunk.config}"
                )
            return Classifier(trunk=trunk, **common)
        if self._adopted is not None:
            return Classifier(  # input_shape too: a model that does not know it was given one
                model_fn=self._adopted.model_fn, input_shape=self.input_shape, runtime=runtime, name=self._name,
                seed=self._seed, input_tensor=input_tensor,
            )
        return Classifier(architecture=self._architecture, runtime=runtime, input_tensor=input_tensor, **common)

    def export_saved_model(self, path: str, overwrite: bool = False) -> str:
        """Writes a SavedModel that serves this classifier in inference mode, with its current weights.

        See ``tfshare.export_saved_model``: the signature "serving_default"
        takes "x" (float32 [batch, *input_shape]) and returns "probabilities"
        (float32 [batch, num_classes]) and "class_ids" (int64 [batch]).

        Returns:
          ``path``.

        Raises:
          ExportError: ``path`` exists (without ``overwrite``) or cannot be written.
          ClosedError: the classifier or its runtime is closed.
        """
        return export.export_saved_model([self], path, overwrite=overwrite)

    # ------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Closes the classifier; an isolated one also closes its runtime."""
        if self._closed:
            return
        self._closed = True
        self._drop_callables()  # the slow path then raises ClosedError
        fused.forget(self)
        if self._owns_runtime:
            self._public_runtime.close()
            return
        if not self._runtime.closed:
            self._runtime.release_scope(self._scope)  # its executors; its shard closes once all its units are closed
        self._release_slot()


__all__ = ["Classifier"]
