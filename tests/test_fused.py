"""predict_many and first-call fusion: same numbers as one-by-one, fewer Session signatures."""

from __future__ import annotations

import collections
import re
import threading

import numpy as np
import pytest

import tfshare
from tfshare import fused, head_bank
from tfshare._tf import tf1

from conftest import join_all


def _trunk_heads(runtime, n, seed=0):
    trunk = tfshare.SharedTrunk(runtime, 784, (32,), seed=seed)
    return [tfshare.DenseClassifier(num_classes=3 + i % 4, trunk=trunk, name=f"h{i}", seed=i) for i in range(n)]


def test_predict_many_equals_one_by_one(runtime, data):
    heads = _trunk_heads(runtime, 6)
    separate = [tfshare.DenseClassifier(runtime=runtime, name=f"s{i}", seed=10 + i) for i in range(3)]
    x = data.x_test[:33]
    expected = {c.name: c.predict_proba(x) for c in heads + separate}
    got = tfshare.predict_many(heads + separate, x)
    assert list(got) == [c.name for c in heads + separate]
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, atol=1e-6)
        assert got[name].dtype == np.float32


def test_predict_many_is_one_cached_callable_per_runtime(runtime, data):
    heads = _trunk_heads(runtime, 4)
    tfshare.predict_many(heads, data.x_test[:2])
    n_callables = len(runtime._callables)
    ops = len(runtime.graph.get_operations())
    for _ in range(3):
        tfshare.predict_many(heads, data.x_test[:5])
    assert len(runtime._callables) == n_callables
    assert len(runtime.graph.get_operations()) == ops
    fn = runtime.callable([h.probabilities_tensor for h in heads], [heads[0].input_tensor])
    assert len(fn.feeds) == 1  # the trunk's input is fed once for every head


def test_predict_many_groups_by_runtime(data):
    with tfshare.GraphSession(device="cpu") as a, tfshare.GraphSession(device="cpu") as b:
        left = _trunk_heads(a, 2)
        right = [tfshare.DenseClassifier(runtime=b, name="r0", seed=3)]
        got = tfshare.predict_many(left + right, data.x_test[:4])
        np.testing.assert_allclose(got["r0"], right[0].predict_proba(data.x_test[:4]), atol=1e-6)
        np.testing.assert_allclose(got["h1"], left[1].predict_proba(data.x_test[:4]), atol=1e-6)


def test_predict_many_empty_batch(runtime):
    heads = _trunk_heads(runtime, 2)
    got = tfshare.predict_many(heads, np.zeros((0, 784), np.float32))
    assert got["h0"].shape == (0, 3) and got["h1"].shape == (0, 4)
    assert got["h0"].dtype == got["h1"].dtype == np.float32


def test_predict_many_of_one_classifier_is_its_predict_proba(runtime, data):
    clf = tfshare.DenseClassifier(784, 5, (8,), runtime=runtime, name="only", seed=0)
    x = data.x_test[:3]
    for _ in range(2):  # the first call checks the arguments; the second is served by the remembered plan
        got = tfshare.predict_many([clf], x)
        assert list(got) == ["only"]
        np.testing.assert_allclose(got["only"], clf.predict_proba(x), atol=1e-6)
    empty = tfshare.predict_many([clf], np.zeros((0, 784), np.float32))
    assert empty["only"].shape == (0, 5) and empty["only"].dtype == np.float32


@pytest.mark.parametrize(
    "make_args, error, match",
    [
        (lambda c, o: [], tfshare.InputError, "^classifiers must hold at least one classifier, got an empty sequence$"),
        (lambda c, o: "abc", TypeError, "classifiers must be a sequence of graph classifiers, got str"),
        (lambda c, o: [c, "x"], TypeError, r"classifiers\[1\] must be a graph classifier \(Classifier, .*\), got str"),
        (lambda c, o: [c, c], tfshare.InputError, r"classifiers must have unique names .* duplicates \['a'\]"),
        (lambda c, o: [c, o, c], tfshare.InputError, r"classifiers must have unique names .* duplicates \['a'\]$"),
        (lambda c, o: [c, o], tfshare.InputError, r"classifiers must share one input_shape .* got input shapes \[\(5,\), \(784,\)\]"),
    ],
    ids=["empty", "not-a-sequence", "not-a-classifier", "duplicate-names", "a-duplicate-among-others", "mixed-input-dims"],
)
def test_predict_many_bad_arguments(runtime, make_args, error, match):
    a = tfshare.DenseClassifier(runtime=runtime, name="a")
    other = tfshare.DenseClassifier(input_dim=5, runtime=runtime, name="b")
    with pytest.raises(error, match=match):
        tfshare.predict_many(make_args(a, other), np.zeros((1, 784), np.float32))


def test_predict_many_bad_x_is_a_clear_error(runtime):
    heads = _trunk_heads(runtime, 2)
    with pytest.raises(tfshare.InputError, match=r"x must have 784 features per row"):
        tfshare.predict_many(heads, np.zeros((1, 3), np.float32))


def test_first_calls_are_served_by_one_fused_callable_with_identical_results(runtime, data):
    classifiers = [tfshare.DenseClassifier(runtime=runtime, seed=i) for i in range(5)]
    reference = [
        runtime.run(c.probabilities_tensor, {c.input_tensor: data.x_test[:3]}) for c in classifiers
    ]
    runtime._callables.clear()
    first = [c.predict_proba(data.x_test[:3]) for c in classifiers]
    # One fused callable served all five first calls, then was released.
    assert len(runtime._callables) == 0
    assert fused._first_call_groups.get(runtime) is None
    second = [c.predict_proba(data.x_test[:3]) for c in classifiers]  # own callables now
    assert len(runtime._callables) == 5
    for ref, a, b in zip(reference, first, second):
        np.testing.assert_allclose(a, ref, atol=1e-6)
        np.testing.assert_allclose(b, ref, atol=1e-6)


