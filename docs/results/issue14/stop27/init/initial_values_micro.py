#!/usr/bin/env python3
"""The initial-value step alone: a classifier's fed initial values computed eagerly (each FedInitializer.value(),
what InitialValues.feeds did before stop 27) against InitialValues.feeds now (one private-graph callable run).
Interleaved per repeat; medians and quartiles in microseconds; raw values in the JSON.

  python initial_values_micro.py OUT.json [REPEATS]
"""
import json, os, platform, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../../.."))
import numpy as np
import tensorflow as tf
import tfshare
from tfshare import _initial_value_graph

out, repeats = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 300
cases = {
    "mlp_784_64_10 (1 classifier)": lambda gs, k: [tfshare.DenseClassifier(784, 10, runtime=gs, seed=k)],
    "cnn_32_64 (1 classifier)": lambda gs, k: [tfshare.ConvClassifier(num_classes=10, runtime=gs, seed=k)],
    "mlp x 64 (pending together)": lambda gs, k: [tfshare.DenseClassifier(784, 10, runtime=gs, seed=k + i)
                                                  for i in range(64)],
}
results = {"tfshare_file": tfshare.__file__, "tf": tf.__version__, "python": platform.python_version(),
           "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
           "loadavg_start": open("/proc/loadavg").read().split()[:3], "repeats": repeats, "cases": {}}
for name, make in cases.items():
    gs = tfshare.GraphSession(shard_size=None)
    classifiers = make(gs, 0)
    variables = [v for c in classifiers for v in c.variables]
    table = gs._initial_values
    fed = [table._by_name[v.name] for v in variables if v.name in table._by_name]
    eager = lambda: {i.placeholder: i.value() for i in fed}
    graph = lambda: table.feeds(variables)
    a, b = eager(), graph()
    assert all(np.array_equal(a[p], b[p]) for p in a), name  # the same values, bit for bit
    n = max(5, repeats // (8 if len(classifiers) > 1 else 1))
    times = {"eager": [], "graph": []}
    for r in range(n):
        for label, fn in (("eager", eager), ("graph", graph))[:: 1 if r % 2 else -1]:
            t = time.perf_counter(); fn(); times[label].append(time.perf_counter() - t)
    row = {"fed_values": len(fed), "shapes": sorted({tuple(i._shape) for i in fed})}
    for label, v in times.items():
        v = np.array(v) * 1e6
        row[label] = {"median_us": float(np.median(v)), "q1_us": float(np.percentile(v, 25)),
                      "q3_us": float(np.percentile(v, 75)), "raw_us": v.round(1).tolist()}
    row["graph_vs_eager"] = row["graph"]["median_us"] / row["eager"]["median_us"]
    results["cases"][name] = row
    print(f"{name}: {len(fed)} values, eager {row['eager']['median_us']:.0f} us "
          f"(IQR {row['eager']['q1_us']:.0f}-{row['eager']['q3_us']:.0f}), graph {row['graph']['median_us']:.0f} us "
          f"(IQR {row['graph']['q1_us']:.0f}-{row['graph']['q3_us']:.0f}): {row['graph_vs_eager']:.2f}x", flush=True)
    gs.close()
results["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
json.dump(results, open(out, "w"), indent=1, default=str)
