"""GraphSession: one tf.Graph, one lazily created Session, and the rules for sharing them.

A ``GraphSession`` is what several classifiers share when they live in one
graph. It serializes graph construction with a lock (building a graph is not
thread-safe in TensorFlow), lets any thread run the graph (``Session.run`` is
thread-safe, and needs no graph context), initializes only variables that are
not yet initialized, and hands out cached fast callables
(``Session._make_callable_from_options``, the TF_SessionRunCallable path that
tf_keras itself uses in graph mode).

This module holds the class, its state and its lifecycle; each of its other
jobs is a base class of its own: finding shards (``_runtime_shards``),
building (``_runtime_build``), initializing variables (``_runtime_init``) and
running (``_runtime_calls``); its Session config is made by
``_session_config``, and ``_graph_export`` writes its graphs for TensorBoard.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import Any, Callable

from tfshare import validation
from tfshare._cluster_spec import as_cluster_spec
from tfshare._graph_export import write_graph
from tfshare._placement import TaskPlacement
from tfshare._runtime_build import _Building
from tfshare._runtime_calls import _Calling
from tfshare._runtime_init import _Initializing
from tfshare._runtime_shards import _ShardRouting
from tfshare._session_config import session_config
from tfshare._tracked_session import TrackedSession, WriteClock
from tfshare._tf import tf, tf1
from tfshare.devices import apply_eager_threads, resolve_device
from tfshare.errors import ClosedError, InputError
from tfshare.fast_callable import FastCallable
from tfshare.initial_values import InitialValues
from tfshare.shards import DEFAULT_SHARD_SIZE, Shards

# Importable from tfshare.runtime as before its split into the modules above.
from tfshare._placement import timeout_ms  # noqa: F401
from tfshare._tf import config_pb2, eager_mode, v2_classes  # noqa: F401
from tfshare.devices import usable_cores  # noqa: F401

_log = logging.getLogger(__name__)

#: A graph of this many ops makes a runtime log, once, that every new run signature now costs time
#: in proportion to the graph (see ``GraphSession._warn_if_large``).
LARGE_GRAPH_OPS = 5000


class GraphSession(_ShardRouting, _Building, _Initializing, _Calling):
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
        share one GPU (``gpu_options.allow_growth``). None (the default):
        ``config``'s value when a ``config`` is given, else True; a bool
        overrides ``config``'s.
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
        allow_growth: bool | None = None,
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
        # A shard holds its root weakly (the root's classifiers hold the root): no cycle.
        self._root_ref = weakref.ref(_root) if _root is not None else None
        self._device = resolve_device(device)
        for arg, value in (("intra_op_threads", intra_op_threads), ("inter_op_threads", inter_op_threads)):
            if value is not None:
                validation.positive_int(value, arg)
        if allow_growth is not None and not isinstance(allow_growth, bool):
            raise TypeError(f"allow_growth must be a bool or None, got {type(allow_growth).__name__}")
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
        if caller_thread and target:
            raise InputError(
                f"caller_thread=True needs an in-process runtime (target=''), got target={target!r}"
            )
        self._caller_thread = (not target) if caller_thread is None else caller_thread
        self._config = session_config(
            config, device=self._device, target=target, intra=intra_op_threads, inter=inter_op_threads,
            allow_growth=allow_growth, timeout=timeout, task=self._task, cluster=cluster, grappler=grappler,
        )
        if config is not None:  # shards start from the config as given now, not as its caller changes it later
            self._init_kwargs["config"] = tf1.ConfigProto()
            self._init_kwargs["config"].CopyFrom(config)
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
        self._mirror: Any = None  # the trunk mirror this shard holds (tfshare.mirrors), if any
        self._closed = False
        self._callables: dict[tuple, FastCallable] = {}
        # Every callable handed out, cached or released: close() disarms them all.
        self._issued: "weakref.WeakSet[FastCallable]" = weakref.WeakSet()
        self._names: set[str] = set()
        self._names_lock = threading.Lock()  # a leaf lock: see reserve_name
        self._name_suffixes: dict[str, int] = {}
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
        # Under the placement lock, so without the build lock: a build that places a classifier takes them the other
        # way round. close() stops placement (under the placement lock) before it sets _closed.
        self._check_open()
        if self._graph.finalized:
            raise RuntimeError(f"{self!r} was finalized; build every classifier before calling finalize()")
        return GraphSession(**self._init_kwargs, shard_size=None, _root=self)

    # ------------------------------------------------------------------ state
    @property
    def graph(self) -> Any:
        """The ``tf.Graph`` of this runtime's first shard (a runtime past its ``shard_size`` has more: ``graphs``)."""
        return self._graph

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
                        target=self._target, graph=self._graph, config=self._config, clock=self._write_clock,
                        sync=self._mirror,
                    )
                session = self._session
        return session

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError(f"{self!r} is closed; create a new GraphSession")

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("live" if self._session is not None else "no session yet")
        shards = f", shards={len(self.shards)}" if self._shards is not None and self._shards.children else ""
        kind = "GraphSession shard" if self._root_ref is not None else "GraphSession"
        return f"{kind}(device={self._device!r}, ops={len(self._graph.get_operations())}{shards}, {state})"

    # ---------------------------------------------------------------- running
    def _warn_if_large(self) -> None:
        """Logs a warning, once per graph, when a new run signature is made on a graph of ``LARGE_GRAPH_OPS`` ops.

        TensorFlow converts and prunes the whole graph for every new run
        signature (a classifier's first call, an initialization, a new
        ``predict_many`` list), so each costs time in proportion to the graph:
        on the 2-core CPU of docs/construction.md, 1,000 MLP heads on one trunk
        took 210 s to build and call once each, against 28 s isolated. Shards
        keep independent classifiers out of large graphs, and mirrors of a trunk
        (``tfshare.mirrors``) its heads; a ``shard_size=None`` runtime's
        classifiers and heads (and a cluster's) stay in one.
        """
        ops = self._graph.version
        if ops < LARGE_GRAPH_OPS or self._warned_large:
            return
        self._warned_large = True
        _log.warning(
            "%r: its graph holds %d ops, and TensorFlow converts and prunes the whole graph for every new "
            "run signature (a classifier's first call, an initialization), so each now costs time in "
            "proportion to the graph. Keep the default shard_size: independent classifiers then go to "
            "further shards, and heads of one trunk to mirrors of it; without shards, build the heads "
            "all, initialize once and call predict_many "
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
            write_graph(shard.graph, os.path.join(logdir, f"shard_{i}"))
        write_graph(self._graph, logdir)
        return logdir

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
            mirror, self._mirror = self._mirror, None  # it holds this shard (no cycle outlives the close)
            if session is not None:
                session._sync = None
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
        if mirror is not None:
            mirror.detach()  # a reclaimed mirror: its trunk's next head past its shard's budget gets a new one
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
