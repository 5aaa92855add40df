"""What a new run signature costs vs the graph's size: one graph (shard_size=None) of n MLPs; for the next
classifiers built into it, the init callable's and first predict's TF_SessionMakeCallable (+ExtendSession) time.
  PYTHONPATH=<tree> python sig_curve.py OUT.json
"""
import collections, json, os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tfshare
from tensorflow.python.client import session as tfsession
acc = collections.defaultdict(float)
ts = tfsession.tf_session
for n in ("ExtendSession", "TF_SessionMakeCallable", "TF_SessionRunCallable"):
    f = getattr(ts, n)
    def w(*a, _f=f, _n=n, **k):
        t = time.perf_counter()
        try: return _f(*a, **k)
        finally: acc[_n] += time.perf_counter() - t
    setattr(ts, n, w)
x = np.random.default_rng(0).random((1, 784), np.float32)
res = {}
for n in (1, 2, 4, 8, 16, 32, 64):
    vals = {"init_make": [], "predict_make": [], "extend": [], "init_total": [], "predict_total": [], "ops": []}
    for rep in range(3):
        gs = tfshare.GraphSession(shard_size=None)
        keep = []
        for k in range(n + 8):
            clf = tfshare.DenseClassifier(784, 10, runtime=gs, seed=k)
            acc.clear(); t = time.perf_counter(); gs.initialize(); ti = time.perf_counter() - t
            a = dict(acc); acc.clear(); t = time.perf_counter(); clf.predict_proba(x); tp = time.perf_counter() - t
            if k >= n:
                vals["init_make"].append(a.get("TF_SessionMakeCallable", 0)); vals["extend"].append(a.get("ExtendSession", 0))
                vals["predict_make"].append(acc.get("TF_SessionMakeCallable", 0))
                vals["init_total"].append(ti); vals["predict_total"].append(tp); vals["ops"].append(gs.graph.version)
            keep.append(clf)
        gs.close()
    res[n] = {key: float(np.median(v)) for key, v in vals.items()}
    print(n, {key: round(v * 1e3, 3) if key != "ops" else v for key, v in res[n].items()}, flush=True)
json.dump({"load": open("/proc/loadavg").read().split()[:3], "curve": res}, open(sys.argv[1], "w"))
