"""A ``tf.compat.v1.Session`` that counts the calls that may have written variables.

tfshare caches values derived from variables (``predict_many``'s head bank:
the heads' kernels and biases of a trunk concatenated into one variable, so a
fused call reads 2 variables instead of 2 per head). Such a cache is valid
only while no variable changed. TensorFlow has no variable version counter,
so the runtime's Session counts instead: every ``run``, ``partial_run``,
``make_callable`` call and every call of a callable made without
``read_only=True`` ticks a ``WriteClock`` when it finishes (also when it
fails). A cache records the clock before it refreshes and is stale when the
clock moved. This is conservative: reads through ``Session.run`` tick too.

A shard holding a trunk's mirror (``tfshare.mirrors``) sets ``sync`` on
its Session: every call then first brings a stale mirror up to date with its
trunk, and a call that may have written pushes the mirror's changes to the
trunk when it finishes. Sessions of other shards have no ``sync``: their
calls do nothing more than before.

Only calls through this Session object are seen. Variables of an in-process
Session live in that Session alone, so that is every write; a remote
(gRPC) Session shares variables with other processes, which is why the head
bank is used only in in-process runtimes.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from tfshare._tf import tf1
from tfshare.errors import InputError


class WriteClock:
    """A counter of finished Session calls that may have written variables. Thread-safe."""

    __slots__ = ("value", "_lock")

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def tick(self) -> None:
        """Records that a call which may have written variables finished."""
        with self._lock:
            self.value += 1


class TrackedSession(tf1.Session):
    """``tf.compat.v1.Session`` whose calls tick ``clock`` when they finish.

    The hooks are ``BaseSession._call_tf_sessionrun`` (``run`` and every
    ``make_callable`` callable go through it), ``_call_tf_sessionprun``
    (``partial_run``) and ``_make_callable_from_options``;
    ``tests/test_tracked_session.py`` checks each path, so a TensorFlow
    release that bypasses one fails a test instead of serving stale values.

    Args:
      clock: the WriteClock to tick.
      sync: the shard's trunk mirror (``tfshare.mirrors.Mirror``), or None;
        settable later (``_sync``), before any callable reading the mirror is made.
      *args, **kwargs: ``tf.compat.v1.Session``'s arguments.
    """

    def __init__(self, *args: Any, clock: WriteClock, sync: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._write_clock = clock
        self._sync = sync

    def _call_tf_sessionrun(self, *args: Any, **kwargs: Any) -> Any:
        sync = self._sync
        if sync is not None:
            sync.before()
        try:
            return super()._call_tf_sessionrun(*args, **kwargs)
        finally:
            self._write_clock.tick()
            if sync is not None:
                sync.after_write()

    def partial_run_setup(self, fetches: Any, feeds: Any = None) -> Any:
        """``Session.partial_run_setup``, after bringing a stale mirror up to date.

        The setup starts the partial run's executors, which run every op that
        needs no feed at once (a read of a variable), before any ``partial_run``.

        Raises:
          InputError: ``feeds`` given while the Session places pruned graphs
            (tfshare's CPU default): TensorFlow would accept the setup and then
            fail every ``partial_run`` with "Feed ...: not found".
        """
        config = self._config
        if feeds and config is not None and config.graph_options.place_pruned_graph:
            raise InputError(
                "partial_run_setup(feeds=...) needs a Session without pruned placement, got "
                "graph_options.place_pruned_graph=True (tfshare's CPU default; TensorFlow fails every partial_run "
                "with 'Feed ...: not found' then): create the GraphSession with grappler=True, which turns it off, "
                "or feed through Session.run or a callable"
            )
        sync = self._sync
        if sync is not None:
            sync.before()
        return super().partial_run_setup(fetches, feeds)

    def _call_tf_sessionprun(self, *args: Any, **kwargs: Any) -> Any:
        sync = self._sync
        if sync is not None:
            sync.before()
        try:
            return super()._call_tf_sessionprun(*args, **kwargs)
        finally:
            self._write_clock.tick()
            if sync is not None:
                sync.after_write()

    def _make_callable_from_options(
        self, callable_options: Any, read_only: bool = False, unsynced: bool = False
    ) -> Callable[..., Any]:
        """``Session._make_callable_from_options``; calls tick the clock unless ``read_only``.

        Args:
          callable_options: a ``CallableOptions`` proto.
          read_only: the caller guarantees the callable writes no variable
            that a cache may hold (tfshare's prediction and evaluation
            callables, and a bank's own refresh).
          unsynced: no mirror hooks (the mirror's own copies: they must not start another).
        """
        fn = super()._make_callable_from_options(callable_options)
        sync = None if unsynced else self._sync
        if sync is not None and read_only:

            def fresh(*args: Any, **kwargs: Any) -> Any:
                if sync.seen_home != sync.home_clock.value:  # the hot path's only added work
                    sync.sync()
                return fn(*args, **kwargs)

            return fresh
        if read_only:
            return fn
        tick = self._write_clock.tick
        if sync is not None:

            def synced(*args: Any, **kwargs: Any) -> Any:
                sync.before()
                try:
                    return fn(*args, **kwargs)
                finally:
                    tick()
                    sync.after_write()

            return synced

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                tick()

        return call
