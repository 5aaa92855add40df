"""A template copy's build time with the devices set after the import (this branch) and with a device scope per op
in import_graph_def (before: the template's devices restored into its NodeDefs), alternating, in one process.
  PYTHONPATH=<tree with the change> python copy_cost.py N"""
import os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tfshare
from tfshare import graph_template
N = int(sys.argv[1])
rts = {"after import (branch)": tfshare.GraphSession(shard_size=None), "scope per op (before)": tfshare.GraphSession(shard_size=None)}
for gs in rts.values():
    tfshare.DenseClassifier(784, 10, runtime=gs, seed=0); tfshare.DenseClassifier(784, 10, runtime=gs, seed=1)
t = list(graph_template._templates[rts["scope per op (before)"]].values())[0]
for node in t._graph_def.node:
    if node.name in t._devices:
        node.device = t._devices[node.name]
t._devices = {}
res = {k: [] for k in rts}
for i in range(N):
    for k, gs in (list(rts.items()) if i % 2 else list(rts.items())[::-1]):
        t0 = time.perf_counter(); tfshare.DenseClassifier(784, 10, runtime=gs, seed=i + 2); res[k].append(time.perf_counter() - t0)
for k, v in res.items():
    print(f"{k:24s} build median {np.median(v)*1e3:.2f} ms (IQR {np.percentile(v,25)*1e3:.2f}-{np.percentile(v,75)*1e3:.2f})")
print("ratio", np.median(res["after import (branch)"]) / np.median(res["scope per op (before)"]), "load", open("/proc/loadavg").read().split()[:3])
