"""Bad input becomes a clear error before TensorFlow sees it."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tfshare
from tfshare import validation
from tfshare._tf import tf

FEATURE_CASES = [
    (None, TypeError, "x must be an array of numbers, got None"),
    ("abc", TypeError, "x must be an array of numbers, got str"),
    (np.array(["a", "b"]).reshape(1, 2), TypeError, "x must have a numeric .* dtype, got dtype <U1"),
    ([[1.0, 2.0], [3.0]], tfshare.InputError, "x must be a rectangular array; got ragged"),
    (np.array([[1, None]], dtype=object), TypeError, "x must have a numeric dtype, got dtype object"),
    (np.zeros(2), tfshare.InputError, r"x must be 2-D with shape \[batch, 2\], got 1-D shape \(2,\)"),
    (np.zeros((1, 1, 2)), tfshare.InputError, r"x must be 2-D .* got 3-D"),
    (np.zeros((1, 3)), tfshare.InputError, r"x must have 2 features per row .* got shape \(1, 3\)"),
    (np.array([[0.0, np.nan]], np.float32), tfshare.InputError, r"x must be finite, got nan at index \(0, 1\)"),
    (np.array([[np.inf, 0.0]]), tfshare.InputError, r"x must be finite, got inf at index \(0, 0\)"),
    (np.array([[1e39, 0.0]]), tfshare.InputError, "beyond float32's range"),
    (np.array([[True, False]]), TypeError, "got dtype bool"),
    (tf.constant([[1.0, 2.0]]), TypeError, "x must be a NumPy array or a nested list of numbers, got a"),
]


@pytest.mark.parametrize(
    "value, error, match", FEATURE_CASES,
    ids=["none", "str", "strings", "ragged", "object", "1d", "3d", "width", "nan", "inf", "f64-overflow", "bool", "tensor"],
)
def test_bad_features(value, error, match):
    with pytest.raises(error, match=match):
        validation.features(value, 2)


def test_fast_path_returns_the_same_array_without_copy():
    x = np.ones((3, 2), np.float32)
    assert validation.features(x, 2) is x


def test_float32_overflowing_sum_is_not_mistaken_for_inf():
    x = np.full((1, 4), 3e38, np.float32)  # finite values whose float32 sum overflows
    assert validation.features(x, 4) is x


def test_casts_are_exact_for_accepted_types():
    out = validation.features(np.array([[1, 2]], np.int64), 2)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, [[1.0, 2.0]])
    fortran = np.asfortranarray(np.ones((3, 2), np.float32))
    assert validation.features(fortran, 2).flags.c_contiguous


def test_masked_entries_are_refused_not_replaced_by_the_values_under_them():
    x = np.ma.masked_array([[1.0, 2.0], [3.0, 4.0]], mask=[[False, True], [False, False]])
    with pytest.raises(tfshare.InputError, match=r"^x must have no masked entries, got a masked array with 1 of 4 masked"):
        validation.features(x, 2)
    y = np.ma.masked_array([0, 1], mask=[True, False])
    with pytest.raises(tfshare.InputError, match=r"^y must have no masked entries, got a masked array with 1 of 2 masked"):
        validation.labels(y, 3, 2)
    unmasked = np.ma.masked_array([[1.0, 2.0]], mask=False)  # nothing masked: its values are the data
    np.testing.assert_array_equal(validation.features(unmasked, 2), [[1.0, 2.0]])


LABEL_CASES = [
    (np.array([0.0, 1.5]), r"y must hold integer class ids with an integer dtype, got dtype float64; e.g. .*1\.5\)? is fractional"),
    (np.array([0.0, 1.0]), "y must hold integer class ids with an integer dtype, got dtype float64"),
    (np.array([0, 3]), r"y must hold class ids in \[0, 3\), got 3"),
    (np.array([-1, 0]), r"y must hold class ids in \[0, 3\), got -1"),
    (np.array([0, 2**40]), r"y must hold class ids in \[0, 3\), got 1099511627776"),
    (np.array([[0, 1]]), r"y must be 1-D with shape \[2\], got shape \(1, 2\)"),
    (np.array([0, 1, 2]), "y must have one label per row of x: expected 2 labels, got 3"),
]


@pytest.mark.parametrize(
    "value, match", LABEL_CASES, ids=["fractional", "whole-floats", "too-big", "negative", "beyond-int32", "2d", "count"]
)
def test_bad_labels(value, match):
    with pytest.raises(tfshare.InputError, match=match):
        validation.labels(value, 3, 2)


def test_uint64_labels_beyond_int64_are_refused_not_wrapped():
    huge = np.array([2**63, 1], np.uint64)
    with pytest.raises(tfshare.InputError, match=r"y must hold class ids that fit int64 \(<= 9223372036854775807\), "
                                                 r"got 9223372036854775808 \(dtype uint64\)"):
        validation.labels(huge, 2**63 + 1, 2)
    assert validation.labels(np.array([2**63 - 1], np.uint64), 2**63, 1).tolist() == [2**63 - 1]


def test_labels_accept_any_integer_dtype():
    out = validation.labels(np.array([0, 2], np.uint8), 3, 2)
    assert out.dtype == np.int64 and out.tolist() == [0, 2]


def test_errors_reach_users_through_the_classifier(runtime):
    clf = tfshare.DenseClassifier(input_dim=2, num_classes=3, hidden_units=(4,), runtime=runtime)
    with pytest.raises(tfshare.InputError, match=r"x must have 2 features per row"):
        clf.predict_proba(np.zeros((1, 3)))
    with pytest.raises(tfshare.InputError, match=r"y must hold class ids in \[0, 3\), got 5"):
        clf.evaluate(np.zeros((1, 2)), [5])
    with pytest.raises(tfshare.InputError, match="epochs must be an int >= 1, got 0"):
        clf.fit(np.zeros((1, 2)), [0], epochs=0)
    with pytest.raises(tfshare.InputError, match="learning_rate must be a finite float > 0, got -0.1"):
        clf.fit(np.zeros((1, 2)), [0], learning_rate=-0.1)
    with pytest.raises(TypeError, match="shuffle must be a bool"):
        clf.fit(np.zeros((1, 2)), [0], shuffle="yes")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_fast_path_still_catches_non_finite_among_huge_values(bad):
    x = np.full((2, 4), 3.4e38, np.float32)
    x[1, 2] = bad
    with pytest.raises(tfshare.InputError, match=r"x must be finite, got .* at index \(1, 2\)"):
        validation.features(x, 4)


def test_huge_finite_float32_passes_without_numpy_warnings():
    import warnings

    x = np.full((3, 5000), np.finfo(np.float32).max, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert validation.features(x, 5000) is x


@pytest.mark.parametrize("value", [10**400, -(10**400)], ids=["huge-int", "huge-negative-int"])
def test_positive_float_rejects_ints_beyond_float_range_by_name(value):
    with pytest.raises(tfshare.InputError, match="learning_rate must be a finite float > 0"):
        validation.positive_float(value, "learning_rate")


@pytest.mark.parametrize("row", [0, 400, 999], ids=["first-block", "middle-block", "last-block"])
def test_large_arrays_are_checked_block_by_block(row):
    x = np.ones((1000, 784), np.float32)  # 784,000 elements: more than one block
    assert x.size > validation._BLOCK_ELEMENTS
    assert validation.features(x, 784) is x
    x[row, 7] = np.nan
    with pytest.raises(tfshare.InputError, match=rf"x must be finite, got nan at index \({row}, 7\)"):
        validation.features(x, 784)


def test_boolean_returns_a_python_bool_and_refuses_ints_and_strings_by_name():
    """boolean() accepts bool and np.bool_ (returned as a Python bool) and nothing else, naming the argument."""
    assert validation.boolean(True, "flatten") is True
    assert validation.boolean(np.bool_(False), "flatten") is False
    assert validation.boolean(np.bool_(True), "flatten") is True
    for bad, shown in [(1, "int 1"), ("no", "str 'no'"), (None, "NoneType None")]:
        with pytest.raises(TypeError, match=f"^{re.escape(f'flatten must be a bool, got {shown}')}$"):
            validation.boolean(bad, "flatten")


def _placeholders(graph, shapes, dtype=tf.float32):
    with graph.as_default():
        return [tf.compat.v1.placeholder(dtype, shape) for shape in shapes]


def test_input_tensor_accepts_only_float32_tensors_of_the_graph_with_the_input_shape():
    """input_tensor() returns a float32 [batch, *input_shape] tensor of the graph as is; anything else is refused."""
    graph, other = tf.Graph(), tf.Graph()
    good, fixed_batch, wide, transposed, deeper, unknown = _placeholders(
        graph, [[None, 4, 3], [2, 4, 3], [None, 12], [None, 3, 4], [None, 4, 3, 1], None])
    (double,) = _placeholders(graph, [[None, 4, 3]], tf.float64)
    (elsewhere,) = _placeholders(other, [[None, 4, 3]])
    assert validation.input_tensor(good, graph, (4, 3)) is good
    assert validation.input_tensor(fixed_batch, graph, (4, 3)) is fixed_batch
    shape_error = r"^input_tensor must be float32 with shape \[batch, 4, 3\], got {} with shape {}$"
    cases = [
        (np.zeros((1, 4, 3), np.float32), TypeError,
         r"^input_tensor must be a tensor of the runtime's graph, got numpy\.ndarray$"),
        (good.op, TypeError, r"^input_tensor must be a tensor of the runtime's graph, got .*Operation$"),
        (elsewhere, tfshare.InputError, "^input_tensor must be a tensor of the runtime's graph, got one of another graph: <tf.Tensor"),
        (double, tfshare.InputError, shape_error.format("float64", re.escape("(None, 4, 3)"))),
        (wide, tfshare.InputError, shape_error.format("float32", re.escape("(None, 12)"))),
        (transposed, tfshare.InputError, shape_error.format("float32", re.escape("(None, 3, 4)"))),
        (deeper, tfshare.InputError, shape_error.format("float32", re.escape("(None, 4, 3, 1)"))),
        (unknown, tfshare.InputError, shape_error.format("float32", "<unknown>")),
    ]
    for value, error, match in cases:
        with pytest.raises(error, match=match):
            validation.input_tensor(value, graph, (4, 3))
    with pytest.raises(TypeError, match="^x_in must be a tensor"):
        validation.input_tensor(None, graph, (4, 3), "x_in")


def test_a_classifier_reads_a_given_input_tensor_after_checking_it(runtime):
    """Classifier(input_tensor=...) refuses a tensor of the wrong shape by name, and reads a good one."""
    wrong, good = _placeholders(runtime.graph, [[None, 3], [None, 2]])
    from tfshare._tf import keras

    def body():
        return [keras.layers.Dense(4)]

    with pytest.raises(tfshare.InputError, match=r"input_tensor must be float32 with shape \[batch, 2\], got float32 with shape \(None, 3\)"):
        tfshare.Classifier(layers=body, input_shape=(2,), num_classes=3, runtime=runtime, input_tensor=wrong)
    clf = tfshare.Classifier(layers=body, input_shape=(2,), num_classes=3, runtime=runtime, input_tensor=good, seed=0)
    assert clf.input_tensor is good
    x = np.array([[0.5, -1.0]], np.float32)
    np.testing.assert_array_equal(runtime.run(clf.probabilities_tensor, {good: x}), clf.predict_proba(x))


class _Variable:
    """What weights() needs of a variable: a shape and a dtype."""

    def __init__(self, shape, dtype=tf.float32):
        self.shape, self.dtype = tf.TensorShape(shape), dtype


def test_weights_returns_contiguous_arrays_of_each_variables_dtype():
    """weights() casts each entry to its variable's dtype, C-contiguous, values unchanged; empty and float32-max pass."""
    expected = {"kernel": _Variable([2, 3]), "bias": _Variable([0]), "step": _Variable([], tf.int64)}
    kernel = np.asfortranarray(np.array([[1, 2, 3], [4, 5, np.finfo(np.float32).max]], np.float64))
    out = validation.weights({"step": 7, "bias": np.zeros(0), "kernel": kernel}, expected)
    assert list(out) == ["kernel", "bias", "step"]
    assert out["kernel"].dtype == np.float32 and out["kernel"].flags.c_contiguous
    np.testing.assert_array_equal(out["kernel"], kernel.astype(np.float32))
    assert out["bias"].dtype == np.float32 and out["bias"].shape == (0,)
    assert out["step"].dtype == np.int64 and out["step"] == 7


