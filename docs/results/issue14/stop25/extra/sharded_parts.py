#!/usr/bin/env python3
"""The live pattern of N MLPs (784-64-10) in one sharded runtime or isolated: build / init / first predict per classifier,
and within them the eager initial values (InitialValues.feeds) and TF_SessionMakeCallable.

  python sharded_parts.py N shared|isolated
"""
import os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"]="3"
import numpy as np
import tfshare
from tfshare import initial_values as iv, _tracked_session as ts
from tensorflow.python.client import session as tfsess
N = int(sys.argv[1]); mode = sys.argv[2]
acc = {}
def wrap(obj, name, key):
    f = getattr(obj, name)
    def w(*a, **k):
        t = time.perf_counter()
        try: return f(*a, **k)
        finally: acc.setdefault(key, []).append(time.perf_counter() - t)
    setattr(obj, name, w)
wrap(iv.InitialValues, "feeds", "init_values")
wrap(tfsess.BaseSession, "_make_callable_from_options", "make_callable")
x = np.random.default_rng(0).random((1, 784), np.float32)
gs = None if mode == "isolated" else tfshare.GraphSession()
tot = {"build": [], "init": [], "pred": []}
keep = []
for k in range(N):
    t0 = time.perf_counter()
    g = tfshare.GraphSession() if mode == "isolated" else gs
    clf = tfshare.DenseClassifier(784, 10, runtime=g, seed=k); keep.append(clf)
    t1 = time.perf_counter(); clf.runtime.initialize(); t2 = time.perf_counter(); clf.predict_proba(x); t3 = time.perf_counter()
    tot["build"].append(t1-t0); tot["init"].append(t2-t1); tot["pred"].append(t3-t2)
for p, v in list(tot.items()) + list(acc.items()):
    v = np.array(v) * 1e3
    print("%-14s n=%4d median %.2f  first %.2f last %.2f ms  sum %.2f s" % (p, len(v), np.median(v), np.median(v[5:len(v)//8+5]), np.median(v[-len(v)//8:]), v.sum()/1e3))
