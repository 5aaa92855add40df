"""Stop 27: predict_many's Python alone (the TF callables replaced by stubs returning saved arrays).

pm: predict_many as shipped; pm_lean: plan.run without the trial/feed/order checks and split_heads call;
pm_leaner: also the raw TF callable instead of the FastCallable (not adoptable: a plan must not hold the
Session after close, tests/test_fused.py); floor: lookup + validation + views only; pp: one head's predict_proba.
Microseconds, 10th percentile and median of 60 interleaved values.
"""
import timeit, numpy as np, tfshare, sys, random
from tfshare import fused, validation
from tfshare._tf import tf
from tfshare.errors import ClosedError
gs = tfshare.GraphSession()
trunk = tfshare.SharedTrunk(gs, 784, (64,), seed=0)
heads = [tfshare.Classifier(trunk=trunk, num_classes=10, name=f"h{i}", seed=i) for i in range(32)]
x = np.random.default_rng(0).random((32, 784), dtype=np.float32)
tfshare.predict_many(heads, x); heads[0].predict_proba(x); heads[0].predict_proba(x)
plan = fused._recent_plan(heads)
blk = plan.fn(x)[0]
stubraw = lambda *a: [blk]
plan.fn._fn = stubraw
one = heads[0]._proba_fn(x)[0]; heads[0]._proba_fn = lambda *a: [one]
names = plan.names; rp = fused._recent_plan; inp = validation.inputs
def lean_run(x):
    for bank in plan.banks:
        bank.ensure_fresh()
    return dict(zip(names, plan.fn(x)[0].transpose(2, 0, 1)))
def leaner_run(x):
    for bank in plan.banks:
        bank.ensure_fresh()
    try:
        return dict(zip(names, stubraw(x)[0].transpose(2, 0, 1)))
    except tf.errors.CancelledError:
        raise
def pm_lean():
    p = rp(heads); y = inp(x, p.input_shape)
    if y.shape[0]: return lean_run(y)
def pm_leaner():
    p = rp(heads); y = inp(x, p.input_shape)
    if y.shape[0]: return leaner_run(y)
def floor():
    p = rp(heads); y = inp(x, p.input_shape); return dict(zip(names, stubraw(y)[0].transpose(2, 0, 1)))
fns = dict(pm=lambda: tfshare.predict_many(heads, x), pm_lean=pm_lean, pm_leaner=pm_leaner, floor=floor, pp=lambda: heads[0].predict_proba(x))
res = {k: [] for k in fns}
for r in range(60):
    for k in random.sample(list(fns), len(fns)):
        res[k].append(timeit.timeit(fns[k], number=300) / 300 * 1e6)
print(" | ".join(f"{k} p10 {np.percentile(v, 10):.2f} med {np.median(v):.2f}" for k, v in res.items()))
