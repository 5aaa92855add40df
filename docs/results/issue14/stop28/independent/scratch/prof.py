"""Sharded live pattern: per-part medians and a cProfile of k in [P0, P1).
  PYTHONPATH=<tree> python prof.py N P0 P1 OUT_PREFIX
"""
import cProfile, pstats, json, os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tfshare
N, P0, P1, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
x = np.random.default_rng(0).random((1, 784), np.float32)
g = tfshare.GraphSession(); c = tfshare.DenseClassifier(784, 10, runtime=g, seed=10**6); g.initialize(); c.predict_proba(x); g.close()
gs = tfshare.GraphSession(); keep = []; parts = {"build": [], "init": [], "first_predict": []}
pr = cProfile.Profile()
load = [open("/proc/loadavg").read().split()[:3]]
for k in range(N):
    if k == P0: pr.enable()
    t0 = time.perf_counter(); clf = tfshare.DenseClassifier(784, 10, runtime=gs, seed=k)
    t1 = time.perf_counter(); gs.initialize(); t2 = time.perf_counter(); clf.predict_proba(x); t3 = time.perf_counter()
    if k == P1 - 1: pr.disable()
    keep.append(clf)
    for p, d in zip(parts, (t1 - t0, t2 - t1, t3 - t2)): parts[p].append(d)
load.append(open("/proc/loadavg").read().split()[:3])
print("load", load, "shards", len(gs.shards))
for p, v in parts.items():
    print(p, "median ms", round(np.median(v) * 1e3, 3), "sum s", round(sum(v), 2))
print("total s", round(sum(sum(v) for v in parts.values()), 2))
json.dump({"parts": parts, "load": load}, open(out + ".json", "w"))
pr.dump_stats(out + ".prof")
s = pstats.Stats(pr); s.sort_stats("cumulative").print_stats(45)
s.sort_stats("tottime").print_stats(25)
