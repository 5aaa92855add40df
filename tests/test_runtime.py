"""GraphSession: lazy Session, build lock, pending-only init, callables, lifecycle."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import threading
import weakref
from unittest import mock

import numpy as np
import pytest

import tfshare
from tfshare._tf import config_pb2, keras, tf, tf1
from tfshare.devices import resolve_device

from conftest import assert_same_weights, join_all


def test_session_is_created_lazily(runtime):
    assert not runtime.has_session
    with runtime.building():
        c = tf.constant(3.0)
    assert runtime.run(c) == 3.0
    assert runtime.has_session
    assert runtime.session.graph is runtime.graph


def test_building_uses_own_graph_not_default(runtime):
    default_ops = len(tf1.get_default_graph().get_operations())
    with runtime.building() as graph:
        assert tf1.get_default_graph() is graph is runtime.graph
        tf.constant(1.0, name="c")
    assert len(tf1.get_default_graph().get_operations()) == default_ops
    assert runtime.graph.get_operation_by_name("c").device == "/device:CPU:0"


def test_initialize_only_initializes_pending_variables(runtime):
    with runtime.building():
        a = tf.Variable(1.0, name="a")
        assign = a.assign(5.0)
    assert runtime.initialize() == 1
    runtime.run(assign)
    with runtime.building():
        b = tf.Variable(2.0, name="b")
    assert [v.name for v in runtime.pending_variables()] == ["b:0"]
    assert runtime.run([a, b]) == [5.0, 2.0]  # a keeps its assigned value
    assert runtime.initialize() == 0


def test_initialize_also_initializes_local_variables_once(runtime):
    """LOCAL_VARIABLES (a tf1 metric's total and count, a variable made local by hand) are pending like
    globals: initialize() sets them, once, so a metric accumulates across later initializations."""
    with runtime.building():
        labels = tf1.placeholder(tf.int64, [None], name="labels")
        predictions = tf1.placeholder(tf.int64, [None], name="predictions")
        accuracy, update = tf1.metrics.accuracy(labels, predictions)
        local = tf1.Variable(7.0, name="local", collections=[tf1.GraphKeys.LOCAL_VARIABLES])
    names = ["accuracy/total:0", "accuracy/count:0", "local:0"]
    assert sorted(v.name for v in runtime.pending_variables()) == sorted(names)
    assert runtime.initialize() == 3 and runtime.pending_variables() == []
    assert runtime.run(update, {labels: [1, 2, 3, 4], predictions: [1, 2, 0, 0]}) == 0.5
    assert runtime.run(local) == 7.0
    with runtime.building():
        later = tf.Variable(1.0, name="later")
    assert runtime.initialize() == 1  # only the new global: the metric keeps its total and count
    assert runtime.run(update, {labels: [1, 1], predictions: [1, 1]}) == pytest.approx(4 / 6)
    assert runtime.run([accuracy, later]) == [pytest.approx(4 / 6), 1.0]


def test_local_variables_are_initialized_by_the_first_run(runtime):
    """run() initializes pending variables first, local ones included."""
    with runtime.building():
        counter = tf1.Variable(0, name="counter", collections=[tf1.GraphKeys.LOCAL_VARIABLES])
        bump = counter.assign_add(1)
    assert runtime.run(bump) == 1 and runtime.run(bump) == 2


def test_initialize_runs_once_through_a_callable_it_then_releases(runtime):
    """The initializers (and their fed kernels) run through a callable dropped after its call: Session.run
    would keep an executor per pending set for the Session's lifetime, and no pending set recurs."""
    clf = tfshare.DenseClassifier(6, 3, (4,), runtime=runtime, seed=3)
    made = []
    real = runtime.session._make_callable_from_options

    def recording(options, **kwargs):
        fn = real(options, **kwargs)
        made.append((sorted(options.target), list(options.fetch), weakref.ref(fn)))
        return fn

    with mock.patch.object(runtime.session, "run", side_effect=AssertionError("Session.run")), \
            mock.patch.object(runtime.session, "_make_callable_from_options", recording):
        assert runtime.initialize() == 4
    ((targets, fetches, ref),) = made
    assert targets == sorted(v.initializer.name for v in clf.variables) and fetches == []
    assert ref() is None and runtime.pending_variables() == []
    with tfshare.GraphSession() as alone:  # the fed kernels got their seeded values
        twin = tfshare.DenseClassifier(6, 3, (4,), runtime=alone, seed=3)
        assert_same_weights(twin.get_weights(), clf)


def test_adding_a_classifier_keeps_trained_weights(runtime, data):
    first = tfshare.DenseClassifier(runtime=runtime, seed=1)
    first.fit(data.x_train, data.y_train, epochs=1)
    before = first.predict_proba(data.x_test)
    tfshare.DenseClassifier(runtime=runtime, seed=2).predict_proba(data.x_test[:1])
    np.testing.assert_array_equal(first.predict_proba(data.x_test), before)


def test_callable_is_cached_and_matches_session_run(runtime):
    with runtime.building():
        x = tf1.placeholder(tf.float32, [None, 3])
        y = tf.reduce_sum(x * 2.0, axis=1)
    fn = runtime.callable([y], [x])
    assert runtime.callable([y], [x]) is fn
    value = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(fn(value)[0], runtime.run(y, {x: value}), atol=1e-6)


def test_a_callable_of_another_graphs_tensors_is_an_error_not_this_graphs_namesake(runtime):
    # Callables are cached and made by tensor name: a same-named tensor of another graph used to
    # get this graph's callable, computing x * 2 where x * 100 was asked for.
    with runtime.building():
        x = tf1.placeholder(tf.float32, [None], name="x")
        own = tf.identity(x * 2.0, name="y")
    runtime.callable([own], [x])
    other = tf.Graph()
    with other.as_default():
        other_x = tf1.placeholder(tf.float32, [None], name="x")
        other_y = tf.identity(other_x * 100.0, name="y")
    for fetches, feeds in (([other_y], [other_x]), ([own], [other_x]), ([other_y], [x])):
        with pytest.raises(tfshare.InputError, match=r"^the tensors of a callable must come from the graph of "
                                                     r"GraphSession\(.*\), got .* of another graph$"):
            runtime.callable(fetches, feeds)


def test_a_callable_fetches_and_feeds_tensors_only(runtime):
    """A variable's name is its handle's ("v:0"): fetching it by name used to return the resource handle's bytes."""
    with runtime.building():
        v = tf.Variable(3.0, name="v")
        x = tf1.placeholder(tf.float32, [], name="x")
        y = tf.identity(x * 2.0, name="y")
    with pytest.raises(TypeError, match=r"^fetches must be graph tensors, got ResourceVariable <tf\.Variable 'v:0'"):
        runtime.callable([v])
    with pytest.raises(TypeError, match=r"^fetches must be graph tensors, got Operation <tf\.Operation 'y' "):
        runtime.callable([y.op], [x])
    with pytest.raises(TypeError, match=r"^feeds must be graph tensors, got ResourceVariable "):
        runtime.callable([y], [v])
    assert runtime.callable([y], [x])(np.float32(2.0))[0] == 4.0


def test_callable_runs_targets(runtime):
    with runtime.building():
        v = tf.Variable(0.0)
        inc = v.assign_add(1.0)
    step = runtime.callable([], [], [inc.op])
    for _ in range(3):
        step()
    assert runtime.run(v) == 3.0


def test_run_from_a_thread_without_graph_context(runtime):
    with runtime.building():
        x = tf1.placeholder(tf.float32, [None])
        y = x + 1.0
    fn = runtime.callable([y], [x])
    results = []

    def worker():
        results.append(fn(np.array([1.0], np.float32))[0][0])
        results.append(runtime.run(y, {x: [2.0]})[0])

    t = threading.Thread(target=worker)
    t.start()
    join_all([t])
    assert results == [2.0, 3.0]


def test_finalize_builds_lazy_ops_then_rejects_new_ones(runtime, data):
    clf = tfshare.DenseClassifier(runtime=runtime, seed=0)
    runtime.finalize()
    clf.fit(data.x_train[:64], data.y_train[:64])  # train op was built by the hook
    with pytest.raises(RuntimeError, match="finalized"):
        tfshare.DenseClassifier(runtime=runtime)


def test_export_graph_writes_events_and_pbtxt(runtime, tmp_path):
    tfshare.DenseClassifier(runtime=runtime, seed=0)
    logdir = runtime.export_graph(str(tmp_path / "tb"))
    files = os.listdir(logdir)
    assert "graph.pbtxt" in files
    assert any(f.startswith("events.out.tfevents") for f in files)


def test_use_after_close_raises_closed_error():
    gs = tfshare.GraphSession(device="cpu")
    with gs.building():
        c = tf.constant(1.0)
    fn = gs.callable([c])
    gs.close()
    gs.close()  # twice is harmless
    assert gs.closed
    for call in (lambda: gs.run(c), lambda: gs.session, fn, lambda: gs.building().__enter__()):
        with pytest.raises(tfshare.ClosedError, match="closed"):
            call()


def test_context_manager_closes():
    with tfshare.GraphSession(device="cpu") as gs:
        with gs.building():
            c = tf.constant(1.0)
        assert gs.run(c) == 1.0
    assert gs.closed


def test_reserve_name_is_unique_and_rejects_explicit_duplicates(runtime):
    assert runtime.reserve_name(None, "clf") == "clf"
    assert runtime.reserve_name(None, "clf") == "clf_1"
    assert runtime.reserve_name("mine", "clf") == "mine"
    with pytest.raises(tfshare.InputError, match="name 'mine' is already used"):
        runtime.reserve_name("mine", "clf")
    with pytest.raises(tfshare.InputError, match=r"^name must match .*, got 'a b'$"):  # checked here too, not only by classifiers
        runtime.reserve_name("a b", "clf")


def test_a_callers_name_scope_does_not_change_which_names_are_taken(runtime):
    """Names are absolute: inside a name scope a free name is free (no name looked taken, so a default
    name's numbering never ended), and a name reserved there is taken outside it and marked in the graph."""
    with runtime.building("outer/"):
        assert runtime.reserve_name("mine", "clf") == "mine"
        assert runtime.reserve_name(None, "clf") == "clf"
    with pytest.raises(tfshare.InputError, match="^name 'mine' is already used"):
        runtime.reserve_name("mine", "clf")
    assert runtime.reserve_name(None, "clf") == "clf_1"
    with runtime.building():
        assert tf.constant(0.0, name="mine").op.name == "mine_1"
    with runtime.graph.as_default(), tf1.name_scope("models"):
        clf = tfshare.DenseClassifier(16, 3, (8,), runtime=runtime, seed=0)
    assert clf.name == "dense_classifier" and clf.probabilities_tensor.name.startswith("dense_classifier/")


def test_thread_settings_reach_the_session_config():
    with tfshare.GraphSession(device="cpu", intra_op_threads=2, inter_op_threads=1) as gs:
        assert gs.config.intra_op_parallelism_threads == 2
        assert gs.config.inter_op_parallelism_threads == 1
        assert gs.config.gpu_options.allow_growth
        assert gs.config.device_count["GPU"] == 0



@pytest.mark.parametrize(
    "given, allow_growth, expected",
    [
        pytest.param(None, None, True, id="no_config-default_on"),
        pytest.param(None, False, False, id="no_config-off"),
        pytest.param(False, None, False, id="config_off-kept"),
        pytest.param(True, None, True, id="config_on-kept"),
        pytest.param(False, True, True, id="config_off-overridden_on"),
        pytest.param(True, False, False, id="config_on-overridden_off"),
    ],
)
def test_allow_growth_keeps_a_given_configs_value_unless_passed(given, allow_growth, expected):
    """allow_growth=None means: the given config's gpu_options.allow_growth, or True with no config."""
    base = None if given is None else tf1.ConfigProto(gpu_options=tf1.GPUOptions(allow_growth=given))
    with tfshare.GraphSession(device="cpu", config=base, allow_growth=allow_growth, shard_size=1) as gs:
        assert gs.config.gpu_options.allow_growth is expected
        assert gs.session._config.gpu_options.allow_growth is expected  # what the Session was made with
        gs.place()
        assert gs.place().config.gpu_options.allow_growth is expected  # a shard: the same
    if base is not None:
        assert base.gpu_options.allow_growth is given  # the caller's config is copied, not changed

@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"device": "tpu"}, tfshare.InputError, r"device must be one of \['auto', 'cpu', 'gpu'\], got 'tpu'"),
        ({"intra_op_threads": 0}, tfshare.InputError, "^intra_op_threads must be an int >= 1, got 0$"),
        ({"inter_op_threads": 1.5}, TypeError, r"^inter_op_threads must be an int >= 1, got float 1\.5$"),
        ({"allow_growth": "yes"}, TypeError, "^allow_growth must be a bool or None, got str$"),
        ({"caller_thread": "yes"}, TypeError, "^caller_thread must be a bool or None, got str$"),
        (
            {"caller_thread": True, "target": "grpc://localhost:1"},
            tfshare.InputError,
            r"^caller_thread=True needs an in-process runtime \(target=''\), got target='grpc://localhost:1'$",
        ),
        ({"target": 5}, TypeError, "^target must be a str, got int$"),
        ({"timeout": 0}, tfshare.InputError, "^timeout must be a finite float > 0, got 0$"),
        ({"shard_size": 0}, tfshare.InputError, "^shard_size must be an int >= 1, got 0$"),
        ({"grappler": "yes"}, TypeError, "^grappler must be a bool or None, got str$"),
        (
            {"config": {"intra_op_parallelism_threads": 2}},
            TypeError,
            r"^config must be a tf\.compat\.v1\.ConfigProto or None, got dict$",
        ),
        ({"config": config_pb2.RunOptions()}, TypeError, "^config must be a .* or None, got RunOptions$"),
    ],
    ids=["bad-device", "zero-threads", "float-threads", "str-growth", "str-caller-thread", "remote-caller-thread",
         "int-target", "zero-timeout", "zero-shard-size", "str-grappler", "dict-config", "run-options-config"],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        tfshare.GraphSession(**kwargs)


