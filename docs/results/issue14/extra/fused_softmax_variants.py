"""Goal 2 (MLP): the 32 heads' softmax in the fused call, formulated six ways, as raw caller-thread callables.

One plain tf.Graph (784-64 ReLU trunk, a [64, 320] bank, batch 32), pruned placement as tfshare's runtime, medians of 15
rounds of 300 calls. `class_major_manual` is what tfshare builds (head_bank.fused_probabilities); `bank_logits_only` and
`trunk_only` bound what any softmax formulation could reach.
"""
import numpy as np, tensorflow as tf, time
from tensorflow.core.protobuf import config_pb2
tf1 = tf.compat.v1
tf1.disable_eager_execution()
B, H, N, C = 32, 64, 32, 10
g = tf.Graph()
with g.as_default():
    x = tf1.placeholder(tf.float32, [None, 784])
    k1 = tf1.Variable(np.random.randn(784, H).astype(np.float32) * 0.05)
    b1 = tf1.Variable(np.zeros(H, np.float32))
    f = tf.nn.relu(tf.nn.bias_add(tf.matmul(x, k1), b1))
    K = tf1.Variable(np.random.randn(H, N * C).astype(np.float32) * 0.1)
    bb = tf1.Variable(np.zeros(N * C, np.float32))
    logits = tf.nn.bias_add(tf.matmul(f, K), bb)
    l3 = tf.reshape(logits, [-1, C, N])
    e = tf.exp(l3 - tf.reduce_max(l3, axis=1, keepdims=True))
    outs = {"class_major_manual": e / tf.reduce_sum(e, axis=1, keepdims=True),
            "head_major_2d_softmax": tf.nn.softmax(tf.reshape(logits, [-1, C])),
            "head_major_3d_softmax": tf.nn.softmax(tf.reshape(logits, [-1, N, C])),
            "class_major_softmax_axis1": tf.nn.softmax(l3, axis=1),
            "head_major_exp_logsoftmax": tf.exp(tf.nn.log_softmax(tf.reshape(logits, [-1, C]))),
            "bank_logits_only": logits,
            "class_major_no_max": tf.exp(l3) / tf.reduce_sum(tf.exp(l3), axis=1, keepdims=True),
            "trunk_only": f}
    init = tf1.global_variables_initializer()
cfg = tf1.ConfigProto(intra_op_parallelism_threads=2, inter_op_parallelism_threads=2)
cfg.graph_options.place_pruned_graph = True
sess = tf1.Session(graph=g, config=cfg)
sess.run(init)
fns = {}
for name, t in outs.items():
    o = config_pb2.CallableOptions(); o.feed.append(x.name); o.fetch.append(t.name); o.run_options.inter_op_thread_pool = -1
    fns[name] = sess._make_callable_from_options(o)
xv = np.random.rand(B, 784).astype(np.float32)
for fn in fns.values():
    for _ in range(200): fn(xv)
res = {k: [] for k in fns}
for r in range(15):
    for k, fn in fns.items():
        t = time.perf_counter()
        for _ in range(300): fn(xv)
        res[k].append((time.perf_counter() - t) / 300)
for k, v in res.items(): print(f"{k:28s} {np.median(v)*1e6:6.1f} us")
