"""The records an audit keeps: weak sets, and one small record per graph, variable, Session, trace.

Everything refers to TensorFlow's objects through weak references, so the
audit keeps nothing alive (a graph entry's ``held`` is the exception that
``hold_graphs`` asks for).
"""

from __future__ import annotations

import dataclasses
import re
import weakref
from typing import Any, Callable

from tfshare.audit import sites
from tfshare.audit.sites import Site

_INTERNAL = re.compile(r"[\\/](tensorflow|tf_keras|keras)[\\/]")


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


__all__ = [
    "GraphEntry",
    "IdentitySet",
    "Reinit",
    "SessionRecord",
    "Swap",
    "Trace",
    "VariableRecord",
    "user_function",
    "variable_bytes",
]