def test_auto_device_matches_visible_gpus():
    expected = "/device:GPU:0" if tfshare.visible_gpus() else "/device:CPU:0"
    assert resolve_device("auto") == expected


def test_gpu_device_without_gpu_is_a_clear_error():
    if tfshare.visible_gpus():
        pytest.skip("a GPU is visible; the no-GPU error cannot happen here")
    with pytest.raises(tfshare.InputError, match="device='gpu' needs a visible GPU"):
        tfshare.GraphSession(device="gpu")


@pytest.mark.gpu
def test_gpu_runtime_places_ops_on_gpu_with_memory_growth():
    with tfshare.GraphSession(device="gpu") as gs:
        clf = tfshare.DenseClassifier(runtime=gs, seed=0)
        assert gs.device == "/device:GPU:0"
        assert gs.config.gpu_options.allow_growth
        assert clf.probabilities_tensor.device == "/device:GPU:0"
        proba = clf.predict_proba(np.zeros((2, 784), np.float32))
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)


def test_close_frees_the_session_while_classifiers_are_still_referenced():
    # Classifiers cache raw TF callables, which hold the Session (and with it
    # every variable's memory): closing their shared runtime must drop them.
    import gc
    import weakref

    gs = tfshare.GraphSession(device="cpu")
    clf = tfshare.DenseClassifier(4, 2, (4,), runtime=gs, seed=0)
    x = np.zeros((1, 4), np.float32)
    clf.predict_proba(x), clf.predict_proba(x), clf.predict(x)
    session = weakref.ref(gs.session)
    gs.close()
    gc.collect()
    assert session() is None
    with pytest.raises(tfshare.ClosedError, match="closed"):
        clf.predict_proba(x)
    with pytest.raises(tfshare.ClosedError, match="closed"):
        clf.predict(x)


