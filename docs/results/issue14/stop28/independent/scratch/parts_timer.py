"""Where a sharded live-pattern classifier's time goes, by part, with perf_counter wrappers (no profiler).
  PYTHONPATH=<tree> python parts_timer.py N OUT.json
Wraps TF's pywrap calls (ExtendSession, TF_SessionMakeCallable, TF_SessionRunCallable, import_graph_def),
InitialValues.feeds, GraphSession._own_initializable; reports medians per k-window."""
import collections, json, os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tfshare
from tensorflow.python.client import session as tfsession
from tfshare import initial_values as iv, runtime as rt
N, out = int(sys.argv[1]), sys.argv[2]
acc = collections.defaultdict(float)
def wrap(obj, name, label):
    f = getattr(obj, name)
    def w(*a, **k):
        t = time.perf_counter()
        try: return f(*a, **k)
        finally: acc[label] += time.perf_counter() - t
    setattr(obj, name, w)
ts = tfsession.tf_session
for n in ("ExtendSession", "TF_SessionMakeCallable", "TF_SessionRunCallable", "TF_NewSessionRef"):
    wrap(ts, n, n)
wrap(iv.InitialValues, "feeds", "feeds")
wrap(rt.GraphSession, "_own_initializable", "own_initializable")
wrap(rt.GraphSession, "reserve_name", "reserve_name")
x = np.random.default_rng(0).random((1, 784), np.float32)
g = tfshare.GraphSession(); c = tfshare.DenseClassifier(784, 10, runtime=g, seed=10**6); g.initialize(); c.predict_proba(x); g.close()
gs = tfshare.GraphSession(); keep = []; rows = []
for k in range(N):
    acc.clear(); snap = {}
    t0 = time.perf_counter(); clf = tfshare.DenseClassifier(784, 10, runtime=gs, seed=k)
    t1 = time.perf_counter(); snap["build"] = dict(acc); acc.clear()
    gs.initialize(); t2 = time.perf_counter(); snap["init"] = dict(acc); acc.clear()
    clf.predict_proba(x); t3 = time.perf_counter(); snap["predict"] = dict(acc)
    rows.append({"k": k, "build": t1 - t0, "init": t2 - t1, "predict": t3 - t2, "parts": snap})
    keep.append(clf)
print("load", open("/proc/loadavg").read().split()[:3], "shards", len(gs.shards))
for lo, hi in ((0, 100), (N // 2 - 50, N // 2 + 50), (N - 100, N)):
    w = rows[lo:hi]
    print(f"k {lo}-{hi}:")
    for part in ("build", "init", "predict"):
        labels = sorted({l for r in w for l in r["parts"][part]})
        sub = "  ".join(f"{l} {np.median([r['parts'][part].get(l, 0) for r in w]) * 1e3:.3f}" for l in labels)
        print(f"  {part:8s} {np.median([r[part] for r in w]) * 1e3:6.3f} ms | {sub}")
json.dump(rows, open(out, "w"))
