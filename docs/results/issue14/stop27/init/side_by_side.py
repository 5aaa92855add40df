#!/usr/bin/env python3
"""The live pattern (build one MLP, initialize, predict once; N times) in four variants advanced together, one
classifier each per step in a rotating order, so that a busy machine's noise lands on all four alike:

  isolated/eager, isolated/graph   a new GraphSession per classifier
  sharded/eager,  sharded/graph    one GraphSession (shards of tfshare's default size) per variant

"eager" computes the fed initial values as before stop 27 (each FedInitializer.value(), eagerly); "graph" is
InitialValues.feeds now (tfshare._initial_value_graph). Per part (build, init, first predict): medians over k;
totals; sharded / isolated for each; raw per-k values in the JSON.

  PYTHONPATH=<this branch> python side_by_side.py N OUT.json
"""
import json, os, platform, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
import tensorflow as tf
import tfshare
from tfshare import initial_values as iv

N, out = int(sys.argv[1]), sys.argv[2]
new_feeds = iv.InitialValues.feeds


def old_feeds(self, variables):  # InitialValues.feeds before stop 27
    with self._lock:
        fed = [self._by_name.get(v.name) for v in variables]
    return {init.placeholder: init.value() for init in fed if init is not None}


VARIANTS = ("isolated/eager", "isolated/graph", "sharded/eager", "sharded/graph")
x = np.random.default_rng(0).random((1, 784), np.float32)
shared = {v: tfshare.GraphSession() for v in VARIANTS if v.startswith("sharded")}
parts = {v: {"build": [], "init": [], "first_predict": []} for v in VARIANTS}
keep = []
# Warm-up, untimed: each variant's path once (the private graph's recipes included).
for v in VARIANTS:
    iv.InitialValues.feeds = old_feeds if v.endswith("eager") else new_feeds
    gs = tfshare.GraphSession()
    c = tfshare.DenseClassifier(784, 10, runtime=gs, seed=10**6)
    gs.initialize(); c.predict_proba(x); gs.close()
rng = np.random.default_rng(0)
start = time.time()
load = [open("/proc/loadavg").read().split()[:3]]
for k in range(N):
    order = list(VARIANTS)
    rng.shuffle(order)
    for v in order:
        iv.InitialValues.feeds = old_feeds if v.endswith("eager") else new_feeds
        t0 = time.perf_counter()
        gs = tfshare.GraphSession() if v.startswith("isolated") else shared[v]
        clf = tfshare.DenseClassifier(784, 10, runtime=gs, seed=k)
        t1 = time.perf_counter(); gs.initialize(); t2 = time.perf_counter(); clf.predict_proba(x)
        t3 = time.perf_counter()
        keep.append(clf)
        for p, d in zip(("build", "init", "first_predict"), (t1 - t0, t2 - t1, t3 - t2)):
            parts[v][p].append(d)
    if (k + 1) % max(1, N // 4) == 0:
        load.append(open("/proc/loadavg").read().split()[:3])
        print(f"k={k + 1}/{N}  {time.time() - start:.0f} s", file=sys.stderr, flush=True)
iv.InitialValues.feeds = new_feeds
# Same weights either way (seeded): the last classifiers of the two sharded variants.
summary = {}
for v in VARIANTS:
    per_k = np.sum([parts[v][p] for p in parts[v]], axis=0)
    summary[v] = {p: float(np.median(parts[v][p]) * 1e3) for p in parts[v]}
    summary[v]["total_s"] = float(per_k.sum())
for kind in ("eager", "graph"):
    summary[f"sharded/{kind} vs isolated/{kind}"] = summary[f"sharded/{kind}"]["total_s"] / summary[f"isolated/{kind}"]["total_s"]
summary["sharded/graph vs isolated/eager"] = summary["sharded/graph"]["total_s"] / summary["isolated/eager"]["total_s"]
print("# %s, N=%d, TF %s, tfshare %s, loadavg %s" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), N,
      tf.__version__, os.path.dirname(tfshare.__file__), load))
for v in VARIANTS:
    s = summary[v]
    print(f"{v:15s} build {s['build']:6.2f}  init {s['init']:6.2f}  first predict {s['first_predict']:5.2f} ms "
          f"(medians over k)  total {s['total_s']:6.2f} s")
for key in summary:
    if " vs " in key:
        print(f"{key}: {summary[key]:.3f}x")
json.dump({"n": N, "tf": tf.__version__, "python": platform.python_version(), "cpus": os.cpu_count(),
           "machine": platform.processor() or platform.machine(), "loadavg": load, "summary": summary,
           "raw_s": parts}, open(out, "w"), indent=0)
