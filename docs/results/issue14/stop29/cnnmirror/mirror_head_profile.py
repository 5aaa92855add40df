"""Where a mirror-creating CNN head's time goes (cProfile of the head that opens a mirror, live pattern).

Usage: python mirror_head_profile.py [N_MIRRORS]
"""

import cProfile
import pstats
import sys
import time

import tfshare
from tfshare import mirrors
from tfshare.bench import models

model = models.as_model("cnn")
x = model.inputs(2)
gs = tfshare.GraphSession(device="cpu")
trunk = model.shared_trunk(gs, seed=0)
want = int(sys.argv[1]) if len(sys.argv) > 1 else 3
prof = cProfile.Profile()
k = 0
times = []
while len(trunk._mirrors) < want:
    k += 1
    before = len(trunk._mirrors)
    start = time.perf_counter()
    if before >= 1:  # profile the heads that open mirror 2, 3, ...
        prof.enable()
    head = model.head(trunk, seed=k)
    gs.initialize()
    head.predict_proba(x)
    prof.disable()
    if len(trunk._mirrors) == before and before >= 1:
        # only keep the mirror-opening heads in the profile: start a fresh one otherwise
        prof = cProfile.Profile() if len(trunk._mirrors) == before else prof
    if len(trunk._mirrors) > before:
        times.append((k, time.perf_counter() - start))
        if before >= 1:
            last = prof
            prof = cProfile.Profile()
print("mirror-opening heads (k, s):", [(k, round(t * 1e3, 1)) for k, t in times])
pstats.Stats(last).sort_stats("cumulative").print_stats(35)
