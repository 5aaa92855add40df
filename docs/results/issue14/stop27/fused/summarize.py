"""Summarizes this folder's JSON files: goal 2's ratio per run, and the parts' medians (python summarize.py)."""
import glob
import json
import os
import statistics

HERE = os.path.dirname(os.path.abspath(__file__))


def bench_rows(model):
    rows = []
    for path in sorted(glob.glob(os.path.join(HERE, f"{model}_*.json"))):
        doc = json.load(open(path))
        rec = {r["mode"]: r for r in doc["records"] if r.get("kind") == "predict" and r["setup"] == "shared_trunk"}
        fused, one = rec["fused"], rec["one_call"]
        rows.append((os.path.basename(path), doc["tfshare"]["commit"][:7], statistics.median(fused["seconds"]["values"]),
                     statistics.median(one["seconds"]["values"]), fused["ratio_vs_one_call"], doc["machine"].get("load")))
    return rows


for model in ("mlp", "cnn"):
    rows = bench_rows(model)
    print(f"## {model}: predict_many(32 heads) / predict_proba(one head), batch 32")
    for name, commit, f, o, r, load in rows:
        print(f"{name:22s} {commit} fused {f * 1e6:9.1f} us  one {o * 1e6:9.1f} us  ratio {r:.3f}  load {load}")
    if rows:
        print(f"median ratio over {len(rows)} runs: {statistics.median(r[4] for r in rows):.3f}"
              f" (range {min(r[4] for r in rows):.3f}-{max(r[4] for r in rows):.3f})")
print("## parts (fused_parts.py): median over runs of each run's paired ratio to one head's predict_proba, and of its median")
parts = [run for p in sorted(glob.glob(os.path.join(HERE, "parts_*.json"))) for run in json.load(open(p))["runs"]]
if parts:
    for key in parts[0]:
        ratios = [run[key]["ratio_vs_one_head_predict_proba"] for run in parts]
        us = [run[key]["median_s"] * 1e6 for run in parts]
        print(f"{key:24s} {statistics.median(ratios):.3f}x (range {min(ratios):.3f}-{max(ratios):.3f})  "
              f"{statistics.median(us):8.2f} us  ({len(parts)} runs)")
    glue = [(run["predict_many"]["ratio_vs_one_head_predict_proba"] - run["floor"]["ratio_vs_one_head_predict_proba"])
            for run in parts]
    print(f"predict_many - floor: {statistics.median(glue):+.3f}x of one predict_proba (range {min(glue):+.3f} to {max(glue):+.3f})")
