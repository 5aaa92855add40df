"""Trunk mirrors: a trunk's heads beyond its shard's budget sit in other shards, on copies kept equal to it.

Every ``Classifier(trunk=t)`` used to join ``t.shard``, so a thousand heads on
one trunk grew one graph, and each head's new run signatures (its
initialization, its first prediction) cost time in proportion to that whole
graph (docs/construction.md). Now a head joins ``t.shard`` while that graph
holds fewer than ``HEAD_OPS`` ops; after that it goes to a shard holding a
*mirror* of ``t``: the same body in a shard of its own
(``Shards.open_dedicated``), a copy of ``t``'s ops (``tfshare.trunk_copy``;
rebuilt by ``t.rebuild`` for trunks whose ops cannot be copied), whose heads
fill it to the same budget, and so on. Every graph stays bounded.

TensorFlow cannot share a variable between two in-process Sessions, so a
mirror is a copy, kept equal to ``t`` at every call boundary by ``Mirror``:

* Its variables are in no collection (as a ``HeadBank``'s): initializers,
  Savers, bundles and ``global_variables`` never see them. They are only ever
  copied from ``t``.
* **Reads.** The mirror records ``t``'s shard's ``write_clock`` when it last
  copied. Every call in the mirror's shard first compares it with the clock
  (an integer comparison) and, when ``t`` may have changed since, copies
  ``t``'s variables in: one read-only call in ``t``'s shard, one assignment in
  the mirror's, fed with the values.
* **Writes.** When a call in the mirror's shard that may have written
  variables finishes (``fit``'s steps, ``restore``, ``set_weights``, a user's
  ``Session.run``), the mirror's change since its last copy (``mirror - base``)
  is added to ``t``'s variables (``assign_add``: concurrent updates of ``t``
  from its own shard or other mirrors are kept, as interleaved steps in one
  graph), and the mirror then takes ``t``'s values. A call that changed
  nothing (a new head's initialization) pushes nothing. ``fit`` pushes once,
  when it returns (``deferring``), not after every step.

The hooks live in the mirror shard's ``TrackedSession``: shards holding no
mirror, ``t``'s own included, run exactly as before.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from typing import Any, Iterator

import numpy as np

from tfshare import _mirror_copies, trunk_copy
from tfshare._tf import tf, tf1
from tfshare.errors import InputError
from tfshare.shards import DEFAULT_SHARD_OPS

#: A trunk's shard takes further heads while its graph holds fewer ops than this; so does each mirror's.
#: The op budget of independent classifiers (``tfshare.shards.DEFAULT_SHARD_OPS``): what a new run
#: signature costs grows with the graph's ops. Read at each placement.
HEAD_OPS = DEFAULT_SHARD_OPS


def host(trunk: Any) -> Any:
    """The trunk object a new head of ``trunk`` is built on: ``trunk`` while its shard has room, else a mirror.

    A trunk reading an ``input_tensor`` of its graph, or one of a runtime
    without shards (``shard_size=None``, a cluster, a remote target), keeps
    every head in its shard. The head's unit is counted in the shard returned
    (``GraphSession.hold``), before its build: the caller ties it to the head
    (``own``), or releases it if the build fails. A mirror's shard is
    reclaimed once its heads are all released and the mirror is not
    ``needed``; it then leaves ``trunk``'s mirrors, and a later head gets a new one.

    Raises:
      ClosedError: the runtime is closed.
    """
    home = trunk.shard
    root = home.root
    if not trunk._own_input or not root.sharded:
        root.hold(home)
        return trunk
    with trunk._mirror_lock:
        # Room is checked where the count is taken, under the placement lock: a mirror with room is never reclaimed.
        if root.hold_if_room(home, lambda: home.graph.version < HEAD_OPS):
            return trunk
        for mirror in reversed(list(trunk._mirrors)):  # a copy: a reclaimed mirror detaches itself at any time
            if root.hold_if_room(mirror.shard, mirror.needed):
                return mirror.trunk
        shard = root.open_dedicated_shard(trunk)
        try:
            mirror = Mirror(trunk, shard)
            trunk._mirrors.append(mirror)
            root.hold(shard)  # this head's, while the shard is under construction (a new mirror may be full already)
        finally:
            root.built(shard)  # a mirror that failed leaves its shard holding nothing: reclaimed
        return mirror.trunk


def origin(trunk: Any) -> Any:
    """The trunk ``trunk`` mirrors, or ``trunk`` itself: a head built on a mirror (``trunk_in_shard``) is a head of it.

    A head on the mirror object itself would have its writes land in the
    mirror, unseen by the trunk's other copies until that mirror's next sync,
    and a mirror of a mirror would copy a copy. (A mirror whose trunk was
    garbage-collected cannot take heads: its trunk's shard may be closed, so a
    write could not reach it.)

    Raises:
      InputError: ``trunk`` is a mirror of a trunk that was garbage-collected.
    """
    of = trunk._mirror_of
    if of is None:
        return trunk
    home = of()
    if home is None:
        raise InputError(
            f"trunk must be a live trunk or a mirror of one, got {trunk.name!r}, a mirror of a trunk that was "
            "garbage-collected (its shard may be closed); keep a reference to the trunk itself"
        )
    return home


def deferring(shard: Any) -> Any:
    """A context in which this thread's writes in ``shard`` are pushed to the trunk once, at its end (``fit``)."""
    mirror = shard._mirror
    return contextlib.nullcontext() if mirror is None else mirror.deferring()


