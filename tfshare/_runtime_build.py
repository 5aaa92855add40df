"""Building into a ``GraphSession``: the build lock, unique names, registered heads, finalizing.

A base of ``tfshare.runtime.GraphSession``. Graph construction is not
thread-safe in TensorFlow, so every build holds the runtime's lock; a build
that fails takes its variables out of the collections again, so that
``initialize()`` never meets them. It uses the state ``GraphSession.__init__``
sets (annotated below) and ticks ``_build_generation``, which makes the next
run initialize what was built.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from typing import Any, Callable, Iterator

from tfshare import validation
from tfshare._runtime_init import _INITIALIZED_COLLECTIONS
from tfshare._tf import tf1, v2_classes
from tfshare.errors import InputError


class _Building:
    """``GraphSession``'s building methods."""

    _lock: threading.RLock
    _graph: Any
    _root_ref: Any
    _device: str
    _shared_device: Any
    _names: set[str]
    _names_lock: threading.Lock  # the root's names and suffixes (taken under any build lock, never the other way)
    _name_suffixes: dict[str, int]  # per default name, the suffix reserve_name last chose
    _heads: list[weakref.ref]
    _finalize_hooks: list[Callable[[], Callable[[], None] | None]]
    _build_generation: int

    @contextlib.contextmanager
    def building(self, name_scope: str | None = None, shared: bool = False) -> Iterator[Any]:
        """Holds the build lock and makes this graph (and device) the default.

        Variables created inside (global or local) are initialized on the next
        run; if the block raises, they are removed from the variable collections again
        (the ops stay, unused). A caller's ``control_dependencies`` context
        does not reach the ops built inside.

        Args:
          name_scope: an absolute name scope to enter (e.g. "clf/"), or None.
          shared: build variables that other processes share (a trunk's):
            in a cluster they go to the parameter server; elsewhere no change.

        Yields:
          The ``tf.Graph``.

        Raises:
          ClosedError: the runtime was closed.
          RuntimeError: the graph was finalized.
        """
        with self._lock:
            self._check_open()
            if self._graph.finalized:
                raise RuntimeError(
                    f"{self!r} was finalized; build every classifier before calling finalize()"
                )
            collections = [
                self._graph.get_collection_ref(key)
                for key in (*_INITIALIZED_COLLECTIONS, tf1.GraphKeys.TRAINABLE_VARIABLES)
            ]
            sizes = [len(c) for c in collections]
            try:
                device = self._shared_device if shared else self._device
                # control_dependencies(None): a caller's control-dependency context
                # must not leak into ops shared by every later classifier.
                # v2_classes: sublayers a layer constructs while it is built keep tf_keras's TF2 base.
                with self._graph.as_default(), self._graph.device(device), self._graph.control_dependencies(None), \
                        v2_classes():
                    if name_scope is None:
                        yield self._graph
                    else:
                        with tf1.name_scope(name_scope):
                            yield self._graph
            except BaseException:
                # A build that failed midway leaves ops behind (a tf.Graph cannot
                # drop them), but its variables must not become pending: nothing
                # would initialize them (a fed initial value may not be registered)
                # and every later initialize() of the runtime would fail.
                for collection, size in zip(collections, sizes):
                    del collection[size:]
                raise
            finally:
                self._build_generation += 1

    def reserve_name(self, name: str | None, default: str) -> str:
        """Returns a name unique in this runtime, for scoping a classifier or trunk.

        Args:
          name: the caller's explicit name, or None to derive one from ``default``.
          default: the base for generated names ("dense_classifier" ->
            "dense_classifier", "dense_classifier_1", ...).

        Raises:
          InputError: an explicit ``name`` is already used in this runtime
            (also by a construction that failed: its ops stay in the graph).
        """
        validation.name(name)
        root = self.root  # names are unique across every shard of a runtime

        def unique(graph: Any, candidate: str, mark_as_used: bool) -> str:
            # Absolute: a caller's name scope (e.g. ``tf.name_scope`` around a classifier's
            # constructor) would prefix the name, making every candidate look taken.
            if not graph.get_name_scope():  # already absolute (each shard is asked: skip the context manager)
                return graph.unique_name(candidate, mark_as_used=mark_as_used)
            with graph.name_scope(None):
                return graph.unique_name(candidate, mark_as_used=mark_as_used)

        def taken(candidate: str) -> bool:
            return candidate in root._names or any(
                unique(shard.graph, candidate, False) != candidate for shard in root.shards
            )

        # The root's names lock, not its build lock: a classifier constructed inside a build into another shard
        # holds that shard's build lock, and a thread holding the root's build lock may take a shard's (a
        # reclaimed shard's close, release_callable): the names lock is taken last, and nothing is taken under it.
        with root._names_lock:
            if name is not None:
                if taken(name):
                    raise InputError(f"name {name!r} is already used in {root!r} (by a classifier, trunk or op; "
                                     "a failed construction keeps its name); pick another")
                chosen = name
            else:
                # The first free suffix: names are never freed, so it is at least the last one chosen for this
                # default (counting from 0 each time cost O(k) for the k-th classifier of a runtime).
                i = root._name_suffixes.get(default, 0)
                chosen = f"{default}_{i}" if i else default
                while taken(chosen):
                    i += 1
                    chosen = f"{default}_{i}"
                root._name_suffixes[default] = i
            root._names.add(chosen)
            unique(self._graph, chosen, True)
            return chosen

    def register_head(self, head: Any) -> None:
        """Records a classifier built in this runtime (held weakly), for fused calls."""
        with self._lock:
            self._heads = [r for r in self._heads if r() is not None]
            self._heads.append(weakref.ref(head))

    def heads(self) -> list[Any]:
        """The live, open classifiers registered in this shard, in build order (the root: in every shard)."""
        refs = [r for shard in self.shards for r in shard._heads] if self._root_ref is None else self._heads
        heads = (r() for r in refs)
        return [h for h in heads if h is not None and not getattr(h, "_closed", False)]

    def shard_heads(self) -> list[Any]:
        """The live, open classifiers of this shard only (one graph), in build order."""
        heads = (r() for r in self._heads)
        return [h for h in heads if h is not None and not getattr(h, "_closed", False)]

    def add_finalize_hook(self, hook: Callable[[], None]) -> None:
        """Registers a function that builds lazy ops before ``finalize()``.

        A bound method is held weakly, so the runtime does not keep its object
        (a classifier) alive.
        """
        ref = weakref.WeakMethod(hook) if hasattr(hook, "__self__") else (lambda: hook)
        with self._lock:
            self._finalize_hooks.append(ref)

    def finalize(self) -> None:
        """Builds every lazily built op, then makes the graph read-only.

        After this, any attempt to add an op raises, which proves that the
        serving path adds none.
        """
        with self._lock:
            self._check_open()
            for ref in list(self._finalize_hooks):
                hook = ref()
                if hook is not None:
                    hook()
            self._finalize_hooks.clear()
            self._graph.finalize()
        for shard in self.shards[1:] if self._root_ref is None else ():
            with shard._lock:
                if not shard._closed:  # else reclaimed since it was listed (tfshare.shards)
                    shard.finalize()