@pytest.mark.parametrize("value, error, match", [
    ([1, 2], TypeError, r"^w must be a dict of \{name: array\} like get_weights\(\) returns, got list$"),
    ({"kernel": np.zeros((2, 3))}, tfshare.InputError,
     r"^w must have exactly the keys of named_variables: missing \['bias'\], unknown \[\]$"),
    ({"kernel": np.zeros((2, 3)), "bias": np.zeros(3), "z": 1, "a": 2}, tfshare.InputError,
     r"^w must have exactly the keys of named_variables: missing \[\], unknown \['a', 'z'\]$"),
    ({"kernel": np.zeros((3, 2)), "bias": np.zeros(3)}, tfshare.InputError,
     r"^w\['kernel'\] must have shape \(2, 3\), got shape \(3, 2\)$"),
    ({"kernel": np.zeros((2, 3)), "bias": [0.0, np.inf, 0.0]}, tfshare.InputError,
     r"^w\['bias'\] must be finite, got NaN or Inf$"),
    ({"kernel": np.zeros((2, 3)), "bias": np.array([0.0, -1e39, 0.0])}, tfshare.InputError,
     r"^w\['bias'\] holds values beyond float32's range$"),
    ({"kernel": np.zeros((2, 3)), "bias": "abc"}, TypeError, r"^w\['bias'\] must be an array of numbers"),
], ids=["not-a-dict", "missing", "unknown", "shape", "inf", "beyond-float32", "string"])
def test_weights_refuses_bad_entries_by_name(value, error, match):
    """weights() names the argument, the key and the problem: a non-dict, wrong keys, shape, non-finite, range, type."""
    with pytest.raises(error, match=match):
        validation.weights(value, {"kernel": _Variable([2, 3]), "bias": _Variable([3])}, "w")


