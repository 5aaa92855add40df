"""Summarizes marginal_cost JSONs of the live pattern: per-head cost near k = 10, 200, 300, 500, 1,000 (those reached) and totals.

    python summarize.py marginal_cost_mlp_heads_before.json marginal_cost_mlp_heads_after.json \
        marginal_cost_cnn_heads_before.json marginal_cost_cnn_heads_after.json
"""

import json
import sys

import numpy as np

WINDOWS = {10: (6, 15), 200: (191, 200), 300: (291, 310), 500: (491, 500), 1000: (981, 1000)}


def main(paths):
    for path in paths:
        records = [r for r in json.load(open(path))["records"] if r.get("kind") == "marginal"]
        totals = {}
        print(f"## {path}\n")
        n = max(r["k"] for r in records)
        windows = {k: w for k, w in WINDOWS.items() if w[1] <= n}
        later = [k for k in windows if k != 10]
        print("| mode | total (build + init + first predict) | " + " | ".join(f"k≈{k:,}" for k in windows) + " | "
              + " | ".join(f"{k:,}th/10th" for k in later) + " |")
        print("|---|---:|" + "---:|" * (len(windows) + len(later)))
        for mode in dict.fromkeys(r["mode"] for r in records):
            cost = {r["k"]: r["build_s"] + r["init_s"] + r["first_predict_s"] for r in records if r["mode"] == mode}
            totals[mode] = sum(cost.values())
            med = {k: float(np.median([cost[i] for i in range(a, b + 1) if i in cost] or [np.nan]))
                   for k, (a, b) in windows.items()}
            cells = [f"{med[k] * 1e3:.1f} ms" for k in windows]
            ratios = [f"{med[k] / med[10]:.2f}×" for k in later]
            print(f"| {mode} | {totals[mode]:.1f} s (n={len(cost)}) | " + " | ".join(cells + ratios) + " |")
        print("\n| mode | part | median of the first N/8 | of the last N/8 | last / first |")
        print("|---|---|---:|---:|---:|")
        for mode in dict.fromkeys(r["mode"] for r in records):
            rows = sorted((r for r in records if r["mode"] == mode), key=lambda r: r["k"])
            eighth = max(1, len(rows) // 8)
            for part in ("build_s", "init_s", "first_predict_s"):
                first = float(np.median([r[part] for r in rows[:eighth]]))
                last = float(np.median([r[part] for r in rows[-eighth:]]))
                print(f"| {mode} | {part[:-2]} | {first * 1e3:.1f} ms | {last * 1e3:.1f} ms | {last / first:.2f}× |")
        if "isolated" in totals:
            for mode, total in totals.items():
                print(f"\n{mode}: total {total / totals['isolated']:.2f}× isolated")
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
