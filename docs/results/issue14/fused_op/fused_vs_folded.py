"""Side by side: the CNN's inference with the fused op (new), the scaled-kernel fold (before), and TF's hand-built Grappler graph."""
import json, sys, numpy as np, tfshare
from tfshare import conv_fusion
from tfshare.bench import models, reference
from tfshare.harness import timing
m = models.model("cnn")
gs = tfshare.GraphSession(device="cpu")
new = tfshare.ConvClassifier((28, 28, 1), 10, runtime=gs, seed=0, name="fused_op")
usable = conv_fusion.usable
conv_fusion.usable = lambda t: False
old = tfshare.ConvClassifier((28, 28, 1), 10, runtime=gs, seed=1, name="folded")
conv_fusion.usable = usable
rng = np.random.default_rng(0)
xs = rng.random((64, 28, 28, 1), dtype=np.float32); ys = rng.integers(0, 10, 64)
new.fit(xs, ys, epochs=2, batch_size=16)
old.set_weights(new.get_weights())
raw = reference.raw_graph(m, new.get_weights())
out = {}
for b in (1, 32, 256):
    x = rng.random((b, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(new.predict_proba(x), old.predict_proba(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new.predict_proba(x), raw.call(x)[0], rtol=1e-5, atol=1e-6)
    fns = {"fused_op": lambda x=x: new.predict_proba(x), "folded": lambda x=x: old.predict_proba(x), "raw_graph": lambda x=x: raw.call(x)}
    st = timing.measure_interleaved(fns, repeats=int(sys.argv[1]), warmup=3, min_time=0.05)
    row = {k: v.median for k, v in st.items()}
    r1 = timing.paired_ratio(st["fused_op"], st["raw_graph"]); r2 = timing.paired_ratio(st["folded"], st["raw_graph"]); r3 = timing.paired_ratio(st["fused_op"], st["folded"])
    print(f"b{b}: fused_op {row['fused_op']*1e6:.0f} us, folded {row['folded']*1e6:.0f} us, raw_graph {row['raw_graph']*1e6:.0f} us; "
          f"fused_op/raw {r1:.3f}, folded/raw {r2:.3f}, fused_op/folded {r3:.3f}", flush=True)
    out[b] = {k: list(v.values) for k, v in st.items()} | {"paired": {"fused_op/raw_graph": r1, "folded/raw_graph": r2, "fused_op/folded": r3}}
json.dump(out, open(sys.argv[2], "w"), indent=1)
