"""GC time and per-shard initialize() overhead in the sharded live pattern.  PYTHONPATH=<tree> python gc_time.py N"""
import gc, os, sys, time, timeit
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tfshare
N = int(sys.argv[1])
gct = {0: 0.0, 1: 0.0, 2: 0.0}; cnt = {0: 0, 1: 0, 2: 0}; t0 = [0.0]
def cb(phase, info):
    if phase == "start": t0[0] = time.perf_counter()
    else: gct[info["generation"]] += time.perf_counter() - t0[0]; cnt[info["generation"]] += 1
x = np.random.default_rng(0).random((1, 784), np.float32)
gs = tfshare.GraphSession(); keep = []
gc.callbacks.append(cb)
start = time.perf_counter()
for k in range(N):
    clf = tfshare.DenseClassifier(784, 10, runtime=gs, seed=k); gs.initialize(); clf.predict_proba(x); keep.append(clf)
total = time.perf_counter() - start
gc.callbacks.remove(cb)
print("total", round(total, 2), "s; gc s by generation", {g: round(v, 3) for g, v in gct.items()}, "counts", cnt)
print("objects tracked", len(gc.get_objects()))
n = 200
print("initialize() with nothing pending, %d shards: %.1f us" % (len(gs.shards), min(timeit.repeat(gs.initialize, number=n, repeat=5)) / n * 1e6))
print(open("/proc/loadavg").read())
