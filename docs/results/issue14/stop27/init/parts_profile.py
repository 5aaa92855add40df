#!/usr/bin/env python3
"""Where a classifier's time goes in the live pattern (build one, initialize, predict once; N times), in one
sharded runtime or in isolated runtimes: build / init / first predict, and inside them the fed initial values
(InitialValues.feeds), ExtendSession, and TF_SessionMakeCallable without the extension. Medians in ms.
Stop 25's extra/sharded_parts.py with the extension timed apart.

  PYTHONPATH=<tree> python parts_profile.py N shared|isolated
"""
import os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
import tfshare
from tfshare import initial_values as iv
from tensorflow.python.client import session as tfsess

N, mode = int(sys.argv[1]), sys.argv[2]
acc = {}


def wrap(obj, name, key):
    f = getattr(obj, name)

    def w(*a, **k):
        t = time.perf_counter()
        try:
            return f(*a, **k)
        finally:
            acc.setdefault(key, []).append(time.perf_counter() - t)
    setattr(obj, name, w)


wrap(iv.InitialValues, "feeds", "init_values")
wrap(tfsess.BaseSession, "_extend_graph", "extend")
wrap(tfsess.BaseSession._Callable, "__init__", "make_callable")
x = np.random.default_rng(0).random((1, 784), np.float32)
shared = None if mode == "isolated" else tfshare.GraphSession()
steps = (  # each part of one classifier's live pattern, timed as it runs
    ("build", lambda k, _: tfshare.DenseClassifier(784, 10, runtime=shared or tfshare.GraphSession(), seed=k)),
    ("init", lambda _, clf: clf.runtime.initialize()),
    ("pred", lambda _, clf: clf.predict_proba(x)),
)
tot = {name: [] for name, _ in steps}
keep = []
for k in range(N):
    clf = None
    for name, step in steps:
        t = time.perf_counter()
        result = step(k, clf)
        tot[name].append(time.perf_counter() - t)
        clf = result if name == "build" else clf
    keep.append(clf)
print("# %s, tfshare from %s, N=%d, %s, loadavg %s" % (
    time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), os.path.dirname(tfshare.__file__), N, mode,
    open("/proc/loadavg").read().split()[:3]))
for p, v in list(tot.items()) + list(acc.items()):
    v = np.array(v) * 1e3
    print("%-14s n=%4d median %.2f  (IQR %.2f-%.2f) ms  sum %.2f s" % (
        p, len(v), np.median(v), np.percentile(v, 25), np.percentile(v, 75), v.sum() / 1e3))
