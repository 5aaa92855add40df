"""Goal 4: inference formulations never tried, side by side in one process with tfshare's default.

All variants are built in the runtime's own graph and Session (Grappler off, as
tfshare runs its graphs), read the classifier's own variables, run in the calling
thread, and must give ``predict_proba``'s outputs within 1e-5 (checked first):

* ``default``: ``ConvClassifier.predict_proba`` (its cached callable);
* ``rebuilt_nhwc``: the same model rebuilt here op by op (``_FusedConv2D`` NHWC x2,
  MaxPool, Mean, MatMul, BiasAdd, Softmax): checks that the builder below is the default;
* ``nchw``: the same ops in NCHW (``data_format="NCHW"``; the 1-channel input is
  reshaped, not transposed; the global average pool is a Mean over H, W);
* ``conv0_patches``: the first convolution (1 input channel) as
  ``extract_patches`` (3x3, SAME) + a [784·N, 9] x [9, 32] MatMul with the
  BatchNorm folded into kernel and bias, + BiasAdd + Relu (as separate ops);
* ``conv0_patches_fused``: the same with TensorFlow's ``_FusedMatMul`` (BiasAdd, Relu);
* ``conv0_shifts``: the first convolution as 9 shifted copies of the padded input
  times the kernel's rows (elementwise: no convolution kernel at all);
* ``gap_avgpool``: the global average pool as one AvgPool window (oneDNN's);
* ``gap_mean_matmul``: the global average pool as a MatMul with a [H*W*C, C] averaging matrix;
* ``gap_head_matmul``: the global average pool and the Dense head folded into one MatMul
  ([N, H*W*C] x tile(kernel, H*W) / (H*W)): both are linear, Dropout is the identity here;
* ``matmul``: the 1024 x 1024 MatMul reference (goal 4's divisor).

Prints, per run, each variant's median time and its paired ratio to ``default``
and the GFLOP/s ratio to the MatMul; ``--rounds`` independent rounds in one process.

Usage: TF_CPP_MIN_LOG_LEVEL=3 nice python cnn_variants.py --out=cnn_variants.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from trace_ops import cnn_classifier, Traced, flops_by_node, machine, summary  # noqa: E402

from tfshare import conv_fusion  # noqa: E402
from tfshare._tf import config_pb2, op_def_library, op_def_registry, tf, tf1  # noqa: E402
from tfshare.bench import reference  # noqa: E402
from tfshare.bench.efficiency import MatMul  # noqa: E402
from tfshare.harness.timing import measure_interleaved, paired_ratio  # noqa: E402

EPS = 1e-3  # tf_keras BatchNormalization's default epsilon (the classifier's)


def op_defaults(op: str) -> dict:
    """An internal op's attributes with defaults, as Python values (the op helper fills none)."""
    values = {}
    for attr in op_def_registry.get(op).attr:
        if attr.HasField("default_value") and not attr.name.startswith("num_host"):
            value = attr.default_value
            kind = value.WhichOneof("value")
            values[attr.name] = [*value.list.i, *value.list.s, *value.list.f] if kind == "list" else getattr(value, kind)
    return values


def fused_conv(x, v, i, data_format, relu=True):
    """``_FusedConv2D`` (conv + FusedBatchNorm (+ Relu)) of block ``i`` as ``conv_fusion`` builds it, any layout."""
    kwargs = dict(conv_fusion._defaults())
    kwargs.update(input=x, filter=v[f"conv_{i}/kernel"],
                  args=[v[f"bn_{i}/gamma"], v[f"bn_{i}/beta"], v[f"bn_{i}/moving_mean"], v[f"bn_{i}/moving_variance"]],
                  num_args=4, strides=[1, 1, 1, 1], padding="SAME", dilations=[1, 1, 1, 1], data_format=data_format,
                  fused_ops=["FusedBatchNorm", "Relu"] if relu else ["FusedBatchNorm"], epsilon=EPS)
    if conv_fusion._has_host_args():
        kwargs["host_args"] = []
    return op_def_library._apply_op_helper(conv_fusion.OP, name=f"fused_{i}_{data_format}", **kwargs)[2].outputs[0]


def folded(v, i):
    """Block ``i``'s BatchNorm folded: (kernel * scale [3,3,Cin,Cout], bias [Cout])."""
    scale = v[f"bn_{i}/gamma"] * tf.math.rsqrt(v[f"bn_{i}/moving_variance"] + EPS)
    return v[f"conv_{i}/kernel"] * scale, v[f"bn_{i}/beta"] - v[f"bn_{i}/moving_mean"] * scale


