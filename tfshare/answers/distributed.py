"""Question 8 of the answers table: sharing variables across processes.

``q8`` starts a ``tfshare.cluster.LocalCluster`` (1 ps + 2 worker
``tf.distribute.Server`` subprocesses on 127.0.0.1), builds the same-named
``SharedTrunk`` and a head in each worker's ``GraphSession``, and measures
what is shared, what training one worker does to the other, the per-call
cost of reading the trunk from the ps, and the bytes held there. The
servers are stopped when it returns, also on error. When the cluster cannot
start, or a call into it fails, the row says so with the error instead of a
number; see ``tfshare.answers``.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

import numpy as np

from tfshare._tf import tf
from tfshare.answers.record import HIDDEN, INPUT_DIM, NUM_CLASSES, Answer, duration, mib
from tfshare.classifiers import DenseClassifier
from tfshare.errors import ClusterError
from tfshare.runtime import GraphSession
from tfshare.harness import introspect, memory, timing
from tfshare.trunks import SharedTrunk

NUM_WORKERS = 2
TRAIN_ROWS = 256
TRAIN_BATCH = 32
CALL_TIMEOUT = 20.0  # seconds one Session call into the cluster may block
MAX_LIFETIME = 300.0  # the servers exit by themselves after this, whatever happens
QUESTION = (
    "Sharing variables across processes: can classifiers in separate processes share one trunk "
    f"(1 ps + {NUM_WORKERS} worker servers on 127.0.0.1)? What is shared, what does it cost per call and in memory?"
)
# Errors that mean "the cluster could not be measured", not a bug in this module.
_CLUSTER_ERRORS = (ClusterError, OSError, tf.errors.OpError)


def _interleaved(fns: dict[str, Callable[[], Any]], repeats: int, min_seconds: float) -> dict[str, dict[str, Any]]:
    """Per-call seconds of each fn, timed side by side by the benchmark harness.

    Returns:
      {name: {"median", "min", "max" (seconds per call), "loops", "n"}}.
    """
    stats = timing.measure_interleaved(fns, repeats=repeats, warmup=3, min_time=min_seconds)
    return {
        name: {"median": st.median, "min": st.min, "max": st.max, "loops": st.loops, "n": st.n}
        for name, st in stats.items()
    }


def _worker(gs: GraphSession, seed: int) -> DenseClassifier:
    """The same trunk name and kind on every worker; a head named "clf" on each."""
    trunk = SharedTrunk(gs, INPUT_DIM, (HIDDEN,), name="trunk", seed=0)
    return DenseClassifier(num_classes=NUM_CLASSES, trunk=trunk, name="clf", seed=seed)


def _head(clf: DenseClassifier) -> list[Any]:
    return [clf.named_variables["head/kernel"], clf.named_variables["head/bias"]]


def _measure(lc: Any, quick: bool, data: Any) -> dict[str, Any]:
    """Everything question 8 reports, measured on a running ``LocalCluster``."""
    repeats, min_seconds = (5, 0.005) if quick else (9, 0.02)
    x = np.ascontiguousarray(data.x_test[:64])
    x1 = np.ascontiguousarray(data.x_test[:1])
    with lc.graph_session(0, device="cpu", timeout=CALL_TIMEOUT) as gs0, \
            lc.graph_session(1, device="cpu", timeout=CALL_TIMEOUT) as gs1, \
            GraphSession(device="cpu") as local_gs:
        clf0, clf1 = _worker(gs0, seed=1), _worker(gs1, seed=2)
        local = _worker(local_gs, seed=2)  # the same model in this process, no cluster
        clf0.predict(x1)  # worker 0 is the chief: it initializes the trunk on the ps
        before = clf1.predict_proba(x)
        head1_before = gs1.run(_head(clf1))
        clf0.fit(data.x_train[:TRAIN_ROWS], data.y_train[:TRAIN_ROWS], epochs=1, batch_size=TRAIN_BATCH)
        after = clf1.predict_proba(x)
        head1_after = gs1.run(_head(clf1))
        trunk_values = [gs.run(clf.trunk.variables) for gs, clf in ((gs0, clf0), (gs1, clf1))]

        def placed(clf: DenseClassifier) -> dict[str, str]:
            return {v.name: v.device for v in clf.variables}

        p0, p1 = placed(clf0), placed(clf1)
        same = [name for name in p0 if p1.get(name) == p0[name]]
        same_name_elsewhere = [name for name in p0 if name in p1 and p1[name] != p0[name]]
        timings = _interleaved(
            {"in-process": lambda: local.predict_proba(x1), "trunk on the ps": lambda: clf1.predict_proba(x1)},
            repeats, min_seconds,
        )
        on_ps = [v for v in gs0.global_variables() if v.device.startswith("/job:ps")]
        trunk_bytes = introspect.variable_bytes(clf0.trunk.variables)
        trunk_names = {v.name for v in clf0.trunk.variables}
        head_names = {v.name for v in _head(clf0)}
        return {
            "client_pid": os.getpid(),
            "servers": {
                f"/job:{job}/task:{i}": {"address": lc.address(job, i), "pid": lc.process(job, i).pid}
                for job, i in (("ps", 0), *(("worker", w) for w in range(NUM_WORKERS)))
            },
            "trunk_devices": {name: p0[name] for name in sorted(trunk_names)},
            "head_devices": [{name: p[name] for name in sorted(head_names)} for p in (p0, p1)],
            "shared_trunk_variables": len([n for n in same if n in trunk_names]),
            "shared_head_variables": len([n for n in same if n in head_names]),
            "same_name_other_device": sorted(same_name_elsewhere),
            "trunk_equal_across_workers": all(
                np.array_equal(a, b) for a, b in zip(*trunk_values)
            ),
            "train_steps": -(-TRAIN_ROWS // TRAIN_BATCH),
            "other_max_abs_change": float(np.max(np.abs(after - before))),
            "other_mean_abs_change": float(np.mean(np.abs(after - before))),
            "other_predictions_changed": float(np.mean(np.argmax(before, 1) != np.argmax(after, 1))),
            "other_head_max_change": float(max(np.max(np.abs(a - b)) for a, b in zip(head1_after, head1_before))),
            "eval_rows": int(x.shape[0]),
            "predict_batch_size": 1,
            "predict_seconds": timings,
            "ps_variables": len(on_ps),
            "ps_variable_bytes": introspect.variable_bytes(on_ps),
            "trunk_weight_bytes": trunk_bytes,
            "per_worker_copies_weight_bytes": trunk_bytes * NUM_WORKERS,
            "ps_rss_bytes": memory.rss_bytes(lc.process("ps", 0).pid),
        }


def _not_measured(stage: str, exc: BaseException) -> Answer:
    error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:600]}"
    answer = f"Not measured: {stage} ({error})."
    return Answer("q8", QUESTION, answer, {"measured": False, "stage": stage, "error": error},
                  f"not measured: {error[:160]}", measured=False)


def skipped() -> Answer:
    """The q8 record when the caller asked for no cluster (``answers.run(cluster=False)``)."""
    answer = (f"Not measured: this run started no cluster (cluster=False); question 8 needs 1 ps + "
              f"{NUM_WORKERS} worker servers on 127.0.0.1.")
    return Answer("q8", QUESTION, answer, {"measured": False, "stage": "skipped", "error": ""},
                  "not measured: no cluster in this run", measured=False)


def q8(quick: bool, data: Any) -> Answer:
    """Measures one trunk on a ps shared by two worker processes; see the module docstring.

    Args:
      quick: shorter timing loops.
      data: a ``tfshare.Dataset``; 256 training rows and 64 test rows are used.

    Returns:
      The q8 ``Answer``; ``measured`` is False, with the error, when the
      cluster could not start or a call into it failed.
    """
    from tfshare import cluster  # not imported by ``import tfshare``; see tfshare.cluster

    start = time.perf_counter()
    try:
        lc = cluster.LocalCluster(num_workers=NUM_WORKERS, max_lifetime=MAX_LIFETIME)
    except _CLUSTER_ERRORS as exc:
        return _not_measured(f"the local cluster (1 ps + {NUM_WORKERS} workers on 127.0.0.1) could not start", exc)
    started = time.perf_counter()
    try:
        with lc:  # stops every server, also when a measurement raises
            e = _measure(lc, quick, data)
    except _CLUSTER_ERRORS as exc:
        return _not_measured("a call into the local cluster failed while measuring", exc)
    e["startup_seconds"] = started - start
    e["total_seconds"] = time.perf_counter() - start
    return _answer(e)


def _answer(e: dict[str, Any]) -> Answer:
    t = e["predict_seconds"]
    local, ps = t["in-process"]["median"], t["trunk on the ps"]["median"]
    trunk_devices = sorted(set(e["trunk_devices"].values()))
    head_devices = [sorted(set(h.values())) for h in e["head_devices"]]
    ps_other = e["ps_variable_bytes"] - e["trunk_weight_bytes"]
    shared, moved = e["shared_trunk_variables"], e["other_max_abs_change"]
    head_moved = e["other_head_max_change"]
    if shared == 0:
        lead = "No variable was shared"
    elif not e["trunk_equal_across_workers"]:
        lead = "The trunk's variables are placed on the ps, but the workers read different values from them"
    elif moved == 0:
        lead = "The trunk's variables are on the ps, but training worker 0 did not change worker 1's outputs"
    elif head_moved != 0:
        lead = "The trunk is shared through the ps, but worker 1's own head moved too"
    else:
        lead = ("Yes, through the parameter server: two worker graphs, each in its own server process, share one "
                "trunk by name on the ps, not by sharing a graph")
    same_values = "the same values from both workers" if e["trunk_equal_across_workers"] else "different values"
    rss = e["ps_rss_bytes"]
    saved = e["per_worker_copies_weight_bytes"] - e["trunk_weight_bytes"]
    resident = ""
    if rss:
        resident = f"; the ps process itself has {rss / (1 << 20):.0f} MiB resident (TensorFlow's own cost)"
        if rss > saved:
            resident += f", far more than the {mib(saved)} the sharing saves at this size"
    answer = (
        f"{lead}. {1 + len(e['servers'])} processes: this client (both workers' Sessions) and {len(e['servers'])} "
        f"tf.distribute.Server subprocesses ({', '.join(e['servers'])}), started in {e['startup_seconds']:.1f} s. "
        f"Each worker built its own graph with the same SharedTrunk \"trunk\" and a head \"clf\": the {shared} "
        f"trunk variables live on {', '.join(trunk_devices)} and are shared ({same_values}); "
        f"the heads have the same names but live on {' and '.join(d[0] for d in head_devices)}, shared "
        f"{e['shared_head_variables']}. {e['train_steps']} training steps on worker 0 moved worker 1's "
        f"probabilities by up to {moved:.3g} (mean {e['other_mean_abs_change']:.3g}, "
        f"{e['other_predictions_changed']:.0%} of its classes changed) while worker 1's head moved by "
        f"{head_moved:g}. The cost: predict_proba at batch 1 took {duration(ps)} per call with the "
        f"trunk on the ps vs {duration(local)} in-process ({ps / local:.1f}×, median of {t['in-process']['n']}), "
        f"because every call reads the trunk across processes. The ps holds {mib(e['trunk_weight_bytes'])} "
        f"of trunk weights once (plus {mib(ps_other)} of Adam state from the training) instead of "
        f"{mib(e['per_worker_copies_weight_bytes'])} for a copy per worker{resident}."
    )
    summary = (
        f"{len(e['servers'])} servers + client; trunk on {', '.join(trunk_devices)}: shared {shared}, heads shared "
        f"{e['shared_head_variables']}; worker 1 max |Δp| {moved:.3g} after {e['train_steps']} steps on worker 0, "
        f"its head Δ {head_moved:g}; predict {duration(ps)} (ps) vs {duration(local)} (in-process); "
        f"ps {mib(e['trunk_weight_bytes'])} weights vs {mib(e['per_worker_copies_weight_bytes'])} per-worker copies"
    )
    return Answer("q8", QUESTION, answer, e, summary)