def test_large_first_batches_skip_fusion(runtime, data):
    classifiers = [tfshare.DenseClassifier(runtime=runtime, seed=i) for i in range(3)]
    x = np.repeat(data.x_test[:1], fused.FIRST_CALL_MAX_ROWS + 1, axis=0)
    classifiers[0].predict_proba(x)
    assert fused._first_call_groups.get(runtime) is None
    assert len(runtime._callables) == 1


def test_fast_path_equals_session_run_and_is_thread_safe(runtime, data):
    trunk_heads = _trunk_heads(runtime, 3)
    x = data.x_test[:16]
    expected = [runtime.run(c.probabilities_tensor, {c.input_tensor: x}) for c in trunk_heads]
    errors, mismatches = [], []

    def worker(i):
        try:
            for _ in range(50):
                clf = trunk_heads[i % 3]
                got = clf.predict_proba(x)
                if np.abs(got - expected[i % 3]).max() > 1e-6:
                    mismatches.append(i)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    join_all(threads)
    assert errors == [] and mismatches == []


def test_closed_runtime_disarms_the_fast_path(data):
    gs = tfshare.GraphSession(device="cpu")
    clf = tfshare.DenseClassifier(runtime=gs, seed=0)
    clf.predict_proba(data.x_test[:1]), clf.predict_proba(data.x_test[:1]), clf.predict(data.x_test[:1])
    gs.close()
    with pytest.raises(tfshare.ClosedError, match="closed"):
        clf.predict_proba(data.x_test[:1])
    with pytest.raises(tfshare.ClosedError, match="closed"):
        clf.predict(data.x_test[:1])


def test_a_large_first_batch_of_a_group_member_gets_its_own_callable(runtime, data):
    # The fused run computes every pending head: a large first batch must not
    # take it even when an earlier small first call put the classifier in a group.
    a, b, c = (tfshare.DenseClassifier(runtime=runtime, seed=i) for i in range(3))
    a.predict_proba(data.x_test[:1])  # fuses a, b and c
    x = np.repeat(data.x_test[:1], fused.FIRST_CALL_MAX_ROWS + 1, axis=0)
    expected = runtime.run(b.probabilities_tensor, {b.input_tensor: x})
    np.testing.assert_allclose(b.predict_proba(x), expected, atol=1e-6)
    assert b._proba_fn is not None  # its own callable, built on this first call
    group = fused._first_call_groups.get(runtime)
    assert group is not None and list(group.members) == [c]
    c.predict_proba(data.x_test[:1])
    assert fused._first_call_groups.get(runtime) is None  # every member served: released


def test_closing_a_pending_group_member_lets_the_group_be_freed(runtime, data):
    a, b, c = (tfshare.DenseClassifier(runtime=runtime, seed=i) for i in range(3))
    a.predict_proba(data.x_test[:1])  # fuses a, b and c
    b.close()  # never makes its first call
    c.predict_proba(data.x_test[:1])
    assert fused._first_call_groups.get(runtime) is None
    assert len(runtime._callables) == 0  # the fused callable was released


def test_fused_heads_follow_training_and_add_ops_once(runtime, data):
    trunk = tfshare.SharedTrunk(runtime, 784, (32,), seed=0)
    heads = [tfshare.DenseClassifier(trunk=trunk, name=f"same{i}", seed=i) for i in range(8)]
    x = data.x_test[:16]
    first = tfshare.predict_many(heads, x)
    ops = len(runtime.graph.get_operations())
    for clf in heads:
        np.testing.assert_allclose(first[clf.name], clf.predict_proba(x), atol=1e-6)
    heads[3].fit(data.x_train[:128], data.y_train[:128])  # moves the trunk and head 3
    ops_after_fit = len(runtime.graph.get_operations())  # fit built its train op
    again = tfshare.predict_many(heads, x)
    tfshare.predict_many(heads, x)
    assert len(runtime.graph.get_operations()) == ops_after_fit  # the fused heads were built once, before
    assert ops_after_fit > ops
    for clf in heads:
        np.testing.assert_allclose(again[clf.name], clf.predict_proba(x), atol=1e-6)
    assert np.abs(again["same3"] - first["same3"]).max() > 1e-4


def _bank(runtime, heads, x):
    plan = fused._plan(runtime, heads)
    assert len(plan.banks) == 1
    return plan.banks[0]


def test_the_head_bank_is_two_private_variables_and_reads_no_head(runtime, data):
    heads = _trunk_heads(runtime, 1)  # builds the trunk
    trunk = heads[0].trunk
    heads += [tfshare.DenseClassifier(num_classes=3, trunk=trunk, name=f"b{i}", seed=i) for i in range(5)]
    same = [h for h in heads if h.num_classes == 3]
    global_before = [v.name for v in runtime.global_variables()]
    collections_before = {k: list(runtime.graph.get_collection(k)) for k in runtime.graph.get_all_collection_keys()}
    tfshare.predict_many(same, data.x_test[:4])
    assert [v.name for v in runtime.global_variables()] == global_before  # in no collection: no init, save or bundle sees it
    # ... nor any other (trainable variables, local variables, ...): no optimizer can pick the bank up.
    assert {k: list(runtime.graph.get_collection(k)) for k in runtime.graph.get_all_collection_keys()} == collections_before
    bank = next(op for op in runtime.graph.get_operations() if op.name == "head_bank/kernels")
    assert bank.type == "VarHandleOp"  # a resource variable, read consistently by every call
    assert runtime.pending_variables() == []
    fetch = fused._plan(runtime, same).fn.fetches[0]
    reads = {op.inputs[0].op.name for op in _ops_feeding(fetch) if op.type == "ReadVariableOp"}
    assert reads == {f"{trunk.name}/hidden_0/kernel", f"{trunk.name}/hidden_0/bias", "head_bank/kernels", "head_bank/biases"}