def head(features, v):
    """Dense + probabilities as tfshare makes them (exp of LogSoftmax: oneDNN's Softmax kernel is slow here)."""
    return probabilities(tf.nn.bias_add(tf.matmul(features, v["head/kernel"]), v["head/bias"]))


def probabilities(logits):
    return tf.exp(tf.nn.log_softmax(logits))


def tail_nhwc(h0, v):
    """Block 0's pool, block 1, global average pool, head: NHWC."""
    h = tf.nn.max_pool2d(h0, 2, 2, "VALID")
    h = fused_conv(h, v, 1, "NHWC")
    return head(tf.reduce_mean(h, axis=[1, 2]), v)


def tail_gap(h0, v, how):
    """``tail_nhwc`` with the global average pool as ``how``: "avgpool" (one AvgPool window) or
    "head_matmul" (pool + Dense folded into one MatMul: [N, H*W*C] x tile(kernel, H*W)/(H*W))."""
    h = tf.nn.max_pool2d(h0, 2, 2, "VALID")
    h = fused_conv(h, v, 1, "NHWC")
    hw = h.shape[1] * h.shape[2]
    if how == "avgpool":
        features = tf.reshape(tf.nn.avg_pool2d(h, [h.shape[1], h.shape[2]], 1, "VALID"), [-1, h.shape[3]])
        return head(features, v)
    kernel = tf.tile(v["head/kernel"], [hw, 1]) * (1.0 / hw)  # row (p*C + c) is kernel[c] / (H*W)
    if how == "mean_matmul":  # the pool alone as a MatMul: [N, H*W*C] x tile(eye(C), H*W)/(H*W)
        select = tf.constant(np.tile(np.eye(h.shape[3], dtype=np.float32), [hw, 1]) / hw)
        return head(tf.matmul(tf.reshape(h, [-1, hw * h.shape[3]]), select), v)
    logits = tf.nn.bias_add(tf.matmul(tf.reshape(h, [-1, hw * h.shape[3]]), kernel), v["head/bias"])
    return probabilities(logits)


def conv0_patches(x, v, fused):
    kernel, bias = folded(v, 0)
    n, hgt, wid = tf.shape(x)[0], x.shape[1], x.shape[2]
    patches = tf.image.extract_patches(x, [1, 3, 3, 1], [1, 1, 1, 1], [1, 1, 1, 1], "SAME")  # [N, H, W, 9]
    rows = tf.reshape(patches, [-1, 9])
    k = tf.reshape(kernel, [9, -1])
    if fused:
        kwargs = op_defaults("_FusedMatMul")
        kwargs.update(a=rows, b=k, args=[bias], fused_ops=["BiasAdd", "Relu"])
        out = op_def_library._apply_op_helper("_FusedMatMul", name="fused_matmul0", **kwargs)[2].outputs[0]
    else:
        out = tf.nn.relu(tf.nn.bias_add(tf.matmul(rows, k), bias))
    return tf.reshape(out, tf.stack([n, hgt, wid, k.shape[1]]))


def conv0_shifts(x, v):
    kernel, bias = folded(v, 0)  # [3, 3, 1, 32]
    hgt, wid = x.shape[1], x.shape[2]
    padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    acc = None
    for a in range(3):
        for b in range(3):
            term = padded[:, a:a + hgt, b:b + wid, :] * kernel[a, b, 0]
            acc = term if acc is None else acc + term
    return tf.nn.relu(acc + bias)


def build(gs, clf):
    """name -> (output tensor, intermediate to check, the default's same intermediate) of each variant."""
    v = clf.named_variables
    x = clf.input_tensor
    out = {}
    with gs.building(), tf.device("/device:CPU:0"), tf.name_scope("variants"):
        block0 = fused_conv(x, v, 0, "NHWC")
        out["rebuilt_nhwc"] = (tail_nhwc(block0, v), block0, block0)
        xc = tf.reshape(x, [-1, 1, x.shape[1], x.shape[2]])  # 1 channel: NHWC -> NCHW is a reshape
        h0 = fused_conv(xc, v, 0, "NCHW")
        h = tf.nn.max_pool2d(h0, 2, 2, "VALID", data_format="NCHW")
        h = fused_conv(h, v, 1, "NCHW")
        out["nchw"] = (head(tf.reduce_mean(h, axis=[2, 3]), v), tf.transpose(h0, [0, 2, 3, 1]), block0)
        for how in ("avgpool", "mean_matmul", "head_matmul"):
            out[f"gap_{how}"] = (tail_gap(block0, v, how), block0, block0)
        for name, b0 in (("conv0_patches", conv0_patches(x, v, fused=False)),
                         ("conv0_patches_fused", conv0_patches(x, v, fused=True)),
                         ("conv0_shifts", conv0_shifts(x, v))):
            out[name] = (tail_nhwc(b0, v), b0, block0)
    return out


