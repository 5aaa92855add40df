"""Make, predict with and close MLP classifiers in one sharded runtime, over and over; record RSS, shards and ops.

Usage (the tree under test first on PYTHONPATH):
  PYTHONPATH=<tree> python churn.py --cycles 2000 --every 100 --label branch --out churn_branch.json

Each cycle: DenseClassifier(784, 10, (64,)) in the runtime (default shard_size), one predict_proba of a
batch of 8, close(). One classifier made first stays open all along and must predict the same at the end.
Counts, not times: RSS (VmRSS of /proc/self/status), live shards, ops in the live shards' graphs. At each
sample RSS is read, then glibc's malloc_trim(0) returns freed heap pages to the system and RSS is read again
(``rss_trimmed_kib``): glibc keeps freed memory in its arenas, so the raw RSS also counts memory that was freed.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import subprocess
import sys

import numpy as np


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=2000)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--label", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import tensorflow as tf
    import tfshare

    x = np.random.default_rng(0).random((8, 784), dtype=np.float32)
    gs = tfshare.GraphSession(device="cpu")
    survivor = tfshare.DenseClassifier(784, 10, (64,), runtime=gs, seed=12345)
    before = survivor.predict_proba(x)
    samples = []
    for i in range(1, args.cycles + 1):
        clf = tfshare.DenseClassifier(784, 10, (64,), runtime=gs, seed=i)
        clf.predict_proba(x)
        clf.close()
        del clf
        if i % args.every == 0 or i == 1:
            live = [s for s in gs.shards if not s.closed]
            raw = rss_kib()
            ctypes.CDLL("libc.so.6").malloc_trim(0)
            samples.append({
                "cycle": i, "rss_kib": raw, "rss_trimmed_kib": rss_kib(), "shards": len(gs.shards),
                "ops_in_live_shards": sum(s.graph.version for s in live),
                "reclaimed": getattr(gs._shards, "reclaimed", None),
            })
            print(json.dumps(samples[-1]), flush=True)
    gc.collect()
    same = bool(np.array_equal(survivor.predict_proba(x), before))
    commit = subprocess.run(["git", "-C", os.path.dirname(tfshare.__file__), "rev-parse", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    result = {
        "label": args.label, "cycles": args.cycles, "samples": samples, "survivor_predictions_unchanged": same,
        "final_rss_kib": rss_kib(), "tfshare": os.path.dirname(tfshare.__file__), "commit": commit,
        "tensorflow": tf.__version__, "python": sys.version.split()[0], "machine": platform.platform(),
        "cpus": os.cpu_count(), "loadavg_end": os.getloadavg(),
    }
    with open(args.out, "w") as out:
        json.dump(result, out, indent=1)
    gs.close()


if __name__ == "__main__":
    main()
