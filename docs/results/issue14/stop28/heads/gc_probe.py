"""The garbage collector's time per generation while heads FROM..N of the live pattern are built: python gc_probe.py N FROM."""
import gc, sys, time
import numpy as np
import tfshare
from tfshare.bench import models
n, start = int(sys.argv[1]), int(sys.argv[2])
model = models.model("mlp")
x = models.random_inputs(model, 1, np.random.default_rng(0))
gs = tfshare.GraphSession(device="cpu")
trunk = model.shared_trunk(gs, seed=0)
keep = []
stats = {0: [0, 0.0], 1: [0, 0.0], 2: [0, 0.0]}
t0 = [0.0]
def cb(phase, info):
    if phase == "start":
        t0[0] = time.perf_counter()
    else:
        s = stats[info["generation"]]; s[0] += 1; s[1] += time.perf_counter() - t0[0]
for k in range(1, n + 1):
    if k == start:
        gc.callbacks.append(cb); t = time.perf_counter()
    clf = model.head(trunk, 10, seed=k); clf.runtime.initialize(); clf.predict_proba(x); keep.append(clf)
t = time.perf_counter() - t
print(f"heads {start}..{n}: {t:.2f} s; gc per generation (count, s): {stats}; objects tracked {len(gc.get_objects())}")
