"""Initializing a ``GraphSession``'s variables: each once, pending ones only, fed initial values included.

A base of ``tfshare.runtime.GraphSession``. A variable is pending until the
runtime initialized it (or was told it holds a value, ``mark_initialized``),
so adding a classifier never resets another's trained weights. It uses the
state ``GraphSession.__init__`` sets (annotated below), the shard lookups of
``_runtime_shards`` and the callables of ``_runtime_calls`` (``_make_fn``).
"""

from __future__ import annotations

import threading
from typing import Any, Sequence

import numpy as np

from tfshare._tf import tf1
from tfshare.initial_values import InitialValues

#: The collections whose variables ``GraphSession.initialize()`` initializes (each variable once).
_INITIALIZED_COLLECTIONS = (tf1.GraphKeys.GLOBAL_VARIABLES, tf1.GraphKeys.LOCAL_VARIABLES)


class _Initializing:
    """``GraphSession``'s variable initialization."""

    _lock: threading.RLock
    _graph: Any
    _root_ref: Any
    _shards: Any
    _task: Any
    _caller_thread: bool
    _initialized: set[str]
    _initial_values: InitialValues
    _build_generation: int
    _init_generation: int

    def global_variables(self) -> list[Any]:
        """Every variable in the GLOBAL_VARIABLES collection of each of the runtime's graphs."""
        if self._root_ref is None and self._shards is not None and self._shards.children:
            return [v for shard in self.shards for v in shard._own_variables()]
        return self._own_variables()

    def _own_variables(self) -> list[Any]:
        return self._graph.get_collection(tf1.GraphKeys.GLOBAL_VARIABLES)

    def _own_initializable(self) -> list[Any]:
        """This shard's variables that ``initialize()`` covers: global, then local ones, each once."""
        seen: set[str] = set()
        variables = []
        for key in _INITIALIZED_COLLECTIONS:
            for variable in self._graph.get_collection(key):
                if variable.name not in seen:
                    seen.add(variable.name)
                    variables.append(variable)
        return variables

    def pending_variables(self) -> list[Any]:
        """Variables created in this runtime (every shard) that it has not initialized yet, global and local."""
        return [v for shard in self._routed() for v in shard._own_initializable() if v.name not in shard._initialized]

    def add_initial_values(self, pairs: Sequence[tuple[Any, Any]]) -> None:
        """Records variables of this shard's graph whose initializer reads a fed placeholder.

        See ``tfshare.initial_values``.

        Args:
          pairs: (variable, FedInitializer) pairs; ``initialize()`` feeds them.
        """
        for variable, initializer in pairs:
            self._initial_values.add(variable, initializer)

    def initial_value_feeds(self, variables: Sequence[Any]) -> dict[Any, np.ndarray]:
        """The feed_dict that running ``[v.initializer for v in variables]`` needs.

        Returns:
          {placeholder: float32 array} for the variables with a fed initial
          value (a classifier's kernels), computed afresh; {} for the others.
        """
        feeds: dict[Any, np.ndarray] = {}
        for shard in self._routed():
            feeds.update(shard._initial_values.feeds(variables))
        return feeds

    def initialize(self) -> int:
        """Initializes, in one Session call, only the variables not yet initialized.

        It covers the GLOBAL_VARIABLES and LOCAL_VARIABLES collections (a
        ``tf.compat.v1.metrics`` metric's total and count are local), and
        initializes each variable once: adding a classifier therefore never
        resets another's trained weights, nor a metric's running totals.

        Returns:
          The number of variables initialized.

        Raises:
          ClosedError: the runtime was closed.
        """
        if self._root_ref is None and self._shards is not None and self._shards.children:
            return sum(shard._initialize_own() if shard is self else shard._initialize_open() for shard in self.shards)
        return self._initialize_own()

    def _initialize_open(self) -> int:
        """``_initialize_own`` of a shard the root listed, which may have been reclaimed since (``tfshare.shards``)."""
        with self._lock:
            return 0 if self._closed else self._initialize_own()

    def _initialize_own(self) -> int:
        with self._lock:
            self._check_open()
            generation = self._build_generation
            pending = [v for v in self._own_initializable() if v.name not in self._initialized]
            if pending:
                if self._task is not None:
                    # The chief initializes shared variables.
                    self._task.initialize(self.session, pending, self._initial_values.feeds)
                else:
                    # Running the variables' own initializer ops adds nothing to the graph. Through a
                    # callable dropped after its one call, not Session.run, which would keep the executor
                    # (and its kernels) for the Session's lifetime: no build's pending set recurs.
                    feeds = self._initial_values.feeds(pending)
                    self._make_fn(list(feeds), [], [v.initializer for v in pending], False,
                                  self._caller_thread)(*feeds.values())
                self._initialized.update(v.name for v in pending)
            self._init_generation = generation
            return len(pending)

    def mark_initialized(self, variables: Sequence[Any]) -> None:
        """Records that ``variables`` hold values (e.g. set by a restore)."""
        for variable in variables:
            shard = self.shard_of(variable.graph) if self._root_ref is None else self
            with shard._lock:
                shard._initialized.add(variable.name)
