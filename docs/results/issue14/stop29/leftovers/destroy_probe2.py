"""Per-variable DestroyResourceOp on the variable's own handle: does it free the value's memory? (TF 2.x, CPU)"""
import ctypes, gc, json, sys, numpy as np, tensorflow as tf
tf1 = tf.compat.v1
libc = ctypes.CDLL("libc.so.6")
def rss():
    gc.collect(); libc.malloc_trim(0)
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS:"))
g = tf.Graph()
with g.as_default():
    vs = [tf1.get_variable(f"v{i}", shape=[1024, 1024], initializer=tf1.random_normal_initializer(), use_resource=True) for i in range(8)]  # 32 MiB
    keep = tf1.get_variable("keep", shape=[4], initializer=tf1.ones_initializer(), use_resource=True)
    ws = [tf1.get_variable(f"w{i}", shape=[1024, 1024], initializer=tf1.random_normal_initializer(), use_resource=True) for i in range(8)]
    init_w = tf.group(*[w.initializer for w in ws])
    init = tf.group(*[v.initializer for v in vs + [keep]])
    reads = [v.read_value() for v in vs]
s = tf1.Session(graph=g)
out = {"tensorflow": tf.__version__}
out["rss_before_init"] = r0 = rss()
s.run(init)
s.run(reads)  # an executor that reads them
out["rss_after_init"] = r1 = rss()
ops_before = g.version
with g.as_default():
    destroy = tf.group(*[tf.raw_ops.DestroyResourceOp(resource=v.handle, ignore_lookup_error=True) for v in vs])
out["ops_added"] = g.version - ops_before
if "--no-destroy" not in sys.argv:
    s.run(destroy)
out["destroyed"] = "--no-destroy" not in sys.argv
out["rss_after_destroy"] = r2 = rss()
s.run(init_w)
out["rss_after_new_32mib"] = r3 = rss()
out["growth_for_new_32mib_kib"] = r3 - r2
out["freed_kib"] = r1 - r2
out["values_kib"] = 8 * 4 * 1024
out["keep_after"] = s.run(keep).tolist()
out["initialized_after"] = [bool(x) for x in s.run([vs[0]._is_initialized_op, keep._is_initialized_op])]
try:
    s.run(reads[0])
    out["read_after"] = "ok"
except Exception as e:
    out["read_after"] = type(e).__name__ + ": " + str(e).splitlines()[0][:160]
saver = tf1.train.Saver(var_list=vs + [keep]) if False else None
with g.as_default():
    saver = tf1.train.Saver()
try:
    saver.save(s, "/tmp/lo29/ckpt/x")
    out["saver_of_all_variables"] = "saved"
except Exception as e:
    out["saver_of_all_variables"] = type(e).__name__ + ": " + str(e).splitlines()[0][:160]
s.run(init)
out["global_initializer_recreates"] = bool(s.run(vs[0]._is_initialized_op))
out["rss_after_reinit"] = rss()
g.finalize()
try:
    with g.as_default():
        tf.raw_ops.DestroyResourceOp(resource=keep.handle)
except Exception as e:
    out["on_finalized_graph"] = type(e).__name__ + ": " + str(e)[:120]
print(json.dumps(out, indent=1))
json.dump(out, open(sys.argv[1], "w"), indent=1)
