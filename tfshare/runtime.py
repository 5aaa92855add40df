"""GraphSession: one tf.Graph, one lazily created Session, and the rules for sharing them.

A ``GraphSession`` is what several classifiers share when they live in one
graph. It serializes graph construction with a lock (building a graph is not
thread-safe in TensorFlow), lets any thread run the graph (``Session.run`` is
thread-safe, and needs no graph context), initializes only variables that are
not yet initialized, and hands out cached fast callables
(``Session._make_callable_from_options``, the TF_SessionRunCallable path that
tf_keras itself uses in graph mode).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import weakref
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from tfshare import validation
from tfshare._cluster_spec import as_cluster_spec
from tfshare._placement import TaskPlacement, timeout_ms
from tfshare._tracked_session import TrackedSession, WriteClock
from tfshare._tf import config_pb2, eager_mode, tf, tf1, v2_classes
from tfshare.devices import apply_eager_threads, resolve_device, usable_cores
from tfshare.errors import ClosedError, InputError
from tfshare.fast_callable import FastCallable
from tfshare.initial_values import InitialValues
from tfshare.shards import DEFAULT_SHARD_SIZE, Shards

_log = logging.getLogger(__name__)

#: A graph of this many ops makes a runtime log, once, that every new run signature now costs time
#: in proportion to the graph (see ``GraphSession._warn_if_large``).
LARGE_GRAPH_OPS = 5000


class GraphSession:
    """One ``tf.Graph`` and one lazily created ``tf.compat.v1.Session``.

    Example:
      >>> with GraphSession(device="cpu") as gs:
      ...     a = DenseClassifier(runtime=gs)   # both build into gs.graph
      ...     b = DenseClassifier(runtime=gs)   # and run in gs.session

    Args:
      device: "auto", "cpu" or "gpu"; see ``resolve_device``.
      intra_op_threads: threads inside one op. None: on an in-process CPU
        runtime without ``config``, the number of usable cores; otherwise
        TensorFlow's default.
      inter_op_threads: ops run in parallel; None as for intra_op_threads.
        In-process, both pools are TensorFlow's process-wide ones: the
        intra-op pool is sized once, by the first Session (or eager op) of
        the process, and the inter-op pool by the first Session, unless
        ``config`` sets ``use_per_session_threads`` (an inter-op pool of its
        own). Otherwise a later runtime's (or shard's) counts have no
        effect. tfshare's own eager work (layers, initial values) starts
        TensorFlow's eager context before the first Session, so an
        in-process runtime gives its counts to the eager context too, which
        then sizes the pool; one made after the context started with other
        counts logs a warning that they do not apply (docs/performance.md,
        section 6).
      allow_growth: on GPU, grow memory on demand so several Sessions can
        share one GPU.
      target: the Session target, "" for in-process or "grpc://host:port".
      cluster: optional cluster (a ``tf.train.ClusterSpec``, a
        ``tfshare.cluster.ClusterConfig`` or a dict of job -> addresses).
        With ``job_name``, the cluster the servers were started with;
        without, it goes to ``ConfigProto.cluster_def`` (ClusterSpec
        propagation), where it must not name ``target``'s own task.
      config: a ``tf.compat.v1.ConfigProto`` to start from (copied).
      job_name: with ``cluster``, this process's worker job ("worker"):
        trunks then keep their variables on the cluster's "ps" job
        (``replica_device_setter``) and everything else runs on
        ``/job:<job_name>/task:<task_index>``; see ``tfshare.cluster``.
      task_index: the worker's index; ``target`` defaults to its address.
      timeout: seconds one Session call may block before it fails
        (``operation_timeout_in_ms``, in whole ms, at least 1); None: the
        given ``config``'s, else no limit, or ``tfshare.cluster.DEFAULT_TIMEOUT``
        (60 s) with ``job_name``.
      caller_thread: run fast callables in the calling thread
        (``RunOptions.inter_op_thread_pool = -1``) instead of handing every
        call to the inter-op thread pool; ops still use the intra-op pool.
        None: True for in-process runtimes, False with a ``target`` (the
        option does not apply to remote Sessions). On the 2-core CPU it cut
        the batch-1 callable from 43 to 9 us (docs/performance.md). TF
        honours it only for runs with one partition: on GPU (host + device
        partitions) runs use the inter-op pool regardless. It gives up
        inter-op parallelism between independent branches (no loss measured
        on 2 cores; set False to compare on a many-core machine).
      grappler: run Grappler (TensorFlow's graph optimizer: operator fusion,
        constant folding, layout) on the Session's graphs. None (the
        default) follows ``config``. Without one, an in-process CPU runtime
        has it off: it prunes each run's subgraph before placing it
        (``place_pruned_graph``, which Grappler refuses: "Can't optimize a
        pruned graph"), so a new run signature stays cheap as the runtime
        grows; GPU and remote runtimes keep TensorFlow's default, on. True
        turns it on (and pruned placement off): every new signature then
        costs Grappler's pass (measured: the CNN's first prediction 32 vs
        8 ms, growing with the graph), and fuses what the inference path's
        BatchNorm folding (``tfshare.forward``) leaves, e.g. Conv2D + BiasAdd
        + ReLU. False turns it off in any config
        (``rewrite_options.disable_meta_optimizer``).
      shard_size: in-process runtimes put at most this many independent
        classifiers and trunks in each of their graphs (and none more in a
        graph of ``tfshare.shards.DEFAULT_SHARD_OPS`` ops), and open another
        graph and Session (a shard, see ``tfshare.shards``) when one is
        full, so that a classifier's first call costs the same with 10 or
        1,000 classifiers in the runtime; None keeps one graph whatever
        the size. Cluster runtimes always keep one graph.

    Raises:
      InputError: an argument is out of range, or device="gpu" with no GPU.
      TypeError: an argument is of the wrong type.
    """

    def __init__(
        self,
        device: str = "auto",
        intra_op_threads: int | None = None,
        inter_op_threads: int | None = None,
        allow_growth: bool = True,
        *,
        target: str = "",
        cluster: Any = None,
        config: Any = None,
        job_name: str | None = None,
        task_index: int | None = None,
        timeout: float | None = None,
        caller_thread: bool | None = None,
        shard_size: int | None = DEFAULT_SHARD_SIZE,
        grappler: bool | None = None,
        _root: "GraphSession | None" = None,
    ) -> None:
        self._init_kwargs = dict(
            device=device, intra_op_threads=intra_op_threads, inter_op_threads=inter_op_threads,
            allow_growth=allow_growth, config=config, timeout=timeout, caller_thread=caller_thread, grappler=grappler,
        )
        if grappler is not None and not isinstance(grappler, bool):
            raise TypeError(f"grappler must be a bool or None, got {type(grappler).__name__}")
        self._grappler = grappler
        # A shard holds its root weakly (the root's classifiers hold the root): no cycle.
        self._root_ref = weakref.ref(_root) if _root is not None else None
        self._device = resolve_device(device)
        for arg, value in (("intra_op_threads", intra_op_threads), ("inter_op_threads", inter_op_threads)):
            if value is not None:
                validation.positive_int(value, arg)
        if not isinstance(allow_growth, bool):
            raise TypeError(f"allow_growth must be a bool, got {type(allow_growth).__name__}")
        if not isinstance(target, str):
            raise TypeError(f"target must be a str, got {type(target).__name__}")
        if config is not None and not isinstance(config, tf1.ConfigProto):
            raise TypeError(f"config must be a tf.compat.v1.ConfigProto or None, got {type(config).__name__}")
        if caller_thread is not None and not isinstance(caller_thread, bool):
            raise TypeError(f"caller_thread must be a bool or None, got {type(caller_thread).__name__}")
        self._task = None
        if job_name is not None or task_index is not None:
            self._task = TaskPlacement(cluster, job_name, task_index, self._device, timeout)
            self._device = self._task.worker_device
            target = target or self._task.config.target
        elif timeout is not None:
            validation.positive_float(timeout, "timeout")
        if cluster is not None and self._task is None:
            cluster = as_cluster_spec(cluster)  # TypeError for anything else, before any Session
        # Trunks build under this device (function): the ps for variables in a cluster.
        self._shared_device = self._task.shared_device if self._task else self._device
        self._target = target
        self._cluster = cluster
        if caller_thread and target:
            raise InputError(
                f"caller_thread=True needs an in-process runtime (target=''), got target={target!r}"
            )
        self._caller_thread = (not target) if caller_thread is None else caller_thread
        made = self._make_config(config, intra_op_threads, inter_op_threads, allow_growth, timeout)
        if config is not None:  # shards start from the config as given now, not as its caller changes it later
            self._init_kwargs["config"] = tf1.ConfigProto()
            self._init_kwargs["config"].CopyFrom(config)
        self._config = self._with_grappler(made)
        if _root is None and not target and self._task is None:
            # In-process, TensorFlow sizes one intra-op pool per process, with the counts of whatever starts
            # first, and tfshare's eager work (layers, initial values) comes before this Session.
            apply_eager_threads(self._config.intra_op_parallelism_threads or None,
                                self._config.inter_op_parallelism_threads or None,
                                warn=intra_op_threads is not None or inter_op_threads is not None)
        self._graph = tf.Graph()
        self._lock = threading.RLock()
        self._session: Any = None
        self._write_clock = WriteClock()
        self._closed = False
        self._callables: dict[tuple, FastCallable] = {}
        # Every callable handed out, cached or released: close() disarms them all.
        self._issued: "weakref.WeakSet[FastCallable]" = weakref.WeakSet()
        self._names: set[str] = set()
        self._initialized: set[str] = set()
        self._initial_values = InitialValues()
        self._build_generation = 0
        self._init_generation = 0
        self._finalize_hooks: list[Callable[[], Callable[[], None] | None]] = []
        self._heads: list[weakref.ref] = []
        self._warned_large = False
        if shard_size is not None:
            validation.positive_int(shard_size, "shard_size")
        # Shards for in-process runtimes only: a cluster's trunks must be in the one graph every worker builds.
        sharded = shard_size is not None and _root is None and not target and self._task is None and cluster is None
        self._shards = Shards(self, shard_size, GraphSession._new_shard) if sharded else None

    def _new_shard(self) -> "GraphSession":
        with self._lock:
            self._check_open()
            if self._graph.finalized:
                raise RuntimeError(f"{self!r} was finalized; build every classifier before calling finalize()")
        return GraphSession(**self._init_kwargs, shard_size=None, _root=self)

    def _make_config(self, base, intra, inter, allow_growth, timeout):
        config = tf1.ConfigProto()
        if base is not None:
            config.CopyFrom(base)
        config.allow_soft_placement = True
        if intra is not None:
            config.intra_op_parallelism_threads = intra
        if inter is not None:
            config.inter_op_parallelism_threads = inter
        config.gpu_options.allow_growth = allow_growth
        if self._device.endswith("CPU:0") and not self._target:
            # Keep a CPU runtime from reserving GPU memory it never uses.
            config.device_count["GPU"] = 0
            if base is None:
                cores = usable_cores()
                if intra is None:
                    config.intra_op_parallelism_threads = cores
                if inter is None:
                    config.inter_op_parallelism_threads = cores
                # Place only the subgraph a run needs, not the whole graph on
                # every extension: a runtime that grows one classifier at a time
                # otherwise re-places all earlier classifiers for each new run
                # signature. Every op here is pinned to CPU:0, so placement
                # cannot differ between subgraphs. (Not applied on GPU, where
                # soft placement could put one resource on two devices.)
                # It also turns Grappler off ("Can't optimize a pruned graph",
                # graph_execution_state.cc; GraphSession(grappler=True) undoes both).
                config.graph_options.place_pruned_graph = True
        if timeout is not None:
            # At least 1 ms (0 would mean no limit at all), at most what the int64 field holds.
            config.operation_timeout_in_ms = timeout_ms(timeout)
        if self._task is not None:
            self._task.configure(config)
        elif self._cluster is not None:
            config.cluster_def.CopyFrom(self._cluster.as_cluster_def())
        return config

    # ------------------------------------------------------------------ state
    @property
    def graph(self) -> Any:
        """The ``tf.Graph`` of this runtime's first shard (a runtime past its ``shard_size`` has more: ``graphs``)."""
        return self._graph

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
        """The shard a new independent classifier or trunk is built into (see ``shard_size``)."""
        return self._shards.place() if self._shards is not None else self

    def built(self, shard: "GraphSession") -> None:
        """Ends the construction ``place()`` placed in ``shard``, once built (see ``Shards.built``)."""
        if self._shards is not None:
            self._shards.built(shard)

    def unplace(self, shard: "GraphSession") -> None:
        """Gives back the slot ``place()`` returned, for a construction that failed (see ``Shards.unplace``)."""
        if self._shards is not None:
            self._shards.unplace(shard)

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

    @property
    def device(self) -> str:
        """The device ops are placed on, e.g. "/device:CPU:0"."""
        return self._device

    @property
    def config(self) -> Any:
        """A copy of the Session's ``ConfigProto``."""
        copy = tf1.ConfigProto()
        copy.CopyFrom(self._config)
        return copy

    @property
    def target(self) -> str:
        """The Session target ("" for in-process)."""
        return self._target

    @property
    def write_clock(self) -> WriteClock:
        """Ticks after every call of this shard's Session that may have written variables (see ``_tracked_session``;
        each shard of a runtime has its own clock)."""
        return self._write_clock

    @property
    def caller_thread(self) -> bool:
        """Whether fast callables run in the calling thread (see the constructor)."""
        return self._caller_thread

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._closed

    @property
    def has_session(self) -> bool:
        """Whether the Session was created yet (it is created on first use)."""
        return self._session is not None

    @property
    def session(self) -> Any:
        """The ``tf.compat.v1.Session``, created on first access.

        Raises:
          ClosedError: the runtime was closed.
        """
        session = self._session
        if session is None:
            with self._lock:
                self._check_open()
                if self._session is None:
                    self._session = TrackedSession(
                        target=self._target, graph=self._graph, config=self._config, clock=self._write_clock
                    )
                session = self._session
        return session

    def _with_grappler(self, config: Any) -> Any:
        """``config`` with ``grappler`` applied (see the constructor); changed in place."""
        if self._grappler is None or (self._grappler is False and config.graph_options.place_pruned_graph):
            return config  # as configured (pruned placement already keeps Grappler off)
        config.graph_options.rewrite_options.disable_meta_optimizer = not self._grappler
        if self._grappler:
            config.graph_options.place_pruned_graph = False
        return config

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError(f"{self!r} is closed; create a new GraphSession")

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("live" if self._session is not None else "no session yet")
        shards = f", shards={len(self.shards)}" if self._shards is not None and self._shards.children else ""
        kind = "GraphSession shard" if self._root_ref is not None else "GraphSession"
        return f"{kind}(device={self._device!r}, ops={len(self._graph.get_operations())}{shards}, {state})"

    # --------------------------------------------------------------- building
    @contextlib.contextmanager
    def building(self, name_scope: str | None = None, shared: bool = False) -> Iterator[Any]:
        """Holds the build lock and makes this graph (and device) the default.

        Variables created inside are initialized on the next run; if the
        block raises, they are removed from the variable collections again
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
                for key in (tf1.GraphKeys.GLOBAL_VARIABLES, tf1.GraphKeys.TRAINABLE_VARIABLES)
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
            with graph.name_scope(None):
                return graph.unique_name(candidate, mark_as_used=mark_as_used)

        def taken(candidate: str) -> bool:
            return candidate in root._names or any(
                unique(shard.graph, candidate, False) != candidate for shard in root.shards
            )

        with root._lock:
            if name is not None:
                if taken(name):
                    raise InputError(f"name {name!r} is already used in {root!r} (by a classifier, trunk or op; "
                                     "a failed construction keeps its name); pick another")
                chosen = name
            else:
                chosen = default
                i = 0
                while taken(chosen):
                    i += 1
                    chosen = f"{default}_{i}"
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
            shard.finalize()

    # ---------------------------------------------------------------- running
    def global_variables(self) -> list[Any]:
        """Every variable in the GLOBAL_VARIABLES collection of each of the runtime's graphs."""
        if self._root_ref is None and self._shards is not None and self._shards.children:
            return [v for shard in self.shards for v in shard._own_variables()]
        return self._own_variables()

    def _own_variables(self) -> list[Any]:
        return self._graph.get_collection(tf1.GraphKeys.GLOBAL_VARIABLES)

    def pending_variables(self) -> list[Any]:
        """Variables created in this runtime (every shard) that it has not initialized yet."""
        return [v for shard in self._routed() for v in shard._own_variables() if v.name not in shard._initialized]

    def _routed(self) -> list["GraphSession"]:
        """This runtime's shards for methods that cover them all (a shard answers for itself)."""
        return self.shards if self._root_ref is None else [self]

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

        Adding a classifier therefore never resets another's trained weights.

        Returns:
          The number of variables initialized.

        Raises:
          ClosedError: the runtime was closed.
        """
        if self._root_ref is None and self._shards is not None and self._shards.children:
            return sum(shard._initialize_own() for shard in self.shards)
        return self._initialize_own()

    def _initialize_own(self) -> int:
        with self._lock:
            self._check_open()
            generation = self._build_generation
            pending = [v for v in self._own_variables() if v.name not in self._initialized]
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

        Raises:
          ClosedError: the runtime was closed.
          InputError: the tensors belong to several shards' graphs, or to a graph
            this runtime does not hold.
          TypeError: a feed or fetch is not a tensor (e.g. a variable, or an op).
        """
        if self._shards is not None and self._shards.children:
            shard = self._shards.of_elements(fetches, feeds, targets)
            if shard is not self:
                return shard.callable(fetches, feeds, targets, read_only, caller_thread)
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
                cached = FastCallable(self._make_fn(feeds, fetches, targets, read_only, inline), feeds, fetches, targets)
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

    def _make_fn(self, feeds, fetches, targets, read_only, inline) -> Callable[..., list]:
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
            make = functools.partial(session._make_callable_from_options, read_only=read_only)
            if self._task is None:
                return make(options)
            # In a cluster, gRPC timeouts become ClusterError, when making and when calling.
            return self._task.wrap(self._task.wrap(make, "making a callable")(options))
        # Public fallback (slower: it goes through Session.run's machinery).
        fn = session.make_callable(list(fetches) + list(targets), feed_list=list(feeds))  # pragma: no cover
        n = len(fetches)  # pragma: no cover
        return lambda *values: fn(*values)[:n]  # pragma: no cover

    def _warn_if_large(self) -> None:
        """Logs a warning, once per graph, when a new run signature is made on a graph of ``LARGE_GRAPH_OPS`` ops.

        TensorFlow converts and prunes the whole graph for every new run
        signature (a classifier's first call, an initialization, a new
        ``predict_many`` list), so each costs time in proportion to the graph:
        on the 2-core CPU of docs/construction.md, 1,000 MLP heads on one trunk
        took 210 s to build and call once each, against 28 s isolated. Shards
        keep independent classifiers out of large graphs; a trunk's heads and a
        ``shard_size=None`` runtime's classifiers stay in one.
        """
        ops = self._graph.version
        if ops < LARGE_GRAPH_OPS or self._warned_large:
            return
        self._warned_large = True
        _log.warning(
            "%r: its graph holds %d ops, and TensorFlow converts and prunes the whole graph for every new "
            "run signature (a classifier's first call, an initialization), so each now costs time in "
            "proportion to the graph. With many heads on one trunk, build them all, initialize once and "
            "call predict_many; with independent classifiers, keep the default shard_size "
            "(docs/construction.md).",
            self, ops,
        )

    # -------------------------------------------------------------- exporting
    def export_graph(self, logdir: str) -> str:
        """Writes the graph for TensorBoard's Graphs tab and as ``graph.pbtxt``.

        A runtime that opened further graphs (shards, see ``shard_size``)
        writes its first graph into ``logdir`` and graph i (i >= 1) into
        ``logdir/shard_i``, which TensorBoard lists as runs of their own.

        Args:
          logdir: directory to write into (created if missing).

        Returns:
          ``logdir``; run ``tensorboard --logdir LOGDIR`` to view it.
        """
        self._check_open()
        for i, shard in enumerate(self.shards[1:], start=1):
            shard._write_graph(os.path.join(logdir, f"shard_{i}"))
        self._write_graph(logdir)
        return logdir

    def _write_graph(self, logdir: str) -> None:
        """Writes this shard's own graph into ``logdir`` (``graph.pbtxt`` and a TensorBoard event file)."""
        os.makedirs(logdir, exist_ok=True)
        graph_def = self._graph.as_graph_def()
        tf.io.write_graph(graph_def, logdir, "graph.pbtxt", as_text=True)
        with eager_mode():  # the summary API adds ops to a caller's graph context otherwise
            writer = tf.summary.create_file_writer(logdir)
            try:
                with writer.as_default():
                    tf.summary.graph(graph_def)
                writer.flush()
            finally:
                writer.close()

    # -------------------------------------------------------------- lifecycle
    def close(self) -> None:
        """Closes the Session (every shard's) and releases its memory. Closing twice is harmless."""
        # Placement stops first, under its lock: a shard being made by another thread is in the list.
        for shard in self._shards.close() if self._shards is not None else ():
            shard.close()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            session, self._session = self._session, None
            if session is not None and self._task is not None and not self._task.reachable():
                # A task it uses is dead: releasing the callables and closing
                # the Session (here or in __del__) would wait out the timeout.
                session._closed = True
            for fn in list(self._issued):
                fn._disarm()
            self._issued.clear()
            self._callables.clear()
            # Classifiers cache raw callables, which keep the Session (and the
            # variables' memory) alive: drop them too.
            for ref in self._heads:
                head = ref()
                if head is not None:
                    head._drop_callables()
        if session is not None and not session._closed:
            try:
                session.close()
            except tf.errors.OpError as exc:  # a cluster task died meanwhile
                _log.warning("closing %r: %s", self, exc)

    def __enter__(self) -> "GraphSession":
        self._check_open()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - depends on GC timing
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise from __del__
            pass