def test_the_runtime_does_not_keep_dropped_classifiers_alive(runtime):
    import gc
    import weakref

    keep = tfshare.DenseClassifier(4, 2, (4,), runtime=runtime, seed=0)
    dropped = tfshare.DenseClassifier(4, 2, (4,), runtime=runtime, seed=1)
    ref = weakref.ref(dropped)
    del dropped
    gc.collect()
    assert ref() is None
    assert runtime.heads() == [keep] and runtime.shard_heads() == [keep]
    runtime.finalize()  # the dropped classifier's lazy ops are simply not built


def test_close_disarms_a_callable_even_after_it_left_the_cache():
    # The fused first-call path releases its callable from the cache when done;
    # a caller holding the same (cached) callable must still get ClosedError.
    gs = tfshare.GraphSession(device="cpu")
    a = tfshare.DenseClassifier(4, 2, (4,), runtime=gs, seed=0)
    b = tfshare.DenseClassifier(4, 2, (4,), runtime=gs, seed=1)
    x = np.zeros((1, 4), np.float32)
    fn = gs.callable([a.probabilities_tensor, b.probabilities_tensor], [a.input_tensor, b.input_tensor])
    a.predict_proba(x), b.predict_proba(x)  # served by one fused callable, then released
    gs.close()
    with pytest.raises(tfshare.ClosedError, match="closed"):
        fn(x, x)


