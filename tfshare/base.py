"""ClassifierBase: what the graph classifier and its eager twin share.

Argument checks, the architecture properties, and the loops of ``fit`` and
``evaluate`` live here once. A subclass supplies how one training step and
one evaluation chunk run (a Session callable, or eager ops / tf.function).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from tfshare import validation
from tfshare.errors import ClosedError, InputError, TrainingError

EVAL_CHUNK = 4096

#: step(x_batch, y_batch) -> (mean loss, mean accuracy, whether the step was applied)
StepFn = Callable[[np.ndarray, np.ndarray], tuple[Any, Any, Any]]
#: chunk(x, y) -> (mean loss, mean accuracy)
ChunkFn = Callable[[np.ndarray, np.ndarray], tuple[Any, Any]]


class ClassifierBase:
    """Common state of DenseClassifier and EagerDenseClassifier.

    Subclasses set ``self._model_variables`` (architecture key -> variable)
    and implement ``_check_open``.
    """

    _name: str
    _model_variables: dict[str, Any]

    def _init_architecture(
        self,
        input_dim: int | None,
        num_classes: int,
        hidden_units: Any,
        trunk: Any,
        seed: int | None,
    ) -> None:
        """Validates and stores the architecture; a trunk fixes input_dim and hidden_units.

        Raises:
          TypeError, InputError: an argument is of the wrong type or range, or
            conflicts with the trunk's.
        """
        self._closed = False
        self._num_classes = validation.positive_int(num_classes, "num_classes", minimum=2)
        self._seed = validation.seed(seed)
        if trunk is not None:
            for arg, given, expected in (
                ("input_dim", input_dim, trunk.input_dim),
                ("hidden_units", None if hidden_units is None else tuple(hidden_units), trunk.hidden_units),
            ):
                if given is not None and given != expected:
                    raise InputError(f"{arg} must match the trunk's {arg} {expected}, got {given}")
            input_dim, hidden_units = trunk.input_dim, trunk.hidden_units
        self._input_dim = validation.positive_int(784 if input_dim is None else input_dim, "input_dim")
        self._hidden_units = validation.hidden_units((64,) if hidden_units is None else hidden_units)
        self._trunk = trunk
        self._rng = np.random.default_rng(self._seed)

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError(f"classifier {self._name!r} is closed")

    # ----------------------------------------------------------- properties
    @property
    def name(self) -> str:
        """The classifier's name (in a runtime: unique, and its name scope)."""
        return self._name

    @property
    def trunk(self) -> Any:
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
    def config(self) -> dict[str, Any]:
        """The architecture: input_dim, hidden_units and num_classes."""
        return {"input_dim": self._input_dim, "hidden_units": list(self._hidden_units), "num_classes": self._num_classes}

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

    # ---------------------------------------------------------------- loops
    def _fit_arguments(
        self, x: Any, y: Any, epochs: Any, batch_size: Any, learning_rate: Any, shuffle: Any
    ) -> tuple[np.ndarray, np.ndarray, int, int, float]:
        """Validates fit's arguments; returns (x float32, y int64, epochs, batch_size, learning_rate)."""
        self._check_open()
        x = validation.features(x, self._input_dim, allow_empty=False)
        y = validation.labels(y, self._num_classes, x.shape[0])
        epochs = validation.positive_int(epochs, "epochs")
        batch_size = validation.positive_int(batch_size, "batch_size")
        learning_rate = validation.positive_float(learning_rate, "learning_rate")
        if not isinstance(shuffle, bool):
            raise TypeError(f"shuffle must be a bool, got {type(shuffle).__name__}")
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
        x = validation.features(x, self._input_dim, allow_empty=False)
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
