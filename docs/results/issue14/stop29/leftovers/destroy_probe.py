import ctypes, gc, numpy as np, tensorflow as tf
tf1 = tf.compat.v1
libc = ctypes.CDLL("libc.so.6")
def rss():
    gc.collect(); libc.malloc_trim(0)
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS:"))
g = tf.Graph()
with g.as_default():
    vs = [tf1.get_variable(f"v{i}", shape=[1024, 1024], initializer=tf1.ones_initializer(), use_resource=True) for i in range(8)]  # 32 MiB
    keep = tf1.get_variable("keep", shape=[4], initializer=tf1.ones_initializer(), use_resource=True)
    h = tf1.placeholder(tf.resource, [], name="h")
    destroy = tf.raw_ops.DestroyResourceOp(resource=h, ignore_lookup_error=True)
    init = tf1.global_variables_initializer()
s = tf1.Session(graph=g)
r0 = rss()
s.run(init)
r1 = rss()
handles = s.run([v.handle for v in vs])
print("handle type", type(handles[0]), getattr(handles[0], "dtype", None))
from tensorflow.core.protobuf import config_pb2
opts = config_pb2.CallableOptions(); opts.feed.append(h.name); opts.target.append(destroy.name)
fn = s._make_callable_from_options(opts)
for hv in handles:
    fn(hv)
r2 = rss()
print("rss KiB before init %d, after init %d (+%d), after destroy %d (%+d)" % (r0, r1, r1 - r0, r2, r2 - r1))
print("keep", s.run(keep))
print("is_init", s.run([tf1.is_variable_initialized(vs[0])]) if False else s.run(vs[0]._is_initialized_op))
try:
    s.run(vs[0].read_value())
except Exception as e:
    print("read after destroy:", type(e).__name__, str(e).splitlines()[0][:150])