def test_features_accepts_an_empty_batch_unless_told_not_to():
    """features() lets a 0-row batch through by default, and refuses it by name with allow_empty=False."""
    empty = np.zeros((0, 2), np.float32)
    assert validation.features(empty, 2).shape == (0, 2)
    assert validation.features(empty, 2, "rows").shape == (0, 2)
    with pytest.raises(tfshare.InputError, match=r"^rows must hold at least one row, got shape \(0, 2\)$"):
        validation.features(empty, 2, "rows", allow_empty=False)


def test_flattened_rows_of_2d_examples_get_the_reshape_hint():
    """Rows of 12 values for examples of shape (4, 3) are named flattened rows, with the reshape to use."""
    with pytest.raises(tfshare.InputError, match=r"got 2-D shape \(5, 12\); it looks like flattened rows: use x\.reshape\(-1, 4, 3\)$"):
        validation.inputs(np.zeros((5, 12), np.float32), (4, 3))


def test_large_arrays_are_checked_to_their_last_row():
    """The block-by-block check covers every row of a tall narrow array and finds NaN in every block too."""
    tall = np.ones((200_000, 2), np.float32)  # more rows than columns by far: blocks run over the rows
    assert validation._finite_in_blocks(tall, validation._weights(2)) is True
    tall[-1, 1] = np.nan
    assert validation._finite_in_blocks(tall, validation._weights(2)) is False
    with pytest.raises(tfshare.InputError, match=r"x must be finite, got nan at index \(199999, 1\)"):
        validation.features(tall, 2)
    everywhere = np.ones((1000, 784), np.float32)
    everywhere[:, 3] = np.inf  # every block holds a non-finite value
    with pytest.raises(tfshare.InputError, match=r"x must be finite, got inf at index \(0, 3\)"):
        validation.features(everywhere, 784)


