"""Property tests of input validation: any input gives a clear error or the float32 reference.

Random shapes, dtypes, memory layouts, NaN/Inf positions and ragged nesting
(hypothesis; bounded, deterministic examples: see the "ci" profile in
conftest.py). For each input an independent predicate says whether it is
valid; then ``validation.inputs`` (and ``predict_proba`` behind it) must
either raise ``InputError``/``TypeError`` naming the argument, or return
exactly ``np.asarray(x).astype(np.float32)``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import tfshare
from tfshare import validation

_F32_MAX = float(np.finfo(np.float32).max)

_DTYPES = st.sampled_from(
    [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
     np.uint32, np.uint64, np.bool_, np.complex64]
)
_INPUT_SHAPES = st.sampled_from([(3,), (4,), (2, 3), (2, 2, 1), (3, 2, 1)])


def _valid(x: np.ndarray, input_shape: tuple[int, ...], allow_empty: bool) -> bool:
    """The documented contract, written independently of tfshare.validation."""
    if x.dtype.kind not in "iuf":
        return False
    if x.shape[1:] != input_shape or x.ndim != len(input_shape) + 1:
        return False
    if x.shape[0] == 0 and not allow_empty:
        return False
    if x.dtype.kind == "f":
        wide = x.astype(np.float64)
        if not np.all(np.isfinite(wide)) or (x.size and np.abs(wide).max() > _F32_MAX):
            return False
    return True


@st.composite
def _arrays(draw, input_shapes=_INPUT_SHAPES):
    """(x, input_shape): an array near or at the expected shape, sometimes strided, sometimes with NaN/Inf."""
    input_shape = draw(input_shapes)
    dtype = np.dtype(draw(_DTYPES))
    batch = draw(st.integers(0, 4))
    shape = draw(st.sampled_from([
        (batch, *input_shape),  # right
        (batch, *input_shape),  # right (twice as likely)
        input_shape,  # no batch axis
        (batch, *input_shape[:-1], input_shape[-1] + 1),  # one feature too many
        (batch, *input_shape, 1),  # an extra axis
        (batch, int(np.prod(input_shape))),  # flattened
    ]))
    if dtype.kind == "f":
        elements = st.floats(allow_nan=False, allow_infinity=False, width=8 * min(dtype.itemsize, 8))
        if dtype == np.float64:
            elements = st.one_of(st.floats(-1e6, 1e6), st.floats(-1e39, 1e39))  # some beyond float32's range
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        elements = st.integers(int(info.min), int(info.max))
    elif dtype.kind == "b":
        elements = st.booleans()
    else:
        elements = st.complex_numbers(max_magnitude=10, allow_nan=False, allow_infinity=False, width=64)
    x = draw(hnp.arrays(dtype, shape, elements=elements))
    if dtype.kind == "f" and x.size and draw(st.booleans()):
        index = draw(st.integers(0, x.size - 1))
        x.reshape(-1)[index] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    layout = draw(st.sampled_from(["c", "fortran", "strided"]))
    if layout == "fortran":
        x = np.asfortranarray(x)
    elif layout == "strided" and x.ndim:
        x = np.repeat(x, 2, axis=0)[::2]  # the same values, not contiguous
    return x, input_shape


@given(case=_arrays(), allow_empty=st.booleans())
def test_inputs_raise_a_clear_error_or_return_the_float32_reference(case, allow_empty):
    x, input_shape = case
    if _valid(x, input_shape, allow_empty):
        got = validation.inputs(x, input_shape, allow_empty=allow_empty)
        assert got.dtype == np.float32 and got.flags.c_contiguous
        np.testing.assert_array_equal(got, x.astype(np.float32))
    else:
        with pytest.raises((tfshare.InputError, TypeError), match=r"^x (must|holds) "):
            validation.inputs(x, input_shape, allow_empty=allow_empty)


@st.composite
def _lists(draw):
    """Nested Python lists of numbers: rectangular, or made ragged at a random depth."""
    shape = draw(st.sampled_from([(1, 3), (2, 3), (3, 1), (2, 2, 2), (3, 2, 1)]))
    value = draw(hnp.arrays(np.float64, shape, elements=st.floats(-100, 100))).tolist()
    if draw(st.booleans()):
        target = value[draw(st.integers(0, shape[0] - 1))]
        if len(shape) == 3 and draw(st.booleans()):
            target = target[draw(st.integers(0, shape[1] - 1))]
        if len(target) == 1 or draw(st.booleans()):
            target.append(target[0])  # one element (or row) too many
        else:
            target.pop()  # one too few
    return value


@given(value=_lists())
def test_nested_lists_are_rectangular_numbers_or_a_clear_error(value):
    try:
        reference = np.array(value, dtype=np.float64)
    except ValueError:  # ragged: NumPy refuses it too
        with pytest.raises(tfshare.InputError, match=r"^x must be a rectangular array; got ragged nested sequences"):
            validation.inputs(value, (3,))
        return
    input_shape = reference.shape[1:]
    got = validation.inputs(value, input_shape)
    np.testing.assert_array_equal(got, reference.astype(np.float32))


@pytest.fixture(scope="module")
def classifier():
    with tfshare.DenseClassifier(4, 3, (5,), seed=0) as clf:
        yield clf


@given(case=_arrays(input_shapes=st.just((4,))))
def test_predict_proba_equals_its_float32_reference_or_raises_before_tensorflow(classifier, case):
    x, _ = case
    ops = len(classifier.runtime.graph.get_operations())
    if _valid(x, (4,), allow_empty=True):
        reference = x.astype(np.float32)
        got = classifier.predict_proba(x)
        np.testing.assert_array_equal(got, classifier.predict_proba(np.ascontiguousarray(reference)))
        assert got.shape == (x.shape[0], 3)
    else:
        with pytest.raises((tfshare.InputError, TypeError), match=r"^x (must|holds) "):
            classifier.predict_proba(x)
    assert len(classifier.runtime.graph.get_operations()) == ops
