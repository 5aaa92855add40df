"""Two checkpoint facts reliability.md states, measured: (1) restoring one head of a trunk moves the
other heads (the trunk is theirs too); (2) a checkpoint holds no Adam state, so one fit step after a
restore differs between a classifier that had trained and a fresh one.

  python restore_semantics.py
"""
import os, tempfile
import numpy as np
import tfshare

d = tempfile.mkdtemp()
x = np.random.default_rng(0).normal(size=(4, 8)).astype("float32")
other = tfshare.DenseClassifier(8, 3, hidden_units=(4,), seed=7)
other.save(os.path.join(d, "other"))
gs = tfshare.GraphSession()
t = tfshare.SharedTrunk(gs, 8, (4,), seed=0)
a = tfshare.DenseClassifier(num_classes=3, trunk=t, name="a", seed=1)
b = tfshare.DenseClassifier(num_classes=5, trunk=t, name="b", seed=2)
before = b.predict_proba(x)
a.restore(os.path.join(d, "other"))
print(f"head b's probabilities moved by a.restore(): max |dp| {np.abs(b.predict_proba(x) - before).max():.4f}")
tfshare.save_runtime([a, b], os.path.join(d, "rt.npz"))
gs2 = tfshare.GraphSession()
t2 = tfshare.SharedTrunk(gs2, 8, (4,), seed=3)
a2 = tfshare.DenseClassifier(num_classes=3, trunk=t2, name="a", seed=4)
b2 = tfshare.DenseClassifier(num_classes=5, trunk=t2, name="b", seed=5)
before = b2.predict_proba(x)
tfshare.restore_runtime([a2], os.path.join(d, "rt.npz"))
print(f"head b2's probabilities moved by restore_runtime([a2]): max |dp| {np.abs(b2.predict_proba(x) - before).max():.4f}")

rng = np.random.default_rng(1)
xs, ys = rng.normal(size=(64, 8)).astype("float32"), rng.integers(0, 3, 64)
trained = tfshare.DenseClassifier(8, 3, hidden_units=(4,), seed=0)
trained.fit(xs, ys, epochs=5, batch_size=16, learning_rate=1e-3, shuffle=False)
trained.save(os.path.join(d, "ck"))
fresh = tfshare.DenseClassifier(8, 3, hidden_units=(4,), seed=9)
fresh.restore(os.path.join(d, "ck"))
trained.restore(os.path.join(d, "ck"))
for clf in (trained, fresh):
    clf.fit(xs[:16], ys[:16], epochs=1, batch_size=16, learning_rate=1e-3, shuffle=False)
w1, w2 = trained.get_weights(), fresh.get_weights()
print(f"one fit step after restoring one checkpoint, trained vs fresh classifier: max |dw| "
      f"{max(np.abs(w1[k] - w2[k]).max() for k in w1):.4f} (learning rate 1e-3)")
