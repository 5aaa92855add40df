"""Peak RSS of the live pattern (N MLPs, build/initialize/predict once each) in one process.
  PYTHONPATH=<tree> python rss.py MODE N  (MODE: isolated | shard_size=S)   prints one JSON line
Peak RSS is getrusage(RUSAGE_SELF).ru_maxrss (KiB on Linux) at the end, minus nothing (the whole process,
TF and Python included); the baseline after import and one warm-up classifier is printed too."""
import json, os, resource, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tfshare
mode, N = sys.argv[1], int(sys.argv[2])
x = np.random.default_rng(0).random((1, 784), np.float32)
g = tfshare.GraphSession(); c = tfshare.DenseClassifier(784, 10, runtime=g, seed=10**6); g.initialize(); c.predict_proba(x); g.close(); del g, c
def rss_kib():
    return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0])
base_peak, base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, rss_kib()
shared = None if mode == "isolated" else tfshare.GraphSession(shard_size=int(mode.split("=")[1]))
keep = []; t = time.perf_counter()
for k in range(N):
    gs = tfshare.GraphSession() if shared is None else shared
    clf = tfshare.DenseClassifier(784, 10, runtime=gs, seed=k); gs.initialize(); clf.predict_proba(x); keep.append(clf)
print(json.dumps({"mode": mode, "n": N, "seconds": time.perf_counter() - t, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rss_end_mib": rss_kib() / 1024, "baseline_peak_mib": base_peak / 1024, "baseline_rss_mib": base_rss / 1024,
                  "loadavg": open("/proc/loadavg").read().split()[:3], "tree": os.path.dirname(tfshare.__file__)}))
