"""RSS of one trunk mirror: N mirrors of one trunk made back to back (no heads), one process.

  python mirror_rss.py MODEL N [python]
With "python", tracemalloc runs too and gives Python's share; its own records then inflate the RSS,
so the RSS figures come from runs without it.
Prints one JSON line: RSS added per mirror (after 3 made first), Python's share (tracemalloc), the trunk's bytes.
"""
import gc
import json
import sys
import tracemalloc

import psutil

import tfshare
from tfshare import mirrors
from tfshare.bench import models

name, n = sys.argv[1], int(sys.argv[2])
model = models.model(name)
proc = psutil.Process()
gs = tfshare.GraphSession(device="cpu")
trunk = model.shared_trunk(gs, seed=0)
gs.initialize()
mirrors.HEAD_OPS = 0  # every placement opens a new mirror
for _ in range(3):
    mirrors.host(trunk)
gc.collect()
TRACE = sys.argv[-1] == "python"
if TRACE:
    tracemalloc.start()
py0, rss0 = (tracemalloc.get_traced_memory()[0] if TRACE else 0), proc.memory_info().rss
for _ in range(n):
    mirrors.host(trunk)
gc.collect()
py1, rss1 = (tracemalloc.get_traced_memory()[0] if TRACE else 0), proc.memory_info().rss
nbytes = sum(v.shape.num_elements() * v.dtype.size for v in trunk.variables)
print(json.dumps({"model": name, "n": n, "rss_per_mirror_kib": round((rss1 - rss0) / n / 1024, 1),
                  "python_per_mirror_kib": round((py1 - py0) / n / 1024, 1), "trunk_kib": round(nbytes / 1024, 1),
                  "mirrors": len(trunk._mirrors), "ops_per_mirror": trunk._mirrors[-1].shard.graph.version}))
