"""Template copies, lean import (branch) vs TensorFlow's import_graph_def, in one process: two sharded runtimes
advanced together, one MLP (or CNN, or head) each per step in alternating order; build time medians and totals.

  PYTHONPATH=<branch tree> python ab_build.py N KIND OUT.json     (KIND: mlp, cnn or head)
"""
import json, os, platform, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
import tensorflow as tf
import tfshare
from tfshare import graph_template

N, kind, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
lean = graph_template._import


def reference(graph, graph_def, input_map, scope, colocated):  # what main does: TensorFlow's import_graph_def
    with graph.device(None):
        tf.graph_util.import_graph_def(graph_def, input_map=input_map, name=scope)


imports = {"lean": lean, "import_graph_def": reference}
runtimes = {v: tfshare.GraphSession() for v in imports}
trunks = {v: tfshare.SharedTrunk(gs, 784, (64,), seed=0) for v, gs in runtimes.items()} if kind == "head" else {}
shape = (28, 28, 1) if kind == "cnn" else (784,)
x = np.random.default_rng(0).random((1, *shape), np.float32)
build = {v: [] for v in imports}
keep = []
load = [open("/proc/loadavg").read().split()[:3]]
for k in range(N):
    for v in (list(imports) if k % 2 == 0 else list(imports)[::-1]):
        graph_template._import = imports[v]
        t0 = time.perf_counter()
        if kind == "mlp":
            clf = tfshare.DenseClassifier(784, 10, runtime=runtimes[v], seed=k)
        elif kind == "cnn":
            clf = tfshare.ConvClassifier(runtime=runtimes[v], seed=k)
        else:
            clf = tfshare.Classifier(trunk=trunks[v], num_classes=10, seed=k)
        build[v].append(time.perf_counter() - t0)
        graph_template._import = lean
        runtimes[v].initialize(); clf.predict_proba(x); keep.append(clf)
load.append(open("/proc/loadavg").read().split()[:3])
b = {v: np.array(t[1:]) for v, t in build.items()}  # the first is built by tf_keras
summary = {v: {"median_ms": float(np.median(t) * 1e3), "total_s": float(t.sum())} for v, t in b.items()}
summary["lean / import_graph_def, paired median"] = float(np.median(b["lean"] / b["import_graph_def"]))
summary["lean / import_graph_def, totals"] = float(b["lean"].sum() / b["import_graph_def"].sum())
print(kind, json.dumps(summary, indent=1), "load", load)
json.dump({"n": N, "kind": kind, "tf": tf.__version__, "python": platform.python_version(), "load": load,
           "summary": summary, "raw_build_s": {v: list(map(float, t)) for v, t in build.items()}}, open(out, "w"))
