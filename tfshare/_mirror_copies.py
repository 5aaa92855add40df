"""Which variables are copies of a trunk's variables held by its mirrors (``tfshare.mirrors``).

A mirror holds a copy of each of its trunk's variables in another shard's
graph, kept equal to the trunk's (``tfshare.mirrors``). ``tfshare.mirrors``
registers each copy here when it builds a mirror; ``tfshare.audit`` reads the
registry to count a copy as its trunk's variable held again, not as a
variable of its own. The registry holds the graphs weakly: a closed runtime's
graphs leave it with their last reference.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Callable, NamedTuple, Sequence


class Copy(NamedTuple):
    """One copy of a trunk's variable.

    Attributes:
      trunk: the trunk's name.
      graph: a weak reference to the trunk's graph (None once it is gone).
      source: the name of the trunk's variable's handle op in that graph.
      nbytes: bytes of the copy's value (shape x dtype size).
    """

    trunk: str
    graph: Callable[[], Any]
    source: str
    nbytes: int


_copies: "weakref.WeakKeyDictionary[Any, dict[str, Copy]]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def register(trunk_name: str, originals: Sequence[Any], copies: Sequence[Any]) -> None:
    """Records ``copies[i]`` (graph variables of one mirror's graph) as copies of ``originals[i]`` (the trunk's).

    Raises:
      ValueError: the two lists differ in length.
    """
    if len(originals) != len(copies):
        raise ValueError(f"originals and copies must pair up, got {len(originals)} and {len(copies)} variables")
    entries = {}
    for original, copy in zip(originals, copies):
        elements = copy.shape.num_elements()
        nbytes = 0 if elements is None else int(elements) * copy.dtype.size
        entries[copy.op.name] = Copy(trunk_name, weakref.ref(original.op.graph), original.op.name, nbytes)
    if entries:
        with _lock:
            _copies.setdefault(copies[0].op.graph, {}).update(entries)


def of(graph: Any) -> dict[str, Copy]:
    """{handle op name of a copy in ``graph``: its ``Copy``}; empty for a graph holding no mirror."""
    with _lock:
        return dict(_copies.get(graph, {}))


__all__ = ["Copy", "of", "register"]
