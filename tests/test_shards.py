"""Shards: a runtime that grows past its shard_size keeps one public face and the same answers."""

from __future__ import annotations

import numpy as np
import pytest

import tfshare
from tfshare import shards


@pytest.fixture
def sharded():
    gs = tfshare.GraphSession(device="cpu", shard_size=3)
    yield gs
    gs.close()


def _mlps(gs, n, **kwargs):
    return [tfshare.DenseClassifier(16, 3, (8,), runtime=gs, seed=i, **kwargs) for i in range(n)]


def test_classifiers_beyond_the_shard_size_go_to_new_graphs_behind_one_runtime(sharded, rng):
    classifiers = _mlps(sharded, 8)
    assert len(sharded.shards) == 3 and len({id(g) for g in sharded.graphs}) == 3
    assert [sharded.shards.index(c.shard) for c in classifiers] == [0, 0, 0, 1, 1, 1, 2, 2]
    assert all(c.runtime is sharded for c in classifiers)
    assert len({c.name for c in classifiers}) == 8  # names are unique across shards
    with pytest.raises(tfshare.InputError, match=r"name 'dense_classifier_4' is already used"):
        tfshare.DenseClassifier(16, 3, (8,), runtime=sharded, name="dense_classifier_4")
    x = rng.random((5, 16), dtype=np.float32)
    for i, clf in enumerate(classifiers):  # the same answers as isolated classifiers of the same seed
        with tfshare.DenseClassifier(16, 3, (8,), seed=i) as alone:
            np.testing.assert_allclose(clf.predict_proba(x), alone.predict_proba(x), atol=1e-6)
    assert sharded.shards[2].graph.get_operations()  # copies within a shard; its first built by tf_keras


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_a_shard_full_of_ops_takes_no_more_classifiers(kind):
    """A shard takes no new classifier once its graph holds DEFAULT_SHARD_OPS ops, before its count is
    reached: 101-op CNNs fill one sooner than 34-op MLPs."""
    def make(gs, i):
        if kind == "mlp":
            return tfshare.DenseClassifier(16, 3, (8,), runtime=gs, seed=i)
        return tfshare.ConvClassifier((8, 8, 1), 3, filters=(4, 8), runtime=gs, seed=i)

    with tfshare.GraphSession(device="cpu", shard_size=None) as one:
        make(one, 0)
        ops = one.graph.version  # one classifier's ops
    expected = min(shards.DEFAULT_SHARD_SIZE, -(-shards.DEFAULT_SHARD_OPS // ops))  # placed while under the budget
    assert expected < shards.DEFAULT_SHARD_SIZE or kind == "mlp"  # the CNN's shards close by their ops
    with tfshare.GraphSession(device="cpu") as gs:
        made = [make(gs, i) for i in range(2 * expected + 1)]
        per_shard = [sum(c.shard is shard for c in made) for shard in gs.shards]
        assert per_shard == [expected, expected, 1], (ops, per_shard)
        for shard in gs.shards[:2]:
            assert shard.graph.version - ops < shards.DEFAULT_SHARD_OPS  # its last classifier came in under budget
            if expected < shards.DEFAULT_SHARD_SIZE:  # closed by its ops, not by its count
                assert shards.DEFAULT_SHARD_OPS <= shard.graph.version


def test_the_root_runs_initializes_and_lists_across_shards(sharded, rng):
    classifiers = _mlps(sharded, 7)
    assert sharded.initialize() == 7 * 4 and sharded.pending_variables() == []
    assert len(sharded.global_variables()) == 7 * 4
    x = rng.random((2, 16), dtype=np.float32)
    last = classifiers[-1]
    np.testing.assert_allclose(sharded.run(last.probabilities_tensor, {last.input_tensor: x}), last.predict_proba(x),
                               atol=1e-6)
    fn = sharded.callable([last.probabilities_tensor], [last.input_tensor])
    np.testing.assert_allclose(fn(x)[0], last.predict_proba(x), atol=1e-6)
    with pytest.raises(tfshare.InputError, match=r"must come from one graph .* got 2 graphs"):
        sharded.run([classifiers[0].probabilities_tensor, last.probabilities_tensor])


def test_predict_many_over_shards_is_remembered_until_a_classifier_closes(sharded, rng, monkeypatch):
    """A list spread over shards is remembered as a single-shard one is: later calls skip the argument checks
    and the grouping (they cost more than the Session calls), and closing a member forgets it."""
    from tfshare import fused

    classifiers = _mlps(sharded, 5)  # shards of 3: two graphs
    x = rng.random((4, 16), dtype=np.float32)
    first = tfshare.predict_many(classifiers, x)
    checks = []
    check = fused._check_classifiers
    monkeypatch.setattr(fused, "_check_classifiers", lambda *args, **kwargs: checks.append(1) or check(*args, **kwargs))
    again = tfshare.predict_many(classifiers, x)
    assert checks == [] and list(again) == [c.name for c in classifiers]
    for clf in classifiers:
        np.testing.assert_array_equal(again[clf.name], first[clf.name])
        np.testing.assert_allclose(again[clf.name], clf.predict_proba(x), atol=1e-6)
    classifiers[4].close()
    with pytest.raises(tfshare.ClosedError, match="dense_classifier_4"):
        tfshare.predict_many(classifiers, x)
    assert checks == [1]


def test_predict_many_checkpoints_and_export_span_shards(sharded, rng, tmp_path):
    trunk = tfshare.SharedTrunk(sharded, 16, (8,), seed=0)
    heads = [tfshare.DenseClassifier(trunk=trunk, num_classes=3, name=f"head{i}") for i in range(5)]
    classifiers = _mlps(sharded, 5) + heads
    assert {h.shard for h in heads} == {trunk.shard}  # a trunk's heads stay with it, past the size
    x, y = rng.random((6, 16), dtype=np.float32), rng.integers(0, 3, 6)
    fused = tfshare.predict_many(classifiers, x)
    for clf in classifiers:
        np.testing.assert_allclose(fused[clf.name], clf.predict_proba(x), atol=1e-6)
    tfshare.save_runtime(classifiers, tmp_path / "all.npz")
    saved = {c.name: c.get_weights() for c in classifiers}
    for clf in (classifiers[0], classifiers[4], heads[0]):
        clf.fit(x, y, epochs=3, learning_rate=0.1)
    tfshare.restore_runtime(classifiers, tmp_path / "all.npz")
    for clf in classifiers:
        for key, value in clf.get_weights().items():
            np.testing.assert_array_equal(value, saved[clf.name][key])
    path = tfshare.export_saved_model(classifiers, tmp_path / "export")
    served = tfshare._tf.tf.saved_model.load(path).signatures["all"](x=tfshare._tf.tf.constant(x))
    for clf in classifiers:
        np.testing.assert_allclose(served[clf.name].numpy(), clf.predict_proba(x), atol=1e-6)


def test_close_and_finalize_cover_every_shard(rng):
    gs = tfshare.GraphSession(device="cpu", shard_size=2)
    classifiers = _mlps(gs, 5)
    x = rng.random((1, 16), dtype=np.float32)
    for clf in classifiers:
        clf.predict_proba(x)
    gs.finalize()
    assert all(g.finalized for g in gs.graphs)
    with pytest.raises(RuntimeError, match=r"was finalized; build every classifier before calling finalize"):
        _mlps(gs, 1)
    gs.close()
    assert all(shard.closed for shard in gs.shards)
    with pytest.raises(tfshare.ClosedError):
        classifiers[-1].predict_proba(x)


def test_one_graph_when_unsharded_or_remote():
    with tfshare.GraphSession(device="cpu", shard_size=None) as gs:
        _mlps(gs, 5)
        assert gs.shards == [gs] and len(gs.graphs) == 1
    remote = tfshare.GraphSession(device="cpu", target="grpc://127.0.0.1:1", shard_size=2)
    assert remote.place() is remote and remote.shards == [remote]  # no Session is made: nothing connects
    remote.close()
    with pytest.raises(tfshare.InputError, match=r"shard_size must be an int >= 1, got 0"):
        tfshare.GraphSession(shard_size=0)


def test_the_root_answers_for_every_shard_and_a_shard_for_itself():
    """heads, pending variables, initial-value feeds and global variables: the root's cover every shard, a shard's only its own."""
    with tfshare.GraphSession(device="cpu", shard_size=1) as gs:
        a, b = _mlps(gs, 2)
        second = gs.shards[1]
        assert gs.heads() == [a, b] and gs.shard_heads() == [a] and second.heads() == [b]
        pending = gs.pending_variables()
        assert sorted({id(v.graph) for v in pending}) == sorted(map(id, gs.graphs))
        assert {id(v.graph) for v in second.pending_variables()} == {id(second.graph)}
        feeds = gs.initial_value_feeds(pending)
        assert sorted({id(p.graph) for p in feeds}) == sorted(map(id, gs.graphs))
        assert all(value.dtype == np.float32 for value in feeds.values())
        assert set(second.initial_value_feeds(pending)) == {p for p in feeds if p.graph is second.graph}
        assert len(gs.global_variables()) == len(pending)
        assert {id(v.graph) for v in second.global_variables()} == {id(second.graph)}
        assert gs.initialize() == len(pending) and gs.pending_variables() == []
        a.close()
        assert gs.heads() == [b] and gs.shard_heads() == []  # a closed classifier is no head any more
    with tfshare.GraphSession(device="cpu", shard_size=None) as one:
        (c,) = _mlps(one, 1)
        assert one.heads() == [c] and len(one.global_variables()) == len(one.pending_variables()) > 0


def test_mark_initialized_reaches_the_shard_of_each_variable():
    """The root records a restored variable as initialized in its own shard, whose next run then keeps its value."""
    with tfshare.GraphSession(device="cpu", shard_size=1) as gs:
        _mlps(gs, 2)
        second = gs.shards[1]
        theirs = [v.name for v in second.pending_variables()]
        gs.mark_initialized(second.pending_variables()[:1])
        assert [v.name for v in second.pending_variables()] == theirs[1:]
        assert [v.name for v in gs.pending_variables()][-len(theirs) + 1:] == theirs[1:]


def test_run_goes_to_the_shard_of_its_tensors_with_its_keyword_arguments():
    """The root runs a shard's tensors in that shard (feeds count too) and refuses tensors of two shards."""
    from tfshare._tf import tf1

    with tfshare.GraphSession(device="cpu", shard_size=1) as gs:
        a, b = _mlps(gs, 2)
        x = np.zeros((1, 16), np.float32)
        metadata = tf1.RunMetadata()
        options = tf1.RunOptions(trace_level=tf1.RunOptions.FULL_TRACE)
        got = gs.run(b.probabilities_tensor, {b.input_tensor: x}, options=options, run_metadata=metadata)
        np.testing.assert_allclose(got, b.predict_proba(x), atol=1e-6)
        assert len(metadata.step_stats.dev_stats) > 0
        with pytest.raises(tfshare.InputError, match=r"^the tensors of one call must come from one graph of .*, got 2 graphs "
                                                     r"\(its classifiers are spread over shards: call predict_many, "
                                                     r"or each classifier, instead\)$"):
            gs.run(a.probabilities_tensor, {b.input_tensor: x})
        # Names carry no graph: the root runs them in its own graph, as Session.run would.
        np.testing.assert_allclose(gs.run(a.probabilities_tensor.name, {a.input_tensor.name: x}), a.predict_proba(x),
                                   atol=1e-6)


def test_callable_goes_to_the_shard_of_its_fetches_feeds_or_targets():
    """The root makes a callable in the shard that holds its fetches, feeds or targets, and refuses a mix of shards."""
    from tfshare._tf import tf

    with tfshare.GraphSession(device="cpu", shard_size=1) as gs:
        a, b = _mlps(gs, 2)
        second = gs.shards[1]
        with second.building():
            v = tf.Variable(1.0, name="counter")
            bump = v.assign_add(1.0)
            value = v.read_value()
        read = gs.callable([value])
        gs.callable([], [], [bump.op])()
        assert read() == [2.0]
        x = np.zeros((1, 16), np.float32)
        np.testing.assert_allclose(gs.callable([b.probabilities_tensor], [b.input_tensor])(x)[0], b.predict_proba(x), atol=1e-6)
        for options in [{"read_only": True}, {"caller_thread": False}, {"read_only": True, "caller_thread": False}]:
            # the shard's own cached callable: the options reach the shard
            assert gs.callable([value], **options) is second.callable([value], **options)
        before = second.write_clock.value
        gs.callable([value], read_only=True)()
        assert second.write_clock.value == before
        for fetches, feeds, targets in [([a.probabilities_tensor], [b.input_tensor], []), ([a.probabilities_tensor], [], [bump.op])]:
            with pytest.raises(tfshare.InputError, match=r"^the tensors of one call must come from one graph of .*, got 2 graphs"):
                gs.callable(fetches, feeds, targets)


def test_a_new_shard_has_the_roots_settings_and_none_after_finalize():
    """A shard is made with the root's thread, timeout and caller-thread settings; a finalized root opens none."""
    from tfshare._tf import tf1

    base = tf1.ConfigProto(isolate_session_state=True)
    with tfshare.GraphSession(device="cpu", shard_size=1, intra_op_threads=1, inter_op_threads=1, timeout=3,
                              caller_thread=False, allow_growth=False, grappler=False, config=base) as gs:
        gs.place()
        second = gs.place()
        assert second is gs.shards[1] and second.root is gs and second.device == gs.device
        config = second.config
        assert config == gs.config
        assert (config.intra_op_parallelism_threads, config.inter_op_parallelism_threads) == (1, 1)
        assert config.operation_timeout_in_ms == 3000 and second.caller_thread is False
        assert config.isolate_session_state and not config.gpu_options.allow_growth
        assert config.graph_options.rewrite_options.disable_meta_optimizer  # grappler=False
        assert second.shards == [second]  # a shard opens no shards of its own
        gs.finalize()
        with pytest.raises(RuntimeError, match=r"^GraphSession\(device='/device:CPU:0', ops=0, shards=2, no session yet\) "
                                               r"was finalized; build every classifier before calling finalize\(\)$"):
            gs.place()


@pytest.mark.gpu
def test_a_cpu_runtimes_shards_stay_on_the_cpu_beside_a_gpu():
    """device="cpu" on a machine with a GPU: every shard keeps it (a shard made with the default device, "auto",
    would take the GPU)."""
    with tfshare.GraphSession(device="cpu", shard_size=1) as gs:
        gs.place()
        second = gs.place()
        assert second is not gs and gs.device == second.device == "/device:CPU:0"
        assert second.config.device_count["GPU"] == 0


class _Stub:
    """A stand-in runtime for Shards: only its graph's op count (``tf.Graph.version``) matters to place()."""

    def __init__(self, ops):
        self.graph = type("Graph", (), {"version": ops})()


def _stub_maker(ops):
    """A make_shard for Shards that records the _Stub shards (of ``ops`` ops) it makes."""
    made = []

    def make(root):
        made.append(_Stub(ops))
        return made[-1]

    return made, make


def test_a_shard_is_full_at_exactly_max_ops():
    """place(): one op under max_ops leaves room; exactly max_ops does not (and a new shard takes its first unit anyway)."""
    made, make = _stub_maker(5)
    root = _Stub(4)
    placer = shards.Shards(root, size=10, make_shard=make, max_ops=5)
    assert placer.place() is root and placer.place() is root
    root.graph.version = 5
    first = placer.place()
    assert made == [first] and placer.place() is made[1] and placer.all == [root, *made]


def test_close_waits_for_a_shard_being_made_and_closes_it_too(monkeypatch):
    """A shard made by another thread while close() runs is closed with the others: nothing is left open.

    Deterministic: placement is held inside its lock, after the new shard passed the root's open check,
    until close() is seen waiting for that lock (close() used to take its list of shards without it)."""
    import threading

    class WatchedLock:
        """The placement lock (a Condition), noting when a thread had to wait for it."""

        def __init__(self, lock):
            self.lock, self.contended = lock, threading.Event()

        def __enter__(self):
            if not self.lock.acquire(blocking=False):
                self.contended.set()
                self.lock.acquire()
            return self

        def __exit__(self, *exc_info):
            self.lock.release()

        def __getattr__(self, name):  # wait, notify_all
            return getattr(self.lock, name)

    gs = tfshare.GraphSession(device="cpu", shard_size=1)
    _mlps(gs, 1)
    made, release, watched = threading.Event(), threading.Event(), WatchedLock(gs._shards._lock)
    make = gs._shards._make

    def slow_make(root):
        shard = make(root)
        made.set()
        release.wait(10)
        return shard

    monkeypatch.setattr(gs._shards, "_make", slow_make)
    monkeypatch.setattr(gs._shards, "_lock", watched)
    placing, closing = threading.Thread(target=gs.place), threading.Thread(target=gs.close)
    try:
        placing.start()
        assert made.wait(10)
        closing.start()
        assert watched.contended.wait(10), "close() did not wait for the placement in progress"
    finally:
        release.set()
        placing.join(10)
        closing.join(10)
    assert len(gs.shards) == 2 and all(shard.closed for shard in gs.shards)
    with pytest.raises(tfshare.ClosedError, match=r"is closed; create a new GraphSession"):
        gs.place()


def test_a_failed_construction_gives_its_slot_back():
    """Refused builds (a taken name, bad layers) leave placement as it was: no empty shards, no gaps."""
    with tfshare.GraphSession(device="cpu", shard_size=2) as gs:
        (first,) = _mlps(gs, 1)
        for _ in range(4):
            with pytest.raises(tfshare.InputError, match=r"name 'dense_classifier' is already used"):
                tfshare.DenseClassifier(16, 3, (8,), runtime=gs, name=first.name)
            with pytest.raises(tfshare.InputError, match=r"name 'dense_classifier' is already used"):
                tfshare.SharedTrunk(gs, 16, (8,), name=first.name)
        (second,) = _mlps(gs, 1)
        assert second.shard is gs and len(gs.shards) == 1
        trunk = tfshare.SharedTrunk(gs, 16, (8,))
        assert trunk.shard is gs.shards[1] and len(gs.shards) == 2  # the root was full: its count is right


def test_release_callable_reaches_the_shard_that_made_it():
    with tfshare.GraphSession(device="cpu", shard_size=1) as gs:
        a, b = _mlps(gs, 2)
        for clf in (a, b):
            fn = gs.callable([clf.probabilities_tensor], [clf.input_tensor])
            gs.release_callable(fn)
            assert all(fn is not cached for shard in gs.shards for cached in shard._callables.values())
            assert gs.callable([clf.probabilities_tensor], [clf.input_tensor]) is not fn


def test_export_graph_writes_every_shards_graph(tmp_path):
    from google.protobuf import text_format

    from tfshare._tf import tf1

    with tfshare.GraphSession(device="cpu", shard_size=1) as gs:
        classifiers = _mlps(gs, 3)
        logdir = gs.export_graph(str(tmp_path / "graph"))
        for i, clf in enumerate(classifiers):
            where = tmp_path / "graph" / (f"shard_{i}" if i else "")
            graph_def = text_format.Parse((where / "graph.pbtxt").read_text(), tf1.GraphDef())
            assert {n.name.split("/")[0] for n in graph_def.node} == {clf.name}
            assert any(f.name.startswith("events.out.tfevents") for f in where.iterdir())  # TensorBoard lists it as a run
        assert logdir == str(tmp_path / "graph")


def test_tensors_of_another_runtime_are_named_as_such():
    """input_tensor= and run() with a tensor the runtime does not hold: the error names it, not 'several shards'."""
    from tfshare._tf import tf, tf1

    with tf.Graph().as_default():
        foreign = tf1.placeholder(tf.float32, [None, 16])
    with tfshare.GraphSession(device="cpu", shard_size=1) as gs, tfshare.DenseClassifier(16, 3, (8,), seed=0) as other:
        a, _ = _mlps(gs, 2)
        body = tfshare.architectures.dense(16, (8,))
        with pytest.raises(tfshare.InputError, match=r"^input_tensor must be a tensor of the runtime's graph, got one of another graph"):
            tfshare.Classifier(architecture=body, num_classes=3, runtime=gs, input_tensor=foreign)
        with pytest.raises(tfshare.InputError, match=r"^input_tensor must be a tensor of the runtime's graph, got one of another graph"):
            tfshare.SharedTrunk(gs, 16, (8,), input_tensor=foreign)
        with pytest.raises(tfshare.InputError, match=r"^the tensors of one call must come from GraphSession\(.*\), got "
                                                     r"<tf.Tensor 'dense_classifier/probabilities:0'.* of a graph it does not hold$"):
            gs.run([a.probabilities_tensor, other.probabilities_tensor])
        assert other.runtime.shards == [other.runtime]


def test_a_runtime_with_a_cluster_keeps_one_graph():
    from tfshare._tf import tf

    spec = tf.train.ClusterSpec({"worker": ["127.0.0.1:1"]})
    gs = tfshare.GraphSession(device="cpu", cluster=spec, shard_size=1)
    assert gs.place() is gs and gs.place() is gs and gs.shards == [gs]  # no Session is made: nothing connects
    gs.close()


def test_unplace_gives_back_only_the_newest_shards_last_slot_and_close_stops_placing():
    made, make = _stub_maker(0)
    root = _Stub(0)
    placer = shards.Shards(root, size=3, make_shard=make)
    assert [placer.place() for _ in range(3)] == [root] * 3
    first = placer.place()  # root full: a new shard
    placer.unplace(first)  # its only unit failed: the next unit still goes there, and two more after it
    assert [placer.place() for _ in range(3)] == [first] * 3
    placer.unplace(root)  # not the newest: nothing changes
    placer.unplace(first)
    placer.unplace(first)  # two slots back: first then takes two more units, not one
    assert [placer.place() for _ in range(2)] == [first] * 2
    second = placer.place()
    assert made == [first, second]
    placer.unplace(second)
    placer.unplace(second)  # more give-backs than units: the count stays at zero
    assert [placer.place() for _ in range(3)] == [second] * 3 and placer.place() is made[2]
    assert placer.close() == made and placer.close() == made
    with pytest.raises(tfshare.ClosedError, match=r"is closed; create a new GraphSession"):
        placer.place()  # even with room in the newest shard


def test_a_graph_past_the_large_size_warns_once_that_new_signatures_grow_with_it(rng, monkeypatch, caplog):
    from tfshare import runtime as runtime_module

    gs = tfshare.GraphSession(device="cpu")
    small = tfshare.GraphSession(device="cpu")
    try:
        trunk = tfshare.SharedTrunk(gs, 16, (8,), seed=0)
        heads = [tfshare.DenseClassifier(num_classes=3, trunk=trunk, seed=i) for i in range(3)]
        alone = tfshare.DenseClassifier(16, 3, (8,), runtime=small, seed=0)
        x = rng.random((2, 16), dtype=np.float32)
        heads[0].predict_proba(x)
        monkeypatch.setattr(runtime_module, "LARGE_GRAPH_OPS", gs.graph.version)
        with caplog.at_level("WARNING", logger="tfshare.runtime"):
            heads[1].predict_proba(x)  # a new signature on a graph of LARGE_GRAPH_OPS ops
            heads[2].predict_proba(x)  # another: no second warning
            heads[1].predict_proba(x)  # a cached callable: no signature at all
            alone.predict_proba(x)  # a graph below the size
        warnings = [r for r in caplog.records if r.name == "tfshare.runtime"]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        assert f"its graph holds {gs.graph.version} ops" in warnings[0].getMessage()
        assert "predict_many" in warnings[0].getMessage()
        assert repr(gs) in warnings[0].getMessage()
    finally:
        gs.close()
        small.close()


def _ops_before(classifiers):
    """For each classifier: how many ops its shard's graph held when its construction began (ops made before its first)."""
    started = []
    for clf in classifiers:
        ops = clf.shard.graph.get_operations()
        first = min(op._id for op in ops if op.name.startswith(clf.name + "/"))
        started.append(sum(op._id < first for op in ops))
    return started


def test_concurrent_constructions_keep_every_shard_within_its_op_budget(monkeypatch):
    """Builders racing into one runtime start no classifier in a graph of max_ops ops, as one builder does.

    Deterministic: each builder waits, after place() gave it a shard, until every builder has asked for one
    (placement used to read the op count before any of them had built, so all went into one shard)."""
    import threading

    from conftest import WAIT_SECONDS
    from tfshare.drills import concurrency

    with tfshare.GraphSession(device="cpu", shard_size=None) as one:
        tfshare.DenseClassifier(16, 3, (8,), runtime=one, seed=0)
        ops = one.graph.version  # one classifier's ops
    n = 7
    with tfshare.GraphSession(device="cpu") as gs:
        gs._shards.max_ops = 2 * ops + 1  # three classifiers a shard, by their ops (its count allows 16)
        asked, cond, place = [0], threading.Condition(), gs._shards.place

        def wide_window():
            with cond:
                asked[0] += 1
                cond.notify_all()
            shard = place()
            with cond:  # the window: every builder has asked for a shard before this one builds
                assert cond.wait_for(lambda: asked[0] == n, WAIT_SECONDS), "not every builder asked for a shard"
            return shard

        monkeypatch.setattr(gs._shards, "place", wide_window)
        built = []
        errors = concurrency._run_threads(lambda i: built.append(tfshare.DenseClassifier(16, 3, (8,), runtime=gs, seed=i)), n)
        assert errors == [] and len(built) == n
        started = _ops_before(built)
        assert all(s < gs._shards.max_ops for s in started), (started, gs._shards.max_ops)
        assert [sum(c.shard is shard for c in built) for shard in gs.shards] == [3, 3, 1]  # as built one at a time


def _waiting_placement(placer):
    """Starts place() in another thread; returns (result list, thread) once it waits for a unit under construction."""
    import threading

    from conftest import WAIT_SECONDS

    waiting, wait = threading.Event(), placer._lock.wait
    placer._lock.wait = lambda *args: (waiting.set(), wait(*args))[1]
    out = []

    def place():
        try:
            out.append(placer.place())
        except Exception as exc:  # noqa: BLE001 - the test reads it
            out.append(exc)

    thread = threading.Thread(target=place, daemon=True)
    thread.start()
    assert waiting.wait(WAIT_SECONDS), "place() did not wait for the unit under construction"
    assert out == []
    return out, thread


def test_a_placement_reads_the_op_budget_after_the_unit_under_construction_is_built():
    """place() waits for another thread's unit building in the newest shard, then counts that unit's ops."""
    from conftest import join_all

    made, make = _stub_maker(0)
    root = _Stub(0)
    placer = shards.Shards(root, size=10, make_shard=make, max_ops=5)
    assert placer.place() is root  # this thread's unit, under construction
    out, thread = _waiting_placement(placer)
    root.graph.version = 5  # its ops are in the graph
    placer.built(root)
    join_all([thread])
    assert out == made and len(made) == 1  # the root is full by its ops: a new shard
    placer.built(made[0])
    assert placer._building == []


def test_a_failed_unit_under_construction_wakes_the_placement_waiting_and_gives_it_the_slot():
    from conftest import join_all

    made, make = _stub_maker(0)
    root = _Stub(0)
    placer = shards.Shards(root, size=3, make_shard=make, max_ops=5)
    assert placer.place() is root
    assert placer.place() is root  # this thread's second unit (e.g. built inside the first): no wait
    placer.built(root)
    out, thread = _waiting_placement(placer)
    placer.unplace(root)  # failed: its slot and its construction go back
    join_all([thread])
    assert out == [root] and made == [] and placer._building == [(id(root), thread.ident)]
    placer.built(root)  # the waiting one's unit (ended from this thread, which has none there)
    assert placer._building == []
    assert placer.place() is root and placer.place() is made[0]  # the failed unit's slot went back: room for one


def test_placements_wait_only_when_they_would_read_the_op_count_of_a_shard_with_room():
    """A unit under construction in a shard full by its count or by its ops delays no placement: those go on."""
    import threading

    from conftest import join_all

    made, make = _stub_maker(0)
    root = _Stub(0)
    placer = shards.Shards(root, size=1, make_shard=make, max_ops=5)
    assert placer.place() is root  # under construction; the root is full by its count

    out = []
    thread = threading.Thread(target=lambda: out.append(placer.place()), daemon=True)
    thread.start()
    join_all([thread])
    assert out == made and len(made) == 1  # a new shard at once
    placer.size = 10
    made[0].graph.version = 5  # full by its ops while its unit still builds
    thread = threading.Thread(target=lambda: out.append(placer.place()), daemon=True)
    thread.start()
    join_all([thread])
    assert out == made and len(made) == 2


def test_close_wakes_the_placements_waiting_with_closed_error():
    from conftest import join_all

    made, make = _stub_maker(0)
    root = _Stub(0)
    placer = shards.Shards(root, size=3, make_shard=make)
    placer.place()
    out, thread = _waiting_placement(placer)
    assert placer.close() == []
    join_all([thread])
    assert len(out) == 1 and isinstance(out[0], tfshare.ClosedError) and "is closed" in str(out[0])


@pytest.mark.parametrize("unit", ["classifier", "trunk"])
def test_built_and_refused_constructions_leave_nothing_under_construction(unit):
    """Every construction place() starts ends, built or refused: a builder in another thread does not wait for it."""
    import threading

    from conftest import join_all
    from tfshare._tf import keras

    class Boom(keras.layers.Layer):
        def call(self, x):
            raise ArithmeticError("boom in the build")

    def build(**kwargs):
        if unit == "trunk":
            return tfshare.SharedTrunk(gs, **{"input_dim": 16, "hidden_units": (8,), **kwargs})
        return tfshare.Classifier(**{"layers": lambda: [keras.layers.Dense(8)], "input_shape": (16,),
                                     "num_classes": 3, "runtime": gs, **kwargs})

    with tfshare.GraphSession(device="cpu", shard_size=4) as gs:
        first = build(seed=0)
        with pytest.raises(tfshare.InputError, match=r"is already used"):
            build(name=first.name)  # refused before its build
        with pytest.raises(Exception, match="boom in the build"):  # autograph may wrap it
            build(**({"hidden_units": None} if unit == "trunk" else {}), layers=lambda: [Boom()], input_shape=(16,),
                  **({"input_dim": None} if unit == "trunk" else {}))  # fails in its build
        trunk = tfshare.SharedTrunk(gs, 16, (8,), seed=1)
        tfshare.DenseClassifier(trunk=trunk, num_classes=3)  # a head: no slot, nothing under construction
        assert gs._shards._building == []
        other = []
        thread = threading.Thread(target=lambda: other.append(build(seed=2)), daemon=True)
        thread.start()
        join_all([thread])
        assert len(other) == 1 and other[0].shard is gs


def test_a_placement_never_waits_for_a_construction_whose_thread_has_ended():
    """``GraphSession.place()`` is public: a thread that called it and ended without ``built()``/``unplace()`` can
    never end its construction. Placements from other threads used to wait for it forever."""
    import threading

    from conftest import WAIT_SECONDS, join_all

    with tfshare.GraphSession(device="cpu", shard_size=4) as gs:
        go, built = threading.Event(), []

        def build():  # alive before the placer starts: its thread id is not the placer's, reused
            assert go.wait(WAIT_SECONDS)
            built.append(tfshare.DenseClassifier(16, 3, (8,), runtime=gs, seed=0))

        builder = threading.Thread(target=build, daemon=True)
        builder.start()
        placer = threading.Thread(target=gs.place, daemon=True)
        placer.start()
        join_all([placer])
        go.set()
        join_all([builder], timeout=20.0)
        assert len(built) == 1 and built[0].shard is gs
