"""Findings read from the events themselves: Sessions, traces, Keras objects, initialization."""

from __future__ import annotations

import statistics
from typing import Any

from tfshare.audit import findings
from tfshare.audit.events import Recorder
from tfshare.audit.records import Trace
from tfshare.audit.findings import Finding, format_bytes
from tfshare.audit.sites import is_library


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} µs"


def sessions(rec: Recorder) -> list[Finding]:
    """Several Sessions on one graph, or Sessions made at one line and closed after a call or two."""
    made = [s for s in rec._session_records if s.created]
    groups: dict[Any, list[Any]] = {}
    for s in made:
        graph = s.graph()
        if graph is not None:
            groups.setdefault(("graph", id(graph)), []).append(s)
    for s in made:
        if s.closed and s.runs <= 2 and s.site is not None:
            groups.setdefault(("site", s.site), []).append(s)
    out, reported = [], set()
    for (how, _), group in groups.items():
        if len(group) < (2 if how == "graph" else 3):
            continue
        where = group[-1].site
        if where in reported:
            continue
        reported.add(where)
        first_runs = [s.run_seconds[0] for s in group if s.run_seconds]
        cost = statistics.median(s.init_seconds for s in group) + (statistics.median(first_runs) if first_runs else 0)
        later = [s.run_seconds[1] for s in rec._session_records if len(s.run_seconds) > 1]
        versus = f"; a reused Session's later call took {_ms(statistics.median(later))}" if later else ""
        what = "on one graph" if how == "graph" else "at this line, each closed after at most 2 calls"
        out.append(findings.make(
            "session_per_call",
            f"{len(group)} Sessions created {what}; one cost {_ms(cost)} to create and run once{versus}",
            where, count=len(group), sessions=len(group), seconds_each=cost,
        ))
    return out


def _cause(a: tuple, b: tuple) -> tuple[str, str]:
    """Why trace ``b`` did not reuse trace ``a``: ("shape"|"dtype"|"python value", the parameter)."""
    for (name, kind_a, text_a), (_, kind_b, text_b) in zip(a, b):
        if text_a == text_b:
            continue
        if kind_a == kind_b == "TensorSpec":
            dtype = lambda t: t.split("dtype=")[-1].split(",")[0]  # noqa: E731
            return ("dtype" if dtype(text_a) != dtype(text_b) else "shape"), name
        return "python value", name
    return ("signature", "") if len(a) != len(b) else ("unknown", "")


def retracing(rec: Recorder) -> list[Finding]:
    """Functions of the user's code traced more than once, with the cause."""
    by_code: dict[Any, list[Trace]] = {}
    for t in rec._traces:
        if not t.data_pipeline and t.defined is not None and not is_library(t.defined.filename):
            by_code.setdefault(t.code, []).append(t)
    out = []
    for traces in by_code.values():
        if len(traces) < 2:
            continue
        owners: dict[int, list[Trace]] = {}
        for t in traces:
            owners.setdefault(t.owner, []).append(t)
        causes: dict[str, list[str]] = {}
        if len(owners) >= 2:  # one trace per tf.function object: a method per instance, or one made per call
            causes["per instance"] = [f"{len(owners)} tf.function objects"]
        where = traces[0].defined
        for own in owners.values():
            for a, b in zip(own, own[1:]):
                cause, param = _cause(a.params, b.params)
                causes.setdefault(cause, [])
                if param and param not in causes[cause]:
                    causes[cause].append(param)
                if cause == "python value" and b.site is not None:
                    where = b.site
        text = "; ".join(f"{c}" + (f" ({', '.join(p)})" if p else "") for c, p in causes.items())
        n = len(traces)
        out.append(findings.make(
            "retracing",
            f"{traces[0].name} was traced {n} times: {text}",
            where, count=n, severity="warning" if n >= 3 else "info",
            function=traces[0].name, traces=n, objects=len(owners), causes=sorted(causes),
        ))
    return out


def keras3(rec: Recorder, graphs: int, sessions_made: int) -> list[Finding]:
    """Keras 3 variables made in a v1 graph, or eagerly in a block that also made graphs or Sessions."""
    in_graph = [site for site, g in rec._keras3 if g]
    eager = [site for site, g in rec._keras3 if not g]
    out = []
    if in_graph:
        out.append(findings.make(
            "keras3", f"{len(in_graph)} Keras 3 variables (tf.keras / keras) were created in a tf.compat.v1 graph, "
            "which Keras 3 does not support (no UPDATE_OPS, no v1 training or saving)",
            in_graph[0], count=len(in_graph), variables=len(in_graph)))
    if eager and (graphs or sessions_made):
        out.append(findings.make(
            "keras3",
            f"{len(eager)} Keras 3 variables (tf.keras / keras) were created in a block that also made "
            f"{graphs} graphs and {sessions_made} Sessions: Keras 3 objects cannot run in a Session",
            eager[0], count=len(eager), variables=len(eager)))
    return out


def base_class_swaps(rec: Recorder) -> list[Finding]:
    """Layers constructed under the other base while objects of their class made before are alive."""
    out = []
    for swap in rec._swaps:
        mode = "inside a legacy graph (v1 base)" if swap.v1 else "in eager mode (v2 base)"
        classes = sorted({cls for cls, _, _ in swap.broken})
        first = next((str(site) for _, site, _ in swap.broken if site is not None), "")
        out.append(findings.make(
            "base_class_swap",
            f"constructing {swap.cls} {mode} rewrote tf_keras's class bases: {len(swap.broken)} "
            f"{', '.join(classes)} object(s) made earlier{' (first at ' + first + ')' if first else ''} now fail "
            "with \"Your Layer or Model is in an invalid state\"",
            swap.site, count=len(swap.broken), broken=len(swap.broken), classes=classes,
            objects=[f"{cls} made at {site}" if site is not None else cls for cls, site, _ in swap.broken[:20]]))
    return out


def initialization(rec: Recorder) -> list[Finding]:
    """Runs that failed on uninitialized variables, and initializers that reset trained values."""
    out = []
    for site, message in rec._uninitialized:
        out.append(findings.make("uninitialized", f"a Session call failed: {message[:200]}", site))
    for event in rec._reinits:
        out.append(findings.make(
            "reinitialized",
            f"an initializer reset {len(event.keys)} variables ({format_bytes(event.nbytes)}) that had been "
            "trained, restored or assigned in this Session: their values are lost",
            event.site, count=len(event.keys), variables=len(event.keys), bytes=event.nbytes))
    return out


__all__ = ["base_class_swaps", "initialization", "keras3", "retracing", "sessions"]
