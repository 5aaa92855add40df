"""Warm predict_proba at batch 1: a head in its trunk's shard against a head on a mirror (784-64 trunk, 10 classes).

    python warm_predict.py   # prints medians of interleaved rounds and their ratio
"""

import json
import platform
import time

import numpy as np

import tfshare
from tfshare import mirrors

ROUNDS, CALLS = 41, 2000

gs = tfshare.GraphSession()
trunk = tfshare.SharedTrunk(gs, 784, (64,), seed=0)
home = tfshare.DenseClassifier(trunk=trunk, num_classes=10, seed=1)
mirrors.HEAD_OPS = trunk.shard.graph.version  # the next head goes to a mirror
away = tfshare.DenseClassifier(trunk=trunk, num_classes=10, seed=2)
assert home.shard is trunk.shard and away.shard is not trunk.shard
x = np.random.default_rng(0).random((1, 784), dtype=np.float32)
times = {"home": [], "mirrored": []}
for clf in (home, away):
    for _ in range(200):
        clf.predict_proba(x)
for _ in range(ROUNDS):
    for name, clf in (("home", home), ("mirrored", away)):
        start = time.perf_counter()
        for _ in range(CALLS):
            clf.predict_proba(x)
        times[name].append((time.perf_counter() - start) / CALLS)
med = {k: float(np.median(v)) for k, v in times.items()}
print(json.dumps({"median_us": {k: v * 1e6 for k, v in med.items()}, "mirrored_vs_home": med["mirrored"] / med["home"],
                  "values_us": {k: [t * 1e6 for t in v] for k, v in times.items()},
                  "tf": tfshare._tf.tf.__version__, "python": platform.python_version()}))
gs.close()
