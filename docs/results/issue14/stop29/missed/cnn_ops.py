"""Goal 4: where the CNN's inference time goes at batch 256, per op, against a large MatMul in the same process.

Three things in one process, on the benchmarks' CNN (28x28x1, Conv(32)-BN-ReLU-MaxPool,
Conv(64)-BN-ReLU-GlobalAvgPool, Dense(10)):

* tfshare: ``ConvClassifier.predict_proba``'s graph in its runtime's Session (the
  fused ``_FusedConv2D`` of ``tfshare/conv_fusion.py``, Grappler off as tfshare runs it);
* raw: ``tfshare.bench.reference.raw_graph``, TensorFlow's hand-built graph with
  Grappler on (its remapper makes the same fused ops);
* matmul: ``tfshare.bench.efficiency.MatMul`` (1024 x 1024 by default), goal 4's reference.

First the three untraced, interleaved (``measure_interleaved``): whole-call GFLOP/s and
their ratio to the MatMul's (goal 4's figure). Then ``--runs`` FULL_TRACE calls of
each, interleaved: per op and per layer group the median op time, its FLOPs
(TensorFlow's per-op statistic on the plain graph), GFLOP/s, ratio to the MatMul's
traced call GFLOP/s (same loop), and the time beyond what it would take at that
rate. The "roofline" is the traced call's time if every convolution ran at the
MatMul's rate (``roofline_vs_matmul``), or at least at it
(``roofline_capped_vs_matmul``: a conv already faster keeps its time), everything
else taking what it took.

Usage: TF_CPP_MIN_LOG_LEVEL=3 nice python cnn_ops.py --out=cnn_ops.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from trace_ops import cnn_classifier, Traced, flops_by_node, grouped, machine, summary  # noqa: E402

from tfshare.bench import reference  # noqa: E402
from tfshare.bench.efficiency import MatMul  # noqa: E402
from tfshare.harness.timing import measure_interleaved, paired_ratio  # noqa: E402

CONV_GROUPS = ("conv0+bn+relu", "conv1+bn+relu")


def group_of(name: str, op_type: str) -> str:
    """The CNN's layer group of an executed node (tfshare's or the raw graph's names)."""
    for i in (0, 1):
        if f"pool_{i}" in name:
            return f"maxpool{i}"
        if any(f"{k}_{i}" in name for k in ("conv", "bn", "relu")):
            return f"conv{i}+bn+relu"
    if "global_pool" in name:
        return "global_avg_pool"
    if "head" in name:
        return "head_dense"
    if "oftmax" in name or op_type in ("Softmax", "_MklSoftmax", "LogSoftmax", "Exp"):
        return "softmax"
    return f"other:{op_type}"


