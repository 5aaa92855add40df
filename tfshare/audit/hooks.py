"""The TensorFlow entry points that ``tfshare.audit`` wraps, and their installation.

The wrappers are installed when the first audit starts and removed when the
last one ends (``activate`` / ``deactivate``). Each wrapper calls the
original, then tells every running ``AuditReport`` what happened through one
of its ``_on_*`` methods. With no audit running, a wrapper that could not be
removed (because someone wrapped it again on top) only passes through.

What is wrapped, and why:

* ``tf.Graph.__init__`` and ``tf.Graph._add_op``: graphs and ops (legacy
  ``function.Defun`` graphs and ``FuncGraph``s are traces, not graphs);
* ``tf.Variable``'s metaclass ``__call__``: every variable;
* ``BaseSession.__init__`` / ``close`` / ``run``, ``make_callable`` and
  ``BaseSession._Callable`` (what ``_make_callable_from_options`` returns):
  Sessions, what each call runs, and its time;
* ``tf_keras.Model.__init__`` and ``ClassifierBase._constructed``: models;
* ``tracing_compilation._create_concrete_function``: ``tf.function`` traces;
* tf_keras's ``LayerVersionSelector.__new__`` / ``ModelVersionSelector.__new__``:
  where tf_keras picks, and rewrites, a layer class's base.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from typing import Any, Callable

from tfshare import _initial_value_graph
from tfshare._tf import func_graph, keras, keras_version_utils, legacy_function, tf, tf_session, tracing_compilation
from tfshare.audit import sites

_log = logging.getLogger(__name__)

#: Graph classes that hold a function's body, not a user's graph.
FUNCTION_GRAPHS = (func_graph.FuncGraph, legacy_function._FuncGraph)  # pylint: disable=protected-access

_ACTIVE: tuple[Any, ...] = ()  # the running AuditReports
_REGISTRY_LOCK = threading.Lock()
_PATCHES: list["_Patch"] = []
_clock = time.perf_counter


class _Patch:
    """One attribute replaced by a wrapper, and how to put the original back."""

    def __init__(self, owner: Any, name: str, make_wrapper: Callable[[Any], Any], static: bool = False) -> None:
        self.owner = owner
        self.name = name
        self.own = name in vars(owner)  # else inherited: restore by deleting ours
        self.raw = vars(owner).get(name)
        self.wrapper = make_wrapper(getattr(owner, name))
        # Read by the wrapper on every call: a wrapper left installed after its
        # audits ended (see ``restore``) must only pass through, even when a
        # later audit wraps it again, or every event would count twice.
        self.wrapper._tfshare_live = False
        self.installed = staticmethod(self.wrapper) if static else self.wrapper

    def apply(self) -> None:
        self.wrapper._tfshare_live = True
        setattr(self.owner, self.name, self.installed)

    def restore(self) -> None:
        self.wrapper._tfshare_live = False
        current = vars(self.owner).get(self.name)
        if current is not self.installed:
            # Someone wrapped it again on top of us; taking theirs away would
            # break them. Ours stays, and does nothing with no audit active.
            _log.warning("tfshare.audit: %s.%s was replaced while auditing; left as is", self.owner, self.name)
            return
        if self.own:
            setattr(self.owner, self.name, self.raw)
        else:
            delattr(self.owner, self.name)


def _live(wrapper: Any) -> bool:
    """Whether ``wrapper`` reports: installed by a running audit, and not in tfshare's private initial-value work.

    ``tfshare._initial_value_graph`` computes seeded initial values in a graph
    and Session of its own (one per process, built once per recipe); the audit
    reports on the program's graphs and Sessions, so that work is not counted.
    """
    return wrapper._tfshare_live and bool(_ACTIVE) and not _initial_value_graph.busy()


def _after(event: str, describe: Callable[[Any, Any], tuple | None] | None = None) -> Callable[[Any], Any]:
    """A wrapper factory: after the original, ``report.<event>(*describe(self, result))`` for every audit.

    ``describe`` defaults to ``(self, result)``; returning None skips the event.
    """

    def make_wrapper(original: Any) -> Any:
        @functools.wraps(original)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(self, *args, **kwargs)
            if _live(wrapper):
                described = (self, result) if describe is None else describe(self, result)
                if described is not None:
                    for report in _ACTIVE:
                        getattr(report, event)(*described)
            return result

        return wrapper

    return make_wrapper


def _user_graph(graph: Any, op_id: Any) -> tuple | None:
    return None if isinstance(graph, FUNCTION_GRAPHS) else (graph, op_id)


_wrap_graph_init = _after("_on_graph", lambda graph, _: None if isinstance(graph, FUNCTION_GRAPHS) else (graph,))
_wrap_add_op = _after("_on_op", _user_graph)  # Graph._add_op returns the op's id
_wrap_variable = _after("_on_variable", lambda _, variable: (variable, sites.creation(skip=3)))


def _wrap_session_init(original: Any) -> Any:
    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        start = _clock()
        original(self, *args, **kwargs)
        if _live(__init__):
            seconds, site = _clock() - start, sites.caller(2)
            for report in _ACTIVE:
                report._on_session(self, seconds, site)

    return __init__


def _wrap_run(original: Any) -> Any:
    @functools.wraps(original)
    def run(self: Any, fetches: Any, feed_dict: Any = None, options: Any = None, run_metadata: Any = None) -> Any:
        if not _live(run):
            return original(self, fetches, feed_dict, options, run_metadata)
        start = _clock()
        try:
            result = original(self, fetches, feed_dict, options, run_metadata)
        except tf.errors.FailedPreconditionError as exc:
            site = sites.caller(2)
            for report in _ACTIVE:
                report._on_run_failed(self, exc, site)
            raise
        seconds = _clock() - start
        for report in _ACTIVE:
            report._on_run(self, fetches, feed_dict, seconds)
        return result

    return run


def _wrap_make_callable(original: Any) -> Any:
    @functools.wraps(original)
    def make_callable(self: Any, fetches: Any, feed_list: Any = None, accept_options: bool = False) -> Any:
        fn = original(self, fetches, feed_list, accept_options)
        if feed_list is not None:
            return fn  # it calls self.run, which is wrapped

        session = self

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            if not _live(make_callable):
                return fn(*args, **kwargs)
            start = _clock()
            result = fn(*args, **kwargs)
            seconds = _clock() - start
            for report in _ACTIVE:
                report._on_run(session, fetches, None, seconds)
            return result

        return call

    return make_callable


def _wrap_callable_init(original: Any) -> Any:
    @functools.wraps(original)
    def __init__(self: Any, session: Any, callable_options: Any) -> None:
        original(self, session, callable_options)
        if _live(__init__):
            for report in _ACTIVE:
                report._on_callable_made(self, session, callable_options)

    return __init__


def _wrap_callable_call(original: Any) -> Any:
    @functools.wraps(original)
    def __call__(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _live(__call__):
            return original(self, *args, **kwargs)
        start = _clock()
        try:
            result = original(self, *args, **kwargs)
        except tf.errors.FailedPreconditionError as exc:
            site = sites.caller(2)
            for report in _ACTIVE:
                report._on_run_failed(self._session, exc, site)
            raise
        seconds = _clock() - start
        for report in _ACTIVE:
            report._on_callable_ran(self, seconds)
        return result

    return __call__


def _wrap_trace(original: Any) -> Any:
    @functools.wraps(original)
    def _create_concrete_function(function_type, type_context, func_graph, tracing_options):  # noqa: ANN001
        result = original(function_type, type_context, func_graph, tracing_options)
        if _live(_create_concrete_function):
            site = sites.caller(2)
            for report in _ACTIVE:
                report._on_trace(function_type, tracing_options, site)
        return result

    return _create_concrete_function


def _wrap_version_selector(original: Any) -> Any:
    @functools.wraps(original)
    def __new__(cls: Any, *args: Any, **kwargs: Any) -> Any:
        if not _live(__new__):
            return original(cls, *args, **kwargs)
        before = cls.__mro__
        obj = original(cls, *args, **kwargs)
        swapped = cls.__mro__ != before  # tf_keras rewrote the class's bases
        site = sites.caller(2)
        for report in _ACTIVE:
            report._on_layer(obj, swapped, site)
        return obj

    return __new__


def _make_patches() -> list[_Patch]:
    from tfshare.base import ClassifierBase  # here: base imports tfshare's package, which imports this module

    base = tf_session.BaseSession
    selectors = keras_version_utils
    return [
        _Patch(tf.Graph, "__init__", _wrap_graph_init),
        _Patch(tf.Graph, "_add_op", _wrap_add_op),
        _Patch(type(tf.Variable), "__call__", _wrap_variable),
        _Patch(base, "__init__", _wrap_session_init),
        _Patch(base, "close", _after("_on_session_closed")),
        _Patch(base, "run", _wrap_run),
        _Patch(base, "make_callable", _wrap_make_callable),
        _Patch(base._Callable, "__init__", _wrap_callable_init),  # pylint: disable=protected-access
        _Patch(base._Callable, "__call__", _wrap_callable_call),  # pylint: disable=protected-access
        _Patch(keras.Model, "__init__", _after("_on_model")),
        # Every tfshare classifier, graph or eager, calls it once it is complete.
        _Patch(ClassifierBase, "_constructed", _after("_on_model")),
        _Patch(tracing_compilation, "_create_concrete_function", _wrap_trace),
        _Patch(selectors.LayerVersionSelector, "__new__", _wrap_version_selector, static=True),
        _Patch(selectors.ModelVersionSelector, "__new__", _wrap_version_selector, static=True),
    ]


def activate(report: Any) -> None:
    """Starts telling ``report`` about events (installs the wrappers for the first audit)."""
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
    """Stops telling ``report``; removes the wrappers when no audit is left."""
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


__all__ = ["FUNCTION_GRAPHS", "activate", "deactivate", "is_active"]
