"""ClassifierBase: what the graph classifier and its eager twin share.

Which body a constructor was given (``resolve_form``), argument checks, the
architecture properties, ``get_weights``/``set_weights``, and the loops of
``fit`` and ``evaluate`` live here once. A subclass supplies how one training step and
one evaluation chunk run (a Session callable, or eager ops / tf.function).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import numpy as np

from tfshare import architectures, validation
from tfshare.architectures import Architecture, Described
from tfshare.errors import ClosedError, InputError, TrainingError
from tfshare.keras_model import AdoptedModel

EVAL_CHUNK = 4096

#: step(x_batch, y_batch) -> (mean loss, mean accuracy, whether the step was applied)
StepFn = Callable[[np.ndarray, np.ndarray], tuple[Any, Any, Any]]
#: chunk(x, y) -> (mean loss, mean accuracy)
ChunkFn = Callable[[np.ndarray, np.ndarray], tuple[Any, Any]]


@dataclasses.dataclass
class Form:
    """What a classifier's constructor arguments resolved to.

    Attributes:
      architecture: the body (None on a trunk or for a whole model).
      adopted: the whole model of ``model_fn`` (None otherwise).
      trunk: the trunk whose body is shared (None otherwise).
      input_shape: shape of one example.
      num_classes: number of classes.
    """

    architecture: Architecture | None
    adopted: AdoptedModel | None
    trunk: Any
    input_shape: tuple[int, ...]
    num_classes: int


def resolve_form(
    layers: Any,
    input_shape: Any,
    num_classes: Any,
    model_fn: Any,
    trunk: Any,
    architecture: Architecture | None,
    for_graph: bool = True,
) -> Form:
    """Checks which of layers= / model_fn= / trunk= / architecture= was given, and with what.

    Raises:
      TypeError, InputError: none or several forms, or values that conflict.
    """
    architectures.check_float32_policy()
    given = [n for n, v in (("layers", layers), ("model_fn", model_fn), ("trunk", trunk), ("architecture", architecture)) if v is not None]
    if len(given) != 1:
        raise InputError(
            "give exactly one of layers= (a factory of tf_keras layers, with input_shape=), model_fn= (a "
            f"factory of a whole tf_keras model) or trunk=, got {given or 'none'}"
        )
    if model_fn is not None:
        adopted = AdoptedModel(model_fn, input_shape, unbuild=for_graph)
        if num_classes is not None and validation.positive_int(num_classes, "num_classes", minimum=2) != adopted.num_classes:
            raise InputError(f"num_classes must match model_fn()'s output width {adopted.num_classes}, got {num_classes}")
        return Form(None, adopted, None, adopted.input_shape, adopted.num_classes)
    if num_classes is None:
        raise InputError(f"num_classes is required with {given[0]}=, e.g. num_classes=10")
    num_classes = validation.positive_int(num_classes, "num_classes", minimum=2)
    if trunk is not None:
        if input_shape is not None:
            given = validation.input_shape(input_shape)  # an int n is (n,)
            if given != trunk.input_shape:
                raise InputError(f"input_shape must match the trunk's {trunk.input_shape}, got {given}")
        return Form(None, None, trunk, trunk.input_shape, num_classes)
    if layers is not None:
        if input_shape is None and not isinstance(layers, Architecture):
            raise InputError("input_shape is required with layers=, e.g. input_shape=(28, 28, 1)")
        architecture = architectures.from_factory(layers, input_shape)
    return Form(architecture, None, None, architecture.input_shape, num_classes)


def dense_form(input_dim: Any, hidden_units: Any, trunk: Any) -> dict[str, Any]:
    """The MLP's constructor arguments as the generic ones: {"trunk": trunk} or {"architecture": dense(...)}.

    Args:
      input_dim, hidden_units: as given to ``DenseClassifier`` (None: 784 and
        (64,), or the trunk's).
      trunk: the trunk, or None.

    Raises:
      TypeError, InputError: a value is invalid, or differs from the trunk's.
    """
    if trunk is None:
        return {"architecture": architectures.dense(784 if input_dim is None else input_dim,
                                                    (64,) if hidden_units is None else hidden_units)}
    if isinstance(getattr(trunk, "input_shape", None), tuple):  # otherwise the classifier reports the wrong type
        for arg, given, expected in (
            ("input_dim", None if input_dim is None else validation.positive_int(input_dim, "input_dim"), trunk.input_dim),
            ("hidden_units", None if hidden_units is None else validation.hidden_units(hidden_units), trunk.hidden_units),
        ):
            if given is not None and given != expected:
                raise InputError(f"{arg} must match the trunk's {arg} {expected}, got {given}")
    return {"trunk": trunk}


class ClassifierBase(Described):
    """Common state of the graph ``Classifier`` and its eager twin ``EagerClassifier``.

    Subclasses set ``self._model_variables`` (architecture key -> variable),
    ``self._config``, and implement ``_read`` and ``_assign``.
    """

    _name: str
    _model_variables: dict[str, Any]
    _config: dict[str, Any]

    def _init_form(self, form: Form, seed: int | None) -> None:
        self._closed = False
        self._seed = validation.seed(seed)
        self._form = form
        self._num_classes = form.num_classes
        self._input_shape = form.input_shape
        self._trunk = self._public_trunk = form.trunk  # _trunk: a mirror of it in another shard (tfshare.mirrors)
        self._rng = np.random.default_rng(self._seed)

    def _constructed(self) -> None:
        """Called once a classifier is complete (``tfshare.audit`` counts models here)."""

    def check_open(self) -> None:
        """Raises ClosedError if the classifier (or its runtime) is closed."""
        self._check_open()

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError(f"classifier {self._name!r} is closed")

    # ----------------------------------------------------------- properties
    @property
    def name(self) -> str:
        """The classifier's name (in a runtime: unique, and its name scope)."""
        return self._name

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._closed

    @property
    def trunk(self) -> Any:
        """The shared trunk, or None."""
        return self._public_trunk

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return self._num_classes

    @property
    def variables(self) -> list[Any]:
        """The model's variables (trunk or body, then head; BatchNorm statistics included); no optimizer state."""
        return list(self._model_variables.values())

    @property
    def trainable_variables(self) -> list[Any]:
        """The variables ``fit`` updates with gradients.

        Not BatchNorm's statistics, and not the variables of layers made with
        ``trainable=False`` (as in Keras; decided when the classifier is built).
        """
        frozen = getattr(self, "_frozen", ())
        return [v for k, v in self._model_variables.items() if v.trainable and k not in frozen]

    @property
    def named_variables(self) -> dict[str, Any]:
        """Checkpoint keys ("hidden_0/kernel", "layer_1/moving_mean", "head/bias", ...) mapped to variables."""
        return dict(self._model_variables)

    @property
    def num_params(self) -> int:
        """Number of scalar parameters the classifier uses (shared ones and BatchNorm statistics included)."""
        return int(sum(v.shape.num_elements() for v in self._model_variables.values()))

    # -------------------------------------------------------------- weights
    def _read(self, variables: list[Any]) -> list[np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _assign(self, pairs: list[tuple[Any, np.ndarray]]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_weights(self) -> dict[str, np.ndarray]:
        """Returns every variable's current value, keyed as ``named_variables``.

        The keys do not depend on the name scope or the sharing mode, so the
        dict moves between a graph classifier and its eager twin, in both
        directions (``set_weights``).

        Returns:
          {key: float32 array of the variable's shape}.

        Raises:
          ClosedError: the classifier or its runtime is closed.
        """
        self._check_open()
        keys = list(self._model_variables)
        return dict(zip(keys, self._read([self._model_variables[k] for k in keys])))

    def set_weights(self, weights: Mapping[str, Any]) -> None:
        """Assigns every variable from a dict like ``get_weights()``'s (a trunk's included).

        Args:
          weights: {key: array-like of the variable's shape}, with exactly the
            keys of ``named_variables``.

        Raises:
          TypeError: weights is not a mapping, or a value is not numeric.
          InputError: a key is missing or unknown, a shape differs, or a value
            is not finite; nothing is assigned then.
          ClosedError: the classifier or its runtime is closed.
        """
        self._check_open()
        values = validation.weights(weights, self._model_variables)
        self._assign([(self._model_variables[k], values[k]) for k in self._model_variables])

    # ---------------------------------------------------------------- loops
    def _fit_arguments(
        self, x: Any, y: Any, epochs: Any, batch_size: Any, learning_rate: Any, shuffle: Any
    ) -> tuple[np.ndarray, np.ndarray, int, int, float]:
        """Validates fit's arguments; returns (x float32, y int64, epochs, batch_size, learning_rate)."""
        self._check_open()
        x = validation.inputs(x, self._input_shape, allow_empty=False)
        y = validation.labels(y, self._num_classes, x.shape[0])
        epochs = validation.positive_int(epochs, "epochs")
        batch_size = validation.positive_int(batch_size, "batch_size")
        learning_rate = validation.positive_float32(learning_rate, "learning_rate")
        validation.boolean(shuffle, "shuffle")
        return x, y, epochs, batch_size, learning_rate

    def _fit_loop(
        self, x: np.ndarray, y: np.ndarray, epochs: int, batch_size: int, shuffle: bool, step: StepFn
    ) -> dict[str, list[float]]:
        """Runs ``step`` over shuffled mini-batches; returns the per-epoch history.

        Shuffling copies the data once per epoch; each batch is a contiguous
        view of that copy, fed without another copy.

        Raises:
          TrainingError: a step reports it was not applied (non-finite loss or gradient).
        """
        n = x.shape[0]
        history: dict[str, list[float]] = {"loss": [], "accuracy": []}
        for epoch in range(epochs):
            if shuffle:
                order = self._rng.permutation(n)
                xs, ys = x[order], y[order]
            else:
                xs, ys = x, y
            total_loss = total_correct = 0.0
            for start in range(0, n, batch_size):
                xb, yb = xs[start : start + batch_size], ys[start : start + batch_size]
                loss, accuracy, ok = step(xb, yb)
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

    def _evaluate_loop(self, x: Any, y: Any, chunk: ChunkFn) -> dict[str, float]:
        """Validates (x, y) and averages ``chunk`` over slices of EVAL_CHUNK rows."""
        self._check_open()
        x = validation.inputs(x, self._input_shape, allow_empty=False)
        y = validation.labels(y, self._num_classes, x.shape[0])
        total_loss = total_correct = 0.0
        for start in range(0, x.shape[0], EVAL_CHUNK):
            xb, yb = x[start : start + EVAL_CHUNK], y[start : start + EVAL_CHUNK]
            loss, accuracy = chunk(xb, yb)
            total_loss += float(loss) * len(yb)
            total_correct += float(accuracy) * len(yb)
        return {"loss": total_loss / len(y), "accuracy": total_correct / len(y)}

    def __enter__(self) -> Any:
        self._check_open()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - overridden
        self._closed = True
