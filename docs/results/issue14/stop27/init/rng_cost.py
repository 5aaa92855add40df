#!/usr/bin/env python3
"""What the 784x64 kernel's random numbers cost in a Session callable (Grappler off, calling thread): the whole
stateless_random_uniform (raw draw, then Sub/Mul/AddV2) against the raw StatelessRandomUniformV2 output alone, with
the default intra-op threads (0) and one; medians of 300 calls, microseconds."""
import os, time
os.environ["TF_CPP_MIN_LOG_LEVEL"]="3"
import numpy as np, tensorflow as tf
from tensorflow.core.protobuf import config_pb2
tf1=tf.compat.v1
def t(f, n=300):
    f(); ts=[]
    for _ in range(n):
        a=time.perf_counter(); f(); ts.append(time.perf_counter()-a)
    return np.median(ts)*1e6
for threads in (0, 1):
    g = tf.Graph()
    with g.as_default():
        s = tf1.placeholder(tf.int64, [2]); u = tf.random.stateless_uniform((784,64), seed=s, minval=-0.1, maxval=0.1)
    raw = [op for op in g.get_operations() if op.type == "StatelessRandomUniformV2"][0].outputs[0]
    cp = config_pb2.ConfigProto(intra_op_parallelism_threads=threads); cp.graph_options.rewrite_options.disable_meta_optimizer = True
    sess = tf1.Session(graph=g, config=cp)
    for name, fetch in (("full", u), ("raw", raw)):
        o = config_pb2.CallableOptions(); o.feed.append(s.name); o.fetch.append(fetch.name); o.run_options.inter_op_thread_pool=-1
        c = sess._make_callable_from_options(o)
        print(threads, name, "%.0f" % t(lambda: c(np.array([5,0],np.int64))))
