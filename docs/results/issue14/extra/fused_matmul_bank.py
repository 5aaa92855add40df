"""The head bank's MatMul + BiasAdd as one _FusedMatMul op against the two ops (docs/performance.md, section 4).

32 heads on a 784-64 MLP trunk at batch 32: predict_proba of one head and predict_many of all 32, in two
runtimes (the second built with the fused op), timed side by side (harness.timing.measure_interleaved);
the outputs are checked equal first. Prints the medians in microseconds and each runtime's ratio.

  python fused_matmul_bank.py [repeats]        (fused_matmul_bank.log: three runs, then TF_ENABLE_ONEDNN_OPTS=0)
"""
import sys, numpy as np, tensorflow as tf
import tfshare
from tfshare import head_bank
from tfshare._tf import op_def_library
from tfshare.harness import timing

orig = head_bank.fused_probabilities

def fused_mm(features, kernels, biases, n, c):
    op = op_def_library._apply_op_helper("_FusedMatMul", a=features, b=kernels, args=[biases],
        fused_ops=["BiasAdd"], transpose_a=False, transpose_b=False, epsilon=0.0001, leakyrelu_alpha=0.2)[2]
    logits = tf.reshape(op.outputs[0], [-1, c, n])
    e = tf.exp(logits - tf.reduce_max(logits, axis=1, keepdims=True))
    return tf.math.divide(e, tf.reduce_sum(e, axis=1, keepdims=True), name="probabilities")

def setup(fn):
    head_bank.fused_probabilities = fn
    gs = tfshare.GraphSession(device="cpu")
    trunk = tfshare.SharedTrunk(gs, 784, [64], seed=0)
    heads = [tfshare.DenseClassifier(num_classes=10, trunk=trunk, seed=i + 1) for i in range(32)]
    gs.initialize()
    x = np.random.default_rng(0).random((32, 784), np.float32)
    out = tfshare.predict_many(heads, x)
    heads[0].predict_proba(x)
    return gs, heads, x, out

a = setup(orig); b = setup(fused_mm)
for k in a[3]:
    np.testing.assert_allclose(a[3][k], b[3][k], atol=1e-6)
print("same outputs")
fns = {
  "one_a": lambda: a[1][0].predict_proba(a[2]), "many_a": lambda: tfshare.predict_many(a[1], a[2]),
  "one_b": lambda: b[1][0].predict_proba(b[2]), "many_b": lambda: tfshare.predict_many(b[1], b[2]),
}
r = timing.measure_interleaved(fns, repeats=int(sys.argv[1]) if sys.argv[1:] else 20, warmup=50, min_time=0.05)
med = {k: float(np.median(v.values)) * 1e6 for k, v in r.items()}
print({k: round(v, 1) for k, v in med.items()})
print("ratio orig", med["many_a"] / med["one_a"], "fused", med["many_b"] / med["one_b"])
