"""Stop 27: ways to make the 32 per-head result views of a [32, 10, 32] block (NumPy alone), 10th percentiles of 30 interleaved values, µs."""
import numpy as np, timeit, random
blk = np.random.rand(32, 10, 32).astype(np.float32)
names = tuple(f"h{i}" for i in range(32))
T = blk.transpose(2, 0, 1)
cands = {
 "dict_zip_T": lambda: dict(zip(names, blk.transpose(2, 0, 1))),
 "list_T": lambda: list(blk.transpose(2, 0, 1)),
 "unstack_getitem": lambda: dict(zip(names, map(T.__getitem__, range(32)))),
 "T_only": lambda: blk.transpose(2, 0, 1),
 "one_view": lambda: T[0],
 "tuple_ids": lambda: tuple(map(id, names)),
}
res = {k: [] for k in cands}
for r in range(30):
    for k in random.sample(list(cands), len(cands)):
        res[k].append(timeit.timeit(cands[k], number=2000) / 2000 * 1e6)
print(" | ".join(f"{k} {np.percentile(v,10):.3f}" for k, v in res.items()))
