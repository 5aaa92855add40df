"""Peak RSS (ru_maxrss) of N classifiers in the live pattern (build one, initialize, predict once),
one setting per process: issue 14 goal 8's "peak RSS <= 0.5x isolated" for heads on a trunk.

  python rss_heads.py MODEL N SETTING [--every=K]
    MODEL    mlp (784-64-10) or cnn (the issue's Conv-BN-ReLU CNN), as tfshare-bench --model
    SETTING  isolated (a runtime each), trunk (one runtime; N heads on one SharedTrunk,
             heads beyond the trunk shard's op budget on mirrors)

Prints one JSON line: peak RSS, the RSS after the imports, current RSS every K classifiers,
the shards and mirrors held, and the wall time (indicative only: the machine is shared).
"""
import json
import platform
import resource
import sys
import time

import numpy as np
import psutil

import tfshare
from tfshare.bench import models

name, n, setting = sys.argv[1], int(sys.argv[2]), sys.argv[3]
every = int(sys.argv[4].split("=")[1]) if len(sys.argv) > 4 else max(1, n // 10)
if setting not in ("isolated", "trunk"):
    raise SystemExit(f"SETTING must be isolated or trunk, got {setting!r}")


def mib(kib_or_bytes, unit=1024):
    return round(kib_or_bytes / unit, 1)


model = models.model(name)
x = models.random_inputs(model, 1, np.random.default_rng(0))
proc = psutil.Process()
start_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start_rss = proc.memory_info().rss
shared = None if setting == "isolated" else tfshare.GraphSession(device="cpu")
trunk = model.shared_trunk(shared, seed=0) if setting == "trunk" else None
keep, curve = [], []
t = time.perf_counter()
for k in range(1, n + 1):
    if trunk is not None:
        clf = model.head(trunk, 10, seed=k)
    else:
        clf = model.classifier(10, runtime=tfshare.GraphSession(device="cpu"), seed=k)
    clf.runtime.initialize()
    clf.predict_proba(x)
    keep.append(clf)
    if k % every == 0:
        curve.append({"k": k, "rss_mib": mib(proc.memory_info().rss, 1 << 20)})
t = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = {
    "model": name, "setting": setting, "n": n, "peak_rss_mib": mib(peak),
    "after_imports_peak_mib": mib(start_peak), "after_imports_rss_mib": mib(start_rss, 1 << 20),
    "added_mib": mib(peak - start_peak), "wall_s": round(t, 1), "curve": curve,
    "mirrors": len(trunk._mirrors) if trunk is not None else 0,
    "tf": tfshare._tf.tf.__version__, "python": platform.python_version(),
    "load": psutil.getloadavg(), "argv": sys.argv[1:],
}
print(json.dumps(out))
