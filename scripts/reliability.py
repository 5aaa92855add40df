#!/usr/bin/env python3
"""Runs tfshare's reliability drills for the MLP and the CNN and prints their figures.

  python scripts/reliability.py                     # every drill, both models (a few minutes)
  python scripts/reliability.py --model=cnn         # one model: mlp or cnn
  python scripts/reliability.py --crash_runs=0      # skip the subprocess kill drill
  python scripts/reliability.py --output=rel.json   # also write the figures as JSON

--model=all (the default) runs every drill for both models of
tfshare.bench.models: "mlp" (DenseClassifier, 784 features) and "cnn"
(ConvClassifier, 28x28x1 images, BatchNorm and Dropout).
Load: threads x predict_proba calls compared bit for bit with serial calls.
Faults: child processes killed with SIGKILL mid-save, then restored (the
CNN's checkpoints hold BatchNorm statistics that fit moved); fits driven to a
NaN/Inf loss. Bad input: the model's table in tests/bad_inputs.py (image
shapes for the CNN; a test fixture, so this script runs from a checkout).
Lifecycle: isolated classifiers built, used and closed in a loop. The drills
are tfshare.drills. Exits with status 1 if any drill falls short of what
tfshare promises.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
from typing import Any, Callable, Iterator

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads
# The bad-input case table is a test fixture: tests/bad_inputs.py.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))

from absl import app, flags  # noqa: E402

import bad_inputs  # noqa: E402
from tfshare import KERAS_VERSION, TF_VERSION  # noqa: E402
from tfshare.bench.models import MODELS, model as get_model  # noqa: E402
from tfshare.drills import concurrency, crash, lifecycle, training  # noqa: E402
from tfshare.harness import machine, provenance, results  # noqa: E402

_MODEL = flags.DEFINE_enum(
    "model", "all", ["all", *MODELS], "Which model's drills to run: mlp, cnn, or all (both, one after the other)."
)
_THREADS = flags.DEFINE_integer("threads", 32, "Threads calling predict_proba at once.", lower_bound=1)
_CALLS = flags.DEFINE_integer("calls", 200, "predict_proba calls per thread.", lower_bound=1)
_HEADS = flags.DEFINE_integer(
    "heads", 4, "Classifiers on one shared trunk for the shared-runtime load drill.", lower_bound=2
)
_CRASH_RUNS = flags.DEFINE_integer(
    "crash_runs", 10, "Saving child processes to kill per model (0 skips the kill drill).", lower_bound=0
)
_CYCLES = flags.DEFINE_integer("cycles", 200, "Build/use/close cycles of isolated classifiers.", lower_bound=1)
_SEED = flags.DEFINE_integer("seed", 0, "Seed for data, weights and kill times.", lower_bound=0)
_OUTPUT = flags.DEFINE_string(
    "output", None, "Also write the figures to this JSON file (schema 1, one record per model and drill)."
)

#: A drill's key, its figures, and the line printed for them.
Row = tuple[str, Any, str]


def _load_rows(model: str) -> Iterator[Row]:
    for heads in (1, _HEADS.value):
        f = concurrency.load_drill(model, threads=_THREADS.value, calls=_CALLS.value, classifiers=heads, seed=_SEED.value)
        what = "1 classifier" if heads == 1 else f"{heads} classifiers on one shared trunk"
        yield "load" if heads == 1 else "load_shared", f, (
            f"{f.threads} threads x {f.calls_per_thread} predict_proba calls, {what}: "
            f"{f.mismatches} mismatches with serial results, {f.errors} errors ({f.seconds:.2f} s)"
        )
    f = concurrency.construction_drill(model, seed=_SEED.value)
    yield "construction", f, (
        f"{f.threads} threads building into one runtime at once: {f.built} built, {f.unique_names} unique "
        f"names, {f.same_as_serial} identical to a serial build, {f.errors} errors"
    )
    f = concurrency.fit_while_predict_drill(model, seed=_SEED.value)
    yield "fit+predict", f, (
        f"{f.readers} threads predicting during {f.train_steps} train steps: {f.predictions} predictions, "
        f"{f.errors} errors, {f.invalid} invalid; saw the weights from before fit {f.saw_before}x, "
        f"from after fit {f.saw_after}x, from in between {f.saw_between}x"
    )


def _crash_rows(model: str) -> Iterator[Row]:
    if not _CRASH_RUNS.value:
        return
    for f in crash.crash_drill(runs=_CRASH_RUNS.value, seed=_SEED.value, model=model):
        statistics = (
            f"; BatchNorm statistics ({f.statistics} variables) restored and moved {f.statistics_restored}x"
            if f.statistics else ""
        )
        yield "crash " + ("bundle" if f.target == "save_runtime" else "save"), f, (
            f"{f.target}: {f.runs} saving processes SIGKILLed ({f.kills_mid_save} mid-save, "
            f"{f.saves} saves completed): {f.restored} restored the last save, {f.losses} losses, "
            f"{f.leftover_files} temporary files left{statistics}; predictions as saved {f.predictions_restored}x"
        )


def _fault_rows(model: str) -> Iterator[Row]:
    f = bad_inputs.bad_input_drill(model)
    shape = ", ".join(map(str, f.input_shape))
    yield "bad input", f, (
        f"{f.tried} bad calls to {', '.join(f.methods)} (x of shape [batch, {shape}]): {f.clear} clear "
        "InputError/TypeError naming the argument, none reached TensorFlow" if f.passed else "; ".join(f.unclear)
    )
    f = training.training_fault_drill(model, seed=_SEED.value)
    statistics = (
        f" (its {f.statistics} BatchNorm statistics had moved in {f.statistics_moved})" if f.statistics else ""
    )
    yield "training", f, (
        f"{f.runs} fits driven to a NaN/Inf loss: {f.stopped} stopped with TrainingError, "
        f"{f.weights_kept} kept every weight and optimizer variable from before the failing step{statistics}, "
        f"{f.others_unchanged} left the other head on the trunk unchanged"
    )
    f = lifecycle.lifecycle_drill(model, cycles=_CYCLES.value)
    yield "lifecycle", f, (
        f"{f.cycles} build/use/close cycles: RSS growth {f.rss_growth_mb:+.1f} MiB "
        f"(bound {f.MAX_RSS_GROWTH_MB:.0f}), {f.ops_per_graph[0]}..{f.ops_per_graph[1]} ops per graph, "
        f"{f.closed_errors} ClosedError on use after close, {f.runtimes_alive} runtimes alive after gc, "
        f"{f.default_graph_ops_added} ops added to the default graph"
    )


_DRILLS: tuple[Callable[[str], Iterator[Row]], ...] = (_load_rows, _crash_rows, _fault_rows)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    # No "Restoring parameters" lines, nor tf_keras BatchNorm's one-time _colocate_with deprecation warning.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    models = MODELS if _MODEL.value == "all" else (_MODEL.value,)
    # Where and with what code the drills run, taken before them: the date, load average and peak RSS "at start".
    info, made_by = machine.machine_info("cpu"), provenance.tfshare_info()
    start = time.perf_counter()
    print(f"tfshare reliability drills: TensorFlow {TF_VERSION}, tf_keras {KERAS_VERSION}, {os.cpu_count()} CPUs")
    records: list[dict[str, Any]] = []
    summary: dict[str, dict[str, Any]] = {}
    for model in models:
        print(f"\n== {model}: {get_model(model).describe()}", flush=True)
        model_start = time.perf_counter()
        for rows in _DRILLS:
            for drill, figures, text in rows(model):
                print(f"{'ok  ' if figures.passed else 'FAIL'}  {model:<4} {drill:<13} {text}", flush=True)
                records.append({"model": model, "drill": drill, "passed": figures.passed,
                                **dataclasses.asdict(figures)})
        mine = [r for r in records if r["model"] == model]
        summary[model] = {"drills": len(mine), "passed": sum(r["passed"] for r in mine),
                          "seconds": time.perf_counter() - model_start, **get_model(model).describe()}
    passed = sum(r["passed"] for r in records)
    print(f"\n{passed} of {len(records)} drills passed ({', '.join(models)}) in {time.perf_counter() - start:.0f} s")
    if _OUTPUT.value:
        config = {name: flags.FLAGS[name].value for name in
                  ("model", "threads", "calls", "heads", "crash_runs", "cycles", "seed")}
        doc = results.make_document("reliability", info, config, records, flags=config, made_by=made_by)
        doc["models"] = summary
        print(f"Wrote {results.write(_OUTPUT.value, doc)}")
    if passed < len(records):
        raise SystemExit(1)


if __name__ == "__main__":
    app.run(main)
