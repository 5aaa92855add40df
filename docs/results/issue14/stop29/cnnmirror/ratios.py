"""k-th vs 10th and total vs isolated from marginal_cost JSON files (live pattern records).

A classifier's cost is build + init + first_predict. The 10th is the median of k = 6..15,
the k-th the median of the last 10 (k = N-9..N); means per window of 25 include the head
that builds a mirror (its spike is amortized there, not hidden by the median).

Usage: python ratios.py marginal_*.json
"""

import json
import statistics
import sys


def per_mode(path):
    with open(path) as f:
        data = json.load(f)
    modes = {}
    for r in data["records"]:
        if r.get("kind") == "marginal":
            modes.setdefault(r["mode"], {})[r["k"]] = r["build_s"] + r["init_s"] + r["first_predict_s"]
    return modes


def main():
    for path in sys.argv[1:]:
        modes = per_mode(path)
        iso = modes["isolated"]
        heads = modes["shared_trunk"]
        n = max(heads)
        tenth = statistics.median(heads[k] for k in range(6, 16))
        last = statistics.median(heads[k] for k in range(n - 9, n + 1))
        windows = [statistics.mean(heads[k] for k in range(a, min(a + 25, n + 1))) * 1e3 for a in range(1, n + 1, 25)]
        spike = max(heads.values())
        print(f"{path}: heads total {sum(heads.values()):.2f} s, isolated {sum(iso.values()):.2f} s, "
              f"ratio {sum(heads.values()) / sum(iso.values()):.3f}; {n}th/10th {last / tenth:.2f} "
              f"({last * 1e3:.1f} / {tenth * 1e3:.1f} ms); mean per 25 heads (ms) "
              f"{', '.join(f'{w:.1f}' for w in windows)}; last-25 mean / first-25 mean {windows[-1] / windows[0]:.2f}; "
              f"max head {spike * 1e3:.0f} ms")
        opening = [heads[k] * 1e3 for k in range(32, n + 1, 25)]  # the heads that opened a mirror (25 per mirror)
        print(f"    heads k = 32, 57, ..., opening a mirror (ms): {', '.join(f'{t:.0f}' for t in opening)}; "
              f"median {statistics.median(opening):.0f}; median of the others "
              f"{statistics.median(v for k, v in heads.items() if (k - 32) % 25 or k < 32) * 1e3:.1f}")


if __name__ == "__main__":
    main()
