"""AuditReport: the numbers and findings of one ``audit()`` block."""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, NamedTuple

from tfshare.audit import findings as findings_module
from tfshare.audit import graph_rules, rules, sites
from tfshare.audit.copies import Copies, by_trunk
from tfshare.audit.events import Recorder
from tfshare.audit.records import variable_bytes
from tfshare.audit.findings import Finding, format_bytes
from tfshare.audit.sharing import GraphSharing, analyze

ROLES = ("weights", "optimizer", "statistics", "bookkeeping")
_FAR = 1 << 62
_log = logging.getLogger(__name__)


def _safely(what: str, fn: Callable[..., Any], *args: Any, default: Any = ()) -> Any:
    """``fn(*args)``; a failure is logged and gives ``default``: reading a graph never breaks the audited code."""
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001 - any graph TensorFlow can build must not break the user's block
        _log.warning("tfshare.audit: could not read %s; its findings are left out", what, exc_info=True)
        return list(default) if isinstance(default, tuple) else default


class _Weight(NamedTuple):
    """An eager variable, as ``graph_rules.nothing_shared`` reads a graph's."""

    key: Any
    shape: list
    dtype: Any
    first_id: int
    bytes: int


def _fallback_role(record: Any) -> str:
    if record.hint == "bookkeeping" or record.dtype.is_integer or record.dtype.name == "bool":
        return "bookkeeping"
    if record.trainable:
        return "weights"
    return "optimizer" if record.hint == "optimizer" else "statistics"


def _mirrors_detail(numbers: dict[str, Any]) -> str:
    """"1.2 MiB: trunk t in 3 mirrors, ...": what the mirror copies row says after its count."""
    per_trunk = ", ".join(f"{name} in {row['mirrors']} mirror{'s' * (row['mirrors'] != 1)}"
                          for name, row in sorted(numbers["mirrors_by_trunk"].items()))
    return f"{format_bytes(numbers['mirror_copy_bytes'])}: copies of trunk {per_trunk}"


