#!/usr/bin/env python3
"""A fresh process's first initialize() of one 784-64-10 MLP (the private graph's one-off cost: its Session,
the recipes' ops, their eager check, the callable), then the second classifier's, in ms.

  PYTHONPATH=<tree> python first_init.py
"""
import os, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tfshare
out = []
gs = tfshare.GraphSession()
for k in range(3):
    clf = tfshare.DenseClassifier(784, 10, runtime=gs, seed=k)
    t = time.perf_counter(); gs.initialize(); out.append((time.perf_counter() - t) * 1e3)
print(os.path.dirname(tfshare.__file__), " ".join("%.2f" % v for v in out))
