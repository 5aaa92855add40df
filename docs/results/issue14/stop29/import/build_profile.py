"""cProfile of DenseClassifier construction in one sharded runtime (template copies), live pattern, 300."""
import os, sys, cProfile, pstats, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tfshare
N = int(sys.argv[1]) if len(sys.argv) > 1 else 300
x = np.random.default_rng(0).random((1, 784), np.float32)
shared = tfshare.GraphSession()
prof = cProfile.Profile()
keep, t = [], []
for k in range(N):
    t0 = time.perf_counter()
    prof.enable(); clf = tfshare.DenseClassifier(784, 10, runtime=shared, seed=k); prof.disable()
    t.append(time.perf_counter() - t0)
    shared.initialize(); clf.predict_proba(x); keep.append(clf)
print("build median ms", np.median(t) * 1e3)
pstats.Stats(prof).sort_stats(sys.argv[2] if len(sys.argv) > 2 else "cumulative").print_stats(45)