def _ops_feeding(tensor):
    seen, stack = set(), [tensor.op]
    while stack:
        op = stack.pop()
        if op not in seen:
            seen.add(op)
            stack.extend(t.op for t in op.inputs)
    return seen


@pytest.mark.parametrize("write", ["fit", "session_run", "make_callable", "restore", "callable_target"])
def test_the_head_bank_follows_every_kind_of_write(runtime, data, tmp_path, write):
    trunk = tfshare.SharedTrunk(runtime, 784, (16,), seed=0)
    heads = [tfshare.DenseClassifier(trunk=trunk, name=f"w{i}", seed=i) for i in range(4)]
    x = data.x_test[:8]
    if write == "restore":
        heads[2].save(str(tmp_path))
    before = tfshare.predict_many(heads, x)
    kernel = heads[2].named_variables["head/kernel"]
    with runtime.building():
        assign = kernel.assign(kernel * 3.0)
    if write == "fit":
        heads[2].fit(data.x_train[:64], data.y_train[:64], epochs=1)
    elif write == "session_run":
        runtime.session.run(assign)
    elif write == "make_callable":
        runtime.session.make_callable(assign.op)()
    elif write == "callable_target":
        runtime.callable([], [], [assign.op])()
    else:  # restore after a change: back to the saved weights
        runtime.session.run(assign)
        assert np.abs(tfshare.predict_many(heads, x)["w2"] - before["w2"]).max() > 1e-4
        heads[2].restore(str(tmp_path))
    after = tfshare.predict_many(heads, x)
    for clf in heads:
        np.testing.assert_allclose(after[clf.name], clf.predict_proba(x), atol=1e-6)
    if write == "restore":
        np.testing.assert_allclose(after["w2"], before["w2"], atol=1e-6)
    else:
        assert np.abs(after["w2"] - before["w2"]).max() > 1e-4


def test_the_head_bank_is_not_refreshed_by_predictions(runtime, data):
    heads = _trunk_heads(runtime, 6)
    same = [h for h in heads if h.num_classes == 3] + [
        tfshare.DenseClassifier(num_classes=3, trunk=heads[0].trunk, name=f"r{i}", seed=i) for i in range(3)
    ]
    x = data.x_test[:4]
    tfshare.predict_many(same, x)
    bank = _bank(runtime, same, x)
    same[0].predict_proba(x)
    tfshare.predict_many(same, x)
    assert not bank.ensure_fresh()  # nothing wrote since the last refresh
    runtime.run(same[0].named_variables["head/bias"])  # a Session.run counts as a possible write
    assert bank.ensure_fresh()


def test_predict_many_fast_path_rechecks_closed_and_new_objects(runtime, data):
    heads = _trunk_heads(runtime, 3)
    x = data.x_test[:4]
    tfshare.predict_many(heads, x)
    tfshare.predict_many(heads, x)  # served by the remembered plan
    heads[1].close()
    with pytest.raises(tfshare.ClosedError):
        tfshare.predict_many(heads, x)
    rest = [heads[0], heads[2]]
    tfshare.predict_many(rest, x)
    with pytest.raises(tfshare.InputError, match=r"x must have 784 features per row .*got shape \(2, 5\)"):
        tfshare.predict_many(rest, np.zeros((2, 5), np.float32))  # the remembered plan still validates x


def test_predict_many_after_close_is_a_closed_error_and_keeps_no_session(data):
    gs = tfshare.GraphSession(device="cpu")
    heads = _trunk_heads(gs, 3)
    tfshare.predict_many(heads, data.x_test[:2])
    plan = fused._plan(gs, heads)
    gs.close()
    with pytest.raises(tfshare.ClosedError, match="closed"):
        tfshare.predict_many(heads, data.x_test[:2])
    assert plan.fn._fn is tfshare.fast_callable._closed_callable  # the plan holds no TF callable (nor its Session)
    assert all(b._refresh._fn is tfshare.fast_callable._closed_callable for b in plan.banks)


def test_fused_results_are_views_of_one_block_with_the_right_values(runtime, data):
    trunk = tfshare.SharedTrunk(runtime, 784, (16,), seed=0)
    heads = [tfshare.DenseClassifier(num_classes=5, trunk=trunk, name=f"v{i}", seed=i) for i in range(6)]
    x = data.x_test[:7]
    got = tfshare.predict_many(heads, x)
    for clf in heads:
        value = got[clf.name]
        assert value.shape == (7, 5) and value.dtype == np.float32
        np.testing.assert_allclose(value, clf.predict_proba(x), atol=1e-6)
        np.testing.assert_allclose(value.sum(axis=1), 1.0, rtol=1e-5)
    assert got["v0"].base is not None and got["v0"].base is got["v5"].base  # views of one block: no copies


def test_without_a_bank_heads_are_stacked_in_the_call(runtime, data, monkeypatch):
    # What a remote (gRPC) runtime does: other processes may write the heads unseen.
    monkeypatch.setattr(head_bank.HeadBank, "usable", staticmethod(lambda runtime: False))
    trunk = tfshare.SharedTrunk(runtime, 784, (16,), seed=0)
    heads = [tfshare.DenseClassifier(trunk=trunk, name=f"r{i}", seed=i) for i in range(8)]
    x = data.x_test[:9]
    got = tfshare.predict_many(heads, x)
    plan = fused._plan(runtime, heads)
    assert plan.banks == []
    assert not [op for op in runtime.graph.get_operations() if op.name.startswith("head_bank")]
    heads[4].fit(data.x_train[:64], data.y_train[:64])
    got = tfshare.predict_many(heads, x)
    for clf in heads:
        np.testing.assert_allclose(got[clf.name], clf.predict_proba(x), atol=1e-6)