def test_cpu_thread_defaults_are_the_usable_cores():
    from tfshare.devices import usable_cores

    with tfshare.GraphSession(device="cpu") as gs:
        assert gs.config.intra_op_parallelism_threads == usable_cores()
        assert gs.config.inter_op_parallelism_threads == usable_cores()
    base = tf1.ConfigProto(intra_op_parallelism_threads=3)
    with tfshare.GraphSession(device="cpu", config=base) as gs:  # a given config is respected
        assert gs.config.intra_op_parallelism_threads == 3
        assert gs.config.inter_op_parallelism_threads == 0


def _thread_of_the_op(runtime, **options):
    """Runs a py_func op through a fast callable and returns the ident of the thread that ran it."""
    with runtime.building():
        x = tf1.placeholder(tf.float32, [None])
        ident = tf1.py_func(lambda v: np.int64(threading.get_ident()), [x], tf.int64, stateful=True)
    return int(runtime.callable([ident], [x], **options)(np.zeros(1, np.float32))[0])


@pytest.mark.parametrize("caller_thread", [None, True, False], ids=["default", "on", "off"])
def test_callables_run_in_the_calling_thread_unless_turned_off(caller_thread):
    with tfshare.GraphSession(device="cpu", caller_thread=caller_thread) as gs:
        expected = caller_thread is not False
        assert gs.caller_thread is expected
        ran_in = _thread_of_the_op(gs)
        assert (ran_in == threading.get_ident()) is expected


