"""Stop 27: predict_many / predict_proba (32 MLP heads, batch 32) with TF's thread spinning on (argv 0) or off (1).

The first run of the log used 25 repeats, the second 41 (range(41) below).
"""
import timeit, numpy as np, tfshare, sys, random
from tfshare._tf import tf1
nospin = sys.argv[1] == "1"
cfg = tf1.ConfigProto(intra_op_parallelism_threads=2, inter_op_parallelism_threads=2)
cfg.graph_options.place_pruned_graph = True
cfg.experimental.disable_thread_spinning = nospin
gs = tfshare.GraphSession(config=cfg)
trunk = tfshare.SharedTrunk(gs, 784, (64,), seed=0)
heads = [tfshare.Classifier(trunk=trunk, num_classes=10, name=f"h{i}", seed=i) for i in range(32)]
x = np.random.default_rng(0).random((32, 784), dtype=np.float32)
tfshare.predict_many(heads, x); heads[0].predict_proba(x); heads[0].predict_proba(x)
pm = lambda: tfshare.predict_many(heads, x); pp = lambda: heads[0].predict_proba(x)
res = {"pm": [], "pp": []}
for r in range(41):
    for k, f in random.sample([("pm", pm), ("pp", pp)], 2):
        res[k].append(timeit.timeit(f, number=300) / 300 * 1e6)
print("nospin" if nospin else "spin  ", f"pm {np.median(res['pm']):.1f} pp {np.median(res['pp']):.1f} ratio {np.median(np.array(res['pm'])/np.array(res['pp'])):.3f}")