def test_a_classifier_closed_while_its_plan_is_built_is_not_remembered(runtime, data, monkeypatch):
    heads = _trunk_heads(runtime, 3)
    real_plan = fused._plan

    def plan_then_close(rt, classifiers, *links):  # another thread's close() lands between the checks and _remember
        plan = real_plan(rt, classifiers, *links)
        heads[1].close()
        return plan

    monkeypatch.setattr(fused, "_plan", plan_then_close)
    tfshare.predict_many(heads, data.x_test[:2])
    with pytest.raises(tfshare.ClosedError):
        tfshare.predict_many(heads, data.x_test[:2])


def test_remembered_plans_do_not_keep_a_dropped_runtime_graph_alive(data):
    import gc
    import weakref

    gs = tfshare.GraphSession(device="cpu")
    heads = _trunk_heads(gs, 3)
    tfshare.predict_many(heads, data.x_test[:2])
    tfshare.predict_many(heads, data.x_test[:2])
    graph = weakref.ref(gs.graph)
    gs.close()
    del gs, heads
    gc.collect()
    assert graph() is None


def test_a_fused_first_call_computes_only_the_callers_input(runtime, data):
    # Plain classifiers get zero rows in the fused run; heads on the caller's
    # trunk read the same placeholder and compute, the others do not.
    plain = [tfshare.DenseClassifier(runtime=runtime, seed=i) for i in range(3)]
    heads = _trunk_heads(runtime, 2)
    members = plain + heads
    group = fused._Group(runtime, members)
    x = data.x_test[:4]
    values = list(group.empty)
    values[group.members[plain[1]][1]] = x
    rows = [out.shape[0] for out in group.fn(*values)]
    assert rows == [0, 4, 0, 0, 0]
    values = list(group.empty)
    values[group.members[heads[0]][1]] = x
    assert [out.shape[0] for out in group.fn(*values)] == [0, 0, 0, 4, 4]


def test_fused_first_calls_of_plain_and_trunk_classifiers_equal_session_run(runtime, data):
    members = [tfshare.DenseClassifier(runtime=runtime, seed=i) for i in range(3)] + _trunk_heads(runtime, 3)
    x = data.x_test[:2]
    reference = [runtime.run(c.probabilities_tensor, {c.input_tensor: x}) for c in members]
    runtime._callables.clear()
    first = [c.predict_proba(x) for c in members]
    assert fused._first_call_groups.get(runtime) is None and len(runtime._callables) == 0
    second = [c.predict_proba(x) for c in members]  # each classifier's own callable
    for ref, a, b in zip(reference, first, second):
        assert a.shape == ref.shape
        np.testing.assert_allclose(a, ref, atol=1e-6)
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_many_distinct_lists_log_a_warning(runtime, data, monkeypatch, caplog):
    monkeypatch.setattr(fused, "PLANS_WARNING", 3)
    heads = _trunk_heads(runtime, 4)
    with caplog.at_level("WARNING", logger="tfshare.fused"):
        for i in range(2, 5):
            tfshare.predict_many(heads[:i], data.x_test[:1])  # three different lists
        tfshare.predict_many(heads[:4], data.x_test[:1])  # a list seen before: no new plan
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert re.fullmatch(
        rf"predict_many has built fused ops for 3 different classifier lists in {re.escape(repr(runtime))}; "
        r"each list adds ops \(and on a trunk a copy of its heads\) for good: pass one fixed list and pick "
        r"results by name", warnings[0])


def test_a_dead_classifier_evicts_its_remembered_lists(runtime, data):
    import gc

    heads = _trunk_heads(runtime, 3)
    tfshare.predict_many(heads, data.x_test[:2])
    key = tuple(map(id, heads))
    assert key in fused._recent
    heads.pop()  # the last reference to h2: its id may now be reused by a new object
    gc.collect()
    assert key not in fused._recent


def test_first_calls_and_plans_in_one_runtime_do_not_wait_for_another_runtimes_build(data, monkeypatch):
    busy, other = tfshare.GraphSession(device="cpu"), tfshare.GraphSession(device="cpu")
    try:
        busy_heads = _trunk_heads(busy, 2)
        plain = [tfshare.DenseClassifier(runtime=other, seed=i) for i in range(3)]
        heads = _trunk_heads(other, 3)
        entered, release = threading.Event(), threading.Event()
        real_plan = fused._Plan

        def slow_plan(runtime, classifiers, *links):  # a plan of "busy" that takes long to build
            if runtime is busy:
                entered.set()
                release.wait(30)
            return real_plan(runtime, classifiers, *links)

        monkeypatch.setattr(fused, "_Plan", slow_plan)
        builder = threading.Thread(target=lambda: tfshare.predict_many(busy_heads, data.x_test[:1]))
        builder.start()
        assert entered.wait(30)
        results = []
        worker = threading.Thread(
            target=lambda: results.append(
                ([c.predict_proba(data.x_test[:1]) for c in plain], tfshare.predict_many(heads, data.x_test[:2]))
            )
        )
        worker.start()
        worker.join(timeout=30)
        finished = not worker.is_alive()
        release.set()
        join_all([builder, worker])
        assert finished, "a first call or predict_many in one runtime waited for another runtime's build"
        assert len(results) == 1
    finally:
        busy.close()
        other.close()