class AuditReport(Recorder):
    """What the code inside one ``audit()`` block created, and what it did wrong.

    Its numbers are live while the block runs and frozen when it ends.

    Attributes (all plain numbers; see ``as_dict``):
      seconds: wall time of the block.
      graphs_created: new ``tf.Graph`` objects (``FuncGraph``s and legacy
        ``function.Defun`` graphs, which hold traces, excluded).
      ops_added: ops added to any ``tf.Graph``, new or existing.
      ops_by_graph: ops added per graph, keyed "default graph" (the default
        graph when the block started), "new graph 1", ..., "existing graph 1", ...
      variables_created: variables (graph or eager) that own storage, trunk
        mirrors' copies excepted.
      variable_bytes: bytes of their values (shape x dtype size).
      mirror_copies: copies of a trunk's variables that its mirrors hold in
        other shards (``tfshare.mirrors``): the trunk's variables held again,
        counted here and nowhere else (not in ``variables_created``; as the
        trunk's variable in ``shared_variables`` and ``variables_trained``).
      mirror_copy_bytes: their bytes.
      mirrors_by_trunk: {trunk name: {"mirrors", "copies", "bytes"}} for the
        mirrors made in the block.
      variables_by_role / bytes_by_role: the same, split into ``weights``
        (trainable), ``optimizer`` (slots and accumulators), ``statistics``
        (BatchNorm moving statistics and other non-trainable state) and
        ``bookkeeping`` (step counters, metric totals).
      models_created: tf_keras Models and tfshare classifiers.
      shared_variables: variables of the block (created in it, or given a
        new consumer in it) that two consumers read: two towers, or two
        models (see ``tfshare.audit.sharing``). Eager variables count when
        two of the block's models hold them.
      shared_variable_bytes: bytes of the shared variables (counted once).
      shared_statistics: shared variables that are not trainable (BatchNorm
        moving statistics of a shared body): training any one model that
        uses them changes them for all (interference).
      variables_trained: variables an optimizer or a moving average wrote
        in a Session call of the block (step counters excluded).
      sessions_created: ``tf.compat.v1.Session`` objects (any kind).
      session_calls: ``Session.run`` and callable calls.
      function_traces: concrete functions traced by ``tf.function``s; a
        method traces per instance, so it counts once per instance.
      traced_functions: how many distinct ``tf.function`` objects traced.
      traces_by_function: traces per Python function's qualified name.
      findings: ``Finding``s, worst first (see ``tfshare.audit.findings``).
    """

    def __init__(self, hold_graphs: bool = False) -> None:
        super().__init__(hold_graphs)
        self._frozen: dict[str, Any] | None = None
        self._cache: tuple[int, dict[str, Any]] | None = None

    # ----------------------------------------------------------- numbers
    def _analyses(self) -> list[tuple[Any, Any, GraphSharing]]:
        with self._lock:
            entries = list(self._graphs.values())
            records = list(self._variable_records)
            trained = list(self._trained.values())
        out = []
        for entry in entries:
            graph = entry.ref()
            if graph is None or (entry.label is None and not any(e.graph() is graph for e, _ in trained)):
                continue
            mine = [r for r in records if r.graph is not None and r.graph() is graph]
            hints = {r.op_name: r.hint for r in mine if r.hint}
            trainable = {r.op_name for r in mine if r.trainable}
            first = entry.first_id if entry.first_id is not None else _FAR
            sharing = _safely(f"the sharing of {entry.label or 'a graph'}", analyze, graph, first, hints, trainable,
                              default=None)
            if sharing is not None:
                out.append((entry, graph, sharing))
        return out

    def _shared_eager(self, models: list[Any]) -> list[Any]:
        """Eager variables that two of the block's models hold (graphs are read by ``sharing``)."""
        owners: dict[int, int] = {}
        variables: dict[int, Any] = {}
        wrapped = {id(m.keras_model) for m in models if getattr(m, "keras_model", None) is not None}
        for model in models:
            if id(model) in wrapped:
                continue
            try:
                model_vars = [v for v in model.variables if not getattr(v, "_in_graph_mode", True)]
            except Exception:  # noqa: BLE001 - a half-built user model has no variables to share
                continue
            for v in {id(v): v for v in model_vars}.values():
                owners[id(v)] = owners.get(id(v), 0) + 1
                variables[id(v)] = v
        return [variables[k] for k, n in owners.items() if n >= 2]

    def _compute(self) -> dict[str, Any]:
        with self._lock:
            version = self._version
            if self._cache is not None and self._cache[0] == version:
                return dict(self._cache[1], seconds=time.perf_counter() - self._started)
            listed = list(self._graph_order)
            records = list(self._variable_records)
            models = self._models.alive()
            trained = list(self._trained.values())
            traces = list(self._traces)
            numbers: dict[str, Any] = {
                "graphs_created": sum(1 for e in listed if e.created),
                "ops_added": sum(e.ops_added for e in listed),
                "ops_by_graph": {e.label: e.ops_added for e in listed},
                "models_created": self._model_count,
                "sessions_created": self._session_count,
                "session_calls": self._session_calls,
                "function_traces": len(traces),
                "traced_functions": len({t.owner for t in traces}),
            }
        by_name: dict[str, int] = {}
        for t in traces:
            by_name[t.name] = by_name.get(t.name, 0) + 1
        numbers["traces_by_function"] = by_name
        copies = Copies()
        copied = [(r, c) for r, c in ((r, copies.of_record(r)) for r in records) if c is not None]
        copied_ids = {id(r) for r, _ in copied}
        own = [r for r in records if id(r) not in copied_ids]
        numbers["variables_created"] = len(own)
        numbers["variable_bytes"] = sum(r.nbytes for r in own)
        numbers["mirror_copies"] = len(copied)
        numbers["mirror_copy_bytes"] = sum(c.nbytes for _, c in copied)
        numbers["mirrors_by_trunk"] = by_trunk(copied)
        analyses = self._analyses()
        found: list[Finding] = []
        roles = dict.fromkeys(ROLES, 0)
        role_bytes = dict.fromkeys(ROLES, 0)
        graph_models, shared, bookkeeping = [], {}, set()
        for entry, graph, sharing in analyses:
            names = {}
            for var in sharing.variables.values():
                names[var.op.name] = var
                if var.role == "bookkeeping":
                    bookkeeping.add(copies.key(graph, var.key))
                in_block = var.first_id >= (entry.first_id or _FAR) or var.used_in_block or any(
                    sharing.models[m].in_block for m in var.models)
                if var.shared and in_block:
                    shared.setdefault(copies.key(graph, var.key), var)  # a trunk variable once, whatever holds it
            for r in records:
                if r.graph is not None and r.graph() is graph and r.op_name in names:
                    r.role = names[r.op_name].role
            for model in sharing.models:
                if model.in_block:
                    weights = [v for v in sharing.members(model) if v.trainable]
                    site = sites.of_op(weights[0].op) if weights else None
                    graph_models.append((entry.label or "a graph", weights, site))
            if entry.marks and entry.label is not None:
                found += _safely(f"the growth of {entry.label}", graph_rules.growth, entry.label, graph,
                                 entry.first_id or _FAR, entry.marks)
            mine = [(e, c) for e, c in trained if e.graph() is graph]
            if mine:
                found += _safely("training", graph_rules.interference, entry.label or "an existing graph",
                                 sharing, mine)
        for r in own:
            role = r.role or _fallback_role(r)
            roles[role] += 1
            role_bytes[role] += r.nbytes
        eager_shared = self._shared_eager(models)
        numbers["variables_by_role"] = roles
        numbers["bytes_by_role"] = role_bytes
        numbers["shared_variables"] = len(shared) + len(eager_shared)
        numbers["shared_variable_bytes"] = sum(v.bytes for v in shared.values()) + sum(
            variable_bytes(v) for v in eager_shared)
        numbers["shared_statistics"] = sum(1 for v in shared.values() if not v.trainable) + sum(
            1 for v in eager_shared if not v.trainable)
        numbers["variables_trained"] = len(
            {copies.key(e.graph(), k) for e, _ in trained for k in e.trained} - bookkeeping)
        found += _safely("the models", graph_rules.nothing_shared, graph_models + self._eager_models(models))
        with self._lock:
            found += _safely("the Sessions", rules.sessions, self)
            found += _safely("the traces", rules.retracing, self)
            found += _safely("Keras 3", rules.keras3, self, numbers["graphs_created"], numbers["sessions_created"])
            found += _safely("the layers", rules.base_class_swaps, self)
            found += _safely("initialization", rules.initialization, self)
        numbers["findings"] = findings_module.worst_first(found)
        with self._lock:
            self._cache = (version, numbers)
        return dict(numbers, seconds=time.perf_counter() - self._started)

    def _eager_models(self, models: list[Any]) -> list[tuple[str, list[Any], Any]]:
        wrapped = {id(m.keras_model) for m in models if getattr(m, "keras_model", None) is not None}
        site_of = {}
        with self._lock:
            for r in self._variable_records:
                v = r.ref()
                if v is not None and r.graph is None:
                    site_of[id(v)] = r.site
        out = []
        for model in models:
            if id(model) in wrapped:
                continue
            try:
                weights = [v for v in model.trainable_variables if not getattr(v, "_in_graph_mode", True)]
            except Exception:  # noqa: BLE001
                continue
            if weights:
                rows = [_Weight(id(v), list(v.shape), v.dtype.base_dtype, i, variable_bytes(v))
                        for i, v in enumerate(weights)]
                out.append(("eager", rows, site_of.get(id(weights[0]))))
        return out

    def _freeze(self) -> None:
        self._frozen = self._compute()
        for entry in self._graphs.values():
            entry.held = None

    def _numbers(self) -> dict[str, Any]:
        return self._frozen if self._frozen is not None else self._compute()

    def as_dict(self) -> dict[str, Any]:
        """All numbers and findings as a JSON-ready dict (a copy; live while the block runs)."""
        out = {}
        for key, value in sorted(self._numbers().items()):
            if key == "findings":
                out[key] = [f.as_dict() for f in value]
            else:
                out[key] = dict(value) if isinstance(value, dict) else value
        return out

    def _get(self, key: str) -> Any:
        return self._numbers()[key]

    seconds = property(lambda self: self._get("seconds"), doc="Wall time of the block, in seconds.")
    graphs_created = property(lambda self: self._get("graphs_created"), doc="New tf.Graph objects.")
    ops_added = property(lambda self: self._get("ops_added"), doc="Ops added to any tf.Graph.")
    ops_by_graph = property(lambda self: dict(self._get("ops_by_graph")), doc="Ops added per graph label.")
    variables_created = property(lambda self: self._get("variables_created"),
                                 doc="Variables created (trunk mirrors' copies excepted).")
    mirror_copies = property(lambda self: self._get("mirror_copies"),
                             doc="Copies of trunk variables held by the trunks' mirrors (tfshare.mirrors).")
    mirror_copy_bytes = property(lambda self: self._get("mirror_copy_bytes"), doc="Bytes of the mirror copies.")
    mirrors_by_trunk = property(
        lambda self: {k: dict(v) for k, v in self._get("mirrors_by_trunk").items()},
        doc='{trunk name: {"mirrors", "copies", "bytes"}} of the mirrors made in the block.',
    )
    variable_bytes = property(lambda self: self._get("variable_bytes"), doc="Bytes of the variables created.")
    variables_by_role = property(lambda self: dict(self._get("variables_by_role")),
                                 doc="Variables created per role: weights, optimizer, statistics, bookkeeping.")
    bytes_by_role = property(lambda self: dict(self._get("bytes_by_role")), doc="Bytes created per role.")
    models_created = property(lambda self: self._get("models_created"), doc="tf_keras Models and tfshare classifiers.")
    shared_variables = property(lambda self: self._get("shared_variables"),
                                doc="Variables read by two towers or two models.")
    shared_variable_bytes = property(lambda self: self._get("shared_variable_bytes"),
                                     doc="Bytes of the shared variables.")
    shared_statistics = property(
        lambda self: self._get("shared_statistics"),
        doc="Shared variables that are not trainable (e.g. a shared trunk's BatchNorm statistics).",
    )
    variables_trained = property(lambda self: self._get("variables_trained"),
                                 doc="Variables written by training in the block's Session calls.")
    sessions_created = property(lambda self: self._get("sessions_created"), doc="Sessions created.")
    session_calls = property(lambda self: self._get("session_calls"), doc="Session.run and callable calls.")
    function_traces = property(lambda self: self._get("function_traces"), doc="tf.function traces.")
    traced_functions = property(lambda self: self._get("traced_functions"), doc="tf.function objects that traced.")
    traces_by_function = property(
        lambda self: dict(self._get("traces_by_function")), doc="Traces per Python function name."
    )
    findings = property(lambda self: list(self._get("findings")), doc="Findings, worst first.")

    def __str__(self) -> str:
        d = self._numbers()
        per_graph = ", ".join(f"{label}: {n}" for label, n in d["ops_by_graph"].items())
        per_function = ", ".join(f"{name}: {n}" for name, n in sorted(d["traces_by_function"].items()))
        roles = ", ".join(f"{role} {d['variables_by_role'][role]}" for role in ROLES)
        rows = [
            ("graphs created", d["graphs_created"], ""),
            ("ops added", d["ops_added"], per_graph),
            ("variables created", d["variables_created"], f"{format_bytes(d['variable_bytes'])}: {roles}"),
            *([("mirror copies", d["mirror_copies"], _mirrors_detail(d))] if d["mirror_copies"] else []),
            ("models created", d["models_created"], ""),
            ("shared variables", d["shared_variables"], format_bytes(d["shared_variable_bytes"])),
            ("shared statistics", d["shared_statistics"], "not trainable: training one model moves them for all"
             if d["shared_statistics"] else ""),
            ("variables trained", d["variables_trained"], ""),
            ("sessions created", d["sessions_created"], f"{d['session_calls']} calls"),
            ("function traces", d["function_traces"], per_function),
        ]
        lines = [f"tfshare.audit: {d['seconds']:.3f} s"]
        lines += [f"  {name:<18} {value:>7}" + (f"  ({detail})" if detail else "") for name, value, detail in rows]
        found = d["findings"]
        lines.append(f"findings: {len(found)}" + ("" if found else " (nothing to report)"))
        lines += [f"  {f}" for f in found]
        return "\n".join(lines)

    def __repr__(self) -> str:
        state = "frozen" if self._frozen is not None else "live"
        return f"<AuditReport {state}: {self.as_dict()}>"


__all__ = ["AuditReport", "ROLES"]
