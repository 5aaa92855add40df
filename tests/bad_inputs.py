"""A table of bad inputs to the classifiers' public methods, and the errors they must give.

Each case names the method, builds its arguments, and gives the exception
type and a regular expression the message must match. Every expected message
starts with the argument's name and says what was expected (for features,
the shape ``[batch, *input_shape]``), so a user can fix the call without
reading tfshare's source. ``check`` runs one case against a classifier and
also proves that the input never reached TensorFlow: no op was added and no
Session was created.

The table is model-aware: ``cases("mlp")`` is written for the MLP's flat
rows of 784 features, ``cases("cnn")`` for the CNN's 28x28x1 images (with
image cases: channels-first, flattened rows, one image without its batch
axis, a wrong size or channel count). Both share the cases that do not
depend on the shape (labels, dtypes, NaN/Inf, tensors, fit's
hyperparameters), built with arrays of the model's shape.

The table is a test fixture: ``tests/test_bad_input.py`` runs one test per
case, and ``bad_input_drill`` gives the figures of ``scripts/reliability.py``,
which loads this file from the checkout.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable

import numpy as np

from tfshare._tf import tf
from tfshare.bench.models import MODELS, Model
from tfshare.bench.models import model as _get_model
from tfshare.classifier import Classifier
from tfshare.errors import InputError
from tfshare.runtime import GraphSession

#: Classes of the table's classifiers.
NUM_CLASSES = 3
#: Rows of the table's good-looking arrays.
_ROWS = 5


def table_model(name: str) -> Model:
    """The small form of model ``name`` the table runs against (its input shape is the model's own).

    Raises:
      InputError: name is not one of ``tfshare.bench.models.MODELS``.
    """
    return _get_model(name, hidden_units=(8,), filters=(4,))


@dataclasses.dataclass(frozen=True)
class BadInput:
    """One bad call and the clear error it must raise.

    Attributes:
      id: a short readable name (used as the pytest id).
      method: "predict", "predict_proba", "fit" or "evaluate".
      make_args: builds the positional arguments, e.g. (x,) or (x, y).
      error: the exception type expected (``InputError`` or ``TypeError``).
      match: a regex ``re.search``-ed in the message; it names the argument.
      kwargs: extra keyword arguments (e.g. for ``fit``).
    """

    id: str
    method: str
    make_args: Callable[[], tuple]
    error: type
    match: str
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)


class _Arrays:
    """Good-looking arrays of one input shape, and the regex of that shape."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape
        self.rank = len(shape) + 1
        self.dims = ", ".join(map(str, shape))
        self.expected = re.escape(f"[batch, {self.dims}]")  # e.g. \[batch,\ 28,\ 28,\ 1\]
        # Where _with puts its bad value: (1, 2) for rows, (1, 2, 3, 0) for 28x28x1 images.
        self.index = (1,) + tuple(min(2 + i, d - 1) for i, d in enumerate(shape))

    def x(self, n: int = _ROWS) -> np.ndarray:
        return np.random.default_rng(0).random((n, *self.shape), dtype=np.float32)

    def with_value(self, value: float, dtype: Any = np.float32) -> np.ndarray:
        x = self.x().astype(dtype)
        x[self.index] = value
        return x

    def other_graph_tensor(self) -> Any:
        graph = tf.Graph()  # a graph of the user's, not the classifier's
        with graph.as_default():
            return tf.constant(self.x())

    def ragged(self) -> list:
        """Two examples, the second one shorter along the first axis."""
        return [np.zeros(self.shape).tolist(), np.zeros((self.shape[0] - 1, *self.shape[1:])).tolist()]


def _y(n: int = _ROWS) -> np.ndarray:
    return np.arange(n, dtype=np.int64) % NUM_CLASSES


def _shared_cases(a: _Arrays) -> tuple[BadInput, ...]:
    """The cases whose input has the model's shape but is bad in another way."""
    c, index = NUM_CLASSES, re.escape(str(a.index))
    numeric = r"must have a numeric"
    return (
        BadInput("scalar", "evaluate", lambda: (1.0, _y(1)), InputError,
                 rf"^x must be {a.rank}-D with shape {a.expected}, got 0-D"),
        # Strings, ragged lists, None, object arrays and other non-numbers.
        BadInput("strings", "predict", lambda: ([["a", "b", "c", "d"]],), TypeError,
                 rf"^x {numeric} \(integer or float\) dtype, got dtype <U1"),
        BadInput("string", "predict_proba", lambda: ("1.0, 2.0",), TypeError,
                 r"^x must be an array of numbers, got str"),
        BadInput("ragged", "predict_proba", lambda: (a.ragged(),), InputError,
                 r"^x must be a rectangular array; got ragged nested sequences"),
        BadInput("none_x", "predict", lambda: (None,), TypeError,
                 r"^x must be an array of numbers, got None"),
        BadInput("none_y", "evaluate", lambda: (a.x(), None), TypeError,
                 r"^y must be an array of numbers, got None"),
        BadInput("object_array", "predict_proba", lambda: (np.array([[1.0, None, 2.0, 3.0]], dtype=object),),
                 TypeError, rf"^x {numeric} dtype, got dtype object"),
        BadInput("bool_array", "fit", lambda: (a.x() > 0.5, _y()), TypeError,
                 rf"^x {numeric} \(integer or float\) dtype, got dtype bool"),
        BadInput("string_labels", "fit", lambda: (a.x(), np.array(list("abcab"))), TypeError,
                 rf"^y {numeric} \(integer or float\) dtype, got dtype <U1"),
        # NaN and Inf.
        BadInput("nan", "predict_proba", lambda: (a.with_value(np.nan),), InputError,
                 rf"^x must be finite, got nan at index {index}"),
        BadInput("inf", "predict", lambda: (a.with_value(np.inf),), InputError,
                 rf"^x must be finite, got inf at index {index}"),
        BadInput("neg_inf_fit", "fit", lambda: (a.with_value(-np.inf), _y()), InputError,
                 r"^x must be finite, got -inf"),
        # Labels out of range, negative, fractional, or floats at all.
        BadInput("label_too_big", "fit", lambda: (a.x(), np.array([0, 1, 2, c, 0])), InputError,
                 rf"^y must hold class ids in \[0, {c}\), got {c}$"),
        BadInput("label_negative", "evaluate", lambda: (a.x(), np.array([0, 1, -1, 2, 0])), InputError,
                 rf"^y must hold class ids in \[0, {c}\), got -1$"),
        BadInput("label_fractional", "fit", lambda: (a.x(), np.array([0.0, 1.5, 2.0, 0.0, 1.0])), InputError,
                 r"^y must hold integer class ids with an integer dtype, got dtype float64; e\.g\. 1\.5 is fractional"),
        BadInput("label_whole_floats", "evaluate", lambda: (a.x(), _y().astype(np.float32)), InputError,
                 r"^y must hold integer class ids with an integer dtype, got dtype float32; convert"),
        BadInput("label_rank2", "fit", lambda: (a.x(), _y()[:, None]), InputError,
                 r"^y must be 1-D with shape \[5\], got shape \(5, 1\)"),
        # Length mismatch and empty batches.
        BadInput("length_mismatch", "fit", lambda: (a.x(5), _y(4)), InputError,
                 r"^y must have one label per row of x: expected 5 labels, got 4"),
        BadInput("length_mismatch_eval", "evaluate", lambda: (a.x(3), _y(5)), InputError,
                 r"^y must have one label per row of x: expected 3 labels, got 5"),
        BadInput("empty_fit", "fit", lambda: (np.zeros((0, *a.shape), np.float32), _y(0)), InputError,
                 rf"^x must hold at least one row, got shape {re.escape(str((0, *a.shape)))}"),
        BadInput("empty_eval", "evaluate", lambda: (np.zeros((0, *a.shape), np.float32), _y(0)), InputError,
                 r"^x must hold at least one row"),
        # Beyond int32 / float32 / int64: nothing is silently wrapped or cast to Inf.
        BadInput("label_beyond_int32", "fit", lambda: (a.x(), np.array([0, 1, 2, 2**32, 0])), InputError,
                 rf"^y must hold class ids in \[0, {c}\), got 4294967296$"),
        BadInput("label_beyond_int64", "evaluate",
                 lambda: (a.x(), np.array([0, 1, 2, 2**64 - 1, 0], np.uint64)),
                 InputError, rf"^y must hold class ids in \[0, {c}\), got 18446744073709551615$"),
        BadInput("label_beyond_64_bits", "fit", lambda: (a.x(), [0, 1, 2, 2**70, 0]), TypeError,
                 r"^y must have a numeric dtype, got dtype object .*integers beyond 64 bits"),
        BadInput("float64_beyond_float32", "predict_proba", lambda: (a.with_value(1e39, np.float64),), InputError,
                 r"^x holds values beyond float32's range \(\|x\| <= 3\.403e\+38\), max \|x\| = 1e\+39; "
                 r"they would become Inf"),
        BadInput("float64_beyond_float32_fit", "fit", lambda: (a.with_value(-1e300, np.float64), _y()), InputError,
                 r"^x holds values beyond float32's range"),
        # TensorFlow tensors: from another graph, eager, or inside a list.
        BadInput("tensor_other_graph", "predict", lambda: (a.other_graph_tensor(),), TypeError,
                 r"^x must be a NumPy array or a nested list of numbers, got a tensorflow\..*Tensor; "
                 r"fetch its value first"),
        BadInput("tensor_in_list", "predict_proba", lambda: ([a.other_graph_tensor()],), TypeError,
                 r"^x must be a NumPy array or a nested list of numbers; converting the list failed"),
        BadInput("eager_tensor_x", "predict_proba", lambda: (tf.constant(a.x()),), TypeError,
                 r"^x must be a NumPy array or a nested list of numbers, got a tensorflow\..*EagerTensor"),
        BadInput("eager_tensor_labels", "fit", lambda: (a.x(), tf.constant(_y())), TypeError,
                 r"^y must be a NumPy array or a nested list of numbers, got a tensorflow\..*EagerTensor"),
        # fit's hyperparameters.
        BadInput("epochs_zero", "fit", lambda: (a.x(), _y()), InputError,
                 r"^epochs must be an int >= 1, got 0", {"epochs": 0}),
        BadInput("batch_size_float", "fit", lambda: (a.x(), _y()), TypeError,
                 r"^batch_size must be an int >= 1, got float 8\.0", {"batch_size": 8.0}),
        BadInput("learning_rate_nan", "fit", lambda: (a.x(), _y()), InputError,
                 r"^learning_rate must be a finite float > 0, got nan", {"learning_rate": float("nan")}),
    )


def _row_cases(a: _Arrays) -> tuple[BadInput, ...]:
    """Wrong rank and width for flat rows [batch, d]."""
    d = a.shape[0]
    return (
        BadInput("rank1", "predict_proba", lambda: (a.x()[0],), InputError,
                 rf"^x must be 2-D with shape {a.expected}, got 1-D shape \({d},\); it looks like one example "
                 r"without the batch axis: use x\[None\]"),
        BadInput("rank3", "predict", lambda: (a.x()[None],), InputError,
                 rf"^x must be 2-D with shape {a.expected}, got 3-D"),
        BadInput("wrong_width", "predict_proba", lambda: (np.zeros((2, d + 1), np.float32),), InputError,
                 rf"^x must have {d} features per row \(shape {a.expected}\), got shape \(2, {d + 1}\)"),
        BadInput("wrong_width_fit", "fit", lambda: (np.zeros((5, d - 1), np.float32), _y()), InputError,
                 rf"^x must have {d} features per row"),
    )


def _image_cases(a: _Arrays) -> tuple[BadInput, ...]:
    """Wrong rank, size, channels and layout for images [batch, height, width, channels]."""
    h, w, ch = a.shape
    got_shape = lambda *s: re.escape(str(tuple(s)))  # noqa: E731 - a regex of a shape tuple
    channels_first = (
        rf"^x must have shape {a.expected}, got shape {got_shape(_ROWS, ch, h, w)}; it looks channels-first, "
        rf"and this classifier takes channels-last {a.expected}: use np\.transpose\(x, \(0, 2, 3, 1\)\)$"
    )
    flattened = (
        rf"^x must be 4-D with shape {a.expected}, got 2-D shape {got_shape(_ROWS, h * w * ch)}; "
        rf"it looks like flattened rows: use x\.reshape\(-1, {re.escape(a.dims)}\)$"
    )
    return (
        BadInput("image_no_channel_axis", "predict_proba", lambda: (a.x()[..., 0],), InputError,
                 rf"^x must be 4-D with shape {a.expected}, got 3-D shape {got_shape(_ROWS, h, w)}$"),
        BadInput("image_rank5", "predict", lambda: (a.x()[None],), InputError,
                 rf"^x must be 4-D with shape {a.expected}, got 5-D shape {got_shape(1, _ROWS, h, w, ch)}$"),
        BadInput("image_wrong_size", "predict_proba", lambda: (np.zeros((2, h + 4, w + 4, ch), np.float32),),
                 InputError, rf"^x must have shape {a.expected}, got shape {got_shape(2, h + 4, w + 4, ch)}$"),
        BadInput("image_wrong_size_fit", "fit", lambda: (np.zeros((_ROWS, h // 2, w // 2, ch), np.float32), _y()),
                 InputError, rf"^x must have shape {a.expected}, got shape {got_shape(_ROWS, h // 2, w // 2, ch)}$"),
        BadInput("image_rgb", "evaluate", lambda: (np.zeros((_ROWS, h, w, 3), np.float32), _y()), InputError,
                 rf"^x must have shape {a.expected}, got shape {got_shape(_ROWS, h, w, 3)}$"),
        BadInput("channels_first", "predict_proba", lambda: (np.transpose(a.x(), (0, 3, 1, 2)),), InputError,
                 channels_first),
        BadInput("channels_first_fit", "fit", lambda: (np.transpose(a.x(), (0, 3, 1, 2)), _y()), InputError,
                 channels_first),
        BadInput("flattened_rows", "predict", lambda: (a.x().reshape(_ROWS, -1),), InputError, flattened),
        BadInput("flattened_rows_eval", "evaluate", lambda: (a.x().reshape(_ROWS, -1), _y()), InputError,
                 flattened),
        BadInput("one_image_no_batch_axis", "predict_proba", lambda: (a.x()[0],), InputError,
                 rf"^x must be 4-D with shape {a.expected}, got 3-D shape {got_shape(h, w, ch)}; "
                 r"it looks like one example without the batch axis: use x\[None\]$"),
        BadInput("one_image_as_list", "predict", lambda: (a.x()[0].tolist(),), InputError,
                 r"it looks like one example without the batch axis"),
    )


def cases(model: str = "mlp") -> tuple[BadInput, ...]:
    """The bad calls for model ``model`` ("mlp" or "cnn"), written for ``table_model(model)``.

    Raises:
      InputError: model is not one of ``tfshare.bench.models.MODELS``.
    """
    shape = table_model(model).input_shape
    arrays = _Arrays(shape)
    specific = _row_cases(arrays) if len(shape) == 1 else _image_cases(arrays)
    return specific + _shared_cases(arrays)


#: The MLP's table (what the table was before it became model-aware).
BAD_INPUTS: tuple[BadInput, ...] = cases("mlp")


def make_classifier(model: str, runtime: GraphSession | None = None, name: str | None = None,
                    seed: int = 0) -> Classifier:
    """A graph classifier of ``table_model(model)`` with ``NUM_CLASSES`` classes, for ``check``.

    Args:
      model: "mlp" or "cnn".
      runtime, name, seed: as the classifier's constructor.
    """
    return table_model(model).classifier(NUM_CLASSES, runtime=runtime, name=name, seed=seed)


def _state(classifier: Any) -> tuple[int, bool]:
    runtime = classifier.runtime
    return len(runtime.graph.get_operations()), runtime.has_session


def check(case: BadInput, classifier: Any) -> str | None:
    """Runs one bad call; returns None if it failed clearly, else what went wrong.

    A clear failure raises ``case.error`` with a message matching
    ``case.match``, adds no op to the classifier's graph and creates no
    Session (the input never reached TensorFlow).

    Args:
      case: the bad call.
      classifier: a classifier of the case's model, as ``make_classifier``
        makes it (or its eager twin, which has no graph).
    """
    has_graph = getattr(classifier, "runtime", None) is not None
    before = _state(classifier) if has_graph else None
    try:
        getattr(classifier, case.method)(*case.make_args(), **case.kwargs)
    except Exception as exc:  # noqa: BLE001 - any other type is a finding
        if not isinstance(exc, case.error):
            return f"{case.id}: raised {type(exc).__name__} ({exc}), expected {case.error.__name__}"
        if not re.search(case.match, str(exc)):
            return f"{case.id}: message {str(exc)!r} does not match {case.match!r}"
    else:
        return f"{case.id}: {case.method} accepted the input"
    if has_graph and _state(classifier) != before:
        return f"{case.id}: the input reached TensorFlow (ops added or a Session created)"
    return None


# ------------------------------------------------------------ the drill
@dataclasses.dataclass(frozen=True)
class BadInputFigures:
    """The bad-input table of one model run against its graph classifier.

    Attributes:
      model: "mlp" or "cnn".
      input_shape: the shape of one example the cases were written for.
      tried: bad calls made.
      clear: calls that raised the expected InputError/TypeError with a
        message naming the argument and what was expected, before
        reaching TensorFlow.
      methods: the methods covered.
      unclear: what went wrong with the others (empty when all were clear).
    """

    model: str
    input_shape: tuple[int, ...]
    tried: int
    clear: int
    methods: tuple[str, ...]
    unclear: tuple[str, ...]

    @property
    def passed(self) -> bool:
        """Every bad call failed clearly."""
        return self.clear == self.tried


def bad_input_drill(model: str = "mlp") -> BadInputFigures:
    """Runs every case of ``cases(model)``, each on a fresh classifier in one shared runtime.

    Args:
      model: "mlp" or "cnn".

    Returns:
      The figures; ``unclear`` says what went wrong with any case that failed.
    """
    table = cases(model)
    problems = []
    with GraphSession(device="cpu") as runtime:
        for i, case in enumerate(table):
            problem = check(case, make_classifier(model, runtime=runtime, name=f"case_{i}", seed=i))
            if problem is not None:
                problems.append(problem)
    methods = tuple(sorted({case.method for case in table}))
    return BadInputFigures(
        model, table_model(model).input_shape, len(table), len(table) - len(problems), methods, tuple(problems)
    )


__all__ = [
    "BAD_INPUTS", "MODELS", "NUM_CLASSES", "BadInput", "BadInputFigures", "bad_input_drill", "cases", "check",
    "make_classifier", "table_model",
]
