"""The live pattern (build, initialize, predict once) of isolated classifiers and of heads on one trunk,
interleaved per k in one process, so both see the same load at every k: the heads' total against
isolated's, and the k-th head against the 10th, on a machine whose load moves.

  python interleaved_live.py MODEL N OUT.json

Per k: one isolated classifier (a GraphSession of its own), then one head; the order alternates with k.
Writes the per-k seconds of both, with the machine's load at the start and the end.
"""
import json
import os
import platform
import sys
import time

import numpy as np

import tfshare
from tfshare.bench import models

name, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
model = models.model(name)
x = models.random_inputs(model, 1, np.random.default_rng(0))
load_start = os.getloadavg()
# Warm-up (untimed): one-off process costs of both paths.
warm = tfshare.GraphSession(device="cpu")
wt = model.shared_trunk(warm, seed=1)
for k in range(2):
    model.head(wt, 10, seed=k).predict_proba(x)
    model.classifier(10, runtime=tfshare.GraphSession(device="cpu"), seed=k).predict_proba(x)
warm.close()

shared = tfshare.GraphSession(device="cpu")
trunk = model.shared_trunk(shared, seed=0)
keep = []
times = {"isolated": [], "heads": []}


def live(kind, k):
    start = time.perf_counter()
    if kind == "heads":
        clf = model.head(trunk, 10, seed=k)
    else:
        clf = model.classifier(10, runtime=tfshare.GraphSession(device="cpu"), seed=k)
    clf.runtime.initialize()
    clf.predict_proba(x)
    times[kind].append(time.perf_counter() - start)
    keep.append(clf)


for k in range(1, n + 1):
    for kind in (("isolated", "heads") if k % 2 else ("heads", "isolated")):
        live(kind, k)
med = lambda v, a, b: float(np.median(v[a - 1:b]))  # noqa: E731
iso, heads = np.array(times["isolated"]), np.array(times["heads"])
summary = {
    "total_isolated_s": float(iso.sum()), "total_heads_s": float(heads.sum()),
    "heads_vs_isolated": float(heads.sum() / iso.sum()),
    "head_k10_s": med(heads, 6, 15), "head_last_s": med(heads, n - 19, n),
    "head_last_vs_10th": med(heads, n - 19, n) / med(heads, 6, 15),
    "mirrors": len(trunk._mirrors), "shards": len(shared.shards),
}
doc = {"model": name, "n": n, "summary": summary, "times": times, "load_start": load_start,
       "load_end": os.getloadavg(), "tf": tfshare.TF_VERSION, "python": platform.python_version(),
       "tfshare_path": os.path.dirname(tfshare.__file__)}
with open(out, "w") as f:
    json.dump(doc, f)
print(json.dumps({"n": n, "tree": os.path.dirname(tfshare.__file__), **summary}))