def callable_of(session, feed, fetch):
    options = config_pb2.CallableOptions()
    options.feed.append(feed.name)
    options.fetch.append(fetch.name)
    options.run_options.inter_op_thread_pool = -1
    return tf1.Session._make_callable_from_options(session, options)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--variants", default="rebuilt_nhwc,nchw,conv0_patches,conv0_patches_fused,conv0_shifts,gap_avgpool,gap_mean_matmul,gap_head_matmul")
    parser.add_argument("--trace_runs", type=int, default=12)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    model, x, gs, clf = cnn_classifier(args.batch)
    # Trained-like statistics: random BN moments, so that a wrong fold or layout cannot hide behind identity BN.
    rng = np.random.default_rng(1)
    weights = clf.get_weights()
    for key in weights:
        if "moving_mean" in key or "beta" in key:
            weights[key] = rng.normal(0, 0.1, weights[key].shape).astype(np.float32)
        if "moving_variance" in key or "gamma" in key:
            weights[key] = rng.uniform(0.5, 1.5, weights[key].shape).astype(np.float32)
    clf.set_weights(weights)
    expected = clf.predict_proba(x)
    outs = build(gs, clf)
    wanted = args.variants.split(",")
    fns, errors, failed = {"default": lambda: clf.predict_proba(x)}, {}, {}
    for name in wanted:
        try:
            fn = callable_of(gs.session, clf.input_tensor, outs[name][0])
            got = fn(x)[0]
            mid, ref = gs.session.run(outs[name][1:], {clf.input_tensor: x})
            errors[f"{name}_block0"] = float(np.max(np.abs(mid - ref)))
            print(f"{name}: block 0 output max |diff| {errors[f'{name}_block0']:.2e} (values up to {np.max(ref):.2f})")
        except Exception as exc:  # a layout or op without a CPU kernel: record and go on
            failed[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            print(f"{name}: FAILED {failed[name]}")
            continue
        errors[name] = float(np.max(np.abs(got - expected)))
        print(f"{name}: max |diff| vs predict_proba {errors[name]:.2e}")
        if errors[name] > 1e-5 or errors[f"{name}_block0"] > 1e-5:
            failed[name] = f"outputs differ by {errors[name]:.2e} > 1e-5"
            continue
        fns[name] = (lambda f: lambda: f(x))(fn)
    matmul = MatMul(1024, "/cpu:0", 0)
    fns["matmul"] = matmul.tf
    raw = reference.raw_graph(model, weights, 10)
    model_flops = sum(flops_by_node(raw.probabilities.op.inputs[0], {raw.input: x.shape}).values())
    raw.session.close()
    rounds = []
    print(machine()["uptime"])
    for r in range(args.rounds):
        stats = measure_interleaved(fns, repeats=args.repeats, warmup=2, min_time=0.2)
        row = {k: {"median_s": s.median, "values": list(s.values), "loops": s.loops,
                   "vs_default": paired_ratio(s, stats["default"])} for k, s in stats.items()}
        for k in row:
            if k != "matmul":
                row[k]["gflops_vs_matmul"] = model_flops / matmul.flops / paired_ratio(stats[k], stats["matmul"])
        rounds.append(row)
        print(f"round {r}: " + " | ".join(
            f"{k} {v['median_s']*1e3:.2f}ms {v['vs_default']:.3f}x" + (f" ({v['gflops_vs_matmul']:.2f} MM)" if "gflops_vs_matmul" in v else "")
            for k, v in row.items()), flush=True)
    print(machine()["uptime"])
    traces = {}
    for name in ["default", *[n for n in wanted if n in fns]]:  # where each variant's time goes (FULL_TRACE)
        fetch = clf.probabilities_tensor if name == "default" else outs[name][0]
        t = Traced(gs.session, [clf.input_tensor], [fetch])
        for _ in range(args.trace_runs):
            t(x)
        summ = summary(t.runs, skip=2)
        traces[name] = {n: v for n, v in summ["nodes"].items() if v["share"] >= 0.005}
        print(f"trace {name}: op sum {summ['op_sum_median_ns']/1e6:.2f} ms: " + ", ".join(
            f"{n.split('/')[-2] if n.count('/') > 1 else n}:{v['op_type']} {v['median_ns']/1e6:.2f}"
            for n, v in sorted(traces[name].items(), key=lambda kv: -kv[1]["median_ns"])))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"machine": machine(), "args": vars(args), "model_flops": model_flops, "matmul_flops": matmul.flops,
                       "max_abs_diff": errors, "failed": failed, "rounds": rounds,
                       "traces": traces}, f, indent=1)
    matmul.close()
    gs.close()


if __name__ == "__main__":
    main()
