import os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tfshare
from tfshare import validation
batch = int(sys.argv[1]); kind = sys.argv[2] if len(sys.argv) > 2 else "cnn"
gs = tfshare.GraphSession()
clf = tfshare.ConvClassifier(seed=0, runtime=gs) if kind == "cnn" else tfshare.DenseClassifier(seed=0, runtime=gs)
gs.initialize()
shape = (28, 28, 1) if kind == "cnn" else (784,)
x = np.random.default_rng(0).random((batch, *shape), np.float32)
clf.predict_proba(x); fn = clf._proba_fn
flat = x.reshape(batch, -1); w = np.full(flat.shape[1], 2.0**-64, np.float32)
modes = {
 "raw": lambda: fn(x),
 "gemv+raw": lambda: (flat.dot(w), fn(x)),
 "isfinite+raw": lambda: (np.isfinite(x).all(), fn(x)),
 "minmax+raw": lambda: (np.isfinite(np.add.reduce(flat, axis=None)), fn(x)),
 "validation+raw": lambda: fn(validation.inputs(x, shape)),
}
loops = max(5, int(0.02 / (0.0003 * max(1, batch / 4))))
res = {m: [] for m in modes}
for rep in range(40):
    for m, f in modes.items():
        t = time.perf_counter()
        for _ in range(loops): f()
        res[m].append((time.perf_counter() - t) / loops)
r = {m: np.array(v) for m, v in res.items()}
for m, v in r.items():
    print(f"batch {batch} {m:16s} median {np.median(v)*1e6:8.1f} us  paired vs raw {np.median(v / r['raw']):.3f}")
print("load", open("/proc/loadavg").read().split()[:3])
