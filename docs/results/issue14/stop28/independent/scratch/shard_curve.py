"""Live pattern (build one MLP, initialize, predict once) in one sharded runtime per shard size, advanced together
one classifier each per step in a shuffled order, plus isolated runtimes. Totals and medians of parts.
  PYTHONPATH=<tree> python shard_curve.py N SIZES OUT.json      (SIZES like 1,2,4,8,16)
"""
import json, os, platform, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf, tfshare
N, sizes, out = int(sys.argv[1]), [int(s) for s in sys.argv[2].split(",")], sys.argv[3]
x = np.random.default_rng(0).random((1, 784), np.float32)
variants = ["isolated"] + [f"shard_size={s}" for s in sizes]
shared = {f"shard_size={s}": tfshare.GraphSession(shard_size=s) for s in sizes}
g = tfshare.GraphSession(); c = tfshare.DenseClassifier(784, 10, runtime=g, seed=10**6); g.initialize(); c.predict_proba(x); g.close()
parts = {v: {"build": [], "init": [], "first_predict": []} for v in variants}
keep, rng = [], np.random.default_rng(0)
load = [open("/proc/loadavg").read().split()[:3]]
for k in range(N):
    order = list(variants); rng.shuffle(order)
    for v in order:
        t0 = time.perf_counter()
        gs = tfshare.GraphSession() if v == "isolated" else shared[v]
        clf = tfshare.DenseClassifier(784, 10, runtime=gs, seed=k)
        t1 = time.perf_counter(); gs.initialize(); t2 = time.perf_counter(); clf.predict_proba(x); t3 = time.perf_counter()
        keep.append(clf)
        for p, d in zip(("build", "init", "first_predict"), (t1 - t0, t2 - t1, t3 - t2)):
            parts[v][p].append(d)
    if (k + 1) % max(1, N // 4) == 0:
        load.append(open("/proc/loadavg").read().split()[:3])
summary = {}
iso = sum(sum(v) for v in parts["isolated"].values())
for v in variants:
    tot = sum(sum(p) for p in parts[v].values())
    summary[v] = {p: float(np.median(parts[v][p]) * 1e3) for p in parts[v]}
    summary[v].update(total_s=tot, vs_isolated=tot / iso)
    s = summary[v]
    print(f"{v:15s} build {s['build']:6.2f} init {s['init']:6.2f} predict {s['first_predict']:5.2f} ms  total {tot:6.2f} s  {tot/iso:.3f}x")
print("load", load)
json.dump({"n": N, "tf": tf.__version__, "python": platform.python_version(), "load": load, "summary": summary,
           "raw": parts, "tree": os.path.dirname(tfshare.__file__)}, open(out, "w"))
