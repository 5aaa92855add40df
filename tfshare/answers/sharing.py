"""Questions 1-4 of the answers table: what sharing a builder, a graph or a layer object shares.

Each ``qN`` runs its code now and returns an ``Answer`` built from ``audit()``
reports and measurements; see ``tfshare.answers``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tfshare._tf import keras, tf, tf1
from tfshare.answers.record import HIDDEN, INPUT_DIM, NUM_CLASSES, Answer, random_rows
from tfshare.audit import audit
from tfshare.classifiers import DenseClassifier
from tfshare.runtime import GraphSession
from tfshare.trunks import SharedTrunk


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


def q1(quick: bool) -> Answer:
    x = random_rows(4, seed=1)
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
        f"{'One graph' if d['graphs_created'] == 1 else 'Graphs'} (graphs created: {d['graphs_created']}), "
        "but the builder ran once per class: "
        f"{d['ops_added']} ops ({audit_a.ops_added} + {audit_b.ops_added}) and {d['variables_created']} "
        f"variables in {len(per_model)} separate sets of {per_model[0]}; shared variables: {shared}. "
        f"{what}; the same input gives {'different' if diff > 0 else 'identical'} outputs (max |Δ| {diff:.3f})."
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


def q2(quick: bool, data: Any) -> Answer:
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
        f"outputs by {change['max_abs_change']:.3g}. One graph and Session hold both"
        f"{' without sharing a variable' if one['shared_variables'] == 0 else ', sharing ' + str(one['shared_variables']) + ' variables'}."
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


def q3(quick: bool, data: Any) -> Answer:
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


def q4(quick: bool) -> Answer:
    default_graph = tf1.get_default_graph()
    x = random_rows(4, seed=1)
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