@pytest.mark.parametrize(
    "timeout, expected_ms",
    [(0.0004, 1), (1.005, 1005), (1e20, 2**63 - 1), (1e306, 2**63 - 1)],
    ids=["sub-millisecond-is-1-ms-not-no-limit", "rounded-not-truncated", "huge-is-the-int64-limit",
         "too-huge-for-a-float-in-ms-is-the-int64-limit"],
)
def test_the_timeout_in_ms_is_a_limit_the_config_can_hold(timeout, expected_ms):
    with tfshare.GraphSession(device="cpu", timeout=timeout) as gs:
        assert gs.config.operation_timeout_in_ms == expected_ms


def test_shards_start_from_the_config_as_given_not_as_the_caller_changes_it_later():
    config = tf1.ConfigProto(intra_op_parallelism_threads=1)
    with tfshare.GraphSession(device="cpu", config=config, shard_size=1) as gs:
        config.intra_op_parallelism_threads = 7
        tfshare.DenseClassifier(runtime=gs, seed=0)
        tfshare.DenseClassifier(runtime=gs, seed=1)
        assert len(gs.shards) == 2
        assert [shard.config.intra_op_parallelism_threads for shard in gs.shards] == [1, 1]


def test_an_in_process_cpu_config():
    """The Session's config: soft placement, no GPU, pruned placement, the timeout in ms; ``config`` is a copy."""
    with tfshare.GraphSession(device="cpu", timeout=2.5) as gs:
        config = gs.config
        assert dict(config.device_count) == {"GPU": 0}  # set, not a missing key's default 0
        assert config.allow_soft_placement and config.device_count["GPU"] == 0
        assert config.graph_options.place_pruned_graph
        assert not config.graph_options.rewrite_options.disable_meta_optimizer
        assert config.operation_timeout_in_ms == 2500
        assert not config.HasField("cluster_def")
        config.operation_timeout_in_ms = 1
        assert gs.config.operation_timeout_in_ms == 2500
        assert gs.session._config.operation_timeout_in_ms == 2500  # what the Session was made with
    with tfshare.GraphSession(device="cpu") as gs:
        assert gs.config.operation_timeout_in_ms == 0  # no limit
    base = tf1.ConfigProto(allow_soft_placement=False)
    with tfshare.GraphSession(device="cpu", config=base, allow_growth=False) as gs:  # a given config: threads and placement as given
        config = gs.config
        assert config.allow_soft_placement and config.device_count["GPU"] == 0 and not config.gpu_options.allow_growth
        assert not config.graph_options.place_pruned_graph and config.intra_op_parallelism_threads == 0
    assert not base.allow_soft_placement  # the caller's config is copied, not changed


