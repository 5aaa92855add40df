"""The live pattern (build one classifier, initialize, predict once; N times) for isolated
classifiers and for one sharded runtime per shard op budget, interleaved: classifier k of every
setting is built in a balanced, varied order (harness.timing.interleaved_orders), so load
changes land on all settings alike. Peak RSS needs one process per setting: rss_live.py.

  python shard_ops_sweep.py mlp 1000 640,240,160 out.json
"""
import json, os, sys, time

import numpy as np

import tfshare
from tfshare.harness import machine, provenance
from tfshare.harness.timing import interleaved_orders

model, n, budgets, out = sys.argv[1], int(sys.argv[2]), [int(b) for b in sys.argv[3].split(",")], sys.argv[4]
settings = ["isolated"] + [f"ops{b}" for b in budgets]
runtimes = {}
for b in budgets:
    runtimes[f"ops{b}"] = runtime = tfshare.GraphSession(device="cpu")
    runtime._shards.max_ops = b  # the budget shards.DEFAULT_SHARD_OPS sets by default
x = np.random.default_rng(0).random((1, 784) if model == "mlp" else (1, 28, 28, 1), np.float32)


def make(runtime, k):
    if model == "mlp":
        return tfshare.DenseClassifier(784, 10, hidden_units=[64], runtime=runtime, seed=k)
    return tfshare.ConvClassifier((28, 28, 1), 10, runtime=runtime, seed=k)


parts = {s: np.zeros((n, 3)) for s in settings}
keep = []
load = [os.getloadavg()]
for k, order in enumerate(interleaved_orders(settings, n, seed=0)):
    for s in order:
        t0 = time.perf_counter()
        runtime = tfshare.GraphSession(device="cpu") if s == "isolated" else runtimes[s]
        clf = make(runtime, k)
        t1 = time.perf_counter()
        runtime.initialize()
        t2 = time.perf_counter()
        clf.predict_proba(x)
        parts[s][k] = (t1 - t0, t2 - t1, time.perf_counter() - t2)
        keep.append(clf)
load.append(os.getloadavg())
iso = parts["isolated"].sum()
summary = {}
for s in settings:
    p = parts[s]
    per = p.sum(axis=1)
    summary[s] = {
        "total_s": float(per.sum()), "ratio_vs_isolated": float(per.sum() / iso),
        "mean_build_init_predict_ms": [float(v) for v in p.mean(axis=0) * 1e3],
        "median_first_10_ms": float(np.median(per[:10]) * 1e3), "median_last_10_ms": float(np.median(per[-10:]) * 1e3),
        "shards": 1 if s == "isolated" else len(runtimes[s].shards),
    }
    print(f"{model} {s:9s} total {per.sum():6.2f} s ({per.sum() / iso:.2f}x isolated); build/init/predict "
          f"{p[:, 0].mean() * 1e3:.1f}/{p[:, 1].mean() * 1e3:.1f}/{p[:, 2].mean() * 1e3:.1f} ms; median k<=10 "
          f"{np.median(per[:10]) * 1e3:.1f} ms, last 10 {np.median(per[-10:]) * 1e3:.1f} ms; {summary[s]['shards']} shards",
          flush=True)
json.dump({"argv": sys.argv, "machine": machine.machine_info("cpu"), "tfshare": provenance.tfshare_info(),
           "load_average_start_end": load, "summary": summary,
           "values_s": {s: parts[s].tolist() for s in settings}}, open(out, "w"), indent=1)
