"""What one trunk mirror costs to build: python mirror_cost.py MODEL N

Builds N mirrors of a trunk back to back (tfshare.mirrors.host with the head budget at 0, so each call opens one)
and prints the median, the mirror's ops and about how many heads of 18 ops share one under the default budget.
Compare with a mirrored head's own cost measured at the same time (the machine is shared).
"""
import json
import sys
import time

import numpy as np

import tfshare
from tfshare import mirrors
from tfshare.bench import models

name, n = sys.argv[1], int(sys.argv[2])
model = models.model(name)
gs = tfshare.GraphSession(device="cpu")
trunk = model.shared_trunk(gs, seed=0)
gs.initialize()
budget, mirrors.HEAD_OPS = mirrors.HEAD_OPS, 0
times = []
for _ in range(n):
    t = time.perf_counter()
    mirrors.host(trunk)
    times.append(time.perf_counter() - t)
ops = trunk._mirrors[-1].shard.graph.version
print(json.dumps({"model": name, "n": n, "mirror_ms_median": round(1e3 * float(np.median(times)), 2),
                  "mirror_ms": [round(1e3 * s, 2) for s in times], "mirror_ops": ops,
                  "heads_per_mirror_approx": -(-(budget - ops) // 18)}))