def test_repr_names_the_device_ops_shards_and_state():
    """repr: the device, the root graph's op count, the shard count when sharded, and no session / live / closed."""
    gs = tfshare.GraphSession(device="cpu", shard_size=1)
    assert repr(gs) == "GraphSession(device='/device:CPU:0', ops=0, no session yet)"
    with gs.building():
        c = tf.constant(1.0)
    gs.run(c)
    assert repr(gs) == "GraphSession(device='/device:CPU:0', ops=1, live)"
    gs.place(), gs.place()  # the second unit opens a shard
    assert repr(gs) == "GraphSession(device='/device:CPU:0', ops=1, shards=2, live)"
    assert repr(gs.shards[1]) == "GraphSession shard(device='/device:CPU:0', ops=0, no session yet)"
    gs.close()
    assert repr(gs) == "GraphSession(device='/device:CPU:0', ops=1, shards=2, closed)"
    with pytest.raises(tfshare.ClosedError, match=r"^GraphSession\(device='/device:CPU:0', ops=1, shards=2, closed\) is closed; create a new GraphSession$"):
        gs.run(c)


def test_a_failed_build_leaves_no_pending_variables(runtime):
    """A build block that raises removes its variables from the collections, so initialize() still works."""
    with runtime.building():
        kept = tf.Variable(1.0, name="kept")
    with pytest.raises(ValueError, match="^midway$"):
        with runtime.building():
            tf.Variable(2.0, name="lost")
            tf1.Variable(4.0, name="lost_local", collections=[tf1.GraphKeys.LOCAL_VARIABLES])
            raise ValueError("midway")
    assert [v.name for v in runtime.global_variables()] == ["kept:0"]
    assert [v.name for v in runtime.graph.get_collection(tf1.GraphKeys.TRAINABLE_VARIABLES)] == ["kept:0"]
    assert [v.name for v in runtime.pending_variables()] == ["kept:0"]
    assert runtime.initialize() == 1 and runtime.run(kept) == 1.0
    with runtime.building():  # a later build initializes its own variables on the next run
        later = tf.Variable(3.0, name="later")
    assert runtime.run(later) == 3.0


def test_shard_of_names_a_foreign_graph():
    """shard_of() finds a runtime's own graphs and refuses any other with the graph and the runtime named."""
    other = tf.Graph()
    with tfshare.GraphSession(device="cpu", shard_size=None) as one:
        assert one.shard_of(one.graph) is one
        with pytest.raises(tfshare.InputError, match=r"^<tensorflow.*Graph object at .*> is not the graph of GraphSession\("):
            one.shard_of(other)
    with tfshare.GraphSession(device="cpu", shard_size=1) as gs:
        gs.place(), gs.place()
        second = gs.shards[1]
        assert gs.shard_of(second.graph) is second and second.root is gs and gs.root is gs
        with pytest.raises(tfshare.InputError, match=r"^<tensorflow.*Graph object at .*> is not a graph of GraphSession\("):
            gs.shard_of(other)


