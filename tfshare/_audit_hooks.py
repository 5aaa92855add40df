"""The TensorFlow entry points that ``tfshare.audit`` wraps, and their installation.

The wrappers are installed when the first audit starts and removed when the
last one ends (``activate`` / ``deactivate``). Each wrapper calls the
original, then tells every running ``AuditReport`` what happened through its
``_graph_created`` / ``_op_added`` / ``_variable_created`` / ``_model_created``
/ ``_session_created`` / ``_function_traced`` methods. With no audit running,
a wrapper that could not be removed (because someone wrapped it again on top)
only passes through.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any, Callable

from tfshare._tf import func_graph, keras, tf, tf_session, tracing_compilation

_log = logging.getLogger(__name__)

_FuncGraph = func_graph.FuncGraph

_ACTIVE: tuple[Any, ...] = ()  # the running AuditReports
_REGISTRY_LOCK = threading.Lock()
_PATCHES: list["_Patch"] = []


class _Patch:
    """One attribute replaced by a wrapper, and how to put the original back."""

    def __init__(self, owner: Any, name: str, make_wrapper: Callable[[Any], Any]) -> None:
        self.owner = owner
        self.name = name
        self.own = name in vars(owner)  # else inherited: restore by deleting ours
        self.raw = vars(owner).get(name)
        self.wrapper = make_wrapper(getattr(owner, name))
        # Read by the wrapper on every call: a wrapper left installed after its
        # audits ended (see ``restore``) must only pass through, even when a
        # later audit wraps it again, or every event would count twice.
        self.wrapper._tfshare_live = False

    def apply(self) -> None:
        self.wrapper._tfshare_live = True
        setattr(self.owner, self.name, self.wrapper)

    def restore(self) -> None:
        self.wrapper._tfshare_live = False
        current = vars(self.owner).get(self.name)
        if current is not self.wrapper:
            # Someone wrapped it again on top of us; taking theirs away would
            # break them. Ours stays, and does nothing with no audit active.
            _log.warning("tfshare.audit: %s.%s was replaced while auditing; left as is", self.owner, self.name)
            return
        if self.own:
            setattr(self.owner, self.name, self.raw)
        else:
            delattr(self.owner, self.name)


def _after(event: Callable[[Any, Any, Any], None]) -> Callable[[Any], Any]:
    """Makes a wrapper factory that calls ``event(report, self, result)`` after the original."""

    def make_wrapper(original: Any) -> Any:
        @functools.wraps(original)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(self, *args, **kwargs)
            if wrapper._tfshare_live:
                for report in _ACTIVE:
                    event(report, self, result)
            return result

        return wrapper

    return make_wrapper


def _on_graph_init(report: Any, graph: Any, _: Any) -> None:
    if not isinstance(graph, _FuncGraph):
        report._graph_created(graph)


def _on_add_op(report: Any, graph: Any, _: Any) -> None:
    if not isinstance(graph, _FuncGraph):
        report._op_added(graph)


def _on_variable(report: Any, _: Any, variable: Any) -> None:
    report._variable_created(variable)


def _on_model(report: Any, model: Any, _: Any) -> None:
    report._model_created(model)


def _on_session(report: Any, session: Any, _: Any) -> None:
    report._session_created(session)


def _wrap_trace(original: Any) -> Any:
    @functools.wraps(original)
    def _create_concrete_function(function_type, type_context, func_graph, tracing_options):  # noqa: ANN001
        result = original(function_type, type_context, func_graph, tracing_options)
        if _create_concrete_function._tfshare_live:
            for report in _ACTIVE:
                report._function_traced(tracing_options)
        return result

    return _create_concrete_function


def _make_patches() -> list[_Patch]:
    from tfshare.base import ClassifierBase  # here: base imports tfshare's package, which imports this module

    return [
        _Patch(tf.Graph, "__init__", _after(_on_graph_init)),
        _Patch(tf.Graph, "_add_op", _after(_on_add_op)),
        _Patch(type(tf.Variable), "__call__", _after(_on_variable)),
        _Patch(tf_session.BaseSession, "__init__", _after(_on_session)),
        _Patch(keras.Model, "__init__", _after(_on_model)),
        # Every tfshare classifier, graph or eager, calls it once it is complete.
        _Patch(ClassifierBase, "_constructed", _after(_on_model)),
        _Patch(tracing_compilation, "_create_concrete_function", _wrap_trace),
    ]


def activate(report: Any) -> None:
    global _ACTIVE
    with _REGISTRY_LOCK:
        if not _ACTIVE:
            patches = _make_patches()
            applied: list[_Patch] = []
            try:
                for patch in patches:
                    patch.apply()
                    applied.append(patch)
            except BaseException:
                for patch in reversed(applied):
                    patch.restore()
                raise
            _PATCHES[:] = patches
        _ACTIVE = _ACTIVE + (report,)


def deactivate(report: Any) -> None:
    global _ACTIVE
    with _REGISTRY_LOCK:
        _ACTIVE = tuple(r for r in _ACTIVE if r is not report)
        if not _ACTIVE:
            patches, _PATCHES[:] = list(_PATCHES), []
            for patch in reversed(patches):
                patch.restore()


def is_active() -> bool:
    """Whether any audit is running (so TensorFlow's entry points are wrapped)."""
    return bool(_ACTIVE)
