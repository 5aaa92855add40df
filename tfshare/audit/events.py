"""What an audit records while its block runs: one method per event the hooks report.

Everything is held weakly (``tfshare.audit.records``), unless ``hold_graphs``
asks the recorder to keep the graphs until the report is frozen (the command
line does, so that a graph built inside a function that returned is still
read). The per-call paths (an op added, a ``Session.run``, a callable call)
do a few dictionary look-ups; a call's effect on variables is worked out
once per distinct set of fetches (``tfshare.audit.runs``).
"""

from __future__ import annotations

import re
import threading
import time
import weakref
from typing import Any, Callable

from tfshare._tf import keras_version_utils, resource_variable_ops, tf1
from tfshare.audit import runs, sites
from tfshare.audit.records import (
    GraphEntry,
    IdentitySet,
    Reinit,
    SessionRecord,
    Swap,
    Trace,
    VariableRecord,
    user_function,
    variable_bytes,
)
from tfshare.audit.sites import Site

# What ``assign`` returns in graph mode: a view of an existing variable.
_UnreadVariable = resource_variable_ops._UnreadVariable  # pylint: disable=protected-access
_UNINITIALIZED = ("uninitialized", "Could not find variable", "Attempting to use uninitialized value")


class Recorder:
    """The state an audit collects; ``AuditReport`` turns it into numbers and findings."""

    def __init__(self, hold_graphs: bool = False) -> None:
        self._lock = threading.RLock()
        self._hold = hold_graphs
        self._started = time.perf_counter()
        self._default_graph = weakref.ref(tf1.get_default_graph())
        self._graphs: dict[int, GraphEntry] = {}
        self._graph_order: list[GraphEntry] = []
        self._counts = {"new": 0, "existing": 0}
        self._variables = IdentitySet()
        self._variable_records: list[VariableRecord] = []
        self._models = IdentitySet()
        self._model_count = 0
        self._sessions: dict[int, SessionRecord] = {}  # live ones, by id
        self._session_records: list[SessionRecord] = []  # all, in order
        self._session_count = 0
        self._session_calls = 0
        self._effects = runs.EffectCache()
        self._callable_feeds: "weakref.WeakKeyDictionary[Any, list[str]]" = weakref.WeakKeyDictionary()
        self._trained: dict[int, list] = {}  # id(effect) -> [effect, calls]
        self._reinits: list[Reinit] = []
        self._uninitialized: list[tuple[Site | None, str]] = []
        self._owners = IdentitySet()
        self._traces: list[Trace] = []
        self._layers: list[tuple[Callable[[], Any], bool, Site | None, str]] = []
        self._swaps: list[Swap] = []
        self._keras3: list[tuple[Site | None, bool]] = []
        self._version = 0

    # ---------------------------------------------------------- graphs and ops
    def _entry(self, graph: Any) -> GraphEntry:
        """The graph's entry, made on first sight (the caller holds the lock)."""
        entry = self._graphs.get(id(graph))
        if entry is not None and entry.ref() is graph:
            return entry
        entry = GraphEntry(weakref.ref(graph))
        self._graphs[id(graph)] = entry
        return entry

    def _list(self, entry: GraphEntry, graph: Any, created: bool) -> None:
        if entry.label is not None:
            return
        if not created and self._default_graph() is graph:
            entry.label = "default graph"
        else:
            kind = "new" if created else "existing"
            self._counts[kind] += 1
            entry.label = f"{kind} graph {self._counts[kind]}"
        entry.created = created
        if self._hold:
            entry.held = graph
        self._graph_order.append(entry)

    def _on_graph(self, graph: Any) -> None:
        with self._lock:
            self._version += 1
            self._list(self._entry(graph), graph, created=True)

    def _on_op(self, graph: Any, op_id: int) -> None:
        with self._lock:
            entry = self._graphs.get(id(graph))
            if entry is None or entry.ref() is not graph:
                entry = self._entry(graph)
            if entry.label is None:
                self._list(entry, graph, created=False)
            if entry.first_id is None:
                entry.first_id = op_id
            entry.ops_added += 1
            entry.last_id = op_id
            self._version += 1

    # ------------------------------------------------------ variables, models
    def _on_variable(self, variable: Any, created: sites.Creation) -> None:
        if isinstance(variable, _UnreadVariable):
            return
        in_graph = bool(getattr(variable, "_in_graph_mode", True))
        graph = op_name = None
        if in_graph:
            try:
                op = variable.op
                graph, op_name = weakref.ref(op.graph), op.name
            except Exception:  # noqa: BLE001 - a variable type without an op
                in_graph = False
        record = VariableRecord(
            weakref.ref(variable), created.site, created.role, created.keras3, graph, op_name,
            bool(getattr(variable, "trainable", False)), variable.dtype.base_dtype, variable_bytes(variable),
        )
        with self._lock:
            if self._variables.add(variable):
                self._variable_records.append(record)
                if created.keras3:
                    self._keras3.append((created.site, in_graph))
                self._version += 1

    def _on_model(self, model: Any, _: Any) -> None:
        with self._lock:
            if self._models.add(model):
                self._model_count += 1
                self._version += 1

    # ---------------------------------------------------------------- Sessions
    def _session_record(self, session: Any, created: bool = False, site: Site | None = None) -> SessionRecord:
        rec = self._sessions.get(id(session))
        if rec is not None and rec.ref() is session:
            return rec
        key = id(session)

        def gone(_: Any, key: int = key) -> None:
            hit = self._sessions.get(key)
            if hit is not None and hit.ref() is None:
                hit.closed = True
                self._sessions.pop(key, None)

        rec = SessionRecord(weakref.ref(session, gone), weakref.ref(session.graph), site, created)
        self._sessions[key] = rec
        self._session_records.append(rec)
        return rec

    def _on_session(self, session: Any, seconds: float, site: Site | None) -> None:
        with self._lock:
            rec = self._session_record(session, created=True, site=site)
            rec.init_seconds = seconds
            self._session_count += 1
            self._version += 1

    def _on_session_closed(self, session: Any, _: Any) -> None:
        with self._lock:
            rec = self._sessions.get(id(session))
            if rec is not None and rec.ref() is session:
                rec.closed = True

    def _on_run(self, session: Any, fetches: Any, feed_dict: Any, seconds: float) -> None:
        graph = session._graph  # pylint: disable=protected-access
        effect = self._effects.get(fetches, graph)
        self._ran(session, graph, effect, feed_dict, seconds)

    def _on_callable_made(self, fn: Any, session: Any, options: Any) -> None:
        self._effects.of_ops(fn, runs.callable_ops(session, options), session.graph)
        with self._lock:
            self._callable_feeds[fn] = list(options.feed)

    def _on_callable_ran(self, fn: Any, seconds: float) -> None:
        session = fn._session  # pylint: disable=protected-access
        effect = self._effects.for_token(fn) or runs.NOTHING
        feeds = self._callable_feeds.get(fn) if effect.initializers else None
        self._ran(session, session._graph, effect, feeds, seconds)  # pylint: disable=protected-access

    def _ran(self, session: Any, graph: Any, effect: runs.Effect, feed_dict: Any, seconds: float) -> None:
        with self._lock:
            rec = self._sessions.get(id(session))
            if rec is None or rec.ref() is not session:
                rec = self._session_record(session)
            rec.runs += 1
            if rec.runs <= 2:
                rec.run_seconds.append(seconds)
            self._session_calls += 1
            entry = self._graphs.get(id(graph))
            if entry is None or entry.ref() is not graph:
                entry = self._entry(graph)
            entry.runs += 1
            if not entry.marks or entry.marks[-1] != entry.last_id:
                entry.marks.append(entry.last_id)
            self._version += 1
            if effect.initializers:
                self._initialized(rec, effect, feed_dict)
            if effect.trained or effect.restored:
                if id(effect) not in rec.merged:
                    rec.valuable |= effect.trained | effect.restored
                    rec.merged.add(id(effect))
                if effect.trained:
                    hit = self._trained.get(id(effect))
                    if hit is None:
                        self._trained[id(effect)] = [effect, 1]
                    else:
                        hit[1] += 1

    def _initialized(self, rec: SessionRecord, effect: runs.Effect, feed_dict: Any) -> None:
        reset, assigned = [], set()
        for key, value in effect.initializers:
            if runs.is_fed(value, feed_dict):
                assigned.add(key)
            else:
                reset.append(key)
        lost = [k for k in reset if k in rec.valuable]
        if lost:
            self._reinits.append(Reinit(sites.caller(1), lost, sum(effect.bytes_of.get(k, 0) for k in lost),
                                        effect.graph))
        rec.valuable.difference_update(reset)
        rec.valuable |= assigned
        rec.merged.clear()

    def _on_run_failed(self, session: Any, exc: Exception, site: Site | None) -> None:
        text = str(getattr(exc, "message", None) or exc)
        line = next((ln.strip() for ln in text.splitlines() if any(s in ln for s in _UNINITIALIZED)), None)
        if line is None:
            return
        node = re.search(r"Node: '([^']+)'", text)
        message = line.split(". ")[0] + (f" (at node {node.group(1)})" if node else "")
        with self._lock:
            self._uninitialized.append((site, message))
            self._version += 1

    # ------------------------------------------------------------------ traces
    def _on_trace(self, function_type: Any, options: Any, site: Site | None) -> None:
        raw = options.python_function
        raw_name = getattr(raw, "__qualname__", "") or ""
        fn = user_function(raw)
        name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or str(options.name)
        code = getattr(fn, "__code__", None)
        defined = Site(code.co_filename, code.co_firstlineno, name) if code is not None else None
        if name.endswith("<lambda>") and defined is not None:
            name = f"{name} ({defined})"
        try:
            params = tuple((p.name, type(p.type_constraint).__name__, str(p.type_constraint)[:80])
                           for p in function_type.parameters.values())
        except Exception:  # noqa: BLE001 - an unusual function type: no cause to tell
            params = ()
        owner = options.function_captures or options
        with self._lock:
            number, _ = self._owners.number(owner)
            self._traces.append(Trace(name, number, code or name, params, site, defined,
                                      "StructuredFunctionWrapper" in raw_name))
            self._version += 1

    # ------------------------------------------------------------------ layers
    def _on_layer(self, obj: Any, swapped: bool, site: Site | None) -> None:
        is_v1 = keras_version_utils.is_v1_layer_or_model
        v1 = is_v1(obj)
        with self._lock:
            self._layers.append((weakref.ref(obj), v1, site, type(obj).__name__))
            if not swapped:
                return
            broken = []
            for ref, built_v1, where, cls in self._layers:
                other = ref()
                if other is not None and other is not obj and is_v1(other) != built_v1:
                    broken.append((cls, where, built_v1))
            if broken:
                self._swaps.append(Swap(site, type(obj).__name__, v1, broken))
                self._version += 1


__all__ = ["Recorder"]
