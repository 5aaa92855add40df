"""Where predict_many's time goes for 32 MLP heads on a trunk, batch 32 (side by side, interleaved)."""
import numpy as np, tfshare
from tfshare import fused
from tfshare.harness.timing import measure_interleaved, paired_ratio
from tfshare.head_bank import split_heads
gs = tfshare.GraphSession()
trunk = tfshare.SharedTrunk(gs, 784, (64,), seed=0)
heads = [tfshare.Classifier(trunk=trunk, num_classes=10, name=f"h{i}", seed=i) for i in range(32)]
x = np.random.default_rng(0).random((32, 784), dtype=np.float32)
tfshare.predict_many(heads, x); heads[0].predict_proba(x); heads[0].predict_proba(x)
plan = fused._recent_plan(heads)
raw = plan.fn.unwrap() if hasattr(plan.fn, "unwrap") else plan.fn
one = heads[0]._proba_fn
block = raw(x)[0]
fns = {
 "one_head_predict_proba": lambda: heads[0].predict_proba(x),
 "one_head_raw_callable": lambda: one(x),
 "predict_many": lambda: tfshare.predict_many(heads, x),
 "plan.run": lambda: plan.run(x),
 "plan_raw_callable": lambda: raw(x),
 "recent_plan": lambda: fused._recent_plan(heads),
 "validation": lambda: tfshare.validation.inputs(x, (784,)),
 "split+dict": lambda: dict(zip(plan.names, split_heads(block))),
}
for r in range(2):
    st = measure_interleaved(fns, repeats=11, warmup=3, min_time=0.05)
    base = st["one_head_predict_proba"]
    print(" | ".join(f"{k} {s.median*1e6:.1f}us ({paired_ratio(s, base):.2f}x)" for k, s in st.items()))
