"""ConvClassifier.predict_proba vs its own raw callable vs validation + callable, interleaved, paired medians."""
import os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tfshare
from tfshare import validation
batch = int(sys.argv[1]) if len(sys.argv) > 1 else 1
kind = sys.argv[2] if len(sys.argv) > 2 else "cnn"
gs = tfshare.GraphSession()
clf = tfshare.ConvClassifier(seed=0, runtime=gs) if kind == "cnn" else tfshare.DenseClassifier(seed=0, runtime=gs)
gs.initialize()
shape = (28, 28, 1) if kind == "cnn" else (784,)
x = np.random.default_rng(0).random((batch, *shape), np.float32)
clf.predict_proba(x); clf.predict_proba(x)
fn = clf._proba_fn
def raw(): fn(x)
def val_raw(): fn(validation.inputs(x, shape))
def pp(): clf.predict_proba(x)
def val(): validation.inputs(x, shape)
modes = {"raw": raw, "val+raw": val_raw, "predict_proba": pp, "validation only": val}
loops = 200 if kind == "cnn" else 2000
res = {m: [] for m in modes}
for rep in range(30):
    for m, f in modes.items():
        t = time.perf_counter()
        for _ in range(loops): f()
        res[m].append((time.perf_counter() - t) / loops)
r = {m: np.array(v) for m, v in res.items()}
for m, v in r.items():
    print(f"{m:16s} median {np.median(v)*1e6:8.2f} us  paired vs raw {np.median(v / r['raw']):.3f}")
print("load", open("/proc/loadavg").read().split()[:3])
