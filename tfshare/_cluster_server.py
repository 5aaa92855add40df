"""Serving one task of a cluster: its description with a runtime (``ClusterConfig``), and its server.

``start_server`` starts this process's ``tf.distribute.Server``; ``serve``
runs it until killed, ``max_seconds`` pass or stdin closes (what ``python -m
tfshare.cluster`` runs). Part of ``tfshare.cluster``, which re-exports
everything here.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Any

from tfshare import validation
from tfshare._cluster_spec import ClusterTask
from tfshare._tf import tf, tf1
from tfshare.errors import InputError
from tfshare.runtime import GraphSession

_log = logging.getLogger(__name__)
#: What ``serve`` logs once its server has bound its port; ``LocalCluster`` waits for it.
SERVING = "serving {}/{} at"


class ClusterConfig(ClusterTask):
    """A cluster's addresses and the task this process runs (``ClusterTask``), and its runtime.

    Attributes:
      jobs: job name -> task addresses ("host:port"), e.g.
        {"ps": ("10.0.0.1:2222",), "worker": ("10.0.0.2:2222", "10.0.0.3:2222")}.
      job_name: this process's job, "ps" or "worker" (or "chief").
      task_index: this process's index in its job.
    """

    def graph_session(self, **kwargs: Any) -> GraphSession:
        """A ``GraphSession`` for this (worker) task; ``kwargs`` go to its constructor."""
        return GraphSession(cluster=self.spec, job_name=self.job_name, task_index=self.task_index, **kwargs)


def start_server(config: ClusterConfig) -> Any:
    """Starts this process's ``tf.distribute.Server`` for ``config``'s task and returns it.

    A worker on another machine runs this, then builds with
    ``config.graph_session()`` (whose target is this server). TensorFlow's
    gRPC server listens on all interfaces, with no authentication: run it
    on a private network only.

    Raises:
      TypeError: ``config`` is not a ``ClusterConfig``.
    """
    _check_config(config)
    server_config = tf1.ConfigProto()
    server_config.gpu_options.allow_growth = True  # several servers may share a GPU
    return tf.distribute.Server(config.spec, job_name=config.job_name, task_index=config.task_index,
                                protocol="grpc", config=server_config, start=True)


def serve(config: ClusterConfig, max_seconds: float | None = None, exit_on_stdin_eof: bool = False) -> None:
    """Runs this task's server until killed, ``max_seconds`` pass, or stdin closes.

    Args:
      config: the cluster and this task.
      max_seconds: stop after this many seconds; None runs until killed.
      exit_on_stdin_eof: stop when stdin reaches EOF (``LocalCluster`` uses
        it so a server never outlives its parent).

    Raises:
      InputError: ``max_seconds`` is not finite and > 0, inf included: None
        serves forever (checked before the server starts: a server that exits
        at once looks like one that ran).
      TypeError: an argument of another type.
    """
    _check_config(config)
    if max_seconds is not None:
        try:
            max_seconds = validation.positive_float(max_seconds, "max_seconds")
        except InputError as exc:  # inf above all: None is "forever"
            raise InputError(f"{exc} (use None to serve forever)") from None
    exit_on_stdin_eof = validation.boolean(exit_on_stdin_eof, "exit_on_stdin_eof")
    server = start_server(config)
    _log.info(SERVING.format(config.job_name, config.task_index) + " %s", server.target)
    if exit_on_stdin_eof:
        def watch() -> None:
            sys.stdin.buffer.read()
            os._exit(0)  # a started gRPC server cannot be stopped cleanly

        threading.Thread(target=watch, daemon=True).start()
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    while deadline is None or time.monotonic() < deadline:
        time.sleep(0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic())))
    _log.info("%s/%d: max_seconds=%s reached, exiting", config.job_name, config.task_index, max_seconds)
    os._exit(0)


def _check_config(config: Any) -> None:
    if not isinstance(config, ClusterTask):
        raise TypeError(
            "config must be a tfshare.cluster.ClusterConfig (ClusterConfig.from_flags or .from_tf_config), "
            f"got {type(config).__name__}"
        )


__all__ = ["SERVING", "ClusterConfig", "serve", "start_server"]
