"""Checks that turn bad input into clear errors before TensorFlow sees it.

Every check names the argument, the expected value and the actual one. The
feature check has a fast path for the common case (a C-contiguous float32
``np.ndarray`` of the right width) that costs a few microseconds, so it can
stay on the prediction hot path.
"""

from __future__ import annotations

import math
import numbers
import re
from typing import Any, Mapping, Sequence

import numpy as np

from tfshare.errors import InputError

_FLOAT32_MAX = float(np.finfo(np.float32).max)
_INT64_MAX = int(np.iinfo(np.int64).max)
_isfinite = math.isfinite
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def _describe(value: Any) -> str:
    """Returns a short description of ``value``'s type for error messages."""
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}" if kind.__module__ != "builtins" else kind.__name__


describe = _describe


def _reject_tensors(value: Any, arg: str) -> None:
    """Raises TypeError for TensorFlow tensors and variables (from any graph)."""
    module = type(value).__module__ or ""
    if module.startswith(("tensorflow", "tf_keras", "keras")):
        raise TypeError(
            f"{arg} must be a NumPy array or a nested list of numbers, got a {_describe(value)}; "
            "fetch its value first (e.g. .numpy() in eager mode, or Session.run in graph mode)"
        )


def _as_array(value: Any, arg: str) -> np.ndarray:
    """Converts ``value`` to an ndarray without casting, rejecting non-numeric input."""
    if value is None:
        raise TypeError(f"{arg} must be an array of numbers, got None")
    _reject_tensors(value, arg)
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{arg} must be an array of numbers, got {_describe(value)} {value!r:.40}")
    if np.ma.is_masked(value):  # np.asarray would drop the mask and use the values under it
        raise InputError(
            f"{arg} must have no masked entries, got a masked array with {np.ma.count_masked(value)} of "
            f"{np.size(value)} masked; fill them first (e.g. {arg}.filled(0)) or drop those rows"
        )
    try:
        array = np.asarray(value)
    except ValueError as exc:  # NumPy >= 1.24 refuses ragged nested lists.
        raise InputError(
            f"{arg} must be a rectangular array; got ragged nested sequences ({exc})"
        ) from None
    except (TypeError, NotImplementedError) as exc:  # e.g. a list holding a symbolic tf.Tensor
        raise TypeError(
            f"{arg} must be a NumPy array or a nested list of numbers; converting the "
            f"{_describe(value)} failed: {exc}"
        ) from None
    if array.dtype == object:
        raise TypeError(
            f"{arg} must have a numeric dtype, got dtype object from a {_describe(value)} "
            "(ragged lists, None, mixed types, or integers beyond 64 bits)"
        )
    if array.dtype.kind not in "iuf":
        raise TypeError(
            f"{arg} must have a numeric (integer or float) dtype, got dtype {array.dtype}"
        )
    return array


def features(x: Any, input_dim: int, arg: str = "x", allow_empty: bool = True) -> np.ndarray:
    """Validates a batch of flat rows: ``inputs(x, (input_dim,))``."""
    return inputs(x, (input_dim,), arg, allow_empty)