def test_float64_values_up_to_float32_max_pass_and_beyond_are_refused():
    """The float32-range check of float64 input is strict: float32's max itself passes, just above it does not."""
    top = float(np.finfo(np.float32).max)
    out = validation.features(np.array([[top, -top]], np.float64), 2)
    np.testing.assert_array_equal(out, np.array([[top, -top]], np.float32))
    with pytest.raises(tfshare.InputError, match="x holds values beyond float32's range"):
        validation.features(np.array([[np.nextafter(top, np.inf), 0.0]]), 2)


def test_int64_labels_come_back_without_a_copy():
    """labels() returns int64 labels as they are: no copy on the training path."""
    y = np.array([0, 2, 1], np.int64)
    assert validation.labels(y, 3, 3) is y


@pytest.mark.parametrize("value, error, match", [
    (True, TypeError, r"^lr must be a float > 0, got bool True$"),
    ("0.1", TypeError, r"^lr must be a float > 0, got str '0\.1'$"),
    (0, tfshare.InputError, r"^lr must be a finite float > 0, got 0$"),
    (-0.0, tfshare.InputError, r"^lr must be a finite float > 0, got -0\.0$"),
    (float("nan"), tfshare.InputError, r"^lr must be a finite float > 0, got nan$"),
    (10**400, tfshare.InputError, r"^lr must be a finite float > 0, got 1{}\.\.\. \(beyond float range\)$".format("0" * 19)),
], ids=["bool", "str", "zero", "negative-zero", "nan", "huge-int"])
def test_positive_float_refuses_by_name(value, error, match):
    """positive_float() refuses bools, strings, zero, NaN and ints beyond float range, quoting the value."""
    with pytest.raises(error, match=match):
        validation.positive_float(value, "lr")