def test_finalize_runs_hooks_once_and_holds_bound_methods_weakly(runtime):
    """finalize() calls each live hook once before freezing the graph; a dropped object's method is not called."""
    import gc

    calls = []

    class Owner:
        def hook(self):
            calls.append("method")

    owner, dropped = Owner(), Owner()
    runtime.add_finalize_hook(lambda: calls.append("function"))
    runtime.add_finalize_hook(owner.hook)
    runtime.add_finalize_hook(dropped.hook)
    del dropped
    gc.collect()
    runtime.finalize()
    assert calls == ["function", "method"] and runtime.graph.finalized
    runtime.finalize()  # hooks already ran: not again
    assert calls == ["function", "method"]


def test_export_graph_writes_a_text_graph_into_an_existing_folder_again(runtime, tmp_path):
    """export_graph() may write into a folder that exists (twice too); graph.pbtxt is the text GraphDef."""
    from google.protobuf import text_format

    with runtime.building():
        tf.constant(1.0, name="exported")
    assert runtime.export_graph(str(tmp_path)) == str(tmp_path)
    assert runtime.export_graph(str(tmp_path)) == str(tmp_path)
    graph_def = text_format.Parse((tmp_path / "graph.pbtxt").read_text(), tf.compat.v1.GraphDef())
    assert [node.name for node in graph_def.node] == ["exported"]


def test_a_run_that_fails_once_the_runtime_is_closed_is_a_closed_error():
    """run(): a call TensorFlow fails after close() began is a ClosedError naming the runtime; other failures pass through."""
    gs = tfshare.GraphSession(device="cpu")
    closing = {"now": False}

    def op(v):
        gs._closed = closing["now"]  # what close() does first, before TensorFlow cancels the calls in flight
        raise ValueError("interrupted")

    with gs.building():
        x = tf1.placeholder(tf.float32, [])
        y = tf1.py_func(op, [x], tf.float32)
    with pytest.raises(tf.errors.OpError, match="interrupted"):
        gs.run(y, {x: 1.0})
    closing["now"] = True
    with pytest.raises(tfshare.ClosedError, match=r"^GraphSession\(device='/device:CPU:0', ops=\d+, closed\) was closed while a call was running$"):
        gs.run(y, {x: 1.0})
    gs._closed = False
    gs.close()


def test_run_passes_options_and_run_metadata_to_the_session(runtime):
    """run()'s keyword arguments reach Session.run: a full trace fills the caller's RunMetadata."""
    with runtime.building():
        c = tf.constant(2.0) * 3.0
    metadata = tf1.RunMetadata()
    assert runtime.run(c, options=tf1.RunOptions(trace_level=tf1.RunOptions.FULL_TRACE), run_metadata=metadata) == 6.0
    assert len(metadata.step_stats.dev_stats) > 0


@pytest.mark.parametrize("runtime_setting", [True, False], ids=["runtime-on", "runtime-off"])
def test_a_callables_caller_thread_can_only_turn_the_runtimes_off(runtime_setting):
    """callable(caller_thread=False) uses the pool even when the runtime runs inline; True cannot override a runtime's False."""
    with tfshare.GraphSession(device="cpu", caller_thread=runtime_setting) as gs:
        assert (_thread_of_the_op(gs, caller_thread=False) == threading.get_ident()) is False
        assert (_thread_of_the_op(gs, caller_thread=True) == threading.get_ident()) is runtime_setting


def test_a_cached_callable_of_a_closed_runtime_is_a_closed_error(runtime):
    """Asking a closed runtime for a callable it had cached raises ClosedError naming the runtime (close() empties the cache)."""
    with runtime.building():
        c = tf.constant(1.0)
    runtime.callable([c])
    runtime.close()
    with pytest.raises(tfshare.ClosedError, match=r"^GraphSession\(device='/device:CPU:0', ops=1, closed\) is closed; create a new GraphSession$"):
        runtime.callable([c])