class _HomeSync:
    """A trunk's side of its mirrors' copies: one read-only read, one ``assign_add`` fed with deltas."""

    def __init__(self, trunk: Any, keys: list[str]) -> None:
        home = trunk.shard
        variables = [trunk.named_variables()[k] for k in keys]
        with home.building(trunk.name + "/mirrors/"):
            deltas = [tf1.placeholder(v.dtype.base_dtype, v.shape, name="delta") for v in variables]
            push = tf.group(*[v.assign_add(d, read_value=False) for v, d in zip(variables, deltas)], name="push")
            reads = [tf.identity(v.read_value(), name="read") for v in variables]
        self.read = home.callable(reads, read_only=True, _unsynced=True)
        # Not read_only: it ticks the trunk shard's clock, so the other mirrors (and head banks) see the change.
        self.push = home.callable([], deltas, [push], _unsynced=True)
        self.clock = home.write_clock


class Mirror:
    """A copy of ``trunk`` in ``shard``, and the copies that keep the two equal.

    Args:
      trunk: the trunk to mirror (its own input placeholder, in a sharded in-process runtime).
      shard: a shard of the trunk's runtime holding no mirror.

    Attributes:
      trunk: the copy (same kind, body and seed; named "<trunk>_mirror_<i>").
      shard: the shard holding it.
      home_clock: the trunk's shard's ``WriteClock``.
      seen_home: ``home_clock``'s value when the mirror last copied (-1: never).
    """

    def __init__(self, trunk: Any, shard: Any) -> None:
        self.shard = shard
        self.trunk = _build(trunk, shard)
        # The runtime holds this mirror (through its shard): the mirror's trunk must not hold the runtime (or
        # the trunk, which holds its shard) back, or a dropped runtime would wait for the garbage collector
        # instead of closing at once. Its ``runtime`` is then its shard's root, held weakly by the shard.
        self.trunk._public_runtime = None
        self.trunk._mirror_of = weakref.ref(trunk)
        keys = list(trunk.named_variables())
        variables = [self.trunk.named_variables()[k] for k in keys]
        _uncollect(shard.graph, variables)
        _mirror_copies.register(trunk.name, [trunk.named_variables()[k] for k in keys], variables)
        if trunk._home_sync is None:
            trunk._home_sync = _HomeSync(trunk, keys)
        self._home = trunk._home_sync
        values, seen, first, merge, reads = _sync_ops(trunk, self.trunk, variables)
        # read_only: the mirror's own copies must not count as writes (they would push back).
        self._read = shard.callable(reads, read_only=True, _unsynced=True)
        self._first = shard.callable([], values, [first], read_only=True, _unsynced=True)
        self._merge = shard.callable([], [*values, *seen], [merge], read_only=True, _unsynced=True)
        self.home_clock = self._home.clock
        self.seen_home = -1
        self._clock = shard.write_clock
        self._seen = -1
        self._base: list[np.ndarray] | None = None
        self._lock = threading.Lock()
        self._deferred = threading.local()
        self.sync()
        shard._attach_mirror(self)
        # The copy's own unit would keep the shard for good (the mirror holds it): only its heads keep the shard.
        self.trunk._release_slot()

    def needed(self) -> bool:
        """Whether the trunk's next head may go here: the trunk is alive and this graph is under ``HEAD_OPS`` ops.

        A mirror not needed whose heads are all released is reclaimed with its
        shard (``tfshare.shards``), and leaves its trunk's mirrors (``detach``).
        """
        return self.trunk._mirror_of() is not None and self.shard.graph.version < HEAD_OPS

    def detach(self) -> None:
        """Drops this mirror from its trunk's mirrors (its shard closed): the trunk's next head goes elsewhere."""
        trunk = self.trunk._mirror_of()
        if trunk is not None:
            with contextlib.suppress(ValueError):  # one list operation: no lock (the closing thread may hold any)
                trunk._mirrors.remove(self)

    def before(self) -> None:
        """Before a call in the shard: copies the trunk in if it may have changed since the last copy."""
        if self.seen_home != self.home_clock.value:
            self.sync()

    def after_write(self) -> None:
        """After a call in the shard that may have written: pushes the mirror's change (unless deferred)."""
        if not getattr(self._deferred, "depth", 0):
            self.sync()

    @contextlib.contextmanager
    def deferring(self) -> Iterator[None]:
        """This thread's writes in the shard are pushed once, when the outermost such block ends."""
        state = self._deferred
        state.depth = getattr(state, "depth", 0) + 1
        try:
            yield
        finally:
            state.depth -= 1
            if not state.depth and not self.shard.closed:
                self.sync()

    def sync(self) -> None:
        """Pushes the mirror's change since its last copy into the trunk, then copies the trunk in if needed.

        Thread-safe. ClosedError once the runtime is closed.
        """
        with self._lock:
            now = self._clock.value  # before reading: a write finishing later ticks again
            seen = self._base
            pushed = False
            if seen is not None and now != self._seen:
                current = self._read()
                deltas = [c - b for c, b in zip(current, seen)]
                if any(np.any(d) for d in deltas):
                    # The base moves with the push: a Ctrl-C during it (raised once it returns) or during the
                    # pull below must not make the next sync push the same change again.
                    self._base = current
                    try:
                        self._home.push(*deltas)
                    except Exception:
                        self._base = seen  # the push did not run (an error, a closed trunk): the next sync retries it
                        raise
                    pushed = True
                seen = current
            self._seen = now
            home_now = self.home_clock.value  # after the push, which ticked it: not pulled again for itself
            if not pushed and home_now == self.seen_home:
                return
            values = self._home.read()
            if self._base is None:
                self._first(*values)
            else:
                self._merge(*values, *seen)
            self._base = values
            self.seen_home = home_now


