"""Peak RSS (ru_maxrss) and wall time of N classifiers in the live pattern (build one,
initialize, predict once), one setting per process, for issue 14's goal 8 beyond the MLP.

  python rss_scale.py MODEL N SETTING
    MODEL    mlp (784-64-10) or cnn (the issue's Conv-BN-ReLU CNN), as tfshare-bench --model
    SETTING  isolated (a runtime each), shared (one runtime, default shards),
             trunk (one runtime; N heads on one SharedTrunk of the model's body)

  python rss_scale.py mlp 1000 trunk      python rss_scale.py cnn 200 isolated
"""
import resource
import sys
import time

import numpy as np

import tfshare
from tfshare.bench import models

name, n, setting = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if setting not in ("isolated", "shared", "trunk"):
    raise SystemExit(f"SETTING must be isolated, shared or trunk, got {setting!r}")
model = models.model(name)
x = models.random_inputs(model, 1, np.random.default_rng(0))
start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
shared = None if setting == "isolated" else tfshare.GraphSession(device="cpu")
trunk = model.shared_trunk(shared, seed=0) if setting == "trunk" else None
keep = []
t = time.perf_counter()
for k in range(n):
    if trunk is not None:
        clf = model.head(trunk, 10, seed=k + 1)
    else:
        clf = model.classifier(10, runtime=shared or tfshare.GraphSession(device="cpu"), seed=k)
    clf.runtime.initialize()
    clf.predict_proba(x)
    keep.append(clf)
t = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"{name} {setting}: N={n}, peak RSS {peak / 1024:.0f} MiB (after imports {start / 1024:.0f} MiB, "
      f"added {(peak - start) / 1024:.0f} MiB), {t:.1f} s")
