"""cProfile of a trunk's heads in the live pattern (build, initialize, predict once), heads FROM..TO of N.

  python heads_profile.py N FROM [MODEL]
"""
import cProfile
import pstats
import sys
import time

import numpy as np

import tfshare
from tfshare.bench import models

n, start = int(sys.argv[1]), int(sys.argv[2])
model = models.model(sys.argv[3] if len(sys.argv) > 3 else "mlp")
x = models.random_inputs(model, 1, np.random.default_rng(0))
gs = tfshare.GraphSession(device="cpu")
trunk = model.shared_trunk(gs, seed=0)
keep = []


def live(k):
    clf = model.head(trunk, 10, seed=k)
    clf.runtime.initialize()
    clf.predict_proba(x)
    keep.append(clf)


for k in range(1, start):
    live(k)
prof = cProfile.Profile()
t = time.perf_counter()
prof.enable()
for k in range(start, n + 1):
    live(k)
prof.disable()
t = time.perf_counter() - t
print(f"heads {start}..{n}: {t:.3f} s, {1e3 * t / (n - start + 1):.2f} ms per head; shards {len(gs.shards)}")
stats = pstats.Stats(prof)
stats.sort_stats("tottime").print_stats(18)
stats.sort_stats("cumulative").print_stats(r"tfshare/(?!bench)", 30)