def _build(trunk: Any, shard: Any) -> Any:
    """``trunk``'s body in ``shard`` under a free name "<trunk>_mirror_<i>" (i counts every mirror made; copied or
    rebuilt: ``tfshare.trunk_copy``)."""
    while True:
        trunk._mirrors_made += 1
        try:
            return trunk_copy.mirror(trunk, shard, f"{trunk.name}_mirror_{trunk._mirrors_made}")
        except InputError as exc:
            if "already used" not in str(exc):
                raise


def _sync_ops(trunk: Any, body: Any, variables: list[Any]) -> tuple[list[Any], list[Any], Any, Any, list[Any]]:
    """The copying ops of mirror ``body`` of ``trunk`` in its shard, i-th of each for ``variables[i]``.

    Those a copy of an earlier mirror brought along (``tfshare.trunk_copy``), else built now.

    Returns:
      (value placeholders, seen placeholders, the first copy's op, the merge op, the variables' reads).
    """
    graph, scope = body.shard.graph, body.name + "/sync/"
    names = [[f"{scope}{role}_{i}:0" for i in range(len(variables))] for role in ("value", "seen", "current")]
    try:
        first, merge = graph.get_operation_by_name(scope + "first"), graph.get_operation_by_name(scope + "merge")
    except KeyError:
        pass
    else:
        values, seen, reads = ([graph.get_tensor_by_name(n) for n in role] for role in names)
        return values, seen, first, merge, reads
    with body.shard.building(scope):
        values = [tf1.placeholder(v.dtype.base_dtype, v.shape, name=f"value_{i}") for i, v in enumerate(variables)]
        seen = [tf1.placeholder(v.dtype.base_dtype, v.shape, name=f"seen_{i}") for i, v in enumerate(variables)]
        first = tf.group(*[v.assign(h, read_value=False) for v, h in zip(variables, values)], name="first")
        # value + (current - seen): exactly the trunk's value unless this shard wrote meanwhile (kept, pushed next).
        merge = tf.group(*[v.assign(h + (v.read_value() - m), read_value=False)
                           for v, h, m in zip(variables, values, seen)], name="merge")
        reads = [tf.identity(v.read_value(), name=f"current_{i}") for i, v in enumerate(variables)]
    built = [[t.name for t in role] for role in (values, seen, reads)] + [[first.name, merge.name]]
    if built == [*names, [scope + "first", scope + "merge"]]:  # found again by these names in a copy
        trunk_copy.record_mirror(trunk, body)  # a copied mirror: the next ones copy its ops, these included
    return values, seen, first, merge, reads


def _uncollect(graph: Any, variables: list[Any]) -> None:
    """Removes ``variables`` from every collection of ``graph`` (they are copies: nothing initializes or saves them)."""
    ids = {id(v) for v in variables}
    for key in graph.get_all_collection_keys():
        ref = graph.get_collection_ref(key)
        ref[:] = [item for item in ref if id(item) not in ids]


__all__ = ["HEAD_OPS", "Mirror", "deferring", "host", "origin"]
