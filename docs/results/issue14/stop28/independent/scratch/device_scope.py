"""The cost of one ops.device scope around Graph._apply_device_functions (what import_graph_def's _MaybeDevice does per
op with a device), against none, in a graph made the default while eager execution is on (as in tfshare)."""
import os, timeit
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
from tensorflow.python.framework import ops
g = tf.Graph()
with g.as_default():
    c = tf.constant(1.0)
op = c.op
def with_scope():
    with g.device(None):
        with ops.device("/device:CPU:0"):
            g._apply_device_functions(op)
def without():
    with g.device(None):
        g._apply_device_functions(op)
with g.as_default():
    for f in (with_scope, without):
        print(f.__name__, round(min(timeit.repeat(f, number=5000, repeat=5)) / 5000 * 1e6, 1), "us")
print("load", open("/proc/loadavg").read().split()[:3])
