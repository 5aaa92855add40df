"""TF_SessionMakeCallable cost for new init and predict signatures, by Session config variant, in a graph of ~8 MLPs.
Variants advanced together (new classifier each step in each variant's runtime, shuffled order)."""
import collections, os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tfshare
from tfshare._tf import tf1
from tensorflow.python.client import session as tfsession
from tensorflow.core.protobuf import config_pb2
acc = collections.defaultdict(float)
ts = tfsession.tf_session
f0 = ts.TF_SessionMakeCallable
def w(*a, **k):
    t = time.perf_counter()
    try: return f0(*a, **k)
    finally: acc["make"] += time.perf_counter() - t
ts.TF_SessionMakeCallable = w
def cfg(level=None, cse=None, fold=None, inline=None):
    c = tf1.ConfigProto(); c.allow_soft_placement = True; c.intra_op_parallelism_threads = 2; c.inter_op_parallelism_threads = 2
    c.device_count["GPU"] = 0; c.graph_options.place_pruned_graph = True; c.gpu_options.allow_growth = True
    oo = c.graph_options.optimizer_options
    if level is not None: oo.opt_level = level
    if cse is not None: oo.do_common_subexpression_elimination = cse
    if fold is not None: oo.do_constant_folding = fold
    if inline is not None: oo.do_function_inlining = inline
    return c
variants = {"default": None, "same_as_default_explicit": cfg(), "L0": cfg(level=config_pb2.OptimizerOptions.L0),
            "no_fold_no_cse": cfg(cse=False, fold=False)}
x = np.random.default_rng(0).random((1, 784), np.float32)
res = {v: {"init": [], "pred": [], "out": []} for v in variants}
rng = np.random.default_rng(0)
for rep in range(int(sys.argv[1])):
    gss = {v: tfshare.GraphSession(config=c, shard_size=None) for v, c in variants.items()}
    for k in range(12):
        order = list(variants); rng.shuffle(order)
        for v in order:
            gs = gss[v]; clf = tfshare.DenseClassifier(784, 10, runtime=gs, seed=k)
            acc.clear(); gs.initialize(); a = acc["make"]; acc.clear(); p = clf.predict_proba(x); b = acc["make"]
            if k >= 4: res[v]["init"].append(a); res[v]["pred"].append(b); res[v]["out"].append(p)
    for gs in gss.values(): gs.close()
for v in variants:
    same = all(np.array_equal(a, b) for a, b in zip(res[v]["out"], res["default"]["out"]))
    print(f"{v:26s} init make {np.median(res[v]['init'])*1e3:.3f} ms  predict make {np.median(res[v]['pred'])*1e3:.3f} ms  same outputs {same}")
print(open("/proc/loadavg").read())
