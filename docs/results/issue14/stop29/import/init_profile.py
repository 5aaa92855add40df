"""cProfile of initialize() in the live pattern: isolated runtimes vs one sharded runtime (MLP), 300 each, interleaved."""
import os, sys, cProfile, pstats, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tfshare
N = int(sys.argv[1]) if len(sys.argv) > 1 else 300
x = np.random.default_rng(0).random((1, 784), np.float32)
shared = tfshare.GraphSession()
g = tfshare.GraphSession(); c = tfshare.DenseClassifier(784, 10, runtime=g, seed=10**6); g.initialize(); c.predict_proba(x); g.close()
profs = {"isolated": cProfile.Profile(), "shared": cProfile.Profile()}
parts = {v: [] for v in profs}
keep = []
for k in range(N):
    for v in ("isolated", "shared"):
        gs = tfshare.GraphSession() if v == "isolated" else shared
        clf = tfshare.DenseClassifier(784, 10, runtime=gs, seed=k)
        t0 = time.perf_counter()
        profs[v].enable(); gs.initialize(); profs[v].disable()
        t1 = time.perf_counter()
        clf.predict_proba(x)
        parts[v].append(t1 - t0)
        keep.append(clf)
for v, p in profs.items():
    print("=====", v, "init median ms", np.median(parts[v]) * 1e3)
    pstats.Stats(p).sort_stats("cumulative").print_stats(25)