def inputs(x: Any, input_shape: tuple[int, ...], arg: str = "x", allow_empty: bool = True) -> np.ndarray:
    """Validates a batch of examples and returns it as C-contiguous float32.

    Args:
      x: array-like of shape [batch, *input_shape]; float32, float64 or integer.
      input_shape: the shape of one example, e.g. (784,) or (28, 28, 1), as a tuple.
      arg: the argument's name, used in error messages.
      allow_empty: whether a batch of 0 rows is acceptable.

    Returns:
      float32 array of shape [batch, *input_shape], C-contiguous. ``x`` itself
      when it already is one (no copy).

    Raises:
      TypeError: x is None, a tf.Tensor, strings, or another non-numeric type.
      InputError: x is ragged, of the wrong rank or example shape (the
        message says when it looks channels-first, flattened, or unbatched),
        empty when not allowed, holds NaN/Inf, holds float64 values
        beyond float32's range, or is a masked array with masked entries.
    """
    # Fast path: exactly what the runtime feeds, checked in about a microsecond.
    if type(x) is _ndarray and x.dtype is _FLOAT32:
        shape = x.shape
        if len(shape) == 2:  # flat rows: no slicing, no reshape
            flat, (rows, width) = x, shape
            matches = len(input_shape) == 1 and width == input_shape[0]
        else:
            flat, rows, width = None, (shape[0] if shape else 0), 0
            matches = shape[1:] == input_shape
        if matches and rows > 0 and x.flags.c_contiguous:
            if flat is None:
                flat = x.reshape(rows, -1)
                width = flat.shape[1]
            # A finite weighted sum proves every element is finite: NaN and
            # Inf propagate through it. The weights are 2**-64, so no sum of
            # finite float32 values can overflow (|x| * 2**-64 <= 1.9e19 per
            # element), and only values below 2**-62 become subnormal. It is
            # BLAS work, one weighted sum per row (a gemv): next to a Session
            # call it costs ~3 us at batch 1, where a NumPy reduction
            # (x.sum(), np.isfinite) costs 6-8 us, and at batch 256 it
            # interferes less with the Session's threads than one long dot.
            weights = _weights(width)
            if rows * width <= _BLOCK_ELEMENTS:
                row_sums = flat.dot(weights)
                finite = _isfinite(row_sums[0] if rows == 1 else _add_reduce(row_sums))
            else:
                finite = _finite_in_blocks(flat, weights)
            if finite or np.isfinite(x).all():
                return x
    return _inputs_slow(x, input_shape, arg, allow_empty)


# One gemv over a large array (2048 x 784) right after TensorFlow ran took
# 10 ms instead of 0.1 ms: OpenBLAS splits it across threads that TF's
# spinning intra-op threads keep off the 2 cores. Blocks of at most this many
# elements stayed within 1.16x of the bare Session call (measured side by side).
_BLOCK_ELEMENTS = 1 << 18


