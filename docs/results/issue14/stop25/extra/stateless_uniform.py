#!/usr/bin/env python3
"""What tf.random.stateless_uniform (the op behind a seeded tf_keras GlorotUniform) costs eagerly, in a tf.function,
in a Session callable, against NumPy: medians of 300 calls.
"""
import os, time
os.environ["TF_CPP_MIN_LOG_LEVEL"]="3"
import numpy as np
import tensorflow as tf
def t(f, n=300):
    f(); ts=[]
    for _ in range(n):
        a=time.perf_counter(); f(); ts.append(time.perf_counter()-a)
    return np.median(ts)*1e6
print("eager stateless 784x64 %.0f" % t(lambda: tf.random.stateless_uniform((784,64), seed=[5,0]).numpy()))
print("eager stateless 64x10 %.0f" % t(lambda: tf.random.stateless_uniform((64,10), seed=[5,0]).numpy()))
print("eager stateless 1x1 %.0f" % t(lambda: tf.random.stateless_uniform((1,1), seed=[5,0]).numpy()))
print("eager add %.0f" % t(lambda: tf.add(1.0, 2.0).numpy()))
f = tf.function(lambda s: tf.random.stateless_uniform((784,64), seed=s))
print("tf.function 784x64 %.0f" % t(lambda: f(tf.constant([5,0])).numpy()))
print("np uniform 784x64 %.0f" % t(lambda: np.random.default_rng(5).random((784,64), np.float32)))
g = tf.Graph()
with g.as_default():
    s = tf.compat.v1.placeholder(tf.int32, [2]); u = tf.random.stateless_uniform((784,64), seed=s)
sess = tf.compat.v1.Session(graph=g)
c = sess.make_callable(u, [s])
print("session 784x64 %.0f" % t(lambda: c(np.array([5,0], np.int32))))
