"""Time to build one trunk mirror: a copy of the trunk's ops (stop 29) vs a rebuild through tf_keras (stop 28).

In one process, alternating copy / rebuild, after warm-up. Each sample is one
``mirrors.Mirror(trunk, shard)`` into a fresh dedicated shard (body, sync ops and
callables, first pull), and, separately, the body alone (``trunk_copy.mirror``,
which from the second mirror on copies the sync ops too, vs ``trunk.rebuild``). Writes JSON with raw values, medians and spread.

Usage: python mirror_build.py --model=cnn --repeats=20 --out=mirror_build_cnn.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import tfshare
from tfshare import mirrors, trunk_copy
from tfshare.bench import models


def _sample(trunk, copy: bool, whole: bool) -> float:
    root = trunk.runtime
    shard = root.open_dedicated_shard()
    saved = trunk_copy.template, trunk._copy_template, getattr(trunk, "_mirror_template", None)
    if not copy:  # stop 28's path: no template of the trunk, none of its first mirror
        trunk_copy.template = lambda t: None
        trunk._copy_template = trunk._mirror_template = None
    try:
        start = time.perf_counter()
        if whole:
            mirror = mirrors.Mirror(trunk, shard)
            trunk._mirrors.append(mirror)
        else:
            trunk_copy.mirror(trunk, shard, f"{trunk.name}_body_{len(root.shards)}")
        return time.perf_counter() - start
    finally:
        trunk_copy.template, trunk._copy_template, trunk._mirror_template = saved


def _stats(values: list[float]) -> dict:
    ms = sorted(v * 1e3 for v in values)
    q = statistics.quantiles(ms, n=4)
    return {"median_ms": statistics.median(ms), "q1_ms": q[0], "q3_ms": q[2], "min_ms": ms[0], "max_ms": ms[-1],
            "raw_ms": [v * 1e3 for v in values]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    model = models.as_model(args.model)
    gs = tfshare.GraphSession(device="cpu")
    trunk = model.shared_trunk(gs, seed=0)
    model.head(trunk, seed=0).predict_proba(model.inputs(2))
    start = time.perf_counter()
    first = trunk_copy.template(trunk)  # the template, made once per trunk (on its first mirror)
    template_s = time.perf_counter() - start
    assert first is not None
    _sample(trunk, True, True)  # the first mirror: builds its sync ops, recorded for the later ones
    raw: dict[str, list[float]] = {"copy_whole": [], "rebuild_whole": [], "copy_body": [], "rebuild_body": []}
    load = [os.getloadavg()]
    for i in range(args.warmup + args.repeats):
        for whole in (True, False):
            order = (True, False) if i % 2 == 0 else (False, True)
            for copy in order:
                t = _sample(trunk, copy, whole)
                if i >= args.warmup:
                    raw[f"{'copy' if copy else 'rebuild'}_{'whole' if whole else 'body'}"].append(t)
    load.append(os.getloadavg())
    out = {
        "what": "one trunk mirror built: copy of the trunk's ops vs rebuild through tf_keras, alternating, one process",
        "model": args.model, "repeats": args.repeats, "warmup": args.warmup,
        "template_once_ms": template_s * 1e3,
        "stats": {k: _stats(v) for k, v in raw.items()},
        "ratio_copy_over_rebuild_whole": statistics.median(raw["copy_whole"]) / statistics.median(raw["rebuild_whole"]),
        "ratio_copy_over_rebuild_body": statistics.median(raw["copy_body"]) / statistics.median(raw["rebuild_body"]),
        "loadavg_start_end": load,
        "machine": {"python": platform.python_version(), "tensorflow": tfshare._tf.tf.__version__,
                    "platform": platform.platform(), "cpus": os.cpu_count()},
    }
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps({k: v for k, v in out.items() if k != "stats"}, indent=1))
    for k, v in out["stats"].items():
        print(k, round(v["median_ms"], 1), "ms  IQR", round(v["q1_ms"], 1), "-", round(v["q3_ms"], 1))


if __name__ == "__main__":
    main()
