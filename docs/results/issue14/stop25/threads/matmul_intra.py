#!/usr/bin/env python3
"""A 1024x1024 TF MatMul per intra thread count: one Session per count in this process, 10 calls per value.

  python matmul_intra.py 1,2 [per]    (per: use_per_session_threads)
"""
import os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"]="3"
import numpy as np, tensorflow as tf
tf1 = tf.compat.v1
order = [int(a) for a in sys.argv[1].split(",")]
per = len(sys.argv) > 2
def sess(intra):
    g = tf.Graph()
    with g.as_default():
        a = tf1.placeholder(tf.float32, [1024, 1024]); b = tf.matmul(a, a)
    c = tf1.ConfigProto(intra_op_parallelism_threads=intra, inter_op_parallelism_threads=intra, use_per_session_threads=per)
    s = tf1.Session(graph=g, config=c)
    f = s.make_callable(b, [a])
    return f
x = np.random.rand(1024, 1024).astype(np.float32)
fs = [(i, sess(i)) for i in order]
for _ in range(2):
    for i, f in fs:
        f(x); t = time.perf_counter()
        for _ in range(10): f(x)
        print("intra=%d  %.1f ms/matmul" % (i, (time.perf_counter()-t)*100), end="   ")
    print()
