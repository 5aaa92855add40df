"""Where a sharded runtime's memory per MLP goes: RSS (VmRSS) after building N classifiers (no init), after
initialize(), after one predict_proba each; Python-level allocations (tracemalloc) for the build.
  PYTHONPATH=<tree> python rss_parts.py N SHARD_SIZE"""
import gc, json, os, sys, tracemalloc
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tfshare
N, S = int(sys.argv[1]), int(sys.argv[2])
x = np.random.default_rng(0).random((1, 784), np.float32)
g = tfshare.GraphSession(); c = tfshare.DenseClassifier(784, 10, runtime=g, seed=10**6); g.initialize(); c.predict_proba(x); g.close(); del g, c
def rss(): return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024
gc.collect(); r0 = rss()
gs = tfshare.GraphSession(shard_size=S)
tracemalloc.start()
cs = [tfshare.DenseClassifier(784, 10, runtime=gs, seed=k) for k in range(N)]
py_build = tracemalloc.get_traced_memory()[0] / 2**20
tracemalloc.stop()
gc.collect(); r1 = rss()
gs.initialize(); gc.collect(); r2 = rss()
for c in cs: c.predict_proba(x)
gc.collect(); r3 = rss()
out = {"n": N, "shard_size": S, "build_mib": r1 - r0, "python_build_mib_tracemalloc": py_build, "initialize_mib": r2 - r1,
       "first_predict_mib": r3 - r2, "per_classifier_kib": {"build": (r1 - r0) * 1024 / N, "init": (r2 - r1) * 1024 / N,
       "predict": (r3 - r2) * 1024 / N}, "graph_ops_per_shard": gs.shards[0].graph.version, "shards": len(gs.shards)}
print(json.dumps(out))