@pytest.mark.parametrize("make", [
    lambda: tfshare.DenseClassifier(2, 3, (4,), seed=0), lambda: tfshare.EagerDenseClassifier(2, 3, (4,), seed=0),
], ids=["graph", "eager"])
@pytest.mark.parametrize("learning_rate, as_float32", [(1e-50, r"0\.0"), (1e39, "inf")], ids=["underflow", "overflow"])
def test_a_learning_rate_float32_makes_0_or_inf_is_refused_before_any_step(make, learning_rate, as_float32):
    """It is fed as float32: 1e-50 would train nothing without a word, 1e39 would apply an Inf step."""
    with make() as clf:
        before = clf.get_weights()
        with pytest.raises(tfshare.InputError, match=rf"^learning_rate must be > 0 and at most 3\.403e\+38 \(it is fed "
                           rf"as float32\), got {re.escape(str(learning_rate))}, which is {as_float32} as a float32$"):
            clf.fit(np.ones((4, 2), np.float32), np.array([0, 1, 2, 0]), learning_rate=learning_rate)
        for key, value in clf.get_weights().items():
            np.testing.assert_array_equal(value, before[key], err_msg=key)
    assert validation.positive_float32(1e-40, "lr") == 1e-40  # a subnormal float32 is still > 0


def test_positive_float_returns_a_float():
    """An int learning rate comes back as a Python float."""
    assert validation.positive_float(3, "lr") == 3.0 and type(validation.positive_float(3, "lr")) is float


