#!/usr/bin/env python3
"""Heads on one SharedTrunk in the live pattern: per-part times, the time in make_callable and initial values, and (with a third argument) a cProfile of the last fifth.

  python heads_profile.py N mlp|cnn [prof]
"""
import os, sys, time, cProfile, pstats
os.environ["TF_CPP_MIN_LOG_LEVEL"]="3"
import numpy as np
import tfshare
from tfshare import initial_values as iv
from tensorflow.python.client import session as tfsess
N = int(sys.argv[1]); model = sys.argv[2]; prof = len(sys.argv) > 3
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
gs = tfshare.GraphSession()
from tfshare.bench import models as M
m = M.as_model(model)
x = np.random.default_rng(0).random((1,) + tuple(m.input_shape), np.float32)
trunk = m.shared_trunk(gs, seed=0)
mk = lambda k: m.head(trunk, 10, seed=k)
tot = {"build": [], "init": [], "pred": []}
pr = cProfile.Profile()
for k in range(N):
    if prof and k == N - N//5: pr.enable()
    t0 = time.perf_counter(); clf = mk(k)
    t1 = time.perf_counter(); clf.runtime.initialize(); t2 = time.perf_counter(); clf.predict_proba(x); t3 = time.perf_counter()
    tot["build"].append(t1-t0); tot["init"].append(t2-t1); tot["pred"].append(t3-t2)
pr.disable()
for p, v in list(tot.items()) + list(acc.items()):
    v = np.array(v) * 1e3
    print("%-14s n=%4d first %.2f last %.2f ms  sum %.2f s" % (p, len(v), np.median(v[5:len(v)//8+5]), np.median(v[-len(v)//8:]), v.sum()/1e3))
print("ops", len(gs.graph.get_operations()))
if prof: pstats.Stats(pr).sort_stats("tottime").print_stats(25)
