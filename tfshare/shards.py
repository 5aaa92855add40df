"""Shards: a runtime's classifiers spread over graphs of bounded size, behind one GraphSession.

TensorFlow's DirectSession copies and optimizes its *whole* graph for every
new run signature (a classifier's first prediction, an initialization), and
keeps an executor per signature. In one graph holding k classifiers, the
k-th classifier's first call therefore costs O(k), and building them one at
a time costs O(k^2): measured with the 784-64-10 MLP in one graph, the
1,000th classifier cost 653 ms against 45 ms for the 10th.

A ``GraphSession`` with a ``shard_size`` puts at most that many independent
classifiers (and trunks) in each of its graphs, and starts no new one in a
graph that already holds ``DEFAULT_SHARD_OPS`` ops (so a shard holds
``DEFAULT_SHARD_SIZE``, 8, of the 34-op MLP but 7 of the 101-op CNN (6 of the 119-op fold): what a
new signature costs grows with the graph's ops, not with its classifiers). When one is full, the next
classifier goes into a new graph with its own Session (a *shard*), made with
the root's settings. The root stays the runtime users hold:
``classifier.runtime`` is the root; names are unique across all its shards;
``initialize``, ``finalize``, ``close``, ``global_variables`` cover them all;
``run`` and ``callable`` go to the shard whose graph holds the tensors.
A trunk's heads join their trunk's shard (they read its tensors) until its
graph holds ``tfshare.mirrors.HEAD_OPS`` ops; further heads go to shards of
their own, each holding a mirror of the trunk (``open_dedicated``).
``predict_many`` makes one Session call per shard.

Constructions from several threads keep both bounds, as one thread does: a
classifier or trunk placed in a shard with room is *under construction* until
it is built (``built``) or fails (``unplace``), and a placement that would
read that shard's op count waits for it (construction in one graph is
serialized by its build lock anyway). Nothing else waits: a placement that
finds the newest shard full by its count or its ops, a head joining its
trunk's shard, and every call (predict, fit, run) go on. A head built while a
placement reads its shard's op count counts as built after that placement.
A placement waits at most ``MAX_WAIT_SECONDS`` for constructions: after that
(a live thread that called ``GraphSession.place()`` and never ``built()`` or
``unplace()``), the shard counts as full and the unit goes to a new one. It
never waits while its own thread holds the build lock of the root or of that
shard (a classifier constructed inside a build): the construction it would
wait for needs that lock to end.

**Reclaiming.** TensorFlow cannot delete ops from a graph, but it can close a
whole Session. A shard ``place()`` or ``open_dedicated`` opened is closed (its
Session, executors and variables released) and dropped from the runtime once
every classifier and trunk in it was released (``own``: a classifier's
``close()``, or the classifier or trunk garbage-collected), no construction is
under way in it, no open classifier is registered in it, and it takes no
further unit (it is full, or no longer the newest). Units built into a shard
directly (heads, ``input_tensor`` classifiers, units given the shard itself as
runtime) are counted before their build (``hold``), so a shard is never
reclaimed under a build. A shard holding a trunk mirror counts only the
mirror's heads, and goes once they are released and the mirror is not needed
(``Mirror.needed``: its graph reached the heads' op budget, or its trunk was
garbage-collected); the mirror then leaves its trunk's list, and the trunk's
next head past the budget gets a new one. Later classifiers go to fresh shards,
so a process that keeps making and closing classifiers (or heads) holds only
the shards of its open ones. The root and shards with a unit placed through the
public ``GraphSession.place()`` (never released) stay until the runtime closes.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any, Callable

from tfshare._tf import tf
from tfshare.errors import ClosedError, InputError

#: Independent classifiers (and trunks) per graph of an in-process CPU runtime, by default. Each one's
#: init run and first callable copy and prune its shard's graph (~4 us per op), while a new shard costs
#: next to nothing (its Session is made at its first call; its classifiers are template copies): with 8
#: MLPs per shard, 1,000 of them in the live pattern took 12-19% less than with 16 in three side-by-side
#: sweeps (stop 28, docs/results/issue14/stop28/independent/). The CNN's shards close by their ops first (7).
DEFAULT_SHARD_SIZE = 8
#: A shard that holds this many ops takes no further independent classifier or trunk.
DEFAULT_SHARD_OPS = 640
#: The longest a placement waits for other threads' constructions in the newest shard; then that shard is full.
MAX_WAIT_SECONDS = 10.0
# How often a placement waiting for a construction checks that the thread building it still runs.
_RECHECK_SECONDS = 0.5


class Shards:
    """The shards of a root runtime, and where the next classifier goes.

    Args:
      root: the GraphSession users hold (shard 0 is its own graph).
      size: independent classifiers and trunks per shard.
      make_shard: makes a new shard of a root (a GraphSession with its settings).
      max_ops: a shard whose graph holds this many ops (``tf.Graph.version``)
        is full, whatever its count.
    """

    def __init__(
        self, root: Any, size: int, make_shard: Callable[[Any], Any], max_ops: int = DEFAULT_SHARD_OPS
    ) -> None:
        # Weak both ways (shards hold their root weakly too): no reference cycle keeps a dropped
        # runtime's graphs alive until a later garbage collection.
        self._root_ref = weakref.ref(root)
        self.size, self.max_ops = size, max_ops
        self._make = make_shard
        self._children: list[Any] = []
        self._placed = 0  # independent units in the newest shard
        self._closed = False
        # (id of its shard, thread id) of each unit placed and not yet built or failed: its ops are not all in
        # its graph yet. Ids, not shards: a construction that never ends must not keep its shard (or the root) alive.
        self._building: list[tuple[int, int]] = []
        # Per shard place() opened (by id): its units not yet released (``own``); the root and dedicated shards are
        # not listed, and are never reclaimed.
        self._units: dict[int, int] = {}
        self._reclaimed = 0
        # Weak references to the shards of owners collected unreleased (appended by a finalizer, at any time).
        self._pending: list[Any] = []
        # Weak references to mirror shards whose trunk was collected (appended by a finalizer): to check again.
        self._stale: list[Any] = []
        self._lock = threading.Condition(threading.Lock())  # placement state; waits for units under construction

    @property
    def all(self) -> list[Any]:
        """The root, then its other shards, in the order they were made."""
        return [self._root_ref(), *self._children]

    @property
    def children(self) -> list[Any]:
        """The shards other than the root."""
        return list(self._children)

    @property
    def reclaimed(self) -> int:
        """How many shards were closed and dropped since the runtime opened (see the module's "Reclaiming")."""
        return self._reclaimed

    def place(self) -> Any:
        """The shard a new independent classifier or trunk goes into (a new one when the newest is full).

        The unit is under construction until the caller reports ``built`` or
        ``unplace``. While another thread's unit is under construction in the
        newest shard, and that shard has room by its count and its op count so
        far, this waits for it: the op budget is then read with every earlier
        unit's ops in the graph. (A unit placed by this thread while its own
        earlier unit is under construction, e.g. from inside that build, does
        not wait.) A construction whose thread ended without ``built`` or
        ``unplace`` (a caller of the public ``GraphSession.place``) is dropped:
        nothing waits for it. Nor does this wait while this thread holds the
        build lock of the root or of the newest shard, nor longer than
        ``MAX_WAIT_SECONDS`` (the newest shard then counts as full).

        Raises:
          ClosedError: the root is closing or closed (also while waiting).
        """
        me = threading.current_thread().ident  # current_thread, not get_ident: a foreign thread is then listed
        closing: list[Any] = []
        with self._lock:
            deadline = None
            while True:
                if self._closed:
                    raise ClosedError(f"{self._root_ref()!r} is closed; create a new GraphSession")
                # A thread that ended without built()/unplace() (a caller of the public place()) never will.
                alive = {thread.ident for thread in threading.enumerate()}
                self._building = [(s, t) for s, t in self._building if t in alive]
                newest = self._newest()
                if self._full(newest) or not any(s == id(newest) and t != me for s, t in self._building):
                    break
                if _holds_build_lock(self._root_ref()) or _holds_build_lock(newest):
                    break  # the construction waited for needs this thread's lock to end (reserve_name, building)
                deadline = time.monotonic() + MAX_WAIT_SECONDS if deadline is None else deadline
                if time.monotonic() >= deadline:
                    self._placed = self.size  # a construction that never ends: its shard takes no more
                    break
                self._lock.wait(_RECHECK_SECONDS)  # woken by built/unplace/close; the timeout notices ended threads
            if self._full(newest):
                newest = self._open()
                closing = self._take(self._children[-2:-1])  # the shard that was newest may now be reclaimable
                self._units[id(newest)] = 0
            self._placed += 1
            if id(newest) in self._units:
                self._units[id(newest)] += 1
            self._building.append((id(newest), me))
            closing += self._drain([])  # owners collected since the last placement or release
        _close_all(closing)
        return newest

    def open_dedicated(self, trunk: Any) -> Any:
        """A new shard for a mirror of ``trunk`` and its heads (``tfshare.mirrors``), under construction until ``built``.

        No ``place()`` ever returns it. It counts its heads (``hold``) and is
        reclaimed once none is left and its mirror is not ``needed`` (full, or
        ``trunk`` garbage-collected: noticed at the next placement or release).

        Raises:
          ClosedError: the root is closing or closed.
        """
        with self._lock:
            if self._closed:
                raise ClosedError(f"{self._root_ref()!r} is closed; create a new GraphSession")
            shard = self._open()
            closing = self._take(self._children[-2:-1])
            self._placed = self.size  # full for place()
            self._units[id(shard)] = 0
            self._building.append((id(shard), threading.current_thread().ident))
        # Once the trunk is collected, its mirror is not needed: the shard is a candidate at the next release.
        gone = weakref.finalize(trunk, self._stale.append, weakref.ref(shard))
        gone.atexit = False
        _close_all(closing)
        return shard

    def _open(self) -> Any:
        """Makes a shard and appends it (under the placement lock; takes no runtime's lock)."""
        shard = self._make(self._root_ref())
        self._children.append(shard)
        self._placed = 0
        return shard

    def _newest(self) -> Any:
        return self._children[-1] if self._children else self._root_ref()

    def _full(self, newest: Any) -> bool:
        """Whether the newest shard takes no further unit: its count is reached, or (past its first) its ops."""
        return self._placed >= self.size or bool(self._placed and newest.graph.version >= self.max_ops)

    def built(self, shard: Any) -> None:
        """Ends the construction ``place()`` (or ``open_dedicated``) gave ``shard``: it was built (its ops are in the
        graph). A dedicated shard that then holds nothing is reclaimed (its mirror's build failed)."""
        with self._lock:
            self._end(shard)
            closing = self._take([shard])
        _close_all(closing)

    def hold(self, shard: Any, room: Callable[[], bool] | None = None) -> bool:
        """Counts a unit built into ``shard`` directly (a head, ``input_tensor=``, ``runtime=`` a shard), before its
        build: the shard is then not reclaimed under it. ``own``'s function releases the count (at once if the build
        fails). ``room``, if given, is checked first under the placement lock (a shard under the heads' op budget).

        Returns:
          Whether it was counted (the root needs no count); False when ``room()``
          is False, or ``shard`` was reclaimed (or the root closed).
        """
        with self._lock:
            if self._closed or (room is not None and not room()):
                return False
            if id(shard) in self._units:
                self._units[id(shard)] += 1
                return True
            return shard is self._root_ref()  # any other shard of this root was reclaimed

    def unplace(self, shard: Any) -> None:
        """Gives back the slot ``place()`` gave a construction that then failed, and ends that construction.

        Only the newest shard's count can go down: a slot in an older, full
        shard stays used, as do the ops a failed build left in its graph
        (the op budget counts them). The unit no longer keeps its shard open.
        """
        with self._lock:
            self._end(shard)
            if shard is self._newest() and self._placed > 0:
                self._placed -= 1
            closing = self._drain([shard])
        _close_all(closing)

    def own(self, shard: Any, owner: Any) -> Callable[[], None]:
        """Ties a unit counted in ``shard`` (by ``place()`` or ``hold``) to ``owner``, a classifier or trunk.

        Args:
          shard: the shard holding it.
          owner: the classifier or trunk.

        Returns:
          A function releasing the unit (at most once): ``owner.close()`` calls
          it, and the shard is reclaimed at once if that was its last unit (see
          the module). An owner garbage-collected unreleased is released too, but
          only recorded then (a collection can run inside any lock): its shard
          is reclaimed at the next placement or release.
        """
        # Weakly: the runtime holds this list, and a shard (the root among them) must not hold itself through it.
        collected = weakref.finalize(owner, self._pending.append, weakref.ref(shard))
        collected.atexit = False

        def release() -> None:
            if collected.detach() is not None:
                with self._lock:
                    closing = self._drain([shard])
                _close_all(closing)

        return release

    def _drain(self, released: list[Any]) -> list[Any]:
        """Counts one unit of each shard in ``released``, and of every collected owner's, released; returns the
        shards to close."""
        units = [*released, *_live(self._pending)]
        for shard in units:
            if self._units.get(id(shard), 0) > 0 and any(s is shard for s in self._children):
                self._units[id(shard)] -= 1
        candidates = [*units, *_live(self._stale)]  # and mirror shards of collected trunks (no unit released)
        return self._take(list({id(shard): shard for shard in candidates}.values()))

    def _take(self, candidates: list[Any]) -> list[Any]:
        """Drops the reclaimable ones of ``candidates`` from the runtime (under the lock) and returns them to close."""
        taken = []
        for shard in candidates:
            if self._reclaimable(shard):
                if shard is self._newest():
                    self._placed = self.size  # the shard before it is full (or the root, full when this was opened)
                self._children.remove(shard)
                del self._units[id(shard)]
                self._reclaimed += 1
                taken.append(shard)
        return taken

    def _reclaimable(self, shard: Any) -> bool:
        if self._closed or self._units.get(id(shard), 1) or not any(s is shard for s in self._children):
            return False  # the root, a reclaimed shard, or one with units left
        if any(s == id(shard) for s, _ in self._building):
            return False
        if shard is self._newest() and not self._full(shard):
            return False  # the next unit goes there
        if shard._mirror is not None and shard._mirror.needed():
            return False  # its trunk's next head may go there
        return not shard.shard_heads()

    def _end(self, shard: Any) -> None:
        """Drops one construction in ``shard`` (this thread's, if it has one) and wakes the placements waiting."""
        me = threading.get_ident()
        mine = [i for i, (s, t) in enumerate(self._building) if s == id(shard) and t == me]
        others = [i for i, (s, _) in enumerate(self._building) if s == id(shard)]
        for i in (mine or others)[-1:]:  # the innermost of this thread's
            del self._building[i]
        self._lock.notify_all()

    def close(self) -> list[Any]:
        """Stops placing (``place`` raises ClosedError from now on) and returns the shards to close.

        Under the placement lock, so no shard being made is missed.
        """
        with self._lock:
            self._closed = True
            self._lock.notify_all()  # placements waiting for a construction raise ClosedError
            return list(self._children)

    def of_graph(self, graph: Any) -> Any:
        """The shard whose graph is ``graph``.

        Raises:
          InputError: no shard of this runtime holds it.
        """
        for shard in self.all:
            if shard.graph is graph:
                return shard
        raise InputError(f"{graph!r} is not a graph of {self._root_ref()!r}")

    def of_elements(self, *groups: Any) -> Any:
        """The one shard whose graph holds every tensor, op or variable in ``groups``.

        Raises:
          InputError: one belongs to a graph of no shard of this runtime, or they belong to several shards' graphs.
        """
        graphs = []
        own = [shard.graph for shard in self.all]
        for element in tf.nest.flatten(list(groups)):
            graph = getattr(element, "graph", None)
            if graph is not None and all(graph is not g for g in graphs):
                if all(graph is not g for g in own):
                    raise InputError(
                        f"the tensors of one call must come from {self._root_ref()!r}, got {element!r} "
                        "of a graph it does not hold"
                    )
                graphs.append(graph)
        if not graphs:
            return self._root_ref()
        if len(graphs) > 1:
            raise InputError(
                f"the tensors of one call must come from one graph of {self._root_ref()!r}, got {len(graphs)} graphs "
                "(its classifiers are spread over shards: call predict_many, or each classifier, instead)"
            )
        return self.of_graph(graphs[0])


def _holds_build_lock(shard: Any) -> bool:
    """Whether this thread holds ``shard``'s build lock (a GraphSession's RLock)."""
    lock = getattr(shard, "_lock", None)
    return lock is not None and lock._is_owned()


def _live(refs: list[Any]) -> list[Any]:
    """Pops every weak reference of ``refs`` (a list finalizers append to at any time); returns the live targets."""
    out = []
    while refs:
        target = refs.pop()()
        if target is not None:
            out.append(target)
    return out


def _close_all(shards: list[Any]) -> None:
    """Closes reclaimed shards, outside the placement lock (a shard's close takes its own lock)."""
    for shard in shards:
        shard.close()


__all__ = ["DEFAULT_SHARD_OPS", "DEFAULT_SHARD_SIZE", "MAX_WAIT_SECONDS", "Shards"]
