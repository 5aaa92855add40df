#!/usr/bin/env python3
"""The live pattern (build one MLP, initialize, predict once; N times) in three variants advanced together, one
classifier each per step in a shuffled order, so that a busy machine's load lands on all alike:

  isolated        a new GraphSession per classifier
  main-like       one GraphSession(shard_size=16), every shard's variables scanned at each initialize() and each
                  default name searched from suffix 0 (main's behaviour before this branch, emulated in this process:
                  each shard's ``_initialized_at`` reset and ``_name_suffixes`` cleared before each classifier)
  branch          one GraphSession() with this branch's defaults (8 per shard, no rescans)

Per part (build, init, first predict): medians over k; totals; each vs isolated; raw per-k values in the JSON.

  PYTHONPATH=<this branch> python side_by_side.py N OUT.json
"""
import json, os, platform, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
import tensorflow as tf
import tfshare

N, out = int(sys.argv[1]), sys.argv[2]
VARIANTS = ("isolated", "main-like", "branch")
x = np.random.default_rng(0).random((1, 784), np.float32)
shared = {"main-like": tfshare.GraphSession(shard_size=16), "branch": tfshare.GraphSession()}
g = tfshare.GraphSession(); c = tfshare.DenseClassifier(784, 10, runtime=g, seed=10**6); g.initialize(); c.predict_proba(x); g.close()
parts = {v: {"build": [], "init": [], "first_predict": []} for v in VARIANTS}
keep, rng, outs = [], np.random.default_rng(0), {v: [] for v in VARIANTS}
start, load = time.time(), [open("/proc/loadavg").read().split()[:3]]
for k in range(N):
    order = list(VARIANTS)
    rng.shuffle(order)
    for v in order:
        if v == "main-like":
            gs = shared[v]
            gs._name_suffixes.clear()
            for shard in gs.shards:
                shard._initialized_at = None
        t0 = time.perf_counter()
        gs = tfshare.GraphSession() if v == "isolated" else shared[v]
        clf = tfshare.DenseClassifier(784, 10, runtime=gs, seed=k)
        t1 = time.perf_counter(); gs.initialize(); t2 = time.perf_counter(); p = clf.predict_proba(x)
        t3 = time.perf_counter()
        keep.append(clf)
        if k % 97 == 0:
            outs[v].append(p)
        for part, d in zip(("build", "init", "first_predict"), (t1 - t0, t2 - t1, t3 - t2)):
            parts[v][part].append(d)
    if (k + 1) % max(1, N // 4) == 0:
        load.append(open("/proc/loadavg").read().split()[:3])
        print(f"k={k + 1}/{N}  {time.time() - start:.0f} s", file=sys.stderr, flush=True)
same = all(np.array_equal(a, b) and np.array_equal(a, c) for a, b, c in zip(*outs.values()))
summary = {}
for v in VARIANTS:
    per_k = np.sum([parts[v][p] for p in parts[v]], axis=0)
    summary[v] = {p: float(np.median(parts[v][p]) * 1e3) for p in parts[v]}
    summary[v]["total_s"] = float(per_k.sum())
    summary[v]["k10_ms"] = float(np.median(per_k[5:15]) * 1e3)
    summary[v]["klast_ms"] = float(np.median(per_k[-10:]) * 1e3)
for v in VARIANTS:
    summary[v]["vs_isolated"] = summary[v]["total_s"] / summary["isolated"]["total_s"]
print("# %s, N=%d, TF %s, tfshare %s, loadavg %s, same predictions in every variant: %s" % (
    time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), N, tf.__version__, os.path.dirname(tfshare.__file__), load, same))
for v in VARIANTS:
    s = summary[v]
    print(f"{v:10s} build {s['build']:6.2f}  init {s['init']:6.2f}  first predict {s['first_predict']:5.2f} ms (medians over k)"
          f"  total {s['total_s']:6.2f} s  {s['vs_isolated']:.3f}x isolated  k~10 {s['k10_ms']:.1f} ms  k~{N} {s['klast_ms']:.1f} ms")
print(f"branch / main-like: {summary['branch']['total_s'] / summary['main-like']['total_s']:.3f}x")
json.dump({"n": N, "tf": tf.__version__, "python": platform.python_version(), "cpus": os.cpu_count(), "load": load,
           "same_predictions": same, "summary": summary, "raw_s": parts}, open(out, "w"))
