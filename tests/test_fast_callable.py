"""FastCallable: its signature, the raw callable, and the errors a closed runtime gives."""

from __future__ import annotations

import numpy as np
import pytest

import tfshare
from tfshare._tf import tf, tf1
from tfshare.fast_callable import FastCallable


def _graph(runtime):
    with runtime.building():
        x = tf1.placeholder(tf.float32, [None])
        counter = tf1.Variable(0.0, name="counter")
        step = counter.assign_add(1.0)
        y = x * 2.0
    return x, y, step, counter


def test_a_callable_keeps_its_signature_and_unwraps_to_the_same_computation(runtime):
    x, y, step, counter = _graph(runtime)
    fn = runtime.callable([y], [x], [step.op])
    assert (fn.feeds, fn.fetches, fn.targets) == ((x,), (y,), (step.op,))
    np.testing.assert_array_equal(fn(np.array([1.0, 2.0], np.float32))[0], [2.0, 4.0])
    np.testing.assert_array_equal(fn.unwrap()(np.array([3.0], np.float32))[0], [6.0])
    assert runtime.run(counter) == 2.0  # both calls ran the target


def test_a_closed_runtime_disarms_its_callables_with_a_clear_error(runtime):
    x, y, _, _ = _graph(runtime)
    fn = runtime.callable([y], [x])
    runtime.close()
    with pytest.raises(tfshare.ClosedError, match=r"^the GraphSession of this callable is closed$"):
        fn(np.zeros(1, np.float32))
    with pytest.raises(tfshare.ClosedError, match=r"^the GraphSession of this callable is closed$"):
        fn.unwrap()(np.zeros(1, np.float32))


def test_a_close_during_a_call_is_a_closed_error_and_other_cancellations_are_not():
    def closing(*_):  # what close() does to a call in flight: disarm, and TF cancels the run
        fn._disarm()
        raise tf.errors.CancelledError(None, None, "Session has been closed.")

    fn = FastCallable(closing, (), (), ())
    with pytest.raises(tfshare.ClosedError, match=r"^the GraphSession of this callable was closed during the call$"):
        fn()

    def cancelled(*_):  # cancelled for another reason: TensorFlow's error is not hidden
        raise tf.errors.CancelledError(None, None, "cancelled by someone else")

    with pytest.raises(tf.errors.CancelledError, match="cancelled by someone else"):
        FastCallable(cancelled, (), (), ())()