def _finite_in_blocks(x: np.ndarray, weights: np.ndarray) -> bool:
    """Whether the weighted row sums of ``x`` are finite, computed block by block."""
    step = max(1, _BLOCK_ELEMENTS // x.shape[1])
    for start in range(0, x.shape[0], step):
        if not _isfinite(_add_reduce(x[start : start + step].dot(weights))):
            return False
    return True


_ndarray = np.ndarray
_FLOAT32 = np.dtype(np.float32)
_add_reduce = np.add.reduce
_WEIGHT = np.float32(2.0**-64)
_WEIGHTS: dict[int, np.ndarray] = {}


def _weights(n: int) -> np.ndarray:
    """A read-only float32 vector of n copies of 2**-64, cached per n."""
    weights = _WEIGHTS.get(n)
    if weights is None:
        weights = np.full(n, _WEIGHT, np.float32)
        weights.flags.writeable = False
        if len(_WEIGHTS) < 256:  # a handful of input widths in practice; stay bounded regardless
            _WEIGHTS[n] = weights
    return weights


def _shape_hint(shape: tuple[int, ...], input_shape: tuple[int, ...]) -> str:
    """Why an example shape may be wrong, when a common mistake explains it."""
    example = shape[1:]
    expected = "[batch, " + ", ".join(map(str, input_shape)) + "]"
    if len(input_shape) == 3 and len(example) == 3 and example != input_shape:
        h, w, c = input_shape
        if example == (c, h, w):
            return f"; it looks channels-first, and this classifier takes channels-last {expected}: use np.transpose(x, (0, 2, 3, 1))"
    if len(input_shape) > 1 and len(shape) == 2 and shape[1] == int(np.prod(input_shape)):
        return f"; it looks like flattened rows: use x.reshape(-1, {', '.join(map(str, input_shape))})"
    if shape == input_shape:
        return "; it looks like one example without the batch axis: use x[None]"
    return ""


def _inputs_slow(x: Any, input_shape: tuple[int, ...], arg: str, allow_empty: bool) -> np.ndarray:
    array = _as_array(x, arg)
    expected = "[batch, " + ", ".join(map(str, input_shape)) + "]"
    if array.ndim != len(input_shape) + 1:
        raise InputError(
            f"{arg} must be {len(input_shape) + 1}-D with shape {expected}, got {array.ndim}-D shape "
            f"{array.shape}{_shape_hint(array.shape, input_shape)}"
        )
    if array.shape[1:] != input_shape:
        if len(input_shape) == 1:
            raise InputError(
                f"{arg} must have {input_shape[0]} features per row (shape {expected}), got shape {array.shape}"
            )
        raise InputError(
            f"{arg} must have shape {expected}, got shape {array.shape}{_shape_hint(array.shape, input_shape)}"
        )
    if array.shape[0] == 0 and not allow_empty:
        raise InputError(f"{arg} must hold at least one row, got shape {array.shape}")
    if array.dtype.kind == "f":
        finite = np.isfinite(array)
        if not finite.all():
            bad = np.argwhere(~finite)[0]
            raise InputError(
                f"{arg} must be finite, got {array[tuple(bad)]} at index {tuple(int(i) for i in bad)}"
            )
        if array.dtype.itemsize > 4 and array.size and np.abs(array).max() > _FLOAT32_MAX:
            raise InputError(
                f"{arg} holds values beyond float32's range (|x| <= {_FLOAT32_MAX:.4g}), "
                f"max |x| = {np.abs(array).max():.4g}; they would become Inf"
            )
    return np.ascontiguousarray(array, dtype=np.float32)


def labels(y: Any, num_classes: int, num_samples: int, arg: str = "y") -> np.ndarray:
    """Validates class labels and returns them as int64.

    Args:
      y: integer array-like of shape [batch] with values in [0, num_classes).
      num_classes: the number of classes.
      num_samples: the number of feature rows the labels go with.
      arg: the argument's name, used in error messages.

    Returns:
      int64 array of shape [batch].

    Raises:
      TypeError: y is None, a tf.Tensor, or not numeric.
      InputError: y is not 1-D, is a float array (even of whole numbers:
        nothing is silently cast), has the wrong length, holds labels
        outside [0, num_classes), (unsigned) labels beyond int64, or
        masked entries.
    """
    array = _as_array(y, arg)
    if array.ndim != 1:
        raise InputError(f"{arg} must be 1-D with shape [{num_samples}], got shape {array.shape}")
    if array.dtype.kind == "f":
        fractional = array[np.isfinite(array) & (array != np.round(array))] if array.size else array
        detail = f"; e.g. {float(fractional[0])!r} is fractional" if fractional.size else ""
        raise InputError(
            f"{arg} must hold integer class ids with an integer dtype, got dtype {array.dtype}{detail}; "
            "convert whole-number floats explicitly with y.astype(np.int64)"
        )
    if array.shape[0] != num_samples:
        raise InputError(
            f"{arg} must have one label per row of x: expected {num_samples} labels, got {array.shape[0]}"
        )
    if array.size:
        low, high = array.min(), array.max()
        if low < 0 or high >= num_classes:
            bad = low if low < 0 else high
            raise InputError(
                f"{arg} must hold class ids in [0, {num_classes}), got {int(bad)}"
            )
        if array.dtype.kind == "u" and int(high) > _INT64_MAX:  # astype would wrap it to a negative id
            raise InputError(
                f"{arg} must hold class ids that fit int64 (<= {_INT64_MAX}), got {int(high)} (dtype {array.dtype})"
            )
    return array.astype(np.int64, copy=False)


def positive_int(value: Any, arg: str, minimum: int = 1) -> int:
    """Returns ``value`` as int if it is an integer >= ``minimum``.

    Raises:
      TypeError: value is not an integer (bools are rejected too).
      InputError: value < minimum.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{arg} must be an int >= {minimum}, got {_describe(value)} {value!r}")
    if value < minimum:
        raise InputError(f"{arg} must be an int >= {minimum}, got {value}")
    return int(value)


def positive_float(value: Any, arg: str) -> float:
    """Returns ``value`` as float if it is a finite real number > 0.

    Raises:
      TypeError: value is not a real number.
      InputError: value is not finite or not > 0.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{arg} must be a float > 0, got {_describe(value)} {value!r}")
    try:
        as_float = float(value)
    except OverflowError:  # an int beyond float's range
        raise InputError(f"{arg} must be a finite float > 0, got {str(value)[:20]}... (beyond float range)") from None
    if not math.isfinite(as_float) or as_float <= 0:
        raise InputError(f"{arg} must be a finite float > 0, got {value}")
    return as_float


def positive_float32(value: Any, arg: str) -> float:
    """Returns ``value`` as float if it is a real number > 0 that float32 keeps > 0 and finite.

    For values TensorFlow is fed as float32 (a learning rate): 1e-50 would
    become 0 and 1e39 Inf.

    Raises:
      TypeError: value is not a real number.
      InputError: value is not finite or not > 0, or is 0 or Inf as a float32.
    """
    as_float = positive_float(value, arg)
    with np.errstate(over="ignore"):
        as_float32 = np.float32(as_float)
    if not 0.0 < as_float32 < np.inf:
        raise InputError(
            f"{arg} must be > 0 and at most {_FLOAT32_MAX:.4g} (it is fed as float32), got {value}, "
            f"which is {float(as_float32)} as a float32"
        )
    return as_float


def input_shape(value: Any, arg: str = "input_shape") -> tuple[int, ...]:
    """Returns ``value`` as a non-empty tuple of positive ints: the shape of one example.

    Raises:
      TypeError: value is not a sequence of ints (an int ``n`` is read as (n,)).
      InputError: it is empty, or an element is < 1 (e.g. a None batch axis).
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,)
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{arg} must be a tuple of ints >= 1 such as (28, 28, 1), got {_describe(value)} {value!r}")
    if not value:
        raise InputError(f"{arg} must have at least one dimension, got {tuple(value)}")
    for i, v in enumerate(value):
        if v is None:
            raise InputError(f"{arg} is the shape of one example, without the batch axis: got None at [{i}] in {tuple(value)}")
    return tuple(positive_int(v, f"{arg}[{i}]") for i, v in enumerate(value))


def hidden_units(value: Any, arg: str = "hidden_units") -> tuple[int, ...]:
    """Returns ``value`` as a tuple of positive ints (may be empty).

    Raises:
      TypeError: value is not a sequence of ints.
      InputError: an element is < 1.
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{arg} must be a sequence of ints >= 1, got {_describe(value)} {value!r}")
    return tuple(positive_int(v, f"{arg}[{i}]") for i, v in enumerate(value))


def boolean(value: Any, arg: str) -> bool:
    """Returns ``value`` if it is a bool (NumPy's ``np.bool_`` included).

    Raises:
      TypeError: value is not a bool (e.g. a string such as "no", or 0/1).
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{arg} must be a bool, got {_describe(value)} {value!r}")
    return bool(value)


def seed(value: Any, arg: str = "seed", allow_none: bool = True) -> int | None:
    """Returns ``value`` as an int if it is an int in [0, 2**31), or None if allowed.

    Args:
      value: the seed.
      arg: the argument's name, used in error messages.
      allow_none: whether None (nondeterministic) is accepted; False where
        the same arguments must always give the same result.

    Raises:
      TypeError: value is not an int (bools are rejected), or is None when
        not allowed.
      InputError: value is outside [0, 2**31).
    """
    if value is None:
        if allow_none:
            return None
        raise TypeError(f"{arg} must be an int in [0, 2**31), got None")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        expected = "None or an int" if allow_none else "an int in [0, 2**31)"
        raise TypeError(f"{arg} must be {expected}, got {_describe(value)} {value!r}")
    if not 0 <= value < 2**31:
        raise InputError(f"{arg} must be in [0, 2**31), got {value}")
    return int(value)


def name(value: Any, arg: str = "name") -> str | None:
    """Returns ``value`` if it is None or a valid TensorFlow scope name."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{arg} must be a str, got {_describe(value)} {value!r}")
    if not _NAME_RE.fullmatch(value):
        raise InputError(
            f"{arg} must match {_NAME_RE.pattern} (letters, digits, '_', '.', '-'), got {value!r}"
        )
    return value


