"""Goal 2 (MLP): the bank's MatMul + BiasAdd as TensorFlow's one ``_FusedMatMul`` op, against the bank as built.

tfshare's runtimes run without Grappler, so its remapper never fuses MatMul + BiasAdd (it does
in TensorFlow's own Grappler-on graphs: ``_MklNativeFusedMatMul`` in ``cnn_ops``' raw graph).
Built in the same runtime from the same tensors (the trunk's output, the bank's variables),
timed side by side with the plan's raw TF callable and head 0's: the fused graph as built,
the same with ``_FusedMatMul`` (BiasAdd), and head 0's graph with ``_FusedMatMul`` too (what a
library change would do to the denominator). Outputs must be equal within 1e-6 first.

Usage: TF_CPP_MIN_LOG_LEVEL=3 nice python mlp_bank_fused_matmul.py --out=mlp_bank_fused_matmul.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cnn_variants import callable_of, op_defaults  # noqa: E402
from trace_ops import machine  # noqa: E402

import tfshare  # noqa: E402
from tfshare import fused  # noqa: E402
from tfshare._tf import op_def_library, tf  # noqa: E402
from tfshare.harness.timing import measure_interleaved, paired_ratio  # noqa: E402


def fused_matmul(a, b, bias, name):
    kwargs = op_defaults("_FusedMatMul")
    kwargs.update(a=a, b=b, args=[bias], fused_ops=["BiasAdd"])
    return op_def_library._apply_op_helper("_FusedMatMul", name=name, **kwargs)[2].outputs[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    gs = tfshare.GraphSession()
    trunk = tfshare.SharedTrunk(gs, 784, (64,), seed=0)
    heads = [tfshare.Classifier(trunk=trunk, num_classes=10, name=f"h{i}", seed=i) for i in range(32)]
    x = np.random.default_rng(0).random((32, 784), dtype=np.float32)
    tfshare.predict_many(heads, x)
    heads[0].predict_proba(x)
    heads[0].predict_proba(x)
    plan = fused._recent_plan(heads)
    graph = gs.graph
    matmul = graph.get_operation_by_name("head_bank/MatMul")
    bias_add = graph.get_operation_by_name("head_bank/BiasAdd")
    head_mm = heads[0].probabilities_tensor.graph.get_operation_by_name("h0/head/MatMul")
    head_ba = graph.get_operation_by_name("h0/head/BiasAdd")
    with gs.building(), tf.device("/device:CPU:0"), tf.name_scope("variant"):
        logits = tf.reshape(fused_matmul(matmul.inputs[0], matmul.inputs[1], bias_add.inputs[1], "bank"), [-1, 10, 32])
        e = tf.exp(logits - tf.reduce_max(logits, axis=1, keepdims=True))
        bank = tf.math.divide(e, tf.reduce_sum(e, axis=1, keepdims=True))
        head_logits = fused_matmul(head_mm.inputs[0], head_mm.inputs[1], head_ba.inputs[1], "head")
        head = tf.exp(tf.nn.log_softmax(head_logits))
    x_in = heads[0].input_tensor
    bank_fn, head_fn = callable_of(gs.session, x_in, bank), callable_of(gs.session, x_in, head)
    plan_raw, head_raw = plan.fn.unwrap(), heads[0]._proba_fn
    diffs = {"bank": float(np.max(np.abs(bank_fn(x)[0] - plan_raw(x)[0]))),
             "head": float(np.max(np.abs(head_fn(x)[0] - head_raw(x)[0])))}
    print(f"max |diff|: {diffs}")
    assert max(diffs.values()) <= 1e-6
    fns = {"head_raw": lambda: head_raw(x), "head_fused_matmul": lambda: head_fn(x),
           "plan_raw": lambda: plan_raw(x), "plan_fused_matmul": lambda: bank_fn(x),
           "predict_proba": lambda: heads[0].predict_proba(x)}
    rounds = []
    print(machine()["uptime"])
    for r in range(args.rounds):
        stats = measure_interleaved(fns, repeats=args.repeats, warmup=3, min_time=0.05)
        row = {k: {"median_s": s.median, "vs_predict_proba": paired_ratio(s, stats["predict_proba"]),
                   "vs_head_raw": paired_ratio(s, stats["head_raw"]), "values": list(s.values), "loops": s.loops}
               for k, s in stats.items()}
        row["plan_fused_matmul"]["vs_plan_raw"] = paired_ratio(stats["plan_fused_matmul"], stats["plan_raw"])
        row["head_fused_matmul"]["vs_head_raw"] = paired_ratio(stats["head_fused_matmul"], stats["head_raw"])
        rounds.append(row)
        print(f"round {r}: " + " | ".join(f"{k} {v['median_s']*1e6:.1f}us {v['vs_predict_proba']:.3f}x" for k, v in row.items())
              + f" | bank fused/as built {row['plan_fused_matmul']['vs_plan_raw']:.3f}x, head fused/as built "
              f"{row['head_fused_matmul']['vs_head_raw']:.3f}x", flush=True)
    print(machine()["uptime"])
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"machine": machine(), "args": vars(args), "max_abs_diff": diffs, "rounds": rounds}, f, indent=1)
    gs.close()


if __name__ == "__main__":
    main()
