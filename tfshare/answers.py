"""The live answers table: "do TensorFlow graphs require separate instantiation for each class?"

``run()`` answers eight questions by running code in this process and reading
``audit()`` reports, TensorFlow's own counters and timings. Every number in
an answer comes from that run; only the wording around the numbers is fixed
(and chosen per outcome). ``to_markdown`` / ``to_json`` render the records;
``scripts/answers.py`` prints them.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import statistics
import time
from typing import Any, Callable

import numpy as np

from tfshare._tf import keras, tf, tf1
from tfshare.audit import audit
from tfshare.classifiers import DenseClassifier
from tfshare.data import synthetic
from tfshare.eager import EagerDenseClassifier
from tfshare.runtime import GraphSession
from tfshare.trunks import SharedTrunk, TemplateTrunk

INPUT_DIM = 784
HIDDEN = 64
NUM_CLASSES = 10
N_INSTANCES = 16  # question 7


@dataclasses.dataclass(frozen=True)
class Answer:
    """One row of the table.

    Attributes:
      id: "q1" ... "q8".
      question: the question, one sentence.
      answer: the answer, with the run's numbers in it.
      evidence: the measured numbers (JSON-ready).
      summary: the evidence as one short line, for the table.
      measured: False when the row could not be measured in this run.
    """

    id: str
    question: str
    answer: str
    evidence: dict[str, Any]
    summary: str
    measured: bool = True

    def as_dict(self) -> dict[str, Any]:
        """The record as a JSON-ready dict."""
        return dataclasses.asdict(self)


# ------------------------------------------------------------------ helpers
def _time_call(fn: Callable[[], Any], repeats: int, min_seconds: float, warmup: int = 3) -> dict[str, float]:
    """Per-call seconds of ``fn``: warm-up, loops calibrated to ``min_seconds``, median of ``repeats``.

    Returns:
      {"median", "min", "max"} seconds per call, and "loops" per timed value.
    """
    for _ in range(warmup):
        fn()
    loops = 1
    while True:
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            break
        loops = max(loops * 2, int(loops * min_seconds / max(elapsed, 1e-9) * 1.2))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        samples.append((time.perf_counter() - start) / loops)
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples), "loops": loops}


def _us(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} µs"


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def _mib(nbytes: int) -> str:
    return f"{nbytes / (1 << 20):.2f} MiB"


def _inputs(rows: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 1.0, size=(rows, INPUT_DIM)).astype(np.float32)


def _builder(inputs: Any, num_classes: int) -> Any:
    """The "shared graph definition": one function that defines the layers."""
    hidden = keras.layers.Dense(HIDDEN, activation="relu")(inputs)
    return keras.layers.Dense(num_classes)(hidden)


class _SpamFilter:
    """A user class built by ``_builder``."""

    def __init__(self) -> None:
        self.inputs = keras.Input((INPUT_DIM,))
        self.model = keras.Model(self.inputs, _builder(self.inputs, NUM_CLASSES))


class _TopicTagger(_SpamFilter):
    """Another user class, built by the same ``_builder``."""


# ---------------------------------------------------------------- questions
def _q1(quick: bool) -> Answer:
    x = _inputs(4, seed=1)
    with audit() as report:
        graph = tf.Graph()
        with graph.as_default():
            with audit() as audit_a:
                a = _SpamFilter()
            with audit() as audit_b:
                b = _TopicTagger()
        # Run both in one Session; the variables' own initializers add no ops.
        with tf1.Session(graph=graph) as session:
            session.run([v.initializer for v in a.model.variables + b.model.variables])
            out_a, out_b = session.run([a.model.output, b.model.output], {a.inputs: x, b.inputs: x})
    d = report.as_dict()
    per_model = [len(a.model.variables), len(b.model.variables)]
    diff = float(np.max(np.abs(out_a - out_b)))
    shared = d["shared_variables"]
    what = (
        f"Only the tf.Graph object is shared ({d['sessions_created']} Session ran both)" if shared == 0
        else f"{shared} variables are shared"
    )
    answer = (
        f"One graph (graphs created: {d['graphs_created']}), but the builder ran once per class: "
        f"{d['ops_added']} ops ({audit_a.ops_added} + {audit_b.ops_added}) and {d['variables_created']} "
        f"variables in {len(per_model)} separate sets of {per_model[0]}; shared variables: {shared}. "
        f"{what}; the same input gives different outputs (max |Δ| {diff:.3f})."
    )
    evidence = {
        "graphs_created": d["graphs_created"],
        "ops_added": d["ops_added"],
        "ops_per_class": [audit_a.ops_added, audit_b.ops_added],
        "variables_created": d["variables_created"],
        "variables_per_model": per_model,
        "models_created": d["models_created"],
        "shared_variables": shared,
        "sessions_created": d["sessions_created"],
        "max_output_difference": diff,
    }
    summary = (
        f"graphs {d['graphs_created']}; ops {d['ops_added']} = {audit_a.ops_added} + {audit_b.ops_added}; "
        f"variables {d['variables_created']} = {' + '.join(map(str, per_model))}; shared {shared}"
    )
    return Answer("q1", "One builder function used by two classes in one graph (the \"shared graph "
                  "definition\" pattern): how many graphs, ops, variable sets? What is shared?",
                  answer, evidence, summary)


def _output_change(before: np.ndarray, after: np.ndarray) -> dict[str, float]:
    return {
        "max_abs_change": float(np.max(np.abs(after - before))),
        "mean_abs_change": float(np.mean(np.abs(after - before))),
        "predictions_changed": float(np.mean(np.argmax(before, 1) != np.argmax(after, 1))),
    }


def _train_one_watch_other(a: Any, b: Any, data: Any, x: np.ndarray) -> dict[str, float]:
    before = b.predict_proba(x)
    a.fit(data.x_train, data.y_train, epochs=1, batch_size=32, learning_rate=1e-3)
    return _output_change(before, b.predict_proba(x))


def _q2(quick: bool, data: Any) -> Answer:
    x = data.x_test[:256]
    with audit() as isolated:
        a = DenseClassifier(num_classes=10, seed=0)
        b = DenseClassifier(num_classes=5, seed=0)
        for clf in (a, b):
            clf.predict(x[:1])  # creates each one's Session
    iso = isolated.as_dict()
    a.close()
    b.close()
    with audit() as together:
        gs = GraphSession(device="cpu")
        c = DenseClassifier(num_classes=10, runtime=gs, seed=0)
        d = DenseClassifier(num_classes=5, runtime=gs, seed=0)
        for clf in (c, d):
            clf.predict(x[:1])
    one = together.as_dict()
    kernels = gs.run([clf.named_variables["hidden_0/kernel"] for clf in (c, d)])
    same_init = bool(np.array_equal(*kernels))
    change = _train_one_watch_other(c, d, data, x)
    gs.close()
    hidden_params = INPUT_DIM * HIDDEN + HIDDEN
    shared = iso["shared_variables"] + one["shared_variables"]
    lead = "Nothing" if shared == 0 else f"{shared} variables"
    answer = (
        f"{lead}: shared variables {iso['shared_variables']} as isolated instances ({iso['graphs_created']} graphs, "
        f"{iso['sessions_created']} Sessions) and {one['shared_variables']} in one GraphSession "
        f"({one['graphs_created']} graph, {one['sessions_created']} Session, the same {one['variables_created']} "
        f"variables). Their identical hidden layers ({hidden_params:,} parameters each"
        f"{', equal values at init' if same_init else ''}) are stored twice; training one moved the other's "
        f"outputs by {change['max_abs_change']:.3g}. One graph and Session hold both without mixing them."
    )
    keys = ("graphs_created", "sessions_created", "variables_created", "shared_variables", "ops_added")
    evidence = {
        "isolated": {k: iso[k] for k in keys},
        "one_graph_session": {k: one[k] for k in keys},
        "hidden_parameters_each": hidden_params,
        "hidden_equal_at_init": same_init,
        "other_output_change_after_training": change,
    }
    summary = (
        f"isolated: graphs {iso['graphs_created']}, Sessions {iso['sessions_created']}, "
        f"shared {iso['shared_variables']}; one GraphSession: graphs {one['graphs_created']}, "
        f"Sessions {one['sessions_created']}, shared {one['shared_variables']}; "
        f"other's max |Δp| after training one: {change['max_abs_change']:.3g}"
    )
    return Answer("q2", "Two instances that differ only in their output size: what do they share?",
                  answer, evidence, summary)


def _q3(quick: bool, data: Any) -> Answer:
    x = data.x_test[:256]
    gs = GraphSession(device="cpu")
    with audit() as report:
        trunk = SharedTrunk(gs, INPUT_DIM, (HIDDEN,), seed=0)
        a = DenseClassifier(num_classes=10, trunk=trunk, seed=1)
        b = DenseClassifier(num_classes=10, trunk=trunk, seed=2)
    d = report.as_dict()
    head_before, trunk_before = gs.run([b.named_variables["head/kernel"], trunk.layers[0].kernel])
    change = _train_one_watch_other(a, b, data, x)
    head_after, trunk_after = gs.run([b.named_variables["head/kernel"], trunk.layers[0].kernel])
    gs.close()
    head_moved = float(np.max(np.abs(head_after - head_before)))
    trunk_moved = float(np.mean(np.abs(trunk_after - trunk_before)))
    shared = d["shared_variables"]
    if shared > 0 and change["max_abs_change"] > 0:
        lead = "Yes, and training one changes the other"
    elif shared > 0:
        lead = "The weights are shared, but training one left the other's outputs unchanged"
    else:
        lead = "No"
    answer = (
        f"{lead}: {shared} shared variables ({d['shared_variable_bytes']:,} bytes, the reused layer's kernel and "
        f"bias) out of {d['variables_created']}. One epoch of training model A moved model B's probabilities by "
        f"up to {change['max_abs_change']:.3f} (mean {change['mean_abs_change']:.4f}) and changed "
        f"{change['predictions_changed']:.0%} of B's predicted classes, although B's own head moved by "
        f"{head_moved:g}."
    )
    evidence = {
        "models_created": d["models_created"],
        "variables_created": d["variables_created"],
        "shared_variables": shared,
        "shared_variable_bytes": d["shared_variable_bytes"],
        "other_output_change_after_training": change,
        "other_head_max_change": head_moved,
        "shared_kernel_mean_change": trunk_moved,
        "training_rows": int(data.x_train.shape[0]),
    }
    summary = (
        f"shared {shared} of {d['variables_created']} variables; B's max |Δp| {change['max_abs_change']:.3f}, "
        f"{change['predictions_changed']:.0%} of B's classes changed; B's head Δ {head_moved:g}"
    )
    return Answer("q3", "One layer object reused by two models: are the weights shared? Does training one "
                  "model change the other's outputs, and by how much?", answer, evidence, summary)


def _q4(quick: bool) -> Answer:
    default_graph = tf1.get_default_graph()
    x = _inputs(4, seed=1)
    with audit() as report:
        a = _SpamFilter()  # the same classes and builder as question 1, with no graph entered
        b = _TopicTagger()
        out = a.model(x)
        b.model(x)
        with tf1.Session() as session:
            seen = len(session.graph.get_operations())
            same_graph = session.graph is default_graph
            try:
                session.run(out)
                error = ""
            except Exception as exc:  # noqa: BLE001 - the error is the answer
                error = f"{type(exc).__name__}: {str(exc).splitlines()[0].rstrip('.')}"
    d = report.as_dict()
    weights = len(a.model.variables) + len(b.model.variables)
    others = d["variables_created"] - weights
    answer = (
        f"None: graphs created {d['graphs_created']}, ops added to any graph {d['ops_added']}. The "
        f"{weights} weights are eager variables"
        + (f" (plus {others} step counters tf_keras gives eager models)" if others > 0 else "")
        + f", and the output is an {type(out).__name__}. A v1 Session over the default graph sees {seen} ops; "
        + (f"running the model's output in it fails with {error}" if error else "running the output in it worked")
        + "."
    )
    evidence = {
        "graphs_created": d["graphs_created"],
        "ops_added": d["ops_added"],
        "variables_created": d["variables_created"],
        "model_weights": weights,
        "models_created": d["models_created"],
        "sessions_created": d["sessions_created"],
        "session_graph_is_default": same_graph,
        "session_graph_ops": seen,
        "session_run_error": error,
        "output_type": type(out).__name__,
    }
    summary = (
        f"graphs {d['graphs_created']}; ops {d['ops_added']}; eager variables {d['variables_created']}; "
        f"Session over default graph: {seen} ops" + (f", run → {error.split(':')[0]}" if error else "")
    )
    return Answer("q4", "The same builder under TF2's default eager mode: what graph is built, what does a v1 "
                  "Session over the default graph see?", answer, evidence, summary)


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


def _q5(quick: bool) -> Answer:
    n = 4 if quick else 8
    x = tf.constant(_inputs(1, seed=2))
    scorers = [_Scorer(seed=i) for i in range(n)]
    with audit() as per_method:
        first = [_first_call_seconds(lambda s=s: s.predict(x)) for s in scorers]
    counts = [s.predict.experimental_get_tracing_count() for s in scorers]
    warm = _time_call(lambda: scorers[0].predict(x), repeats=5, min_seconds=0.005)["median"]
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
    answer = (
        f"{lead} (each instance's experimental_get_tracing_count() is {max(counts)}). Each first call costs "
        f"{_us(first_median)} (median), {first_median / warm:.0f}× a warm call ({_us(warm)}). One module-level "
        f"tf.function that takes the weights as arguments traced {_times(module_level.function_traces)} for all "
        f"{n}: only its first call paid ({_us(shared_first[0])}; the others "
        f"{_us(statistics.median(shared_first[1:]))})."
    )
    evidence = {
        "instances": n,
        "method_traces": traces,
        "traced_functions": per_method.traced_functions,
        "tracing_count_per_instance": counts,
        "first_call_seconds": first,
        "first_call_median_seconds": first_median,
        "warm_call_median_seconds": warm,
        "module_function_traces": module_level.function_traces,
        "module_function_first_call_seconds": shared_first,
    }
    summary = (
        f"1 class × {n} instances → {traces} traces; first call {_us(first_median)} vs warm {_us(warm)}; "
        f"module-level function: {module_level.function_traces} trace"
    )
    return Answer("q5", "A tf.function method on a class: traces per class or per instance (1 class × N "
                  "instances)? The first-call cost of each.", answer, evidence, summary)


def _q6(quick: bool) -> Answer:
    repeats, min_seconds = (5, 0.005) if quick else (9, 0.02)
    xb = _inputs(1, seed=3)
    gs = GraphSession(device="cpu")
    clf = DenseClassifier(runtime=gs, seed=0)
    with gs.building():
        init = tf1.variables_initializer(clf.variables)
    gs.initialize()
    session = gs.session
    proba, x_ph = clf.probabilities_tensor, clf.input_tensor
    eager = EagerDenseClassifier(seed=0)
    function = EagerDenseClassifier(seed=0, use_tf_function=True)

    def new_session() -> Any:
        with tf1.Session(graph=gs.graph, config=gs.config) as s:
            s.run(init)
            return s.run(proba, {x_ph: xb})

    paths = {
        "new Session per call": new_session,
        "reused Session.run + feed_dict": lambda: session.run(proba, {x_ph: xb}),
        "fast callable": lambda: clf.predict_proba(xb),
        "eager": lambda: eager.predict_proba(xb),
        "tf.function": lambda: function.predict_proba(xb),
    }
    timings = {name: _time_call(fn, repeats=repeats, min_seconds=min_seconds) for name, fn in paths.items()}
    gs.close()
    median = {name: t["median"] for name, t in timings.items()}
    fastest = min(median, key=median.get)
    ratio = {name: m / median[fastest] for name, m in median.items()}
    slowest = max(median, key=median.get)
    others = ", ".join(f"{name} {ratio[name]:.1f}×" for name in median if name not in (fastest, slowest))
    answer = (
        "Per call, batch 1, median: "
        + ", ".join(f"{name} {_us(m)}" for name, m in median.items())
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
    summary = "; ".join(f"{name} {_us(m)} ({ratio[name]:.1f}×)" for name, m in median.items())
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


def _q7(quick: bool) -> Answer:
    n = N_INSTANCES
    repeats = 1 if quick else 5
    x = _inputs(1, seed=4)
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
        f"{iso['build_seconds']:.2f} s (median of {repeats}). One shared runtime: {run['graphs']} graph and "
        f"{run['sessions']} Session holding the same {run['ops']} ops (isolated: {iso['ops']}) and "
        f"{run['variables']} variables (isolated: {iso['variables']}), in {run['build_seconds']:.2f} s, {vs_run}. "
        f"A shared trunk stores {tr['variables']} variables in {_mib(tr['parameter_bytes'])} instead of "
        f"{_mib(run['parameter_bytes'])} ({run['parameter_bytes'] / tr['parameter_bytes']:.1f}× less), "
        f"{tr['ops']} ops, {tr['build_seconds']:.2f} s, {vs_trunk}; the template trunk: {tt['variables']} "
        f"variables, {_mib(tt['parameter_bytes'])}, {tt['ops']} ops, {tt['build_seconds']:.2f} s."
    )
    evidence = {"instances": n, "repeats": repeats, "variants": rows}
    summary = "; ".join(
        f"{k}: {r['build_seconds']:.2f} s, graphs {r['graphs']}, Sessions {r['sessions']}, ops {r['ops']}, "
        f"variables {r['variables']}, {_mib(r['parameter_bytes'])}"
        for k, r in rows.items()
    )
    return Answer("q7", f"For N = {n} instances: isolated graph + Session each vs a shared runtime, a shared "
                  "trunk and a template trunk: build time, ops, variables, parameter bytes.",
                  answer, evidence, summary)


def _q8(quick: bool) -> Answer:
    return Answer(
        "q8",
        "Sharing variables across processes.",
        "Not measured: this answer waits for the distributed runtime (parameter server over gRPC).",
        {"measured": False},
        "not measured",
        measured=False,
    )


# ---------------------------------------------------------------- the table
def run(quick: bool = False) -> list[Answer]:
    """Answers the eight questions by measuring them now.

    Args:
      quick: fewer instances for question 5 and shorter timing loops for
        question 6 (question 7 keeps N = 16); for tests.

    Returns:
      Eight ``Answer`` records, q1 ... q8.
    """
    if not isinstance(quick, bool):
        raise TypeError(f"quick must be a bool, got {type(quick).__name__}")
    data = synthetic(num_train=512 if quick else 2000, num_test=256)
    return [
        _q1(quick),
        _q2(quick, data),
        _q3(quick, data),
        _q4(quick),
        _q5(quick),
        _q6(quick),
        _q7(quick),
        _q8(quick),
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(answers: list[Answer]) -> str:
    """Renders the records as a Markdown table: # | question | answer | evidence."""
    lines = ["| # | question | answer | evidence |", "| --- | --- | --- | --- |"]
    for a in answers:
        lines.append(f"| {a.id[1:]} | {_cell(a.question)} | {_cell(a.answer)} | {_cell(a.summary)} |")
    return "\n".join(lines)


def to_json(answers: list[Answer]) -> str:
    """Renders the records as a JSON list of objects."""
    return json.dumps([a.as_dict() for a in answers], indent=2, sort_keys=True)


__all__ = ["Answer", "run", "to_json", "to_markdown"]
