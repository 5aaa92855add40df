"""Python function calls per head (counted, so load-free) in windows of 25 heads: python calls_probe.py MODEL N START,START,... [TOP]."""
import cProfile, pstats, sys
import numpy as np
import tfshare
from tfshare.bench import models
name, n, w = sys.argv[1], int(sys.argv[2]), 25
TOP = int(sys.argv[4]) if len(sys.argv) > 4 else 0
model = models.model(name)
x = models.random_inputs(model, 1, np.random.default_rng(0))
gs = tfshare.GraphSession(device="cpu")
trunk = model.shared_trunk(gs, seed=0)
keep = []
def live(k):
    clf = model.head(trunk, 10, seed=k); clf.runtime.initialize(); clf.predict_proba(x); keep.append(clf)
out = {}
STARTS = [int(a) for a in sys.argv[3].split(",")]
for k in range(1, n + 1):
    if k in STARTS:
        prof = cProfile.Profile(); prof.enable()
    live(k)
    if k - w + 1 in STARTS:
        prof.disable(); st = pstats.Stats(prof); out[k] = st
for k, st in out.items():
    print(f"heads ending {k}: {st.total_calls / w:.0f} calls per head")
    top = sorted(st.stats.items(), key=lambda kv: -kv[1][1])[:TOP]
    for (f, l, fn), (cc, nc, tt, ct, _) in top:
        print(f"   {nc / w:8.0f}  {f.split('site-packages/')[-1]}:{l}({fn})")
