#!/usr/bin/env python3
"""Threads of this process after each Session (intra counts as given, inter 1, use_per_session_threads) runs one MatMul.

  python pool_threads.py 1,7,13 [override]    (override: TF_OVERRIDE_GLOBAL_THREADPOOL=1 before TensorFlow loads)
"""
import os, sys
if len(sys.argv) > 2: os.environ["TF_OVERRIDE_GLOBAL_THREADPOOL"] = "1"
os.environ["TF_CPP_MIN_LOG_LEVEL"]="3"
import numpy as np, tensorflow as tf
tf1 = tf.compat.v1
def nthreads(): return len(os.listdir("/proc/self/task"))
print("start", nthreads())
for intra in [int(a) for a in sys.argv[1].split(",")]:
    g = tf.Graph()
    with g.as_default():
        a = tf1.placeholder(tf.float32, [256, 256]); b = tf.matmul(a, a)
    s = tf1.Session(graph=g, config=tf1.ConfigProto(intra_op_parallelism_threads=intra, inter_op_parallelism_threads=1, use_per_session_threads=True))
    s.run(b, {a: np.ones((256,256), np.float32)})
    print("after intra=%d: %d threads" % (intra, nthreads()))
