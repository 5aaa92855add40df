"""Stop 27: the fused heads' graph, current vs alternatives, trunk included (784-64 trunk, 32 heads x 10 classes, batch 32).

Wall time per call of calling-thread callables (intra 2), interleaved: trunk alone; cur (class-major [B, C, N],
the shipped chain); cur_mul (reciprocal + Mul instead of RealDiv); tr (transposed MatMul -> [C*N, B], bias Add,
reductions over the outer axis); tr2 (tr with BiasAdd NCHW); mm_cur / mm_tr (the bank MatMuls alone).
Prints the largest difference of each variant from cur first.
"""
import numpy as np, timeit, random, sys
from tfshare._tf import tf, tf1
B, H, C, N, D = 32, 64, 10, 32, 784
rng = np.random.default_rng(0)
g = tf.Graph()
with g.as_default():
    x = tf1.placeholder(tf.float32, [None, D])
    W = tf1.Variable(rng.normal(size=(D, H)).astype(np.float32) * 0.05, use_resource=True)
    b0 = tf1.Variable(np.zeros(H, np.float32), use_resource=True)
    f = tf.nn.relu(tf.nn.bias_add(tf.matmul(x, W), b0))
    Kn = rng.normal(size=(H, C * N)).astype(np.float32)  # class-major columns c*N+n
    bn = rng.normal(size=(C * N,)).astype(np.float32)
    K = tf1.Variable(Kn, use_resource=True); bb = tf1.Variable(bn, use_resource=True)
    KT = tf1.Variable(Kn.T.copy(), use_resource=True); bT = tf1.Variable(bn.reshape(-1, 1), use_resource=True)
    # current
    lg = tf.reshape(tf.nn.bias_add(tf.matmul(f, K), bb), [-1, C, N])
    e = tf.exp(lg - tf.reduce_max(lg, axis=1, keepdims=True))
    cur = e / tf.reduce_sum(e, axis=1, keepdims=True)
    # current, reciprocal*mul
    s = tf.reduce_sum(e, axis=1, keepdims=True)
    cur_mul = e * tf.math.reciprocal(s)
    # transposed: [C*N, B]
    lt = tf.reshape(tf.matmul(KT, f, transpose_b=True) + bT, [C, -1])
    et = tf.exp(lt - tf.reduce_max(lt, axis=0, keepdims=True))
    tr = tf.reshape(et / tf.reduce_sum(et, axis=0, keepdims=True), [C, N, -1])
    lt2 = tf.reshape(tf.nn.bias_add(tf.reshape(tf.matmul(KT, f, transpose_b=True), [1, C * N, -1]), bb, data_format="NCHW"), [C, -1])
    et2 = tf.exp(lt2 - tf.reduce_max(lt2, axis=0, keepdims=True))
    tr2 = tf.reshape(et2 / tf.reduce_sum(et2, axis=0, keepdims=True), [C, N, -1])
    # transposed, bias via BiasAdd NCHW? just matmul only to see matmul cost
    mm_cur = tf.matmul(f, K); mm_tr = tf.matmul(KT, f, transpose_b=True)
    init = tf1.global_variables_initializer()
    sess = tf1.Session(graph=g, config=tf1.ConfigProto(intra_op_parallelism_threads=2, inter_op_parallelism_threads=2, graph_options=tf1.GraphOptions(place_pruned_graph=True)))
    sess.run(init)
def mk(t):
    from tensorflow.core.protobuf import config_pb2; o = config_pb2.CallableOptions(); o.feed.append(x.name); o.fetch.append(t.name); o.run_options.inter_op_thread_pool = -1
    return sess._make_callable_from_options(o)
xs = rng.random((B, D), dtype=np.float32)
fns = {k: mk(t) for k, t in dict(trunk=f, cur=cur, cur_mul=cur_mul, tr=tr, tr2=tr2, mm_cur=mm_cur, mm_tr=mm_tr).items()}
a = fns["cur"](xs)[0]; bt = fns["tr"](xs)[0]; cm = fns["cur_mul"](xs)[0]
print("tr2", np.abs(a - fns["tr2"](xs)[0].transpose(2, 0, 1)).max()); print("max diff tr vs cur", np.abs(a - bt.transpose(2, 0, 1).transpose(1, 2, 0)).max() if False else np.abs(a.transpose(0,1,2) - bt.transpose(2, 0, 1)).max(), "mul", np.abs(a - cm).max())
res = {k: [] for k in fns}
for r in range(15):
    ks = list(fns); random.shuffle(ks)
    for k in ks:
        fn = fns[k]
        res[k].append(min(timeit.repeat(lambda: fn(xs), number=1000, repeat=3)) / 1000)
print(" | ".join(f"{k} {np.median(v)*1e6:.1f}" for k, v in res.items()))
