"""audit(): what a block of code created, measured on any TensorFlow code.

>>> with tfshare.audit() as report:
...     with tf.Graph().as_default():
...         x = tf_keras.Input((784,))
...         model = tf_keras.Model(x, tf_keras.layers.Dense(10)(x))
>>> report.graphs_created, report.ops_added, report.variables_created
(1, 24, 2)

While an audit is active, a few TensorFlow entry points are wrapped, and
every audit that is active is told about each event:

* ``tf.Graph.__init__``: a new graph (``tf.function`` and control-flow
  bodies, which are ``FuncGraph``s, are not counted as graphs);
* ``tf.Graph._add_op``: an op added to a graph, new or not (the default
  graph and a ``GraphSession``'s graph count too; ops of ``FuncGraph``s do
  not, they are the traces counted below);
* ``tf.Variable``'s metaclass ``__call__``: a variable, in a graph or eager
  (every way of making one, ``get_variable``, Keras ``add_weight`` and
  ``tf.Variable``, ends there);
* ``BaseSession.__init__``: a Session;
* ``tf_keras.Model.__init__`` and ``ClassifierBase._constructed`` (every
  tfshare classifier, graph or eager, calls it once complete): a model;
* ``tracing_compilation._create_concrete_function``: one trace of a
  ``tf.function``, the same event ``experimental_get_tracing_count()``
  counts.

The wrappers are installed when the first audit starts and removed when the
last one ends, also when the block raises; nested audits each see everything
created inside them. Events from every thread are counted. The audit holds
only weak references, so it keeps no graph, model or variable alive.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
import weakref
from typing import Any, Callable, Iterator

from tfshare import _audit_hooks
from tfshare._audit_hooks import is_active
from tfshare._tf import resource_variable_ops, tf1

# What ``assign`` returns in graph mode: a view of an existing variable.
_UnreadVariable = resource_variable_ops._UnreadVariable  # pylint: disable=protected-access


def _no_ref() -> None:
    return None


class _IdentitySet:
    """Objects seen so far, by identity, held only weakly."""

    __slots__ = ("_refs",)

    def __init__(self) -> None:
        self._refs: dict[int, Callable[[], Any]] = {}

    def add(self, obj: Any) -> bool:
        """Adds ``obj``; returns False if this very object was added before."""
        ref = self._refs.get(id(obj))
        if ref is not None and (ref is _no_ref or ref() is obj):
            return False
        try:
            self._refs[id(obj)] = weakref.ref(obj)
        except TypeError:  # pragma: no cover - every audited type is weak-referenceable
            self._refs[id(obj)] = _no_ref
        return True

    def alive(self) -> list[Any]:
        """The objects added that are still alive, in the order added."""
        return [obj for obj in (ref() for ref in self._refs.values()) if obj is not None]


@dataclasses.dataclass
class _GraphEntry:
    ref: Callable[[], Any]
    label: str
    created: bool
    ops_added: int = 0


def _variable_bytes(variable: Any) -> int:
    elements = variable.shape.num_elements()
    return 0 if elements is None else int(elements) * variable.dtype.size


def _format_bytes(n: int) -> str:
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


class AuditReport:
    """What the code inside one ``audit()`` block created.

    Its numbers are live while the block runs and frozen when it ends.

    Attributes (all plain numbers; see ``as_dict``):
      seconds: wall time of the block.
      graphs_created: new ``tf.Graph`` objects (``FuncGraph``s excluded).
      ops_added: ops added to any ``tf.Graph``, new or existing.
      ops_by_graph: ops added per graph, keyed "default graph" (the default
        graph when the block started), "new graph 1", ..., "existing graph 1", ...
      variables_created: variables (graph or eager) that own storage.
      variable_bytes: bytes of their values (shape x dtype size).
      models_created: tf_keras Models and tfshare classifiers.
      shared_variables: variables that belong to two or more of those models
        (of the ones still alive when the block ends: the audit holds models
        weakly, so keep a reference to the models you want compared).
      shared_variable_bytes: bytes of the shared variables (counted once).
      shared_statistics: shared variables that are not trainable (BatchNorm
        moving statistics of a shared trunk): training any one model that
        uses them changes them for all of them (interference).
      sessions_created: ``tf.compat.v1.Session`` objects (any kind).
      function_traces: concrete functions traced by ``tf.function``s; a
        method traces per instance, so it counts once per instance.
      traced_functions: how many distinct ``tf.function`` objects traced.
      traces_by_function: traces per Python function's qualified name.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started = time.perf_counter()
        self._default_graph = weakref.ref(tf1.get_default_graph())
        self._graphs: dict[int, _GraphEntry] = {}
        self._graph_order: list[_GraphEntry] = []
        self._counts = {"new": 0, "existing": 0}
        self._variables = _IdentitySet()
        self._variable_count = 0
        self._variable_bytes = 0
        self._models = _IdentitySet()
        self._model_count = 0
        self._sessions = 0
        self._functions = _IdentitySet()
        self._function_count = 0
        self._traces: dict[str, int] = {}
        self._frozen: dict[str, Any] | None = None

    # ------------------------------------------------------------ events
    def _entry(self, graph: Any, created: bool) -> _GraphEntry:
        """Returns the graph's entry, making one (the caller holds the lock)."""
        entry = self._graphs.get(id(graph))
        if entry is not None and entry.ref() is graph:
            return entry
        if not created and self._default_graph() is graph:
            label = "default graph"
        else:
            kind = "new" if created else "existing"
            self._counts[kind] += 1
            label = f"{kind} graph {self._counts[kind]}"
        entry = _GraphEntry(weakref.ref(graph), label, created)
        self._graphs[id(graph)] = entry
        self._graph_order.append(entry)
        return entry

    def _graph_created(self, graph: Any) -> None:
        with self._lock:
            self._entry(graph, created=True)

    def _op_added(self, graph: Any) -> None:
        with self._lock:
            self._entry(graph, created=False).ops_added += 1

    def _variable_created(self, variable: Any) -> None:
        if isinstance(variable, _UnreadVariable):
            return
        with self._lock:
            if self._variables.add(variable):
                self._variable_count += 1
                self._variable_bytes += _variable_bytes(variable)

    def _model_created(self, model: Any) -> None:
        with self._lock:
            if self._models.add(model):
                self._model_count += 1

    def _session_created(self, session: Any) -> None:
        with self._lock:
            self._sessions += 1

    def _function_traced(self, tracing_options: Any) -> None:
        fn = tracing_options.python_function
        name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or str(tracing_options.name)
        # One FunctionCaptures per tf.function object (per instance for methods);
        # it is weak-referenceable, unlike the function cache.
        owner = tracing_options.function_captures or tracing_options
        with self._lock:
            if self._functions.add(owner):
                self._function_count += 1
            self._traces[name] = self._traces.get(name, 0) + 1

    # ----------------------------------------------------------- numbers
    def _shared(self, models: list[Any]) -> tuple[int, int, int]:
        owners: dict[int, int] = {}
        variables: dict[int, Any] = {}
        # A classifier made from a whole tf_keras model (model_fn=) holds that
        # model's variables: they are one model's, not shared by two.
        wrapped = {id(m.keras_model) for m in models if getattr(m, "keras_model", None) is not None}
        for model in models:
            if id(model) in wrapped:
                continue
            try:
                model_vars = list(model.variables)
            except Exception:  # noqa: BLE001 - a half-built user model has no variables to share
                continue
            for v in {id(v): v for v in model_vars}.values():
                owners[id(v)] = owners.get(id(v), 0) + 1
                variables[id(v)] = v
        shared = [variables[key] for key, n in owners.items() if n >= 2]
        statistics = sum(1 for v in shared if not v.trainable)
        return len(shared), sum(_variable_bytes(v) for v in shared), statistics

    def _compute(self) -> dict[str, Any]:
        with self._lock:
            graphs = list(self._graph_order)
            models = self._models.alive()
            numbers = {
                "seconds": time.perf_counter() - self._started,
                "graphs_created": sum(1 for e in graphs if e.created),
                "ops_added": sum(e.ops_added for e in graphs),
                "ops_by_graph": {e.label: e.ops_added for e in graphs},
                "variables_created": self._variable_count,
                "variable_bytes": self._variable_bytes,
                "models_created": self._model_count,
                "sessions_created": self._sessions,
                "function_traces": sum(self._traces.values()),
                "traced_functions": self._function_count,
                "traces_by_function": dict(self._traces),
            }
        numbers["shared_variables"], numbers["shared_variable_bytes"], numbers["shared_statistics"] = self._shared(models)
        return numbers

    def _freeze(self) -> None:
        self._frozen = self._compute()

    def as_dict(self) -> dict[str, Any]:
        """All numbers as a JSON-ready dict (a copy; live while the block runs)."""
        numbers = self._frozen if self._frozen is not None else self._compute()
        return {
            key: dict(value) if isinstance(value, dict) else value
            for key, value in sorted(numbers.items())
        }

    def _get(self, key: str) -> Any:
        return (self._frozen if self._frozen is not None else self._compute())[key]

    seconds = property(lambda self: self._get("seconds"), doc="Wall time of the block, in seconds.")
    graphs_created = property(lambda self: self._get("graphs_created"), doc="New tf.Graph objects.")
    ops_added = property(lambda self: self._get("ops_added"), doc="Ops added to any tf.Graph.")
    ops_by_graph = property(lambda self: dict(self._get("ops_by_graph")), doc="Ops added per graph label.")
    variables_created = property(lambda self: self._get("variables_created"), doc="Variables created.")
    variable_bytes = property(lambda self: self._get("variable_bytes"), doc="Bytes of the variables created.")
    models_created = property(lambda self: self._get("models_created"), doc="tf_keras Models and tfshare classifiers.")
    shared_variables = property(
        lambda self: self._get("shared_variables"), doc="Variables of two or more of the models created."
    )
    shared_variable_bytes = property(
        lambda self: self._get("shared_variable_bytes"), doc="Bytes of the shared variables."
    )
    shared_statistics = property(
        lambda self: self._get("shared_statistics"),
        doc="Shared variables that are not trainable (e.g. a shared trunk's BatchNorm statistics).",
    )
    sessions_created = property(lambda self: self._get("sessions_created"), doc="Sessions created.")
    function_traces = property(lambda self: self._get("function_traces"), doc="tf.function traces.")
    traced_functions = property(lambda self: self._get("traced_functions"), doc="tf.function objects that traced.")
    traces_by_function = property(
        lambda self: dict(self._get("traces_by_function")), doc="Traces per Python function name."
    )

    def __str__(self) -> str:
        d = self.as_dict()
        per_graph = ", ".join(f"{label}: {n}" for label, n in d["ops_by_graph"].items())
        per_function = ", ".join(f"{name}: {n}" for name, n in sorted(d["traces_by_function"].items()))
        rows = [
            ("graphs created", d["graphs_created"], ""),
            ("ops added", d["ops_added"], per_graph),
            ("variables created", d["variables_created"], _format_bytes(d["variable_bytes"])),
            ("models created", d["models_created"], ""),
            ("shared variables", d["shared_variables"], _format_bytes(d["shared_variable_bytes"])),
            ("shared statistics", d["shared_statistics"], "not trainable: training one model moves them for all"
             if d["shared_statistics"] else ""),
            ("sessions created", d["sessions_created"], ""),
            ("function traces", d["function_traces"], per_function),
        ]
        lines = [f"tfshare.audit: {d['seconds']:.3f} s"]
        lines += [f"  {name:<18} {value:>7}" + (f"  ({detail})" if detail else "") for name, value, detail in rows]
        return "\n".join(lines)

    def __repr__(self) -> str:
        state = "frozen" if self._frozen is not None else "live"
        return f"<AuditReport {state}: {self.as_dict()}>"


@contextlib.contextmanager
def audit() -> Iterator[AuditReport]:
    """Reports the graphs, ops, variables, models, Sessions and traces a block creates.

    Example:
      >>> with tfshare.audit() as report:
      ...     a = DenseClassifier(runtime=gs)
      ...     b = DenseClassifier(runtime=gs)
      >>> print(report)            # a short table
      >>> report.as_dict()         # plain numbers

    Works on any code, not only tfshare's: graph-mode tf_keras models, eager
    models, ``make_template`` / ``variable_scope(reuse=...)`` code,
    ``tf.function`` methods and hand-opened Sessions. Audits nest; each one
    counts everything created inside it.

    Yields:
      An ``AuditReport``, live inside the block and frozen when it ends.
    """
    report = AuditReport()
    _audit_hooks.activate(report)
    try:
        yield report
    finally:
        try:
            _audit_hooks.deactivate(report)
        finally:
            report._freeze()


__all__ = ["AuditReport", "audit", "is_active"]
