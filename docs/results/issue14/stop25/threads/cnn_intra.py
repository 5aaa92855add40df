#!/usr/bin/env python3
"""ConvClassifier predict_proba at batch 256 per intra/inter thread count: one Session per count in this process,
interleaved, 10 calls per value, two rounds. "override" sets TF_OVERRIDE_GLOBAL_THREADPOOL=1 (a pool per Session).

  python cnn_intra.py 1,2 [override]
"""
import os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"]="3"
if "override" in sys.argv: os.environ["TF_OVERRIDE_GLOBAL_THREADPOOL"]="1"
import numpy as np, tfshare
x = np.random.default_rng(0).random((256, 28, 28, 1), np.float32)
out = []
for intra in [int(a) for a in sys.argv[1].split(",")]:
    gs = tfshare.GraphSession(device="cpu", intra_op_threads=intra, inter_op_threads=intra)
    clf = tfshare.ConvClassifier(runtime=gs, seed=0); clf.predict_proba(x)
    out.append((intra, clf))
for _ in range(2):
    for intra, clf in out:
        t = time.perf_counter()
        for _ in range(10): clf.predict_proba(x)
        print("intra=%d %.1f ms" % (intra, (time.perf_counter() - t) * 100), end="  ")
    print()
print("threads", len(os.listdir("/proc/self/task")))