def test_predict_many_over_several_trunks_and_plain_classifiers_equals_each_predict_proba(runtime, rng):
    # Heads with the same num_classes on different trunks (and a TemplateTrunk)
    # must each read their own trunk's features; plain classifiers of the same
    # num_classes sit beside them. Every result equals that classifier's own
    # predict_proba, in any order of the list.
    shared = tfshare.SharedTrunk(runtime, 12, (8,), seed=0, name="first")
    other = tfshare.SharedTrunk(runtime, 12, (8,), seed=1, name="second")
    template = tfshare.TemplateTrunk(runtime, 12, (6,), seed=2, name="third")
    classifiers = (
        [tfshare.DenseClassifier(trunk=shared, num_classes=3, name=f"a{i}", seed=10 + i) for i in range(3)]
        + [tfshare.DenseClassifier(trunk=other, num_classes=3, name=f"b{i}", seed=20 + i) for i in range(2)]
        + [tfshare.DenseClassifier(trunk=other, num_classes=5, name="b_wide", seed=25)]
        + [tfshare.DenseClassifier(trunk=template, num_classes=3, name=f"c{i}", seed=30 + i) for i in range(2)]
        + [tfshare.DenseClassifier(12, 3, (8,), runtime=runtime, name=f"p{i}", seed=40 + i) for i in range(2)]
    )
    x = rng.normal(0, 2, (7, 12)).astype(np.float32)
    expected = {c.name: c.predict_proba(x) for c in classifiers}
    # The trunks really differ: a head read through the wrong trunk would show.
    assert np.abs(expected["a0"] - tfshare.DenseClassifier(trunk=other, num_classes=3, name="probe", seed=10)
                  .predict_proba(x)).max() > 1e-3
    for order in (classifiers, classifiers[::-1], classifiers[3:] + classifiers[:3]):
        got = tfshare.predict_many(order, x)
        assert list(got) == [c.name for c in order]
        for name, value in got.items():
            np.testing.assert_allclose(value, expected[name], atol=1e-6, err_msg=name)


def test_fused_heads_are_exact_for_logits_far_from_zero(runtime, rng):
    # The fused softmax is max-shifted, as tf.nn.softmax: logits of -1000 or +1000 give
    # the same probabilities as each head's own predict_proba, never 0/0 or inf/inf.
    trunk = tfshare.SharedTrunk(runtime, 6, (5,), seed=0)
    heads = [tfshare.DenseClassifier(trunk=trunk, num_classes=3, name=f"far{i}", seed=i) for i in range(3)]
    for head, shift in zip(heads, (-1000.0, 1000.0, 0.0)):
        weights = head.get_weights()
        weights["head/bias"] = weights["head/bias"] + np.float32(shift) + np.arange(3, dtype=np.float32)
        head.set_weights(weights)
    x = rng.random((4, 6), dtype=np.float32)
    got = tfshare.predict_many(heads, x)
    for head in heads:
        expected = head.predict_proba(x)
        assert np.all(np.isfinite(got[head.name]))
        np.testing.assert_allclose(got[head.name], expected, atol=1e-6)
        np.testing.assert_allclose(got[head.name].sum(axis=1), 1.0, atol=1e-6)


def test_a_head_bank_refreshes_once_per_write_and_needs_an_in_process_runtime(runtime, data):
    heads = _trunk_heads(runtime, 4)
    same = [h for h in heads if h.num_classes == heads[0].num_classes] + [
        tfshare.DenseClassifier(num_classes=heads[0].num_classes, trunk=heads[0].trunk, name="extra", seed=9)]
    bank = head_bank.HeadBank(runtime, heads[0].trunk.output, same)
    assert bank.ensure_fresh() is True  # never copied yet
    assert bank.ensure_fresh() is False  # nothing written since
    same[0].predict_proba(data.x_test[:2])  # a prediction writes nothing
    assert bank.ensure_fresh() is False
    same[0].fit(data.x_train[:8], data.y_train[:8] % same[0].num_classes)
    assert bank.ensure_fresh() is True and bank.ensure_fresh() is False
    with tfshare.GraphSession(device="cpu", target="grpc://localhost:1") as remote:
        with pytest.raises(ValueError, match=r"^a HeadBank needs an in-process runtime, got target 'grpc://localhost:1'$"):
            head_bank.HeadBank(remote, None, [])


def test_a_head_bank_of_one_head_gives_that_heads_probabilities(runtime, rng):
    trunk = tfshare.SharedTrunk(runtime, 6, (5,), seed=0)
    head = tfshare.DenseClassifier(trunk=trunk, num_classes=4, name="alone", seed=1)
    bank = head_bank.HeadBank(runtime, trunk.output, [head])
    assert bank.output.shape.as_list() == [None, 4, 1]
    x = rng.random((3, 6), dtype=np.float32)
    assert bank.ensure_fresh() is True
    block = runtime.run(bank.output, feed_dict={head.input_tensor: x})
    np.testing.assert_allclose(head_bank.split_heads(block)[0], head.predict_proba(x), atol=1e-6)


def test_a_head_bank_refreshed_by_another_thread_while_this_one_waited_is_not_copied_again(runtime):
    trunk = tfshare.SharedTrunk(runtime, 6, (5,), seed=0)
    heads = [tfshare.DenseClassifier(trunk=trunk, num_classes=3, name=f"t{i}", seed=i) for i in range(2)]
    bank = head_bank.HeadBank(runtime, trunk.output, heads)
    copies, refresh = [], bank._refresh
    bank._refresh = lambda: (copies.append(1), refresh())

    class OtherThreadRefreshesFirst:
        # What the lock sees when another thread refreshed the bank between this one's check and its turn.
        def __enter__(self):
            refresh()
            bank._seen = bank._clock.value

        def __exit__(self, *exc):
            return False

    bank._lock = OtherThreadRefreshesFirst()
    assert bank.ensure_fresh() is False and copies == []


