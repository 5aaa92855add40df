"""predict_many over several independent classifiers: the calling thread or the inter-op pool, same answers."""

from __future__ import annotations

import numpy as np

import tfshare
from tfshare import fused


def test_a_plan_of_independent_classifiers_tries_both_and_keeps_one(runtime, rng):
    classifiers = [tfshare.DenseClassifier(16, 3, (8,), runtime=runtime, seed=i) for i in range(3)]
    x = rng.random((4, 16), dtype=np.float32)
    expected = {c.name: c.predict_proba(x) for c in classifiers}
    for _ in range(2 * fused._Trial.CALLS + 2):
        got = tfshare.predict_many(classifiers, x)
        for name, value in expected.items():
            np.testing.assert_allclose(got[name], value, atol=1e-6)
    plan = fused._recent_plan(classifiers)
    assert plan._trial is None  # settled
    inline = {k[4]: v for k, v in runtime._callables.items() if k[1] == tuple(t.name for t in plan.fn.fetches)}
    assert set(inline) == {True, False} and plan.fn in inline.values()


def test_one_input_never_leaves_the_calling_thread(runtime, rng):
    trunk = tfshare.SharedTrunk(runtime, 16, (8,))
    heads = [tfshare.DenseClassifier(trunk=trunk, num_classes=3, name=f"h{i}") for i in range(3)]
    tfshare.predict_many(heads, rng.random((2, 16), dtype=np.float32))
    plan = fused._recent_plan(heads)
    assert plan._trial is None and all(k[4] for k in runtime._callables)
