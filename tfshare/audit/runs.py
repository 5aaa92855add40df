"""What one Session call runs: which variables it writes, and how.

A ``Session.run`` executes its fetches and everything they depend on (data
and control inputs). Walking that closure once per distinct set of fetches
tells which variables the call initializes (a variable's ``initializer``
op), restores (a value from ``RestoreV2``), trains (an optimizer's ``Apply``
op, or an ``AssignAdd``/``AssignSub`` such as BatchNorm's moving averages)
or assigns. The result is cached by the identity of the fetched objects, so
a training loop pays for the walk once.
"""

from __future__ import annotations

import dataclasses
import threading
import weakref
from typing import Any

from tfshare._tf import tf, tf1
from tfshare.audit import graph_facts as facts

_INIT_COLLECTIONS = (tf1.GraphKeys.GLOBAL_VARIABLES, tf1.GraphKeys.LOCAL_VARIABLES)


@dataclasses.dataclass(eq=False)
class Effect:
    """What a call writes. Compared by identity: one object per distinct set of fetches.

    Attributes:
      graph: a weak reference to the graph.
      trained: variable keys written by an optimizer or an update (AssignAdd/Sub).
      restored: variable keys assigned a value from a checkpoint (``RestoreV2``).
      initializers: (variable key, the initializer's value tensor), for the
        variables whose ``initializer`` op runs (fed values are assignments).
      writers: the ops that train, for their creation site.
      bytes_of: {variable key: bytes}, for the variables written.
    """

    graph: Any
    trained: frozenset = frozenset()
    restored: frozenset = frozenset()
    initializers: tuple = ()
    writers: tuple = ()
    bytes_of: dict = dataclasses.field(default_factory=dict)


NOTHING = Effect(graph=lambda: None)


def _fetch_items(fetches: Any) -> list[Any]:
    if isinstance(fetches, (list, tuple)) and not hasattr(fetches, "_fields"):
        if all(not isinstance(x, (list, tuple, dict)) for x in fetches):
            return list(fetches)
    elif not isinstance(fetches, dict):
        return [fetches]
    return tf.nest.flatten(fetches)


def _as_op(item: Any, graph: Any) -> Any | None:
    try:
        if isinstance(item, str):
            item = graph.as_graph_element(item)
        if hasattr(item, "handle") and hasattr(item.handle, "op"):  # a resource variable: a read
            return item.handle.op
        op = getattr(item, "op", None)
        if op is not None and hasattr(op, "inputs"):
            return op
        return item if hasattr(item, "control_inputs") else None
    except Exception:  # noqa: BLE001 - an unknown fetch type: nothing to learn from it
        return None


def _bytes(op: Any) -> int:
    try:
        shape = op.get_attr("shape")
        n = 1
        for d in shape.dim:
            if d.size < 0:
                return 0
            n *= d.size
        return n * tf.as_dtype(op.get_attr("dtype")).size
    except Exception:  # noqa: BLE001
        return 0


def effect_of(ops: list[Any], graph: Any) -> Effect:
    """What running ``ops`` (and all they depend on) writes. Walks the graph once."""
    initializers = {}
    for key in _INIT_COLLECTIONS:
        for v in graph.get_collection(key):
            init = getattr(v, "initializer", None)
            if init is not None:
                initializers[id(init)] = v
    seen: set[int] = set()
    stack = list(ops)
    trained, restored, inits, writers, bytes_of = set(), set(), [], [], {}
    while stack:
        op = stack.pop()
        if id(op) in seen:
            continue
        seen.add(id(op))
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
        for write in facts.writes(op):
            key = facts.variable_key(write.target)
            bytes_of[key] = _bytes(write.target)
            if id(write.op) in initializers:
                inits.append((key, write.value))
            elif write.value is not None and facts.value_source_type(write.value).startswith("Restore"):
                restored.add(key)
            elif write.kind in ("apply", "update"):
                trained.add(key)
                writers.append(write.op)
    return Effect(weakref.ref(graph), frozenset(trained), frozenset(restored), tuple(inits), tuple(writers[:8]),
                  bytes_of)


class EffectCache:
    """Effects by the identity of the fetched objects (checked against weak references)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[tuple, tuple[list, Effect]] = {}

    def get(self, fetches: Any, graph: Any) -> Effect:
        """The effect of ``Session.run(fetches)`` on ``graph``."""
        hit = self._by_key.get((id(fetches),))  # one tensor or op: the common case, without flattening
        if hit is not None and hit[0][0]() is fetches:
            return hit[1]
        items = _fetch_items(fetches)
        key = tuple(map(id, items))
        hit = self._by_key.get(key)
        if hit is not None and all(r() is x for r, x in zip(hit[0], items)):
            return hit[1]
        ops = [op for op in (_as_op(x, graph) for x in items) if op is not None]
        effect = effect_of(ops, graph) if ops else NOTHING
        try:
            refs = [weakref.ref(x) for x in items]
        except TypeError:  # strings and other fetches without weak references: not cached
            return effect
        with self._lock:
            self._by_key[key] = (refs, effect)
        return effect

    def of_ops(self, token: Any, ops: list[Any], graph: Any) -> Effect:
        """The effect of a callable made for ``ops``; ``token`` is the callable (cached weakly by it)."""
        effect = effect_of(ops, graph) if ops else NOTHING
        with self._lock:
            self._by_key[(id(token),)] = ([weakref.ref(token)], effect)
        return effect

    def for_token(self, token: Any) -> Effect | None:
        hit = self._by_key.get((id(token),))
        if hit is not None and hit[0][0]() is token:
            return hit[1]
        return None


def callable_ops(session: Any, callable_options: Any) -> list[Any]:
    """The ops a ``CallableOptions`` fetches and targets, looked up in the Session's graph."""
    graph, ops = session.graph, []
    for name in list(callable_options.fetch) + list(callable_options.target):
        try:
            ops.append(graph.get_operation_by_name(name.split(":")[0]))
        except (KeyError, ValueError):
            continue
    return ops


def is_fed(tensor: Any, feed_dict: Any) -> bool:
    """Whether ``tensor`` (an initializer's value) is fed by ``feed_dict`` (keys: tensors or names)."""
    if not feed_dict or tensor is None:
        return False
    for key in feed_dict:
        if key is tensor or (isinstance(key, str) and key in (tensor.name, tensor.op.name)):
            return True
    return False


__all__ = ["NOTHING", "Effect", "EffectCache", "callable_ops", "effect_of", "is_fed"]
