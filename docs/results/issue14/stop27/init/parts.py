#!/usr/bin/env python3
"""Per-part medians (build, init, first predict; ms over all k) and live totals of marginal_cost JSON files.

  python parts.py FILE.json [FILE.json ...]
"""
import collections, json, sys
import numpy as np

for path in sys.argv[1:]:
    parts = collections.defaultdict(lambda: collections.defaultdict(list))
    for r in json.load(open(path))["records"]:
        if r["kind"] == "marginal":
            for p in ("build_s", "init_s", "first_predict_s"):
                parts[r["mode"]][p].append(r[p])
    totals = {m: sum(sum(v) for v in ps.values()) for m, ps in parts.items()}
    print(path)
    for mode, ps in parts.items():
        med = {p: np.median(v) * 1e3 for p, v in ps.items()}
        print(f"  {mode:13s} build {med['build_s']:6.2f}  init {med['init_s']:6.2f}  first predict "
              f"{med['first_predict_s']:6.2f} ms (medians over k)  total {totals[mode]:6.2f} s "
              f"({totals[mode] / totals['isolated']:.2f}x isolated)")
