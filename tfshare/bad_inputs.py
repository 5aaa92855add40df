"""A table of bad inputs to the classifiers' public methods, and the errors they must give.

Each case names the method, builds its arguments, and gives the exception
type and a regular expression the message must match. Every expected message
starts with the argument's name and says what was expected, so a user can
fix the call without reading tfshare's source. ``check`` runs one case
against a classifier and also proves that the input never reached
TensorFlow: no op was added and no Session was created.

The table is used by ``tests/test_bad_input.py`` (one test per case) and by
``tfshare.drills.bad_input_drill`` (the figures of ``scripts/reliability.py``).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable

import numpy as np

from tfshare._tf import tf
from tfshare.errors import InputError

#: The classifier shape the cases are written for.
INPUT_DIM = 4
NUM_CLASSES = 3


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


def _x(n: int = 5) -> np.ndarray:
    return np.random.default_rng(0).random((n, INPUT_DIM), dtype=np.float32)


def _y(n: int = 5) -> np.ndarray:
    return np.arange(n, dtype=np.int64) % NUM_CLASSES


def _with(value: float, dtype: Any = np.float32) -> np.ndarray:
    x = _x().astype(dtype)
    x[1, 2] = value
    return x


def _other_graph_tensor() -> Any:
    graph = tf.Graph()  # a graph of the user's, not the classifier's
    with graph.as_default():
        return tf.constant(_x())


_D, _C = INPUT_DIM, NUM_CLASSES
_NUMERIC = r"must have a numeric"

BAD_INPUTS: tuple[BadInput, ...] = (
    # Wrong rank and wrong width.
    BadInput("rank1", "predict_proba", lambda: (_x()[0],), InputError,
             rf"^x must be 2-D with shape \[batch, {_D}\], got 1-D shape \({_D},\)"),
    BadInput("rank3", "predict", lambda: (_x()[None],), InputError,
             rf"^x must be 2-D with shape \[batch, {_D}\], got 3-D"),
    BadInput("scalar", "evaluate", lambda: (1.0, _y(1)), InputError,
             rf"^x must be 2-D with shape \[batch, {_D}\], got 0-D"),
    BadInput("wrong_width", "predict_proba", lambda: (np.zeros((2, _D + 1), np.float32),), InputError,
             rf"^x must have {_D} features per row \(shape \[batch, {_D}\]\), got shape \(2, {_D + 1}\)"),
    BadInput("wrong_width_fit", "fit", lambda: (np.zeros((5, _D - 1), np.float32), _y()), InputError,
             rf"^x must have {_D} features per row"),
    # Strings, ragged lists, None, object arrays and other non-numbers.
    BadInput("strings", "predict", lambda: ([["a", "b", "c", "d"]],), TypeError,
             rf"^x {_NUMERIC} \(integer or float\) dtype, got dtype <U1"),
    BadInput("string", "predict_proba", lambda: ("1.0, 2.0",), TypeError,
             r"^x must be an array of numbers, got str"),
    BadInput("ragged", "predict_proba", lambda: ([[0.0] * _D, [0.0] * (_D - 1)],), InputError,
             r"^x must be a rectangular array; got ragged nested sequences"),
    BadInput("none_x", "predict", lambda: (None,), TypeError,
             r"^x must be an array of numbers, got None"),
    BadInput("none_y", "evaluate", lambda: (_x(), None), TypeError,
             r"^y must be an array of numbers, got None"),
    BadInput("object_array", "predict_proba", lambda: (np.array([[1.0, None, 2.0, 3.0]], dtype=object),),
             TypeError, rf"^x {_NUMERIC} dtype, got dtype object"),
    BadInput("bool_array", "fit", lambda: (_x() > 0.5, _y()), TypeError,
             rf"^x {_NUMERIC} \(integer or float\) dtype, got dtype bool"),
    BadInput("string_labels", "fit", lambda: (_x(), np.array(list("abcab"))), TypeError,
             rf"^y {_NUMERIC} \(integer or float\) dtype, got dtype <U1"),
    # NaN and Inf.
    BadInput("nan", "predict_proba", lambda: (_with(np.nan),), InputError,
             r"^x must be finite, got nan at index \(1, 2\)"),
    BadInput("inf", "predict", lambda: (_with(np.inf),), InputError,
             r"^x must be finite, got inf at index \(1, 2\)"),
    BadInput("neg_inf_fit", "fit", lambda: (_with(-np.inf), _y()), InputError,
             r"^x must be finite, got -inf"),
    # Labels out of range, negative, fractional, or floats at all.
    BadInput("label_too_big", "fit", lambda: (_x(), np.array([0, 1, 2, _C, 0])), InputError,
             rf"^y must hold class ids in \[0, {_C}\), got {_C}$"),
    BadInput("label_negative", "evaluate", lambda: (_x(), np.array([0, 1, -1, 2, 0])), InputError,
             rf"^y must hold class ids in \[0, {_C}\), got -1$"),
    BadInput("label_fractional", "fit", lambda: (_x(), np.array([0.0, 1.5, 2.0, 0.0, 1.0])), InputError,
             r"^y must hold integer class ids with an integer dtype, got dtype float64; e\.g\. 1\.5 is fractional"),
    BadInput("label_whole_floats", "evaluate", lambda: (_x(), _y().astype(np.float32)), InputError,
             r"^y must hold integer class ids with an integer dtype, got dtype float32; convert"),
    BadInput("label_rank2", "fit", lambda: (_x(), _y()[:, None]), InputError,
             r"^y must be 1-D with shape \[5\], got shape \(5, 1\)"),
    # Length mismatch and empty batches.
    BadInput("length_mismatch", "fit", lambda: (_x(5), _y(4)), InputError,
             r"^y must have one label per row of x: expected 5 labels, got 4"),
    BadInput("length_mismatch_eval", "evaluate", lambda: (_x(3), _y(5)), InputError,
             r"^y must have one label per row of x: expected 3 labels, got 5"),
    BadInput("empty_fit", "fit", lambda: (np.zeros((0, _D), np.float32), _y(0)), InputError,
             rf"^x must hold at least one row, got shape \(0, {_D}\)"),
    BadInput("empty_eval", "evaluate", lambda: (np.zeros((0, _D), np.float32), _y(0)), InputError,
             r"^x must hold at least one row"),
    # Beyond int32 / float32 / int64: nothing is silently wrapped or cast to Inf.
    BadInput("label_beyond_int32", "fit", lambda: (_x(), np.array([0, 1, 2, 2**32, 0])), InputError,
             rf"^y must hold class ids in \[0, {_C}\), got 4294967296$"),
    BadInput("label_beyond_int64", "evaluate", lambda: (_x(), np.array([0, 1, 2, 2**64 - 1, 0], np.uint64)),
             InputError, rf"^y must hold class ids in \[0, {_C}\), got 18446744073709551615$"),
    BadInput("label_beyond_64_bits", "fit", lambda: (_x(), [0, 1, 2, 2**70, 0]), TypeError,
             r"^y must have a numeric dtype, got dtype object .*integers beyond 64 bits"),
    BadInput("float64_beyond_float32", "predict_proba", lambda: (_with(1e39, np.float64),), InputError,
             r"^x holds values beyond float32's range \(\|x\| <= 3\.403e\+38\), max \|x\| = 1e\+39; "
             r"they would become Inf"),
    BadInput("float64_beyond_float32_fit", "fit", lambda: (_with(-1e300, np.float64), _y()), InputError,
             r"^x holds values beyond float32's range"),
    # TensorFlow tensors: from another graph, eager, or inside a list.
    BadInput("tensor_other_graph", "predict", lambda: (_other_graph_tensor(),), TypeError,
             r"^x must be a NumPy array or a nested list of numbers, got a tensorflow\..*Tensor; "
             r"fetch its value first"),
    BadInput("tensor_in_list", "predict_proba", lambda: ([_other_graph_tensor()],), TypeError,
             r"^x must be a NumPy array or a nested list of numbers; converting the list failed"),
    BadInput("eager_tensor_labels", "fit", lambda: (_x(), tf.constant(_y())), TypeError,
             r"^y must be a NumPy array or a nested list of numbers, got a tensorflow\..*EagerTensor"),
    # fit's hyperparameters.
    BadInput("epochs_zero", "fit", lambda: (_x(), _y()), InputError,
             r"^epochs must be an int >= 1, got 0", {"epochs": 0}),
    BadInput("batch_size_float", "fit", lambda: (_x(), _y()), TypeError,
             r"^batch_size must be an int >= 1, got float 8\.0", {"batch_size": 8.0}),
    BadInput("learning_rate_nan", "fit", lambda: (_x(), _y()), InputError,
             r"^learning_rate must be a finite float > 0, got nan", {"learning_rate": float("nan")}),
)


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
      classifier: a DenseClassifier (or its eager twin, which has no graph)
        of input_dim ``INPUT_DIM`` and ``NUM_CLASSES`` classes.
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


__all__ = ["BAD_INPUTS", "INPUT_DIM", "NUM_CLASSES", "BadInput", "check"]
