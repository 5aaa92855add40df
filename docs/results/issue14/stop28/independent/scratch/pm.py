"""Warm predict_many over N independent MLPs by shard size, and warm predict_proba of one (batch 1), interleaved.
  PYTHONPATH=<tree> python pm.py N SIZES"""
import os, sys, time, json
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tfshare
N, sizes = int(sys.argv[1]), [int(s) for s in sys.argv[2].split(",")]
x = np.random.default_rng(0).random((1, 784), np.float32)
rts = {s: tfshare.GraphSession(shard_size=s) for s in sizes}
cls = {s: [tfshare.DenseClassifier(784, 10, runtime=rts[s], seed=k) for k in range(N)] for s in sizes}
for s in sizes:
    rts[s].initialize(); tfshare.predict_many(cls[s], x); [c.predict_proba(x) for c in cls[s]]
res = {s: {"many": [], "one": []} for s in sizes}
for rep in range(200):
    for s in sizes:
        t = time.perf_counter(); tfshare.predict_many(cls[s], x); res[s]["many"].append(time.perf_counter() - t)
        c = cls[s][-1]; t = time.perf_counter(); c.predict_proba(x); res[s]["one"].append(time.perf_counter() - t)
for s in sizes:
    print(f"shard_size={s:3d} shards {len(rts[s].shards):3d}  predict_many({N}) {np.median(res[s]['many'])*1e6:8.1f} us  one predict_proba {np.median(res[s]['one'])*1e6:6.1f} us")
print(open("/proc/loadavg").read())