def input_tensor(value: Any, graph: Any, input_shape: tuple[int, ...], arg: str = "input_tensor") -> Any:
    """Returns ``value`` if it is a float32 tensor of ``graph`` with shape [batch, *input_shape].

    Raises:
      TypeError: it is not a graph tensor.
      InputError: it belongs to another graph, or has another dtype or shape.
    """
    if getattr(value, "graph", None) is None or not hasattr(value, "dtype"):
        raise TypeError(f"{arg} must be a tensor of the runtime's graph, got {_describe(value)}")
    if value.graph is not graph:
        raise InputError(f"{arg} must be a tensor of the runtime's graph, got one of another graph: {value!r}")
    shape = value.shape
    if value.dtype.name != "float32" or shape.rank != len(input_shape) + 1 or tuple(shape.as_list()[1:]) != input_shape:
        raise InputError(
            f"{arg} must be float32 with shape [batch, {', '.join(map(str, input_shape))}], "
            f"got {value.dtype.name} with shape {shape}"
        )
    return value


def weights(value: Any, expected: Mapping[str, Any], arg: str = "weights") -> dict[str, np.ndarray]:
    """Checks a {key: array} dict against the variables it is to be assigned to.

    Args:
      value: the mapping given.
      expected: {key: variable} (anything with ``shape`` and ``dtype``).
      arg: the argument's name, used in error messages.

    Returns:
      {key: C-contiguous array of the variable's dtype}.

    Raises:
      TypeError: value is not a mapping, or an entry is not numeric.
      InputError: keys missing or unknown, a shape differs, a value is not
        finite or beyond float32's range.
    """
    if not isinstance(value, Mapping):
        raise TypeError(f"{arg} must be a dict of {{name: array}} like get_weights() returns, got {_describe(value)}")
    missing = [k for k in expected if k not in value]
    unknown = sorted(str(k) for k in value if k not in expected)
    if missing or unknown:
        raise InputError(
            f"{arg} must have exactly the keys of named_variables: missing {missing}, unknown {unknown}"
        )
    checked: dict[str, np.ndarray] = {}
    for key, variable in expected.items():
        shape = tuple(variable.shape.as_list())
        array = _as_array(value[key], f"{arg}[{key!r}]")
        if array.shape != shape:
            raise InputError(f"{arg}[{key!r}] must have shape {shape}, got shape {array.shape}")
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise InputError(f"{arg}[{key!r}] must be finite, got NaN or Inf")
        if array.size and np.abs(array).max() > _FLOAT32_MAX:
            raise InputError(f"{arg}[{key!r}] holds values beyond float32's range")
        # np.asarray, not np.ascontiguousarray: that one makes a 0-d value (a scalar variable) 1-d.
        checked[key] = np.asarray(array, dtype=variable.dtype.as_numpy_dtype, order="C")
    return checked


def choice(value: Any, arg: str, options: Sequence[str]) -> str:
    """Returns ``value`` if it is one of ``options``."""
    if value not in options:
        raise InputError(f"{arg} must be one of {list(options)}, got {value!r}")
    return value
