"""Peak RSS (ru_maxrss) and wall time of N MLPs in the live pattern (build, initialize, predict
once), one setting per process: isolated (a runtime each) or one runtime with a shard op budget.
A third argument, session_run, patches the runtime's initialization back to Session.run
(before ../init_release/: an executor cached per pending set).

  python rss_live.py 1000 isolated      python rss_live.py 1000 240      python rss_live.py 1000 640 session_run
"""
import resource, sys, time

import numpy as np

import tfshare
from tfshare import runtime as rt

n, setting = int(sys.argv[1]), sys.argv[2]
if sys.argv[3:] == ["session_run"]:  # the code before ../init_release/, in-process branch only
    def _initialize_own(self):
        with self._lock:
            self._check_open()
            generation = self._build_generation
            pending = [v for v in self._own_variables() if v.name not in self._initialized]
            if pending:
                self.session.run([v.initializer for v in pending], self._initial_values.feeds(pending))
                self._initialized.update(v.name for v in pending)
            self._init_generation = generation
            return len(pending)
    rt.GraphSession._initialize_own = _initialize_own
    setting += " session_run"
elif sys.argv[3:]:
    raise SystemExit(f"the third argument must be session_run, got {sys.argv[3]}")
x = np.random.default_rng(0).random((1, 784), np.float32)
start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
shared = None
if not setting.startswith("isolated"):
    shared = tfshare.GraphSession(device="cpu")
    shared._shards.max_ops = int(setting.split()[0])
keep = []
t = time.perf_counter()
for k in range(n):
    runtime = shared or tfshare.GraphSession(device="cpu")
    clf = tfshare.DenseClassifier(784, 10, hidden_units=[64], runtime=runtime, seed=k)
    runtime.initialize()
    clf.predict_proba(x)
    keep.append(clf)
t = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"{setting}: N={n}, peak RSS {peak / 1024:.0f} MiB (after imports {start / 1024:.0f} MiB, "
      f"added {(peak - start) / 1024:.0f} MiB), {t:.1f} s")
