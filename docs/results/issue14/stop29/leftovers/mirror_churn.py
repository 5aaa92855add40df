"""Make heads on one trunk past its shard's op budget (onto mirrors), predict once with each, close them all; repeat.

Usage (the tree under test first on PYTHONPATH):
  PYTHONPATH=<tree> python mirror_churn.py --rounds 20 --heads 100 --label branch --out mirror_churn_branch.json

One runtime (default shard_size, default HEAD_OPS), one SharedTrunk(784, (64,)) kept alive all along, and one
head made first that stays open and must predict the same at the end. Each round: ``--heads`` heads of 10
classes on the trunk (past HEAD_OPS, so most go to mirrors), one predict_proba of a batch of 8 each, close()
each. Counts, not times: after each round, live shards, the trunk's mirrors, ops in the live shards' graphs,
RSS (VmRSS) before and after glibc's malloc_trim(0) (glibc keeps freed memory in its arenas).
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
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--heads", type=int, default=100)
    parser.add_argument("--label", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import tensorflow as tf
    import tfshare

    x = np.random.default_rng(0).random((8, 784), dtype=np.float32)
    gs = tfshare.GraphSession(device="cpu")
    trunk = tfshare.SharedTrunk(gs, 784, (64,), seed=0)
    survivor = tfshare.Classifier(trunk=trunk, num_classes=10, seed=12345)
    before = survivor.predict_proba(x)
    libc = ctypes.CDLL("libc.so.6")
    samples = []

    def sample(round_: int, mirrored: int) -> None:
        gc.collect()
        live = [s for s in gs.shards if not s.closed]
        raw = rss_kib()
        libc.malloc_trim(0)
        samples.append({
            "round": round_, "heads_made": round_ * args.heads, "heads_on_mirrors_this_round": mirrored,
            "shards": len(gs.shards), "mirrors": len(trunk._mirrors),
            "ops_in_live_shards": sum(s.graph.version for s in live),
            "reclaimed": getattr(gs._shards, "reclaimed", None), "rss_kib": raw, "rss_trimmed_kib": rss_kib(),
        })
        print(json.dumps(samples[-1]), flush=True)

    sample(0, 0)
    seed = 0
    for round_ in range(1, args.rounds + 1):
        heads = []
        for _ in range(args.heads):
            seed += 1
            head = tfshare.Classifier(trunk=trunk, num_classes=10, seed=seed)
            head.predict_proba(x)
            heads.append(head)
        mirrored = sum(h.shard is not trunk.shard for h in heads)
        for head in heads:
            head.close()
        del heads, head
        sample(round_, mirrored)
    same = bool(np.array_equal(survivor.predict_proba(x), before))
    commit = subprocess.run(["git", "-C", os.path.dirname(tfshare.__file__), "rev-parse", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    result = {
        "label": args.label, "rounds": args.rounds, "heads_per_round": args.heads, "samples": samples,
        "survivor_predictions_unchanged": same, "tfshare": os.path.dirname(tfshare.__file__), "commit": commit,
        "tensorflow": tf.__version__, "python": sys.version.split()[0], "machine": platform.platform(),
        "cpus": os.cpu_count(), "loadavg_end": os.getloadavg(),
    }
    with open(args.out, "w") as out:
        json.dump(result, out, indent=1)
    gs.close()


if __name__ == "__main__":
    main()
