"""The ``ConfigProto`` a ``GraphSession``'s Session is made with (used by ``tfshare.runtime``).

``session_config`` turns the runtime's arguments (threads, GPU memory growth,
timeout, cluster, Grappler) and an optional config of the caller's into the
one ``tf.compat.v1.ConfigProto`` every shard of the runtime uses. The rules
for each argument are in ``GraphSession``'s docstring.
"""

from __future__ import annotations

from typing import Any

from tfshare._placement import TaskPlacement, timeout_ms
from tfshare._tf import tf1
from tfshare.devices import usable_cores


def session_config(
    base: Any,
    *,
    device: str,
    target: str,
    intra: int | None,
    inter: int | None,
    allow_growth: bool | None,
    timeout: float | None,
    task: TaskPlacement | None,
    cluster: Any,
    grappler: bool | None,
) -> Any:
    """Builds a runtime's Session config; ``base`` is copied, never changed.

    Args:
      base: the caller's ``tf.compat.v1.ConfigProto``, or None.
      device: the runtime's resolved device, e.g. "/device:CPU:0".
      target: the Session target, "" in-process.
      intra: intra-op threads, or None (a CPU runtime without ``base``: the
        usable cores; otherwise ``base``'s or TensorFlow's default).
      inter: inter-op threads, or None as for ``intra``.
      allow_growth: ``gpu_options.allow_growth``; None keeps ``base``'s value
        (True without ``base``).
      timeout: seconds one Session call may block (validated), or None.
      task: the worker's placement in a cluster, or None.
      cluster: a ``tf.train.ClusterSpec`` for ``cluster_def`` (without
        ``task``), or None.
      grappler: see ``with_grappler``.

    Returns:
      A new ``tf.compat.v1.ConfigProto``.
    """
    config = tf1.ConfigProto()
    if base is not None:
        config.CopyFrom(base)
    config.allow_soft_placement = True
    if intra is not None:
        config.intra_op_parallelism_threads = intra
    if inter is not None:
        config.inter_op_parallelism_threads = inter
    if allow_growth is not None or base is None:  # None keeps a given config's value
        config.gpu_options.allow_growth = True if allow_growth is None else allow_growth
    if device.endswith("CPU:0") and not target:
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
    if task is not None:
        task.configure(config)
    elif cluster is not None:
        config.cluster_def.CopyFrom(cluster.as_cluster_def())
    return with_grappler(config, grappler)


def with_grappler(config: Any, grappler: bool | None) -> Any:
    """``config`` with ``grappler`` applied; changed in place.

    Args:
      config: a ``tf.compat.v1.ConfigProto``.
      grappler: None keeps ``config`` as it is; True turns Grappler on (and
        pruned placement, which refuses it, off); False turns it off
        (``rewrite_options.disable_meta_optimizer``).

    Returns:
      ``config``.
    """
    if grappler is None or (grappler is False and config.graph_options.place_pruned_graph):
        return config  # as configured (pruned placement already keeps Grappler off)
    config.graph_options.rewrite_options.disable_meta_optimizer = not grappler
    if grappler:
        config.graph_options.place_pruned_graph = False
    return config
