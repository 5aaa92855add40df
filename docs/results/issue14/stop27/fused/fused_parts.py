"""Where predict_many's warm call goes, 32 MLP heads on a 784-64 trunk, batch 32 (stop 27).

Times, side by side in one process (``measure_interleaved``, balanced orders):
  - the two calls of goal 2 and their raw TF callables;
  - each Python part of predict_many's warm path alone;
  - ``floor``: the least Python any warm path must run around the raw fused
    callable (the plan lookup, input validation, one view per head), right
    after a TF call as in a real loop; ``predict_many`` minus ``floor`` is
    everything else (bank freshness check, FastCallable, plan.run's frames).

Usage: python fused_parts.py OUT.json [LABEL]   (the JSON keeps every raw value)
"""
import json
import sys

import numpy as np

import tfshare
from tfshare import fused, validation
from tfshare.harness.machine import machine_info
from tfshare.harness.timing import measure_interleaved, paired_ratio

gs = tfshare.GraphSession()
trunk = tfshare.SharedTrunk(gs, 784, (64,), seed=0)
heads = [tfshare.Classifier(trunk=trunk, num_classes=10, name=f"h{i}", seed=i) for i in range(32)]
x = np.random.default_rng(0).random((32, 784), dtype=np.float32)
tfshare.predict_many(heads, x)
heads[0].predict_proba(x)
heads[0].predict_proba(x)
plan = fused._recent_plan(heads)
raw = plan.fn.unwrap()
one = heads[0]._proba_fn
bank = plan.banks[0]
names = plan.names
block = raw(x)[0]
inputs, recent = validation.inputs, fused._recent_plan


def floor():
    p = recent(heads)
    y = inputs(x, p.input_shape)
    return dict(zip(names, raw(y)[0].transpose(2, 0, 1)))


fns = {
    "one_head_predict_proba": lambda: heads[0].predict_proba(x),
    "one_head_raw_callable": lambda: one(x),
    "predict_many": lambda: tfshare.predict_many(heads, x),
    "plan_raw_callable": lambda: raw(x),
    "floor": floor,
    "lookup": lambda: recent(heads),
    "validation": lambda: inputs(x, (784,)),
    "views": lambda: dict(zip(names, block.transpose(2, 0, 1))),
    "ensure_fresh": bank.ensure_fresh,
}
assert all(np.array_equal(a, b) for a, b in zip(floor().values(), tfshare.predict_many(heads, x).values()))
runs = []
for r in range(2):
    stats = measure_interleaved(fns, repeats=11, warmup=3, min_time=0.05)
    base = stats["one_head_predict_proba"]
    line = " | ".join(f"{k} {s.median * 1e6:.2f}us ({paired_ratio(s, base):.2f}x)" for k, s in stats.items())
    print(line, flush=True)
    runs.append({k: {"median_s": s.median, "ratio_vs_one_head_predict_proba": paired_ratio(s, base),
                     "values_s": list(s.values), "loops": s.loops} for k, s in stats.items()})
with open(sys.argv[1], "w") as f:
    json.dump({"label": sys.argv[2] if len(sys.argv) > 2 else "", "tfshare": tfshare.__file__,
               "machine": machine_info(), "runs": runs}, f, indent=1, default=str)
