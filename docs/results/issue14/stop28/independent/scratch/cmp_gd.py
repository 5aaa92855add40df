import sys, tfshare, hashlib
gs = tfshare.GraphSession(shard_size=None)
t = tfshare.SharedTrunk(gs, 784, (16,), seed=0)
cs = [tfshare.DenseClassifier(784, 10, runtime=gs, seed=i) for i in range(3)] + [tfshare.DenseClassifier(trunk=t, seed=i) for i in range(3)]
cs += [tfshare.ConvClassifier(runtime=gs, seed=i) for i in range(2)] if hasattr(tfshare, "ConvClassifier") else []
gd = gs.graph.as_graph_def()
print(len(gd.node), hashlib.sha256(gd.SerializeToString(deterministic=True)).hexdigest()[:16])
