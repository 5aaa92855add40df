"""Questions 5-7 of the answers table: tracing, per-call cost and building many classifiers.

Each ``qN`` runs its code now and returns an ``Answer`` built from ``audit()``
reports and timings; see ``tfshare.answers``.
"""

from __future__ import annotations

import gc
import statistics
import time
from typing import Any, Callable

import numpy as np

from tfshare._tf import tf, tf1
from tfshare.answers.record import (
    HIDDEN,
    INPUT_DIM,
    N_INSTANCES,
    NUM_CLASSES,
    Answer,
    duration,
    mib,
    random_rows,
    time_call,
    times,
)
from tfshare.audit import audit
from tfshare.classifiers import DenseClassifier
from tfshare.eager import EagerDenseClassifier
from tfshare.runtime import GraphSession
from tfshare.trunks import SharedTrunk, TemplateTrunk


class _Scorer:
    """A user class whose method is a tf.function."""

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.w = tf.Variable(rng.normal(0.0, 0.05, size=(INPUT_DIM, NUM_CLASSES)).astype(np.float32))
        self.b = tf.Variable(np.zeros(NUM_CLASSES, np.float32))

    @tf.function
    def predict(self, x: Any) -> Any:
        return tf.nn.softmax(tf.matmul(x, self.w) + self.b)


@tf.function
def _shared_predict(x: Any, w: Any, b: Any) -> Any:
    return tf.nn.softmax(tf.matmul(x, w) + b)


