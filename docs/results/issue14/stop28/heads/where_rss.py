"""Where a head's RSS goes: N heads on one trunk in the live pattern, stopped after a stage, one process per run.

  python where_rss.py MODEL N STAGE [python]      STAGE: build | init | predict
With "python", tracemalloc runs too and gives Python's share; its own records then inflate the RSS,
so the RSS figures come from runs without it.
Prints one JSON line: RSS added per head (after a 50-head warm-up, each head kept), Python's own share
(tracemalloc), the shards and mirrors, and the graph ops.
"""
import gc
import json
import sys
import tracemalloc

import numpy as np
import psutil

import tfshare
from tfshare.bench import models

name, n, stage = sys.argv[1], int(sys.argv[2]), sys.argv[3]
model = models.model(name)
x = models.random_inputs(model, 1, np.random.default_rng(0))
proc = psutil.Process()
gs = tfshare.GraphSession(device="cpu")
trunk = model.shared_trunk(gs, seed=0)
keep = []


def one(k):
    clf = model.head(trunk, 10, seed=k)
    if stage in ("init", "predict"):
        clf.runtime.initialize()
    if stage == "predict":
        clf.predict_proba(x)
    keep.append(clf)


for k in range(50):
    one(k)
gc.collect()
TRACE = sys.argv[-1] == "python"
if TRACE:
    tracemalloc.start()
py0 = (tracemalloc.get_traced_memory()[0] if TRACE else 0)
rss0 = proc.memory_info().rss
for k in range(50, 50 + n):
    one(k)
gc.collect()
rss1 = proc.memory_info().rss
py1 = (tracemalloc.get_traced_memory()[0] if TRACE else 0)
print(json.dumps({"model": name, "n": n, "stage": stage, "rss_per_head_kib": round((rss1 - rss0) / n / 1024, 1),
                  "python_per_head_kib": round((py1 - py0) / n / 1024, 1), "shards": len(gs.shards),
                  "mirrors": len(trunk._mirrors), "ops": sum(s.graph.version for s in gs.shards)}))