def test_the_head_bank_is_made_of_resource_variables_even_when_they_are_not_the_default(runtime, rng):
    trunk = tfshare.SharedTrunk(runtime, 6, (5,), seed=0)
    heads = [tfshare.DenseClassifier(trunk=trunk, num_classes=3, name=f"r{i}", seed=i) for i in range(2)]
    tf1.disable_resource_variables()  # a user's TF1 setting: tf1.Variable would make reference variables
    try:
        bank = head_bank.HeadBank(runtime, trunk.output, heads)
    finally:
        tf1.enable_resource_variables()
    types = {op.name: op.type for op in runtime.graph.get_operations() if op.name.startswith("head_bank/")}
    assert types["head_bank/kernels"] == types["head_bank/biases"] == "VarHandleOp"
    x = rng.random((2, 6), dtype=np.float32)
    bank.ensure_fresh()
    block = runtime.run(bank.output, feed_dict={heads[0].input_tensor: x})
    for head, probabilities in zip(heads, head_bank.split_heads(block)):
        np.testing.assert_allclose(probabilities, head.predict_proba(x), atol=1e-6)


def test_closing_members_one_by_one_frees_the_group_with_the_last(runtime, data):
    a, b, c = (tfshare.DenseClassifier(runtime=runtime, seed=i) for i in range(3))
    a.predict_proba(data.x_test[:1])  # fuses a, b and c; a is served, so no longer a member
    a.close()  # not a member: nothing to leave
    group = fused._first_call_groups.get(runtime)
    assert group is not None and set(group.members) == {b, c}
    b.close()
    assert fused._first_call_groups.get(runtime) is group and list(group.members) == [c]
    c.close()  # the last member: the group and its callable go
    assert fused._first_call_groups.get(runtime) is None
    assert len(runtime._callables) == 0


def test_remembered_lists_are_bounded(runtime, data, monkeypatch):
    monkeypatch.setattr(fused, "_recent", {})
    monkeypatch.setattr(fused, "_RECENT_MAX", 2)
    heads = _trunk_heads(runtime, 3)
    lists = [heads, heads[:2], heads[1:]]
    for i, classifiers in enumerate(lists):
        tfshare.predict_many(classifiers, data.x_test[:2])
        assert len(fused._recent) == (i + 1 if i < 2 else 1)  # full: forgotten, then this one remembered
    assert fused._recent_plan(lists[2]) is fused._plan(runtime, lists[2])
    assert fused._recent_plan(lists[0]) is None


class _Clock:
    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        return self.now


def _timed(clock, calls, name, seconds):
    durations = iter(seconds)

    def fn(*values):
        calls.append(name)
        clock.now += next(durations)
        return [name, values]

    return fn


@pytest.mark.parametrize("inline, pooled, winner", [
    ([5.0] + [1.5] * 7, [5.0] + [1.0] * 7, "pooled"),
    ([0.0] + [1.0] * 7, [0.0] + [2.0] * 7, "inline"),
    ([0.0] + [1.5] * 7, [0.0] + [2.0] * 4 + [0.5] * 3, "inline"),  # by the median, not the mean or the best
    ([0.0] + [1.5] * 7, [100.0] + [1.0] * 4 + [2.0] * 3, "pooled"),  # the first call of each is a warm-up, not counted
    ([0.0] + [1.0] * 7, [0.0] + [1.0] * 7, "inline"),  # a tie keeps the inline callable
], ids=["pooled_faster", "inline_faster", "median", "warm_up", "tie"])
def test_a_trial_alternates_two_callables_and_keeps_the_faster(monkeypatch, inline, pooled, winner):
    clock, calls = _Clock(), []
    monkeypatch.setattr(fused, "time", clock)
    fns = {"inline": _timed(clock, calls, "inline", inline), "pooled": _timed(clock, calls, "pooled", pooled)}
    trial = fused._Trial(fns["inline"], fns["pooled"])
    assert fused._Trial.CALLS == 8
    for i in range(16):
        assert trial.choice is None
        out = trial.run([i, -i])
        assert out == [calls[-1], (i, -i)]  # the called one's result, for the given values
    assert calls == ["inline", "pooled"] * 8
    assert trial.choice is fns[winner]


def test_a_list_seen_before_reuses_its_plan_without_rechecking_and_adds_nothing(runtime, data, monkeypatch):
    trunk = tfshare.SharedTrunk(runtime, 784, (16,), seed=0)
    pair = [tfshare.DenseClassifier(trunk=trunk, num_classes=3, name=f"p{i}", seed=i) for i in range(2)]
    lone = tfshare.DenseClassifier(trunk=trunk, num_classes=4, name="lone", seed=5)
    heads = pair + [lone]
    x = data.x_test[:3]
    expected = tfshare.predict_many(heads, x)
    plan = fused._plan(runtime, heads)
    assert len(plan.banks) == 1  # the two heads of 3 classes share one bank; the lone head of 4 needs none
    ops, n_callables = len(runtime.graph.get_operations()), len(runtime._callables)

    def no_checks(*args, **kwargs):
        raise AssertionError("the arguments of a list seen before were checked again")

    with monkeypatch.context() as m:
        m.setattr(fused, "_check_classifiers", no_checks)
        for same in (heads, tuple(heads)):  # the same objects in the same order
            assert fused._recent_plan(same) is plan
            got = tfshare.predict_many(same, x)
            assert all(np.array_equal(got[k], expected[k]) for k in expected)
    # Another kind of sequence is checked again, and finds the runtime's plan for these names.
    assert fused._recent_plan(collections.UserList(heads)) is None
    got = tfshare.predict_many(collections.UserList(heads), x)
    assert all(np.array_equal(got[k], expected[k]) for k in expected)
    assert fused._plan(runtime, list(heads)) is plan
    assert len(runtime.graph.get_operations()) == ops and len(runtime._callables) == n_callables


