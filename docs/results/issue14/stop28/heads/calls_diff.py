"""Python calls per head by function: heads 1-25 (the trunk's shard) against 51-75 (on a mirror), CNN or MLP."""
import cProfile, pstats, sys
import numpy as np
import tfshare
from tfshare.bench import models
name = sys.argv[1]
model = models.model(name)
x = models.random_inputs(model, 1, np.random.default_rng(0))
gs = tfshare.GraphSession(device="cpu")
trunk = model.shared_trunk(gs, seed=0)
keep, stats = [], {}
for k in range(1, 76):
    if k in (1, 51):
        prof = cProfile.Profile(); prof.enable()
    clf = model.head(trunk, 10, seed=k); clf.runtime.initialize(); clf.predict_proba(x); keep.append(clf)
    if k in (25, 75):
        prof.disable(); stats[k] = {key: v[1] / 25 for key, v in pstats.Stats(prof).stats.items()}
        stats[(k, "cum")] = {key: v[3] / 25 for key, v in pstats.Stats(prof).stats.items()}
print("home shard: heads on trunk's shard:", sum(1 for c in keep[:25] if c.shard is trunk.shard), "; 51-75 on mirrors:", sum(1 for c in keep[50:] if c.shard is not trunk.shard))
keys = set(stats[25]) | set(stats[75])
rows = sorted(keys, key=lambda k: -(stats[75].get(k, 0) - stats[25].get(k, 0)))
for key in rows[:25]:
    f, l, fn = key
    print(f"{stats[25].get(key, 0):8.1f} {stats[75].get(key, 0):8.1f}  cum {1e3*stats[(75,'cum')].get(key,0):7.2f} ms  {f.split('site-packages/')[-1].split('src/')[-1]}:{l}({fn})")
