"""cProfile of heads 101-300 on a 784-64 trunk in the live pattern (build, initialize, predict once), with mirrors.

    python heads_profile.py > heads_profile.log
"""
import cProfile, pstats, time, numpy as np, tfshare
gs = tfshare.GraphSession()
t = tfshare.SharedTrunk(gs, 784, (64,), seed=0)
x = np.random.default_rng(0).random((1, 784), dtype=np.float32)
def one(i):
    h = tfshare.DenseClassifier(trunk=t, num_classes=10, seed=i)
    gs.initialize(); h.predict_proba(x)
for i in range(100): one(i)
pr = cProfile.Profile(); t0=time.perf_counter(); pr.enable()
for i in range(100, 300): one(i)
pr.disable(); print("200 heads", time.perf_counter()-t0, "s; shards", len(gs.shards))
st = pstats.Stats(pr); st.sort_stats("tottime").print_stats(14)
st.sort_stats("cumulative").print_stats("mirrors|_initialize_own|first_call|_build\\b|sync|TF_Session|Extend", 20)