def test_names_are_unique_across_shards_and_graph_ops():
    """reserve_name(): a name used in any shard, or by an op of a shard's graph, is taken; numbering skips taken names."""
    with tfshare.GraphSession(device="cpu", shard_size=1) as gs:
        gs.place()
        second = gs.place()
        with second.building():
            tf.constant(1.0, name="op_name")
        assert gs.reserve_name("mine", "clf") == "mine"
        with pytest.raises(tfshare.InputError, match=r"^name 'mine' is already used in GraphSession\(device='/device:CPU:0', ops=0, shards=2, no session yet\) \(by a classifier, trunk or op; a failed construction keeps "
                                                     r"its name\); pick another$"):
            second.reserve_name("mine", "clf")
        with pytest.raises(tfshare.InputError, match="^name 'op_name' is already used in"):
            gs.reserve_name("op_name", "clf")
        assert second.reserve_name(None, "op_name") == "op_name_1"
        assert gs.reserve_name(None, "op_name") == "op_name_2"
        assert second.reserve_name(None, "clf") == "clf" and gs.reserve_name(None, "clf") == "clf_1"
        with second.building():  # each graph marks the names reserved in it as used
            assert tf.constant(0.0, name="clf").op.name == "clf_1"
        with gs.building():
            assert tf.constant(0.0, name="clf_1").op.name == "clf_1_1"


def test_a_remote_runtime_config_keeps_tensorflows_thread_defaults_and_carries_the_cluster():
    """With a target, no CPU-only settings (GPU count, threads, pruned placement); a cluster's spec goes into the config."""
    cluster = tf.train.ClusterSpec({"worker": ["127.0.0.1:1"]})
    remote = tfshare.GraphSession(device="cpu", target="grpc://127.0.0.1:1", cluster=cluster)  # no Session: nothing connects
    config = remote.config
    assert "GPU" not in config.device_count and config.intra_op_parallelism_threads == 0
    assert config.inter_op_parallelism_threads == 0 and not config.graph_options.place_pruned_graph
    assert [job.name for job in config.cluster_def.job] == ["worker"] and remote.caller_thread is False
    remote.close()


def test_a_name_a_failed_construction_reserved_is_said_to_be_kept_by_it(runtime):
    """Its ops stay in the graph under the name's scope ("c/x"...), so the name stays used; the message says why."""

    class Failing(keras.layers.Layer):
        def call(self, x):
            raise ValueError("boom")

    with pytest.raises(tfshare.InputError, match="failed on an input"):
        tfshare.Classifier(layers=lambda: [keras.layers.Dense(3), Failing()], input_shape=(4,), num_classes=2,
                           runtime=runtime, name="c")
    with pytest.raises(tfshare.InputError, match=r"^name 'c' is already used in .* a failed construction keeps its "
                                                 r"name\); pick another$"):
        tfshare.Classifier(layers=lambda: [keras.layers.Dense(3)], input_shape=(4,), num_classes=2, runtime=runtime,
                           name="c")


_THREADS_CHILD = """
import numpy as np
import tensorflow as tf
import tfshare
with tfshare.GraphSession(device="cpu", intra_op_threads=1, inter_op_threads=1) as gs:
    tfshare.DenseClassifier(8, 3, (4,), runtime=gs, seed=0).predict_proba(np.zeros((2, 8), np.float32))
print(tf.config.threading.get_intra_op_parallelism_threads(), tf.config.threading.get_inter_op_parallelism_threads())
"""


def test_a_runtimes_thread_counts_reach_the_eager_context_that_sizes_the_intra_op_pool():
    """tfshare's eager work (layers, initial values) starts TensorFlow's eager context before the first
    Session, and whichever starts first sizes the process's intra-op pool: the runtime's counts go to it."""
    root = pathlib.Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "TF_CPP_MIN_LOG_LEVEL": "3"}
    child = subprocess.run([sys.executable, "-c", _THREADS_CHILD], capture_output=True, text=True, env=env, timeout=300)
    assert child.returncode == 0, child.stderr[-2000:]
    assert child.stdout.split()[-2:] == ["1", "1"]


def test_a_runtimes_thread_counts_the_started_eager_context_cannot_take_are_reported(caplog):
    tf.constant(1.0)  # the eager context has started (with the suite's counts)
    other = tf.config.threading.get_intra_op_parallelism_threads() + 1
    with caplog.at_level("WARNING", logger="tfshare.devices"):
        tfshare.GraphSession(device="cpu", intra_op_threads=other).close()
    assert f"intra_op_threads={other} does not apply" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="tfshare.devices"):
        tfshare.GraphSession(device="cpu").close()  # tfshare's default counts: nothing asked, nothing said
    assert "does not apply" not in caplog.text