@pytest.mark.parametrize("value, error, match", [
    (None, TypeError, r"^shape must be a tuple of ints >= 1 such as \(28, 28, 1\), got NoneType None$"),
    ("28", TypeError, r"^shape must be a tuple of ints >= 1 such as \(28, 28, 1\), got str '28'$"),
    ({28}, TypeError, r"^shape must be a tuple of ints >= 1 such as \(28, 28, 1\), got set \{28\}$"),
    (True, TypeError, r"^shape must be a tuple of ints >= 1 such as \(28, 28, 1\), got bool True$"),
    ((), tfshare.InputError, r"^shape must have at least one dimension, got \(\)$"),
    ([], tfshare.InputError, r"^shape must have at least one dimension, got \(\)$"),
    ((None, 4), tfshare.InputError, r"^shape is the shape of one example, without the batch axis: got None at \[0\] in \(None, 4\)$"),
    ((4, 0), tfshare.InputError, r"^shape\[1\] must be an int >= 1, got 0$"),
], ids=["none", "str", "set", "bool", "empty-tuple", "empty-list", "batch-axis", "zero"])
def test_input_shape_refuses_by_name(value, error, match):
    """input_shape() names the argument and the value for non-sequences, empty shapes, a batch axis and zeros."""
    with pytest.raises(error, match=match):
        validation.input_shape(value, "shape")


def test_input_shape_reads_an_int_as_one_dimension():
    """An int n is the shape (n,); sequences become tuples of ints."""
    assert validation.input_shape(784) == (784,)
    assert validation.input_shape(np.int64(5)) == (5,)
    assert validation.input_shape([28, np.int32(28), 1]) == (28, 28, 1)


@pytest.mark.parametrize("value, error, match", [
    (64, TypeError, r"^hidden_units must be a sequence of ints >= 1, got int 64$"),
    ("64", TypeError, r"^hidden_units must be a sequence of ints >= 1, got str '64'$"),
    (None, TypeError, r"^hidden_units must be a sequence of ints >= 1, got NoneType None$"),
    ((64, 0), tfshare.InputError, r"^hidden_units\[1\] must be an int >= 1, got 0$"),
    ((64, 2.0), TypeError, r"^hidden_units\[1\] must be an int >= 1, got float 2\.0$"),
], ids=["int", "str", "none", "zero", "float"])
def test_hidden_units_refuses_by_name(value, error, match):
    """hidden_units() (default argument name) refuses non-sequences and strings, and names a bad element's index."""
    with pytest.raises(error, match=match):
        validation.hidden_units(value)


def test_hidden_units_may_be_empty():
    """No hidden layer is a valid architecture; NumPy ints are accepted."""
    assert validation.hidden_units([]) == () and validation.hidden_units([np.int64(8), 4]) == (8, 4)


def test_positive_int_checks_type_and_minimum_by_name():
    """positive_int() returns a Python int >= minimum; bools, floats and smaller values are refused, quoting them."""
    assert validation.positive_int(np.int64(3), "n") == 3 and type(validation.positive_int(np.int64(3), "n")) is int
    assert validation.positive_int(0, "n", minimum=0) == 0
    for value, error, match in [
        (True, TypeError, r"^n must be an int >= 1, got bool True$"),
        (2.0, TypeError, r"^n must be an int >= 1, got float 2\.0$"),
        (0, tfshare.InputError, r"^n must be an int >= 1, got 0$"),
    ]:
        with pytest.raises(error, match=match):
            validation.positive_int(value, "n")
    with pytest.raises(tfshare.InputError, match=r"^n must be an int >= 0, got -1$"):
        validation.positive_int(-1, "n", minimum=0)