def _first_call_seconds(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _tracing_counts(counts: list[int]) -> str:
    """What ``experimental_get_tracing_count()`` said per instance: one value for all, or the spread."""
    if len(set(counts)) == 1:
        return f"each instance's experimental_get_tracing_count() is {counts[0]}"
    return f"the instances' experimental_get_tracing_count() ranges from {min(counts)} to {max(counts)}"


def q5(quick: bool) -> Answer:
    n = 4 if quick else 8
    x = tf.constant(random_rows(1, seed=2))
    scorers = [_Scorer(seed=i) for i in range(n)]
    with audit() as per_method:
        first = [_first_call_seconds(lambda s=s: s.predict(x)) for s in scorers]
    counts = [s.predict.experimental_get_tracing_count() for s in scorers]
    warm = time_call(lambda: scorers[0].predict(x), repeats=5, min_seconds=0.005)["median"]
    with audit() as module_level:
        shared_first = [_first_call_seconds(lambda s=s: _shared_predict(x, s.w, s.b)) for s in scorers]
    traces = per_method.function_traces
    if traces == n:
        lead = f"Per instance: 1 class × {n} instances = {traces} traces"
    elif traces == 1:
        lead = f"Per class: {n} instances traced once"
    else:
        lead = f"{traces} traces for 1 class × {n} instances"
    first_median = statistics.median(first)
    module_traces = module_level.function_traces
    paid = "only its first call paid" if module_traces == 1 else f"{module_traces} calls paid"
    answer = (
        f"{lead} ({_tracing_counts(counts)}). Each first call costs "
        f"{duration(first_median)} (median), {first_median / warm:.0f}× a warm call ({duration(warm)}). One module-level "
        f"tf.function that takes the weights as arguments traced {times(module_traces)} for all {n}: {paid} "
        f"({duration(shared_first[0])}; the others {duration(statistics.median(shared_first[1:]))})."
    )
    evidence = {
        "instances": n,
        "method_traces": traces,
        "traced_functions": per_method.traced_functions,
        "tracing_count_per_instance": counts,
        "first_call_seconds": first,
        "first_call_median_seconds": first_median,
        "warm_call_median_seconds": warm,
        "module_function_traces": module_traces,
        "module_function_first_call_seconds": shared_first,
    }
    summary = (
        f"1 class × {n} instances → {traces} traces; first call {duration(first_median)} vs warm {duration(warm)}; "
        f"module-level function: {module_traces} trace{'s' if module_traces != 1 else ''}"
    )
    return Answer("q5", "A tf.function method on a class: traces per class or per instance (1 class × N "
                  "instances)? The first-call cost of each.", answer, evidence, summary)


def q6(quick: bool) -> Answer:
    repeats, min_seconds = (5, 0.005) if quick else (9, 0.02)
    xb = random_rows(1, seed=3)
    gs = GraphSession(device="cpu")
    clf = DenseClassifier(runtime=gs, seed=0)
    with gs.building():
        init = tf1.variables_initializer(clf.variables)
    init_feeds = gs.initial_value_feeds(clf.variables)  # the kernels' fed initial values
    gs.initialize()
    session = gs.session
    proba, x_ph = clf.probabilities_tensor, clf.input_tensor
    eager = EagerDenseClassifier(seed=0)
    function = EagerDenseClassifier(seed=0, use_tf_function=True)

    def new_session() -> Any:
        with tf1.Session(graph=gs.graph, config=gs.config) as s:
            s.run(init, init_feeds)
            return s.run(proba, {x_ph: xb})

    paths = {
        "new Session per call": new_session,
        "reused Session.run + feed_dict": lambda: session.run(proba, {x_ph: xb}),
        "fast callable": lambda: clf.predict_proba(xb),
        "eager": lambda: eager.predict_proba(xb),
        "tf.function": lambda: function.predict_proba(xb),
    }
    timings = {name: time_call(fn, repeats=repeats, min_seconds=min_seconds) for name, fn in paths.items()}
    gs.close()
    median = {name: t["median"] for name, t in timings.items()}
    fastest = min(median, key=median.get)
    ratio = {name: m / median[fastest] for name, m in median.items()}
    slowest = max(median, key=median.get)
    others = ", ".join(f"{name} {ratio[name]:.1f}×" for name in median if name not in (fastest, slowest))
    answer = (
        "Per call, batch 1, median: "
        + ", ".join(f"{name} {duration(m)}" for name, m in median.items())
        + f". Fastest: {fastest}. {slowest[0].upper() + slowest[1:]} costs {ratio[slowest]:.0f}× the fastest; "
        + f"{others}."
    )
    evidence = {
        "paths": {
            "new Session per call": "tf.compat.v1.Session(graph) + run the variables' initializers + run, then close",
            "reused Session.run + feed_dict": "Session.run(probabilities, feed_dict={x: batch}) on a live Session",
            "fast callable": "DenseClassifier.predict_proba (a cached Session._make_callable_from_options)",
            "eager": "EagerDenseClassifier.predict_proba (tf_keras layers called op by op)",
            "tf.function": "EagerDenseClassifier(use_tf_function=True).predict_proba",
        },
        "batch_size": 1,
        "model": f"{INPUT_DIM}-{HIDDEN}-{NUM_CLASSES} MLP",
        "median_seconds": median,
        "ratio_to_fastest": ratio,
        "fastest": fastest,
        "timings": timings,
    }
    summary = "; ".join(f"{name} {duration(m)} ({ratio[name]:.1f}×)" for name, m in median.items())
    return Answer("q6", "One Session per call vs one reused Session vs the fast callable vs eager vs "
                  "tf.function: per-call cost and the ratios.", answer, evidence, summary)


def _build_many(variant: str, n: int, x: np.ndarray) -> dict[str, Any]:
    """Builds n classifiers one way; each predicts once, so Sessions exist and variables are initialized."""
    gc.collect()  # so a collection of earlier garbage does not land inside one variant's timing
    with audit() as report:
        start = time.perf_counter()
        gs = None if variant == "isolated" else GraphSession(device="cpu")
        trunk = None
        if variant == "shared trunk":
            trunk = SharedTrunk(gs, INPUT_DIM, (HIDDEN,), seed=0)
        elif variant == "template trunk":
            trunk = TemplateTrunk(gs, INPUT_DIM, (HIDDEN,), seed=0)
        classifiers = [
            DenseClassifier(num_classes=NUM_CLASSES, runtime=gs, trunk=trunk, seed=i) for i in range(n)
        ]
        constructed = time.perf_counter()
        for clf in classifiers:
            clf.predict(x)
    d = report.as_dict()
    row = {
        "build_seconds": d["seconds"],
        "construct_seconds": constructed - start,
        "graphs": d["graphs_created"],
        "sessions": d["sessions_created"],
        "ops": d["ops_added"],
        "variables": d["variables_created"],
        "parameter_bytes": d["variable_bytes"],
        "shared_variables": d["shared_variables"],
        "parameters_used": sum(c.num_params for c in classifiers),
    }
    for clf in classifiers:
        clf.close()
    if gs is not None:
        gs.close()
    return row


def _compare(samples: list[float], baseline: list[float]) -> str:
    """Words for build times: "faster"/"slower" only when the median lies outside all baseline samples."""
    median = statistics.median(samples)
    ratio = statistics.median(baseline) / median
    if median < min(baseline):
        return f"{ratio:.1f}× faster than isolated"
    if median > max(baseline):
        return f"{1 / ratio:.1f}× slower than isolated"
    return f"about the same as isolated (median ratio {ratio:.2f}, within the run-to-run spread)"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def q7(quick: bool) -> Answer:
    n = N_INSTANCES
    repeats = 1 if quick else 5
    x = random_rows(1, seed=4)
    variants = ("isolated", "shared runtime", "shared trunk", "template trunk")
    samples: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for _ in range(repeats):  # round robin, so drift hits every variant alike
        for variant in variants:
            samples[variant].append(_build_many(variant, n, x))
    rows: dict[str, dict[str, Any]] = {}
    for variant, runs in samples.items():
        row = dict(runs[0])  # the counts are the same in every repeat
        row["build_seconds"] = statistics.median(r["build_seconds"] for r in runs)
        row["construct_seconds"] = statistics.median(r["construct_seconds"] for r in runs)
        row["build_seconds_samples"] = [r["build_seconds"] for r in runs]
        rows[variant] = row
    iso, run, tr, tt = (rows[k] for k in variants)
    vs_run = _compare(run["build_seconds_samples"], iso["build_seconds_samples"])
    vs_trunk = _compare(tr["build_seconds_samples"], iso["build_seconds_samples"])
    answer = (
        f"Isolated: {iso['graphs']} graphs and {iso['sessions']} Sessions, built and first-run in "
        f"{iso['build_seconds']:.2f} s (median of {repeats}). One shared runtime: {_count(run['graphs'], 'graph')} "
        f"and {_count(run['sessions'], 'Session')} (its shards) holding "
        f"{'the same ' if run['ops'] == iso['ops'] else ''}{run['ops']} ops "
        f"(isolated: {iso['ops']}) and "
        f"{run['variables']} variables (isolated: {iso['variables']}), in {run['build_seconds']:.2f} s, {vs_run}. "
        f"A shared trunk stores {tr['variables']} variables in {mib(tr['parameter_bytes'])} instead of "
        f"{mib(run['parameter_bytes'])} ({run['parameter_bytes'] / tr['parameter_bytes']:.1f}× less), "
        f"{tr['ops']} ops, {tr['build_seconds']:.2f} s, {vs_trunk}; the template trunk: {tt['variables']} "
        f"variables, {mib(tt['parameter_bytes'])}, {tt['ops']} ops, {tt['build_seconds']:.2f} s."
    )
    evidence = {"instances": n, "repeats": repeats, "variants": rows}
    summary = "; ".join(
        f"{k}: {r['build_seconds']:.2f} s, graphs {r['graphs']}, Sessions {r['sessions']}, ops {r['ops']}, "
        f"variables {r['variables']}, {mib(r['parameter_bytes'])}"
        for k, r in rows.items()
    )
    return Answer("q7", f"For N = {n} instances: isolated graph + Session each vs a shared runtime, a shared "
                  "trunk and a template trunk: build time, ops, variables, parameter bytes.",
                  answer, evidence, summary)

