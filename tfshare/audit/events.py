"""What an audit records while its block runs: one method per event the hooks report.

Everything is held weakly (graphs, variables, models, Sessions, layers), so
the audit keeps nothing alive, unless ``hold_graphs`` asks it to keep the
graphs until the report is frozen (the command line does, so that a graph
built inside a function that returned is still read). The per-call paths
(an op added, a ``Session.run``, a callable call) do a few dictionary
look-ups; a call's effect on variables is worked out once per distinct set
of fetches (``tfshare.audit.runs``).
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
import weakref
from typing import Any, Callable

from tfshare._tf import keras_version_utils, resource_variable_ops, tf1
from tfshare.audit import runs, sites
from tfshare.audit.sites import Site

# What ``assign`` returns in graph mode: a view of an existing variable.
_UnreadVariable = resource_variable_ops._UnreadVariable  # pylint: disable=protected-access
_INTERNAL = re.compile(r"[\\/](tensorflow|tf_keras|keras)[\\/]")
_UNINITIALIZED = ("uninitialized", "Could not find variable", "Attempting to use uninitialized value")


def _no_ref() -> None:
    return None


class IdentitySet:
    """Objects seen so far, by identity, held only weakly; each gets a number in the order seen."""

    __slots__ = ("_refs",)

    def __init__(self) -> None:
        self._refs: dict[int, tuple[Callable[[], Any], int]] = {}

    def add(self, obj: Any) -> bool:
        """Adds ``obj``; returns False if this very object was added before."""
        return self.number(obj)[1]

    def number(self, obj: Any) -> tuple[int, bool]:
        """(obj's number, whether it is new)."""
        hit = self._refs.get(id(obj))
        if hit is not None and (hit[0] is _no_ref or hit[0]() is obj):
            return hit[1], False
        try:
            ref = weakref.ref(obj)
        except TypeError:  # pragma: no cover - every audited type is weak-referenceable
            ref = _no_ref
        n = len(self._refs)
        self._refs[id(obj)] = (ref, n)
        return n, True

    def alive(self) -> list[Any]:
        """The objects added that are still alive, in the order added."""
        return [obj for obj in (ref() for ref, _ in self._refs.values()) if obj is not None]


@dataclasses.dataclass
class GraphEntry:
    ref: Callable[[], Any]
    label: str | None = None  # set when the graph is created or gains an op in the block
    created: bool = False
    ops_added: int = 0
    first_id: int | None = None  # the first op id added in the block
    last_id: int = 0
    marks: list[int] = dataclasses.field(default_factory=list)  # last op id at each run after new ops
    runs: int = 0
    held: Any = None


@dataclasses.dataclass
class VariableRecord:
    ref: Callable[[], Any]
    site: Site | None
    hint: str | None
    keras3: bool
    graph: Callable[[], Any] | None  # None: an eager variable
    op_name: str | None
    trainable: bool
    dtype: Any
    nbytes: int
    role: str | None = None  # set from its graph's analysis


@dataclasses.dataclass
class SessionRecord:
    ref: Any
    graph: Callable[[], Any]
    site: Site | None
    created: bool
    init_seconds: float = 0.0
    runs: int = 0
    run_seconds: list[float] = dataclasses.field(default_factory=list)  # the first two calls
    closed: bool = False
    valuable: set = dataclasses.field(default_factory=set)  # keys trained, restored or assigned here
    merged: set = dataclasses.field(default_factory=set)  # effects already in ``valuable``


@dataclasses.dataclass
class Trace:
    name: str
    owner: int
    code: Any
    params: tuple
    site: Site | None
    defined: Site | None
    data_pipeline: bool


@dataclasses.dataclass
class Reinit:
    site: Site | None
    keys: list
    nbytes: int
    graph: Callable[[], Any]


@dataclasses.dataclass
class Swap:
    site: Site | None
    cls: str
    v1: bool
    broken: list  # (class name, site, built as v1)


def variable_bytes(variable: Any) -> int:
    elements = variable.shape.num_elements()
    return 0 if elements is None else int(elements) * variable.dtype.size


def user_function(fn: Any, depth: int = 4) -> Any:
    """The function behind TensorFlow's wrappers (``tf.data``'s, ``functools.wraps``): the user's if any.

    Follows ``__wrapped__``, ``_func`` and closures; returns the first function
    whose code is the user's, else the first one defined outside TensorFlow
    and Keras, else ``fn``.
    """
    queue, seen, outside = [(fn, 0)], set(), None
    while queue:
        f, d = queue.pop(0)
        if f is None or id(f) in seen:
            continue
        seen.add(id(f))
        code = getattr(f, "__code__", None)
        if code is not None:
            if not sites.is_library(code.co_filename):
                return f
            if outside is None and not _INTERNAL.search(code.co_filename):
                outside = f
        if d >= depth:
            continue
        inner = getattr(f, "_func", None)
        if callable(inner):
            queue.append((inner, d + 1))
        queue.append((getattr(f, "__wrapped__", None), d + 1))
        for cell in getattr(f, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:
                continue
            if isinstance(value, weakref.ref):
                value = value()
            if callable(value) or hasattr(value, "_func"):
                queue.append((value, d + 1))
    return outside if outside is not None else fn


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

    def _mark_run(self, graph: Any) -> None:
        entry = self._graphs.get(id(graph))
        if entry is None or entry.ref() is not graph:
            entry = self._entry(graph)
        entry.runs += 1
        if not entry.marks or entry.marks[-1] != entry.last_id:
            entry.marks.append(entry.last_id)

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
            rec = self._session_record(session)
            rec.runs += 1
            if rec.runs <= 2:
                rec.run_seconds.append(seconds)
            self._session_calls += 1
            self._mark_run(graph)
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


__all__ = ["GraphEntry", "IdentitySet", "Recorder", "SessionRecord", "Trace", "VariableRecord", "variable_bytes"]
