#!/usr/bin/env python3
"""Runs tfshare's reliability drills and prints their figures.

  python scripts/reliability.py                     # the full drills (about a minute)
  python scripts/reliability.py --crash_runs=0      # skip the subprocess kill drill

Load: threads x predict_proba calls compared bit for bit with serial calls.
Faults: child processes killed with SIGKILL mid-save, then restored; fits
driven to a NaN/Inf loss. Bad input: the table of tfshare.bad_inputs.
Lifecycle: isolated classifiers built, used and closed in a loop.
Exits with status 1 if any drill falls short of what tfshare promises.
"""

from __future__ import annotations

import logging
import os
import time

from absl import app, flags

from tfshare import TF_VERSION, KERAS_VERSION, crash_drill, drills

_THREADS = flags.DEFINE_integer("threads", 32, "Threads calling predict_proba at once.", lower_bound=1)
_CALLS = flags.DEFINE_integer("calls", 200, "predict_proba calls per thread.", lower_bound=1)
_HEADS = flags.DEFINE_integer(
    "heads", 4, "Classifiers on one shared trunk for the shared-runtime load drill.", lower_bound=2
)
_CRASH_RUNS = flags.DEFINE_integer(
    "crash_runs", 10, "Saving child processes to kill (0 skips the kill drill).", lower_bound=0
)
_CYCLES = flags.DEFINE_integer("cycles", 200, "Build/use/close cycles of isolated classifiers.", lower_bound=1)
_SEED = flags.DEFINE_integer("seed", 0, "Seed for data, weights and kill times.", lower_bound=0)


def _row(area: str, passed: bool, text: str) -> bool:
    print(f"{'ok  ' if passed else 'FAIL'}  {area:<13} {text}", flush=True)
    return passed


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.getLogger("tensorflow").setLevel(logging.WARNING)  # no "Restoring parameters" lines
    start = time.perf_counter()
    print(f"tfshare reliability drills: TensorFlow {TF_VERSION}, tf_keras {KERAS_VERSION}, {os.cpu_count()} CPUs\n")
    results = []

    for heads in (1, _HEADS.value):
        f = drills.load_drill(threads=_THREADS.value, calls=_CALLS.value, classifiers=heads, seed=_SEED.value)
        what = "1 classifier" if heads == 1 else f"{heads} classifiers on one shared trunk"
        results.append(_row("load", f.passed, (
            f"{f.threads} threads x {f.calls_per_thread} predict_proba calls, {what}: "
            f"{f.mismatches} mismatches with serial results, {f.errors} errors ({f.seconds:.2f} s)"
        )))

    f = drills.construction_drill(seed=_SEED.value)
    results.append(_row("construction", f.passed, (
        f"{f.threads} threads building into one runtime at once: {f.built} built, {f.unique_names} unique "
        f"names, {f.same_as_serial} identical to a serial build, {f.errors} errors"
    )))

    f = drills.fit_while_predict_drill(seed=_SEED.value)
    results.append(_row("fit+predict", f.passed, (
        f"{f.readers} threads predicting during {f.train_steps} train steps: {f.predictions} predictions, "
        f"{f.errors} errors, {f.invalid} invalid; saw the weights from before fit {f.saw_before}x, "
        f"from after fit {f.saw_after}x, from in between {f.saw_between}x"
    )))

    if _CRASH_RUNS.value:
        for f in crash_drill.crash_drill(runs=_CRASH_RUNS.value, seed=_SEED.value):
            results.append(_row("crash", f.passed, (
                f"{f.target}: {f.runs} saving processes SIGKILLed ({f.kills_mid_save} mid-save, "
                f"{f.saves} saves completed): {f.restored} restored the last save, {f.losses} losses, "
                f"{f.leftover_files} temporary files left"
            )))

    f = drills.bad_input_drill()
    results.append(_row("bad input", f.passed, (
        f"{f.tried} bad calls to {', '.join(f.methods)}: {f.clear} clear InputError/TypeError "
        "naming the argument, none reached TensorFlow" if f.passed else "; ".join(f.unclear)
    )))

    f = drills.training_fault_drill(seed=_SEED.value)
    results.append(_row("training", f.passed, (
        f"{f.runs} fits driven to a NaN/Inf loss: {f.stopped} stopped with TrainingError, "
        f"{f.weights_kept} kept the weights from before the failing step, "
        f"{f.others_unchanged} left the other head on the trunk unchanged"
    )))

    f = drills.lifecycle_drill(cycles=_CYCLES.value)
    results.append(_row("lifecycle", f.passed, (
        f"{f.cycles} build/use/close cycles: RSS growth {f.rss_growth_mb:+.1f} MiB "
        f"(bound {f.MAX_RSS_GROWTH_MB:.0f}), {f.ops_per_graph[0]}..{f.ops_per_graph[1]} ops per graph, "
        f"{f.closed_errors} ClosedError on use after close, {f.runtimes_alive} runtimes alive after gc, "
        f"{f.default_graph_ops_added} ops added to the default graph"
    )))

    failed = results.count(False)
    print(f"\n{len(results) - failed} of {len(results)} drills passed in {time.perf_counter() - start:.0f} s")
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    app.run(main)