def table(groups: dict, flops: dict, rate: float, call_s: float) -> tuple[list[dict], dict]:
    """Per group rows and the roofline figures; ``rate`` the MatMul's FLOP/s, ``call_s`` the untraced call time."""
    rows = []
    for g, v in sorted(groups.items(), key=lambda kv: -kv[1]["median_ns"]):
        t = v["median_ns"] * 1e-9
        f = flops.get(g, 0)
        rows.append({"group": g, "median_us": t * 1e6, "share": v["share"], "flops": f,
                     "gflops": f / t / 1e9 if t and f else None, "vs_matmul": f / t / rate if t and f else None,
                     "us_at_matmul_rate": f / rate * 1e6, "excess_us": (t - f / rate) * 1e6, "nodes": v["nodes"]})
    total_flops = sum(flops.values())
    op_sum = sum(v["median_ns"] for v in groups.values()) * 1e-9
    conv_t = sum(groups[g]["median_ns"] for g in CONV_GROUPS if g in groups) * 1e-9
    conv_f = sum(flops.get(g, 0) for g in CONV_GROUPS)
    roof_s = call_s - conv_t + conv_f / rate
    # Never slower than measured: a conv already above the MatMul's rate keeps its time.
    capped_s = call_s - sum(groups[g]["median_ns"] * 1e-9 - min(groups[g]["median_ns"] * 1e-9, flops.get(g, 0) / rate)
                            for g in CONV_GROUPS if g in groups)
    roof = {"total_flops": total_flops, "call_us": call_s * 1e6, "op_sum_us": op_sum * 1e6,
            "outside_ops_us": (call_s - op_sum) * 1e6, "vs_matmul": total_flops / call_s / rate,
            "us_for_0.80x": total_flops / (0.8 * rate) * 1e6,
            "gap_to_0.80x_us": (call_s - total_flops / (0.8 * rate)) * 1e6,
            "roofline_call_us_convs_at_matmul_rate": roof_s * 1e6, "roofline_vs_matmul": total_flops / roof_s / rate,
            "roofline_call_us_convs_at_least_matmul_rate": capped_s * 1e6,
            "roofline_capped_vs_matmul": total_flops / capped_s / rate}
    return rows, roof


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--runs", type=int, default=60, help="FULL_TRACE calls of each (the first 5 dropped)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--matmul", type=int, default=1024)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    model, x, gs, clf = cnn_classifier(args.batch)
    ours = clf.predict_proba(x)
    raw = reference.raw_graph(model, clf.get_weights(), 10)
    np.testing.assert_allclose(raw.call(x)[0], ours, atol=1e-5)
    matmul = MatMul(args.matmul, "/cpu:0", 0)
    flops_raw = flops_by_node(raw.probabilities.op.inputs[0], {raw.input: x.shape})  # softmax aside, as efficiency
    flops = {}
    for name, f in flops_raw.items():
        g = group_of(name, "")
        flops[g] = flops.get(g, 0) + f
    fns = {"tfshare": lambda: clf.predict_proba(x), "raw": lambda: raw.call(x), "matmul": matmul.tf}
    stats = measure_interleaved(fns, repeats=args.repeats, warmup=3, min_time=0.2)
    total = sum(flops.values())
    mm_flops = matmul.flops
    call = {k: s.median for k, s in stats.items()}
    vs = {k: total / mm_flops / paired_ratio(stats[k], stats["matmul"]) for k in ("tfshare", "raw")}
    traced = {"tfshare": Traced(gs.session, [clf.input_tensor], [clf.probabilities_tensor]),
              "raw": Traced(raw.session, [raw.input], [raw.probabilities]),
              "matmul": Traced(matmul.session, [], [matmul.product])}
    for _ in range(args.runs):
        traced["tfshare"](x)
        traced["raw"](x)
        traced["matmul"]()
    summ = {k: summary(t.runs, skip=5) for k, t in traced.items()}
    mm_op_ns = sum(v["median_ns"] for v in summ["matmul"]["nodes"].values() if "MatMul" in v["op_type"])
    rate = mm_flops / call["matmul"]
    result = {"machine": machine(), "args": vars(args), "flops_per_call": total, "flops_by_group": flops,
              "flops_by_node_raw": flops_raw, "matmul_flops": mm_flops,
              "untraced": {k: {"median_s": s.median, "values": list(s.values), "loops": s.loops} for k, s in stats.items()},
              "gflops_vs_matmul_untraced": vs,
              "matmul_call_gflops": rate / 1e9, "matmul_op_gflops_traced": mm_flops / (mm_op_ns * 1e-9) / 1e9,
              "traced": summ, "groups": {}}
    print(result["machine"]["uptime"])
    print(f"untraced medians: " + ", ".join(f"{k} {v*1e3:.2f} ms" for k, v in call.items()))
    print(f"GFLOP/s vs MatMul (paired): tfshare {vs['tfshare']:.3f}x, raw {vs['raw']:.3f}x; MatMul call "
          f"{rate/1e9:.0f} GFLOP/s, its op traced {result['matmul_op_gflops_traced']:.0f} GFLOP/s")
    # The roofline from the traced loop alone (op times and calls from the same interleaved calls):
    # the CNN's traced call and the MatMul's traced call, so both carry the same tracing and load.
    rate_traced = mm_flops / (summ["matmul"]["call_median_ns"] * 1e-9)
    result["matmul_traced_call_gflops"] = rate_traced / 1e9
    print(f"traced loop: MatMul call {rate_traced/1e9:.0f} GFLOP/s; " + ", ".join(
        f"{k} call {summ[k]['call_median_ns']/1e6:.2f} ms = {total/(summ[k]['call_median_ns']*1e-9)/rate_traced:.3f}x MatMul"
        for k in ("tfshare", "raw")))
    for k in ("tfshare", "raw"):
        groups = grouped(summ[k]["nodes"], group_of)
        rows, roof = table(groups, flops, rate_traced, summ[k]["call_median_ns"] * 1e-9)
        result["groups"][k] = {"rows": rows, "roofline": roof}
        print(f"\n== {k}: call {call[k]*1e3:.2f} ms untraced, traced wall {summ[k]['wall_median_ns']/1e6:.2f} ms, "
              f"op sum {summ[k]['op_sum_median_ns']/1e6:.2f} ms, traced call {summ[k]['call_median_ns']/1e6:.2f} ms")
        print(f"{'group':22s} {'us':>8s} {'share':>6s} {'MFLOP':>8s} {'GFLOP/s':>8s} {'vs MM':>6s} {'us@MM':>7s} {'excess':>8s}")
        for r in rows:
            g = f"{r['gflops']:.0f}" if r["gflops"] else "-"
            v = f"{r['vs_matmul']:.2f}" if r["vs_matmul"] else "-"
            print(f"{r['group']:22s} {r['median_us']:8.0f} {r['share']:6.1%} {r['flops']/1e6:8.1f} {g:>8s} {v:>6s} "
                  f"{r['us_at_matmul_rate']:7.0f} {r['excess_us']:8.0f}")
        print("roofline: " + ", ".join(f"{a} {b:.3g}" for a, b in roof.items()))
    print("\nper node (tfshare):")
    for n, v in sorted(summ["tfshare"]["nodes"].items(), key=lambda kv: -kv[1]["median_ns"])[:15]:
        print(f"  {v['median_ns']/1e3:8.1f} us {v['share']:6.1%} {v['op_type']:28s} {n}")
    print("per node (raw):")
    for n, v in sorted(summ["raw"]["nodes"].items(), key=lambda kv: -kv[1]["median_ns"])[:15]:
        print(f"  {v['median_ns']/1e3:8.1f} us {v['share']:6.1%} {v['op_type']:28s} {n}")
    if args.out:
        for k in summ:  # raw per-run op sums/walls stay; per-run per-node dicts are too large
            result["traced"][k]["per_run_nodes_ns"] = {n: [r["ops"].get(n, (None, 0))[1] for r in traced[k].runs]
                                                       for n in summ[k]["nodes"]}
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1, default=str)
    matmul.close()
    raw.session.close()
    gs.close()


if __name__ == "__main__":
    main()
