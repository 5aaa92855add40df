"""Prints the README's tables from this folder's JSON files (cnn_ops_*.json, cnn_variants*.json, mlp_ops_*.json)."""

import glob
import json
import os
import statistics

HERE = os.path.dirname(os.path.abspath(__file__))


def load(pattern):
    return [(os.path.basename(p), json.load(open(p))) for p in sorted(glob.glob(os.path.join(HERE, pattern)))]


def cnn_ops():
    print("## CNN at batch 256, per layer group (FULL_TRACE medians; shares of the op sum)\n")
    for name, r in load("cnn_ops_*.json"):
        if "matmul_traced_call_gflops" not in r:
            print(f"{name}: written before the traced-call timing was added; see its log\n")
            continue
        load_avg = r["machine"]["uptime"].split("load average:")[1].strip()
        vs = r["gflops_vs_matmul_untraced"]
        print(f"{name} (load {load_avg}): untraced, paired: tfshare {vs['tfshare']:.3f}x, raw {vs['raw']:.3f}x the "
              f"MatMul's GFLOP/s ({r['matmul_call_gflops']:.0f} GFLOP/s); traced loop MatMul call "
              f"{r['matmul_traced_call_gflops']:.0f} GFLOP/s, its op alone {r['matmul_op_gflops_traced']:.0f}\n")
        print("| path | group | share of op time | MFLOP (share) | GFLOP/s | × MatMul call | µs beyond MatMul rate |")
        print("|---|---|---:|---:|---:|---:|---:|")
        total = r["flops_per_call"]
        for k in ("tfshare", "raw"):
            for row in r["groups"][k]["rows"]:
                if row["share"] < 0.001:
                    continue
                g = f"{row['gflops']:.0f}" if row["gflops"] else "–"
                v = f"{row['vs_matmul']:.2f}" if row["vs_matmul"] else "–"
                print(f"| {k} | {row['group']} | {row['share']:.1%} | {row['flops']/1e6:.1f} ({row['flops']/total:.1%}) "
                      f"| {g} | {v} | {row['excess_us']:.0f} |")
        print()
        for k in ("tfshare", "raw"):
            roof = r["groups"][k]["roofline"]
            conv1 = next(x for x in r["groups"][k]["rows"] if x["group"] == "conv1+bn+relu")
            rate = r["matmul_traced_call_gflops"] * 1e9
            only_conv1 = total / (conv1["median_us"] * 1e-6) / rate
            print(f"- {k}: traced call {roof['call_us']/1e3:.1f} ms = {roof['vs_matmul']:.3f}x; ops {roof['op_sum_us']/1e3:.1f} ms, "
                  f"outside ops {roof['outside_ops_us']/1e3:.1f} ms; 0.80x needs {roof['us_for_0.80x']/1e3:.1f} ms "
                  f"(gap {roof['gap_to_0.80x_us']/1e3:.1f} ms); every conv exactly at the MatMul rate: "
                  f"{roof['roofline_vs_matmul']:.3f}x; convs at least at it (conv0 raised): "
                  f"{roof['roofline_capped_vs_matmul']:.3f}x; only conv1's time left (all else free): {only_conv1:.2f}x")
        print()


def variants():
    print("## Variants (paired ratio to the default per round; GFLOP/s vs the MatMul)\n")
    for name, r in load("cnn_variants*.json"):
        load_avg = r["machine"]["uptime"].split("load average:")[1].strip()
        print(f"{name} (load at end {load_avg}); max |diff| of probabilities / block-0 output: " +
              ", ".join(f"{k} {v:.1e}" for k, v in r["max_abs_diff"].items()))
        names = [k for k in r["rounds"][0] if k not in ("default", "matmul")]
        print("\n| variant | × default per round | median | GFLOP/s × MatMul (median) |")
        print("|---|---|---:|---:|")
        for k in ["default", *names]:
            ratios = [rd[k]["vs_default"] for rd in r["rounds"]]
            mm = [rd[k]["gflops_vs_matmul"] for rd in r["rounds"]]
            print(f"| {k} | {' / '.join(f'{x:.3f}' for x in ratios)} | {statistics.median(ratios):.3f} | "
                  f"{statistics.median(mm):.2f} |")
        print()


def mlp():
    print("## MLP, 32 heads, batch 32\n")
    for name, r in load("mlp_ops_*.json"):
        load_avg = r["machine"]["uptime"].split("load average:")[1].strip()
        u = r["untraced"]
        print(f"{name} (load {load_avg}): " + ", ".join(
            f"{k} {v['median_s']*1e6:.1f} µs ({v['vs_predict_proba']:.2f}x)" for k, v in u.items()))
        t = r["traced"]
        for k in ("one_head", "fused"):
            print(f"  trace {k}: {len(t[k]['nodes'])} nodes, op sum {t[k]['op_sum_median_ns']/1e3:.1f} µs, step wall "
                  f"{t[k]['wall_median_ns']/1e3:.1f} µs, traced call {t[k]['call_median_ns']/1e3:.1f} µs")
        added = {n: v for n, v in t["fused"]["nodes"].items() if n not in t["one_head"]["nodes"]}
        print("  fused-only ops: " + ", ".join(f"{n.split('/')[-1]} ({v['op_type']}) {v['median_ns']/1e3:.1f}"
                                              for n, v in sorted(added.items(), key=lambda kv: -kv[1]["median_ns"])
                                              if v["median_ns"] >= 300))
        o = r["ops"]
        print(f"  added {o['added_by_fused_us']:.1f} µs, removed (one head's own) {o['only_in_one_head_us']:.1f} µs, "
              f"common ops {o['common_in_one_head_us']:.1f} / {o['common_in_fused_us']:.1f} µs")
        for k, v in r["split"].items():
            print(f"  {k}: {v['total_us']:.1f} µs = TF callable {v['tf_callable_us']:.1f} + Python "
                  f"{v['python_us_minus_wrapper']:.1f} (wrapper {r['wrapper_us']:.2f} subtracted)")
        print()


if __name__ == "__main__":
    cnn_ops()
    variants()
    mlp()