@pytest.mark.parametrize("caller_thread", [True, False], ids=["caller_thread", "pool"])
def test_a_plan_of_two_inputs_writes_nothing_and_settles_on_one_callable(data, caller_thread):
    with tfshare.GraphSession(device="cpu", caller_thread=caller_thread) as gs:
        a = tfshare.DenseClassifier(784, 3, (8,), runtime=gs, name="a", seed=0)
        b = tfshare.DenseClassifier(784, 4, (8,), runtime=gs, name="b", seed=1)
        x = data.x_test[:2]
        expected = {c.name: c.predict_proba(x) for c in (a, b)}
        clock = gs.write_clock.value
        for _ in range(2 * fused._Trial.CALLS + 1):  # past the trial's calls, when there is a trial
            got = tfshare.predict_many([a, b], x)
            for name, value in expected.items():
                np.testing.assert_allclose(got[name], value, atol=1e-6)
        plan = fused._plan(gs, [a, b])
        assert plan.n_feeds == 2 and plan._trial is None
        assert gs.write_clock.value == clock  # predictions write nothing: no head bank is refreshed after them


def test_first_calls_up_to_the_row_limit_are_fused_and_a_later_classifier_joins_the_pending_ones(runtime, data):
    a, b, c = (tfshare.DenseClassifier(runtime=runtime, seed=i) for i in range(3))
    x = np.repeat(data.x_test[:1], fused.FIRST_CALL_MAX_ROWS, axis=0)  # exactly the limit: still fused
    a.predict_proba(x)
    assert set(fused._first_call_groups.get(runtime).members) == {b, c}
    b.predict_proba(data.x_test[:1])
    group = fused._first_call_groups.get(runtime)
    assert group is not None and list(group.members) == [c]
    d = tfshare.DenseClassifier(runtime=runtime, seed=3)
    got = d.predict_proba(data.x_test[:2])
    assert len(runtime._callables) == 1  # the new group's: the old group's callable was released
    np.testing.assert_allclose(got, runtime.run(d.probabilities_tensor, {d.input_tensor: data.x_test[:2]}), atol=1e-6)
    group = fused._first_call_groups.get(runtime)
    assert group is not None and list(group.members) == [c]  # a and b had their first calls: not pending again


def test_a_large_first_call_of_the_last_member_releases_the_group(runtime, data):
    a, b = (tfshare.DenseClassifier(runtime=runtime, seed=i) for i in range(2))
    a.predict_proba(data.x_test[:1])  # fuses a and b
    late = tfshare.DenseClassifier(runtime=runtime, seed=2)  # not in the group
    big = np.repeat(data.x_test[:1], fused.FIRST_CALL_MAX_ROWS + 1, axis=0)
    late.predict_proba(big)  # its own callable; the group is left as it is
    assert list(fused._first_call_groups.get(runtime).members) == [b]
    b.predict_proba(big)
    assert fused._first_call_groups.get(runtime) is None
    assert len(runtime._callables) == 2  # late's and b's own: the fused one was released


def test_predict_many_of_cnns_on_an_empty_batch_returns_zero_rows_without_running_them(runtime):
    # oneDNN's Conv2D gives an empty batch its input's shape, so running the CNNs' ops on zero
    # rows fails (measured on TF 2.21's CPU build); predict_many answers an empty batch itself,
    # before and after a plan for the list is remembered.
    cnns = [tfshare.ConvClassifier(runtime=runtime, num_classes=4 + i, name=f"c{i}", seed=i) for i in range(2)]
    empty = np.zeros((0, 28, 28, 1), np.float32)
    for x in (empty, np.ones((2, 28, 28, 1), np.float32), empty):
        got = tfshare.predict_many(cnns, x)
        assert [(name, v.shape, v.dtype) for name, v in got.items()] == [
            ("c0", (len(x), 4), np.float32), ("c1", (len(x), 5), np.float32)
        ]


def test_a_fused_first_call_that_fails_releases_the_group_and_the_caller_gets_its_own_result(
    runtime, data, monkeypatch
):
    # When the group's run fails (as oneDNN's zero-row Conv2D makes it for CNNs), the caller's
    # prediction comes from its own callable, the group's callable is released and later first
    # calls in the runtime are not grouped again.
    members = [tfshare.DenseClassifier(runtime=runtime, seed=i) for i in range(3)]
    x = data.x_test[:3]
    reference = [runtime.run(c.probabilities_tensor, {c.input_tensor: x}) for c in members]
    runtime._callables.clear()

    def fail(group, x, member):
        raise tf1.errors.InvalidArgumentError(None, None, "zero-row Conv2D")

    monkeypatch.setattr(fused._Group, "run", fail)
    try:
        np.testing.assert_allclose(members[0].predict_proba(x), reference[0], atol=1e-6)
        assert runtime in fused._ungroupable and fused._first_call_groups.get(runtime) is None
        assert len(runtime._callables) == 1  # members[0]'s own; the group's is released
        np.testing.assert_allclose(members[1].predict_proba(x), reference[1], atol=1e-6)
        assert len(runtime._callables) == 2 and fused._first_call_groups.get(runtime) is None
    finally:
        fused._ungroupable.discard(runtime)


