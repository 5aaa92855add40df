"""Totals of the live pattern in a marginal_cost result file: each mode's sum over k, and the k-th classifier near k = 10 and near the last k (medians of 10)."""
import json, sys, numpy as np, collections
d=json.load(open(sys.argv[1]))
t=collections.defaultdict(float); per=collections.defaultdict(dict)
for r in d["records"]:
    if r["kind"]=="marginal":
        s=r["build_s"]+r["init_s"]+r["first_predict_s"]; t[r["mode"]]+=s; per[r["mode"]][r["k"]]=s
n=max(max(v) for v in per.values())
for m,v in t.items():
    k10=np.median([per[m][k] for k in range(6,16)]); kn=np.median([per[m][k] for k in range(n-10,n+1)])
    print(f"{m}: total {v:.2f} s ({v/t['isolated']:.2f}x isolated), k~10 {k10*1e3:.1f} ms, k~{n} {kn*1e3:.1f} ms ({kn/k10:.2f}x)")
