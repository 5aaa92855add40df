"""Goal 2 (MLP): one head's predict_proba vs predict_many of 32 heads at batch 32, per op and Python vs TF.

The goal's setup (``tfshare-bench variable_sharing --model=mlp --num_classifiers=32``):
a ``SharedTrunk`` 784-64 in one ``GraphSession``, 32 ``Classifier`` heads of 10
classes, batch 32. In one process:

1. untraced, interleaved: ``predict_proba`` of head 0, ``predict_many`` of the 32,
   and both raw TF callables (head 0's, the fused plan's);
2. FULL_TRACE of both callables, interleaved, ``--runs`` each: per node median op
   time; which nodes only the fused graph runs; the op sums against the call;
3. Python vs TF: each call with its raw TF callable wrapped in a ``perf_counter``
   accumulator (the wrapper's own cost timed apart and subtracted), so
   call = TF callable + tfshare's Python around it; and a ``cProfile`` of each
   (its per-function overhead inflates the Python side: read its shares only).

Usage: TF_CPP_MIN_LOG_LEVEL=3 nice python mlp_ops.py --out=mlp_ops.json
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from trace_ops import Traced, machine, summary  # noqa: E402

import tfshare  # noqa: E402
from tfshare import fused  # noqa: E402
from tfshare.harness.timing import measure_interleaved, paired_ratio  # noqa: E402


class Timed:
    """Wraps a callable; accumulates its perf_counter seconds."""

    def __init__(self, fn):
        self.fn, self.seconds, self.calls = fn, 0.0, 0

    def __call__(self, *args):
        start = time.perf_counter()
        out = self.fn(*args)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return out


def split(call, timed: Timed, n: int, blocks: int) -> dict:
    """Per call: total, inside the TF callable, outside (Python), over ``blocks`` blocks of ``n`` calls (medians)."""
    totals, insides = [], []
    for _ in range(blocks):
        timed.seconds, timed.calls = 0.0, 0
        start = time.perf_counter()
        for _ in range(n):
            call()
        totals.append((time.perf_counter() - start) / n)
        insides.append(timed.seconds / n)
    outside = [t - i for t, i in zip(totals, insides)]
    return {"total_us": statistics.median(totals) * 1e6, "tf_callable_us": statistics.median(insides) * 1e6,
            "python_us": statistics.median(outside) * 1e6, "totals_s": totals, "insides_s": insides}


def profile(call, n: int) -> str:
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        call()
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(14)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--heads", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    gs = tfshare.GraphSession()
    trunk = tfshare.SharedTrunk(gs, 784, (64,), seed=0)
    heads = [tfshare.Classifier(trunk=trunk, num_classes=10, name=f"h{i}", seed=i) for i in range(args.heads)]
    x = np.random.default_rng(0).random((args.batch, 784), dtype=np.float32)
    many = tfshare.predict_many(heads, x)
    one = heads[0].predict_proba(x)
    heads[0].predict_proba(x)  # the first call is served off the hot path; the second makes the callable
    np.testing.assert_allclose(many["h0"], one, atol=1e-6)
    plan = fused._recent_plan(heads)
    plan.run(x)
    head_raw = heads[0]._proba_fn
    assert head_raw is not None and plan is not None
    plan_raw = plan.fn.unwrap()
    fns = {"predict_proba": lambda: heads[0].predict_proba(x), "predict_many": lambda: tfshare.predict_many(heads, x),
           "head_raw_callable": lambda: head_raw(x), "plan_raw_callable": lambda: plan_raw(x)}
    print(machine()["uptime"], flush=True)
    stats = measure_interleaved(fns, repeats=args.repeats, warmup=3, min_time=0.05)
    base = stats["predict_proba"]
    untraced = {k: {"median_s": s.median, "vs_predict_proba": paired_ratio(s, base), "values": list(s.values),
                    "loops": s.loops} for k, s in stats.items()}
    print("untraced: " + " | ".join(f"{k} {v['median_s']*1e6:.1f}us {v['vs_predict_proba']:.2f}x"
                                    for k, v in untraced.items()), flush=True)

    session = heads[0].shard.session
    traced = {"one_head": Traced(session, [heads[0].input_tensor], [heads[0].probabilities_tensor]),
              "fused": Traced(session, list(plan.fn.feeds), list(plan.fn.fetches))}
    for _ in range(args.runs):
        traced["one_head"](x)
        traced["fused"](x)
    summ = {k: summary(t.runs, skip=20) for k, t in traced.items()}
    for k in summ:
        print(f"\n== {k}: {len(summ[k]['nodes'])} nodes, op sum {summ[k]['op_sum_median_ns']/1e3:.1f} us, traced wall "
              f"{summ[k]['wall_median_ns']/1e3:.1f} us, traced call {summ[k]['call_median_ns']/1e3:.1f} us")
        for n, v in sorted(summ[k]["nodes"].items(), key=lambda kv: -kv[1]["median_ns"]):
            only = "" if n in summ["one_head" if k == "fused" else "fused"]["nodes"] else "  [only here]"
            print(f"  {v['median_ns']/1e3:7.2f} us {v['share']:6.1%} {v['op_type']:24s} {n}{only}")
    added = {n: v for n, v in summ["fused"]["nodes"].items() if n not in summ["one_head"]["nodes"]}
    dropped = {n: v for n, v in summ["one_head"]["nodes"].items() if n not in summ["fused"]["nodes"]}
    common = [n for n in summ["fused"]["nodes"] if n in summ["one_head"]["nodes"]]
    ops = {"added_by_fused_us": sum(v["median_ns"] for v in added.values()) / 1e3,
           "only_in_one_head_us": sum(v["median_ns"] for v in dropped.values()) / 1e3,
           "common_in_fused_us": sum(summ["fused"]["nodes"][n]["median_ns"] for n in common) / 1e3,
           "common_in_one_head_us": sum(summ["one_head"]["nodes"][n]["median_ns"] for n in common) / 1e3,
           "nodes": {k: len(v["nodes"]) for k, v in summ.items()}}
    print("\n" + ", ".join(f"{k} {v}" for k, v in ops.items()), flush=True)

    # Python vs TF: wrap the raw callables where each path calls them.
    empty = Timed(lambda *a: None)
    wrapper = split(lambda: empty(x), empty, 20000, 7)["total_us"]  # the wrapper's own cost per call
    heads[0]._proba_fn = timed_head = Timed(head_raw)
    plan.fn._fn = timed_plan = Timed(plan_raw)
    parts = {}
    for _ in range(3):  # alternate the two, 3 times
        for name, call, timed in (("predict_proba", fns["predict_proba"], timed_head),
                                  ("predict_many", fns["predict_many"], timed_plan)):
            parts.setdefault(name, []).append(split(call, timed, 2000, 5))
    split_summary = {}
    for name, runs in parts.items():
        split_summary[name] = {k: statistics.median(r[k] for r in runs) for k in ("total_us", "tf_callable_us", "python_us")}
        split_summary[name]["python_us_minus_wrapper"] = split_summary[name]["python_us"] - wrapper
    print(f"\nwrapper {wrapper:.2f} us/call; " + " | ".join(
        f"{k}: total {v['total_us']:.1f} us = TF callable {v['tf_callable_us']:.1f} + Python {v['python_us_minus_wrapper']:.1f}"
        for k, v in split_summary.items()))
    heads[0]._proba_fn, plan.fn._fn = head_raw, plan_raw
    profiles = {name: profile(fns[name], 20000) for name in ("predict_proba", "predict_many")}
    for name, text in profiles.items():
        print(f"\n== cProfile {name} (20000 calls)\n" + "\n".join(text.splitlines()[:26]))
    print(machine()["uptime"])
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"machine": machine(), "args": vars(args), "untraced": untraced, "traced": summ, "ops": ops,
                       "wrapper_us": wrapper, "split": split_summary, "split_runs": parts, "cprofile": profiles},
                      f, indent=1, default=str)
    gs.close()


if __name__ == "__main__":
    main()
