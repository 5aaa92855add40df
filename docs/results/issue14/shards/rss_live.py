"""Peak RSS (ru_maxrss) and wall time of N MLPs in the live pattern (build, initialize, predict
once), one setting per process: isolated (a runtime each) or one runtime with a shard op budget.

  python rss_live.py 1000 isolated      python rss_live.py 1000 240
"""
import resource, sys, time

import numpy as np

import tfshare

n, setting = int(sys.argv[1]), sys.argv[2]
x = np.random.default_rng(0).random((1, 784), np.float32)
start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
shared = None
if setting != "isolated":
    shared = tfshare.GraphSession(device="cpu")
    shared._shards.max_ops = int(setting)
keep = []
t = time.perf_counter()
for k in range(n):
    runtime = shared or tfshare.GraphSession(device="cpu")
    clf = tfshare.DenseClassifier(784, 10, hidden_units=[64], runtime=runtime, seed=k)
    runtime.initialize()
    clf.predict_proba(x)
    keep.append(clf)
t = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"{setting}: N={n}, peak RSS {peak / 1024:.0f} MiB (after imports {start / 1024:.0f} MiB, "
      f"added {(peak - start) / 1024:.0f} MiB), {t:.1f} s")
