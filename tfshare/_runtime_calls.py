"""Running a ``GraphSession``'s graph: ``run`` and cached fast callables.

A base of ``tfshare.runtime.GraphSession``. A fast callable comes from
``Session._make_callable_from_options`` (the TF_SessionRunCallable path that
tf_keras itself uses in graph mode), optionally run in the calling thread;
the runtime caches one per (feeds, fetches, targets) signature so TensorFlow
prunes the graph for it once. It uses the state ``GraphSession.__init__``
sets (annotated below), ``_runtime_init``'s ``_initialize_own`` and the
runtime's ``session`` and ``_warn_if_large``.
"""

from __future__ import annotations

import functools
import threading
import weakref
from typing import Any, Callable, Sequence

from tfshare._tf import config_pb2, tf
from tfshare.errors import ClosedError, InputError
from tfshare.fast_callable import FastCallable


class _Calling:
    """``GraphSession``'s running methods."""

    _lock: threading.RLock
    _graph: Any
    _shards: Any
    _task: Any
    _caller_thread: bool
    _closed: bool
    _callables: dict[tuple, FastCallable]
    _issued: "weakref.WeakSet[FastCallable]"
    _build_generation: int
    _init_generation: int

    def run(self, fetches: Any, feed_dict: dict | None = None, **kwargs: Any) -> Any:
        """``Session.run`` after initializing pending variables. Thread-safe.

        Raises:
          ClosedError: the runtime was closed.
          InputError: the tensors belong to several shards' graphs.
        """
        if self._shards is not None and self._shards.children:
            shard = self._shards.of_elements(fetches, list(feed_dict or ()))
            if shard is not self:
                return shard.run(fetches, feed_dict, **kwargs)
        self._check_open()
        if self._init_generation != self._build_generation:
            self._initialize_own()
        run = self.session.run if self._task is None else self._task.wrap(self.session.run)
        try:
            return run(fetches, feed_dict=feed_dict, **kwargs)
        except (tf.errors.OpError, RuntimeError):
            if self._closed:  # close() interrupted this call
                raise ClosedError(f"{self!r} was closed while a call was running") from None
            raise

    def callable(
        self,
        fetches: Sequence[Any],
        feeds: Sequence[Any] = (),
        targets: Sequence[Any] = (),
        read_only: bool = False,
        caller_thread: bool | None = None,
        *,
        _unsynced: bool = False,
    ) -> FastCallable:
        """Returns a cached fast callable running ``targets`` and returning ``fetches``.

        The same (feeds, fetches, targets) always returns the same object, so
        TensorFlow prunes the graph for that signature once.

        Args:
          fetches: tensors to return, in order.
          feeds: placeholders the callable takes, in order.
          targets: ops to run for their side effects (e.g. a train op).
          read_only: the callable writes no variable (a prediction); its
            calls then do not tick ``write_clock``. Leave False when unsure:
            the cost is only a refresh of fused-prediction caches.
          caller_thread: run it in the calling thread (None: the runtime's
            setting); False hands its ops to the inter-op pool, which runs
            independent branches (several classifiers) on several cores.
            True cannot turn on what the runtime has off (a remote runtime,
            or ``GraphSession(caller_thread=False)``): that setting holds.
          _unsynced: tfshare's own: no trunk-mirror hooks (``tfshare.mirrors``' copies).

        Raises:
          ClosedError: the runtime was closed.
          InputError: the tensors belong to several shards' graphs, or to a graph
            this runtime does not hold.
          TypeError: a feed or fetch is not a tensor (e.g. a variable, or an op).
        """
        if self._shards is not None and self._shards.children:
            shard = self._shards.of_elements(fetches, feeds, targets)
            if shard is not self:
                return shard.callable(fetches, feeds, targets, read_only, caller_thread, _unsynced=_unsynced)
        for arg, elements in (("feeds", feeds), ("fetches", fetches)):
            for element in elements:
                if not isinstance(element, tf.Tensor):  # a variable's name is its handle's: fetching that is garbage
                    raise TypeError(f"{arg} must be graph tensors, got {type(element).__name__} {element!r}")
        for element in (*feeds, *fetches, *targets):
            # The cache and TensorFlow know tensors by name: one of another graph would silently
            # stand for this graph's tensor of the same name.
            if getattr(element, "graph", self._graph) is not self._graph:
                raise InputError(f"the tensors of a callable must come from the graph of {self!r}, got {element!r} "
                                 "of another graph")
        inline = self._caller_thread if caller_thread is None else (caller_thread and self._caller_thread)
        key = (
            tuple(t.name for t in feeds),
            tuple(t.name for t in fetches),
            tuple(t.name for t in targets),
            read_only,
            inline,
            _unsynced,
        )
        cached = self._callables.get(key)
        if cached is not None:
            if self._closed:
                raise ClosedError(f"{self!r} is closed")
            return cached
        with self._lock:
            self._check_open()
            cached = self._callables.get(key)
            if cached is None:
                if self._init_generation != self._build_generation:
                    self._initialize_own()  # so calls never need to check
                fn = self._make_fn(feeds, fetches, targets, read_only, inline, _unsynced)
                cached = FastCallable(fn, feeds, fetches, targets)
                self._callables[key] = cached
                self._issued.add(cached)
            return cached

    def release_callable(self, callable_: FastCallable) -> None:
        """Drops a callable from the cache of the shard that made it; TF frees its executor once it is collected."""
        for shard in self.shards:
            with shard._lock:
                for key, value in list(shard._callables.items()):
                    if value is callable_:
                        del shard._callables[key]

    def release_scope(self, scope: str) -> int:
        """Drops this shard's cached callables that fetch or run an op under ``scope`` (a closed classifier's).

        TensorFlow frees a callable's executor once the callable is collected;
        the variables stay in the Session until the shard closes.

        Returns:
          How many callables were dropped.
        """
        with self._lock:
            keys = [key for key, fn in self._callables.items()
                    if any(t.name.startswith(scope) for t in (*fn.fetches, *fn.targets))]
            for key in keys:
                del self._callables[key]
        return len(keys)

    def _make_fn(self, feeds, fetches, targets, read_only, inline, unsynced=False) -> Callable[..., list]:
        self._warn_if_large()
        session = self.session
        if hasattr(session, "_make_callable_from_options"):
            options = config_pb2.CallableOptions()
            options.feed.extend(t.name for t in feeds)
            options.fetch.extend(t.name for t in fetches)
            options.target.extend(t.name for t in targets)
            if inline:
                # DirectSession then runs the executor inline (no hand-off to
                # the inter-op pool); it falls back to the pool by itself when
                # a run spans several devices (e.g. CPU + GPU partitions).
                options.run_options.inter_op_thread_pool = -1
            make = functools.partial(session._make_callable_from_options, read_only=read_only, unsynced=unsynced)
            if self._task is None:
                return make(options)
            # In a cluster, gRPC timeouts become ClusterError, when making and when calling.
            return self._task.wrap(self._task.wrap(make, "making a callable")(options))
        # Public fallback (slower: it goes through Session.run's machinery).
        fn = session.make_callable(list(fetches) + list(targets), feed_list=list(feeds))  # pragma: no cover
        n = len(fetches)  # pragma: no cover
        return lambda *values: fn(*values)[:n]  # pragma: no cover