def test_the_inline_or_pool_trial_ending_in_another_thread_does_not_break_a_call(monkeypatch):
    """Two independent classifiers (two feeds): the plan times the calling thread against the pool over its
    first calls. Another thread may end that trial while this one is inside it: deterministic here, by ending
    it inside the timed call (the plan used to re-read its trial afterwards and hit None)."""
    with tfshare.GraphSession(device="cpu") as gs:
        classifiers = [tfshare.DenseClassifier(8, 3, (4,), runtime=gs, seed=i) for i in range(2)]
        x = np.ones((2, 8), np.float32)
        tfshare.predict_many(classifiers, x)
        plan = fused._recent_plan(classifiers)
        assert plan._trial is not None
        run = fused._Trial.run

        def run_then_end_elsewhere(self, values):
            out = run(self, values)
            plan._trial = None  # what a concurrent call that finished the trial does
            return out

        monkeypatch.setattr(fused._Trial, "run", run_then_end_elsewhere)
        got = tfshare.predict_many(classifiers, x)
        for clf in classifiers:
            np.testing.assert_allclose(got[clf.name], clf.predict_proba(x), atol=1e-6)


def test_a_classifier_reading_anothers_tensor_is_never_fed_over_it():
    """b's logits are a's input (input_tensor=): a first-call group must not feed zero rows over them, and
    predict_many refuses to feed x over them rather than return b's probabilities of x."""
    from tfshare._tf import keras

    with tfshare.GraphSession(device="cpu") as gs:
        b = tfshare.DenseClassifier(3, 3, (4,), runtime=gs, seed=0, name="b")
        a = tfshare.Classifier(layers=lambda: [keras.layers.Dense(4)], input_shape=(3,), num_classes=3,
                               runtime=gs, seed=1, name="a", input_tensor=b.logits_tensor)
        c = tfshare.DenseClassifier(3, 3, (4,), runtime=gs, seed=2, name="c")
        x = np.random.default_rng(0).random((2, 3)).astype(np.float32)
        expected = gs.run(b.probabilities_tensor, {b.input_tensor: x})
        np.testing.assert_allclose(b.predict_proba(x), expected, atol=1e-6)  # its first call, served by a group
        fed = re.escape(b.logits_tensor.name)
        with pytest.raises(tfshare.InputError, match=rf"^classifiers: 'b' computes 'a''s input '{fed}', which "
                                                     r"predict_many would feed with x; call 'a''s predict_proba apart$"):
            tfshare.predict_many([b, a], x)
        got = tfshare.predict_many([a, c], x)  # a's input is fed, but nothing else in the list computes it
        np.testing.assert_allclose(got["a"], a.predict_proba(x), atol=1e-6)
        np.testing.assert_allclose(tfshare.predict_many([b, c], x)["b"], expected, atol=1e-6)


def test_predict_many_after_finalize_says_which_call_to_make_first(runtime):
    trunk = tfshare.SharedTrunk(runtime, 784, (8,), seed=0)
    heads = [tfshare.DenseClassifier(num_classes=3, trunk=trunk, name=f"h{i}", seed=i) for i in range(3)]
    x = np.ones((2, 784), np.float32)
    used = tfshare.predict_many(heads[:2], x)  # built before finalize: keeps working
    runtime.finalize()
    np.testing.assert_allclose(tfshare.predict_many(heads[:2], x)["h0"], used["h0"], atol=1e-6)
    with pytest.raises(RuntimeError, match=r"predict_many builds fused ops for a new list of heads of one trunk, but "
                                           r"GraphSession\(.*\) was finalized: call predict_many once with each list "
                                           r"you will use before finalize\(\)$"):
        tfshare.predict_many(heads, x)


def test_members_reading_one_computed_tensor_are_fed_alike_and_fused():
    """Heads of a trunk whose input is a computed tensor, and two classifiers reading one other classifier's
    logits: each list is fed consistently (every member reads the fed tensor itself), so it is not refused."""
    from tfshare._tf import keras, tf, tf1

    with tfshare.GraphSession(device="cpu") as gs:
        with gs.building():
            p = tf1.placeholder(tf.float32, [None, 6], name="p")
            scaled = tf.identity(p * 2.0, name="scaled")
        trunk = tfshare.SharedTrunk(gs, 6, (4,), seed=0, input_tensor=scaled)
        heads = [tfshare.DenseClassifier(num_classes=3, trunk=trunk, name=f"h{i}", seed=i) for i in range(2)]
        x = np.random.default_rng(0).random((2, 6)).astype(np.float32)
        firsts = [h.predict_proba(x) for h in heads]  # first calls, served together
        got = tfshare.predict_many(heads, x)
        for h, first in zip(heads, firsts):
            expected = gs.run(h.probabilities_tensor, {scaled: x})
            np.testing.assert_allclose(first, expected, atol=1e-6)
            np.testing.assert_allclose(got[h.name], expected, atol=1e-6)
        b = tfshare.DenseClassifier(3, 3, (4,), runtime=gs, seed=0, name="b")
        readers = [tfshare.Classifier(layers=lambda: [keras.layers.Dense(4)], input_shape=(3,), num_classes=3,
                                      runtime=gs, seed=i, name=f"r{i}", input_tensor=b.logits_tensor) for i in range(2)]
        x3 = x[:, :3]
        got = tfshare.predict_many(readers, x3)
        for r in readers:
            np.testing.assert_allclose(got[r.name], r.predict_proba(x3), atol=1e-6)
        with pytest.raises(tfshare.InputError, match=r"^classifiers: 'b' computes 'r0''s input"):
            tfshare.predict_many([*readers, b], x3)