def test_seed_is_none_or_an_int_in_the_int32_range():
    """seed() passes None and [0, 2**31) (as a Python int) and refuses bools, floats and values outside, by name."""
    assert validation.seed(None) is None
    assert validation.seed(0) == 0
    assert validation.seed(np.int64(2**31 - 1)) == 2**31 - 1 and type(validation.seed(np.int64(7))) is int
    for value, error, match in [
        (True, TypeError, r"^seed must be None or an int, got bool True$"),
        (1.0, TypeError, r"^seed must be None or an int, got float 1\.0$"),
        (-1, tfshare.InputError, r"^seed must be in \[0, 2\*\*31\), got -1$"),
        (2**31, tfshare.InputError, r"^seed must be in \[0, 2\*\*31\), got 2147483648$"),
    ]:
        with pytest.raises(error, match=match):
            validation.seed(value)
    with pytest.raises(tfshare.InputError, match=r"^rng_seed must be in"):
        validation.seed(-1, "rng_seed")


def test_name_is_none_or_a_scope_name():
    """name() passes None and TensorFlow scope names, and refuses other types and characters by name."""
    assert validation.name(None) is None
    assert validation.name("Net_1.a-b") == "Net_1.a-b"
    assert validation.name("0net") == "0net"
    with pytest.raises(TypeError, match=r"^name must be a str, got int 5$"):
        validation.name(5)
    for bad in ["a b", "_net", "", "net/", "-net", "net\n"]:  # "$" alone would let a final newline through
        with pytest.raises(tfshare.InputError, match=re.escape(
                f"name must match ^[A-Za-z0-9][A-Za-z0-9_.\\-]*$ (letters, digits, '_', '.', '-'), got {bad!r}")):
            validation.name(bad)
    with pytest.raises(TypeError, match="^scope must be a str"):
        validation.name(5, "scope")


def test_choice_returns_one_of_the_options_or_names_them():
    """choice() returns a listed option, and otherwise names the argument, the options and the value."""
    assert validation.choice("b", "mode", ("a", "b")) == "b"
    with pytest.raises(tfshare.InputError, match=r"^mode must be one of \['a', 'b'\], got 'c'$"):
        validation.choice("c", "mode", ("a", "b"))


@pytest.mark.parametrize("module", ["tf_keras.src.engine", "keras.src.backend"], ids=["tf_keras", "keras"])
def test_keras_objects_are_refused_as_tensors(module):
    """Objects of tf_keras and of Keras 3 are refused like TensorFlow tensors, with the advice to fetch their value."""
    value = type("KerasTensor", (), {"__module__": module})()
    with pytest.raises(TypeError, match=rf"^x must be a NumPy array or a nested list of numbers, got a {re.escape(module)}\.KerasTensor; "
                                        r"fetch its value first \(e\.g\. \.numpy\(\) in eager mode, or Session\.run in graph mode\)$"):
        validation.features(value, 2)


def test_an_object_array_is_refused_with_its_likely_causes():
    """An object-dtype array names the type it came from and the usual causes."""
    with pytest.raises(TypeError, match=r"^x must have a numeric dtype, got dtype object from a list "
                                        r"\(ragged lists, None, mixed types, or integers beyond 64 bits\)$"):
        validation.features([[1, None]], 2)


def test_the_finite_check_weights_are_a_cached_read_only_float32_vector():
    """_weights(n): n copies of 2**-64 in float32, cached per width and read-only (the cache is shared by every call)."""
    weights = validation._weights(7)
    assert weights.dtype == np.float32 and weights.shape == (7,) and (weights == np.float32(2.0**-64)).all()
    assert validation._weights(7) is weights and not weights.flags.writeable


def test_the_fast_path_takes_only_exact_shapes():
    """Flat float32 rows are not taken for 2-D examples whose first size matches, nor does a 0-D array break the check."""
    with pytest.raises(tfshare.InputError, match=r"^x must be 3-D with shape \[batch, 12, 3\], got 2-D shape \(5, 12\)"):
        validation.inputs(np.zeros((5, 12), np.float32), (12, 3))
    with pytest.raises(tfshare.InputError, match=r"^x must be 2-D with shape \[batch, 2\], got 0-D shape \(\)"):
        validation.inputs(np.array(1.0, np.float32), (2,))
