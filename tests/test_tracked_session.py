"""TrackedSession: every Session path that may write variables ticks the runtime's write clock."""

from __future__ import annotations

import numpy as np
import pytest

import tfshare
from tfshare._tf import config_pb2, tf, tf1
from tfshare._tracked_session import TrackedSession, WriteClock


@pytest.fixture
def counter(runtime):
    with runtime.building():
        v = tf1.Variable(0.0, use_resource=True, name="v")
        bump = v.assign_add(1.0)
    runtime.initialize()
    return runtime, v, bump


def _options(fetches=(), targets=()):
    options = config_pb2.CallableOptions()
    options.fetch.extend(t.name for t in fetches)
    options.target.extend(t.name for t in targets)
    return options


def _ticks(runtime, call):
    before = runtime.write_clock.value
    call()
    return runtime.write_clock.value - before


def test_every_session_path_ticks_the_clock(counter):
    runtime, v, bump = counter
    session = runtime.session
    assert _ticks(runtime, lambda: session.run(bump)) == 1
    assert _ticks(runtime, lambda: session.make_callable(bump)()) == 1
    assert _ticks(runtime, lambda: session.make_callable(bump.op)()) == 1
    fn = session._make_callable_from_options(_options(targets=[bump.op]))
    assert _ticks(runtime, fn) == 1
    handle = session.partial_run_setup([bump], [])
    assert _ticks(runtime, lambda: session.partial_run(handle, bump)) == 1
    assert _ticks(runtime, lambda: runtime.run(bump)) >= 1
    assert _ticks(runtime, runtime.callable([], [], [bump.op])) == 1
    assert runtime.run(v) == 7.0  # every path above really wrote


def test_a_failing_call_still_ticks(counter):
    runtime, _, _ = counter
    with runtime.building():
        x = tf1.placeholder(tf.float32, [2])
        y = tf.debugging.check_numerics(x, "not finite")
    before = runtime.write_clock.value
    with pytest.raises(tf.errors.InvalidArgumentError, match="not finite"):
        runtime.session.run(y, {x: np.array([1.0, np.nan], np.float32)})
    assert runtime.write_clock.value == before + 1


def test_read_only_callables_and_predictions_do_not_tick(runtime, data):
    clf = tfshare.DenseClassifier(runtime=runtime, seed=0)
    clf.predict_proba(data.x_test[:2])
    clf.predict(data.x_test[:2])
    clf.evaluate(data.x_test[:8], data.y_test[:8])
    options = _options(fetches=[clf.probabilities_tensor])
    options.feed.append(clf.input_tensor.name)
    read = runtime.session._make_callable_from_options(options, read_only=True)
    before = runtime.write_clock.value
    clf.predict_proba(data.x_test[:3])
    clf.predict(data.x_test[:3])
    clf.evaluate(data.x_test[:8], data.y_test[:8])
    assert read(data.x_test[:3])[0].shape == (3, 10)  # a callable made read_only through the Session itself
    assert runtime.write_clock.value == before
    clf.fit(data.x_train[:64], data.y_train[:64], epochs=1, batch_size=32)
    assert runtime.write_clock.value >= before + 2  # one tick per train step


def test_a_new_clock_has_counted_no_calls():
    clock = WriteClock()
    assert clock.value == 0
    clock.tick()
    clock.tick()
    assert clock.value == 2


def test_session_arguments_pass_through_by_position_too():
    """TrackedSession takes tf.compat.v1.Session's arguments as Session does: target, graph and config by position."""
    graph = tf.Graph()
    with graph.as_default():
        three = tf.constant(3.0)
    clock = WriteClock()
    session = TrackedSession("", graph, tf1.ConfigProto(intra_op_parallelism_threads=1), clock=clock)
    try:
        assert session.graph is graph and session.run(three) == 3.0 and clock.value == 1
    finally:
        session.close()


def test_a_ticking_callable_passes_run_metadata_through(counter):
    runtime, _, bump = counter
    options = _options(targets=[bump.op])
    options.run_options.trace_level = tf1.RunOptions.FULL_TRACE
    fn = runtime.session._make_callable_from_options(options)
    metadata = tf1.RunMetadata()
    assert _ticks(runtime, lambda: fn(run_metadata=metadata)) == 1
    assert len(metadata.step_stats.dev_stats) > 0  # the trace reached the caller's RunMetadata


def _doubler(runtime):
    with runtime.building("partial/"):
        x = tf1.placeholder(tf.float32, [2], name="x")
        y = x * 2.0
    return x, y


def test_a_partial_run_with_feeds_under_pruned_placement_is_refused_before_tensorflow_sees_it(runtime):
    # TensorFlow itself accepts the setup, then fails every partial_run with "Feed ...: not found".
    x, y = _doubler(runtime)
    assert runtime.session._config.graph_options.place_pruned_graph
    with pytest.raises(tfshare.InputError, match=r"partial_run_setup\(feeds=...\).*place_pruned_graph=True.*grappler=True"):
        runtime.session.partial_run_setup([y], [x])


def test_a_partial_run_with_feeds_works_without_pruned_placement():
    with tfshare.GraphSession(grappler=True) as runtime:
        x, y = _doubler(runtime)
        session = runtime.session
        handle = session.partial_run_setup([y], [x])
        np.testing.assert_array_equal(session.partial_run(handle, y, feed_dict={x: np.ones(2, np.float32)}), [2.0, 2.0])
