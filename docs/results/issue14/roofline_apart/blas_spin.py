"""Does NumPy's (OpenBLAS) MatMul in an interleaved rotation slow the CNN calls after it?

CNN (the lab's ConvClassifier) predict_proba at batch 256, timed with the efficiency app's
own measure_interleaved, in four rotations: CNN alone; with TF's 1024^2 MatMul; with NumPy's;
with both (the app's). Raw seconds, medians and machine info go to JSON.
"""
import json, os, platform, sys, time
import numpy as np
import tensorflow as tf
import tfshare
from tfshare.bench import models
from tfshare.bench.efficiency import MatMul
from tfshare.harness.timing import measure_interleaved

out = sys.argv[1]
model = models.model("cnn")
x = model.inputs(256, 0)
gs = tfshare.GraphSession()
clf = model.classifier(10, runtime=gs, seed=0)
clf.predict_proba(x)
mm = MatMul(1024, "/device:CPU:0", 0)
cnn = lambda: clf.predict_proba(x)
rotations = {
    "cnn_alone": {"cnn": cnn},
    "cnn+tf_matmul": {"cnn": cnn, "tf_matmul": mm.tf},
    "cnn+numpy_matmul": {"cnn": cnn, "numpy_matmul": mm.numpy},
    "cnn+both (the app's)": {"cnn": cnn, "tf_matmul": mm.tf, "numpy_matmul": mm.numpy},
}
results = {"machine": platform.platform(), "cpus": os.cpu_count(), "tf": tf.__version__, "numpy": np.__version__,
           "env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}, "rounds": []}
for round_ in range(3):
    for name, fns in rotations.items():
        stats = measure_interleaved(fns, repeats=9, warmup=2, min_time=0.1)
        rec = {"round": round_, "rotation": name,
               **{k: {"median_s": s.median, "values_s": list(s.values)} for k, s in stats.items()}}
        results["rounds"].append(rec)
        print(f"{round_} {name:24s} " + "  ".join(f"{k} {s.median*1e3:7.2f} ms" for k, s in stats.items()), flush=True)
json.dump(results, open(out, "w"), indent=1)
