"""How a ``GraphSession`` finds its shards: the root, its graphs, and the shard of a graph or tensor.

A base of ``tfshare.runtime.GraphSession``; the shards themselves are opened
and counted by ``tfshare.shards``. It uses the state ``GraphSession.__init__``
sets (annotated below).
"""

from __future__ import annotations

from typing import Any, Callable

from tfshare.errors import ClosedError, InputError


class _ShardRouting:
    """``GraphSession``'s shard lookups (see ``GraphSession``'s ``shard_size``)."""

    _root_ref: Any
    _shards: Any
    _graph: Any
    _lock: Any
    _mirror: Any
    _session: Any

    @property
    def _root(self) -> "GraphSession | None":
        return self._root_ref() if self._root_ref is not None else None

    @property
    def root(self) -> "GraphSession":
        """The runtime users hold: this one, or the runtime this shard belongs to."""
        return self._root if self._root_ref is not None else self

    @property
    def shards(self) -> list["GraphSession"]:
        """This runtime's shards: itself first, then the graphs it opened when full."""
        return self._shards.all if self._shards is not None else [self]

    @property
    def graphs(self) -> list[Any]:
        """Every ``tf.Graph`` of this runtime, one per shard (``graph`` is the first)."""
        return [shard.graph for shard in self.shards]

    def place(self) -> "GraphSession":
        """The shard a new independent classifier or trunk is built into (see ``shard_size``).

        The unit is then under construction in that shard: end it with
        ``built(shard)`` once its ops are in the graph, or ``unplace(shard)`` if
        it failed. Until then, placements from other threads that would read
        the shard's op count wait for it (not past the end of this thread,
        nor past ``tfshare.shards.MAX_WAIT_SECONDS``). A unit placed this way
        keeps its shard until the runtime closes, unless tied to an owner
        (``own``) whose close releases it.
        """
        return self._shards.place() if self._shards is not None else self

    def built(self, shard: "GraphSession") -> None:
        """Ends the construction ``place()`` placed in ``shard``, once built (see ``Shards.built``)."""
        if self._shards is not None:
            self._shards.built(shard)

    def unplace(self, shard: "GraphSession") -> None:
        """Gives back the slot ``place()`` returned, for a construction that failed (see ``Shards.unplace``)."""
        if self._shards is not None:
            self._shards.unplace(shard)

    def own(self, shard: "GraphSession", owner: Any) -> Callable[[], None]:
        """Ties a unit counted in ``shard`` (``place()``, ``hold``) to ``owner``; returns the function releasing it.

        A shard whose units are all released is closed and dropped (see
        ``tfshare.shards``, "Reclaiming", and ``Shards.own``); a runtime
        without shards keeps everything until it closes (the function then
        does nothing).
        """
        return self._shards.own(shard, owner) if self._shards is not None else _keep

    def hold(self, shard: "GraphSession") -> None:
        """Counts a unit about to be built into ``shard`` directly (not placed by ``place()``), before its build.

        The shard is then not reclaimed while the unit is built; ``own`` ties
        the count to its owner (see ``Shards.hold``).

        Raises:
          ClosedError: ``shard`` was reclaimed (every classifier and trunk in it
            was closed), or the runtime is closed.
        """
        if self._shards is not None and not self._shards.hold(shard):
            raise ClosedError(
                f"{shard!r} was closed: every classifier and trunk in it was closed or collected, so the runtime "
                "reclaimed it (tfshare.shards, \"Reclaiming\"); build into the runtime itself instead"
            )

    def hold_if_room(self, shard: "GraphSession", room: Callable[[], bool]) -> bool:
        """``hold`` unless ``room()`` (checked under the placement lock, where shards are reclaimed) says no.

        Returns:
          Whether the unit was counted: False when ``room()`` is False or
          ``shard`` was reclaimed. A runtime without shards counts nothing: True.
        """
        return self._shards.hold(shard, room) if self._shards is not None else room()

    @property
    def sharded(self) -> bool:
        """Whether this runtime opens further shards when one is full (in-process, with a ``shard_size``)."""
        return self._shards is not None

    def open_dedicated_shard(self, trunk: Any) -> "GraphSession":
        """A new shard for a mirror of ``trunk`` (``tfshare.mirrors``), under construction until ``built``.

        Raises:
          InputError: this runtime has no shards (see ``sharded``).
          ClosedError: it is closed.
        """
        if self._shards is None:
            raise InputError(f"{self!r} has no shards (shard_size=None, a cluster or a remote target)")
        return self._shards.open_dedicated(trunk)

    def _attach_mirror(self, mirror: Any) -> None:
        """Makes every later call of this shard keep ``mirror`` equal to its trunk (see ``tfshare.mirrors``)."""
        with self._lock:
            if self._mirror is not None:
                raise InputError(f"{self!r} already holds a trunk mirror")
            self._mirror = mirror
            if self._session is not None:
                self._session._sync = mirror

    def _shard_holding(self, tensor: Any) -> "GraphSession":
        """The shard whose graph holds ``tensor``; this runtime when none does (the caller's check then says why)."""
        graph = getattr(tensor, "graph", None)
        return next((shard for shard in self.root.shards if shard.graph is graph), self)

    def shard_of(self, graph: Any) -> "GraphSession":
        """The shard of this runtime whose graph is ``graph``.

        Raises:
          InputError: none is.
        """
        if graph is self._graph:
            return self
        if self._shards is None:
            raise InputError(f"{graph!r} is not the graph of {self!r}")
        return self._shards.of_graph(graph)

    def _routed(self) -> list["GraphSession"]:
        """This runtime's shards for methods that cover them all (a shard answers for itself)."""
        return self.shards if self._root_ref is None else [self]


def _keep() -> None:
    """Releases nothing: a runtime without shards."""
