"""Sharing classifier variables across processes on TensorFlow's own gRPC runtime.

Between-graph replication, as TF1 does it: every worker process builds its
own graph with the same trunk names, and ``replica_device_setter`` puts the
trunk's variables on the parameter server (``/job:ps``) while the worker's
ops and its classifiers' heads stay on the worker (``/job:worker/task:i``).
An update by one worker is therefore read by every other; a head is private
to its worker. No home-made transport and no home-made parameter server:
``tf.distribute.Server`` serves, ``tf.train.ClusterSpec`` names the tasks.

* ``ClusterConfig`` describes a cluster and this process's task, from flag
  values or from ``TF_CONFIG``.
* ``LocalCluster`` starts 1 ps + N worker servers as subprocesses on
  127.0.0.1, and stops them on ``close()``, on interpreter exit, and when
  the parent dies (their stdin closes); each also stops by itself after
  ``max_lifetime`` seconds.
* ``start_server`` / ``serve`` run one task's ``tf.distribute.Server``;
  ``python -m tfshare.cluster --job_name=ps --task_index=0 --ps_hosts=...
  --worker_hosts=...`` runs one (flags, or ``TF_CONFIG`` when no hosts are
  given); see docs/distributed.md.
* ``TaskPlacement`` (from ``tfshare._placement``) is what ``GraphSession(
  cluster=..., job_name=..., task_index=...)`` uses: the device functions,
  the init policy (only the chief initializes shared variables; the others
  wait for them, bounded), and the translation of gRPC timeouts into
  ``ClusterError``.

``import tfshare`` does not import this module, so that ``python -m
tfshare.cluster`` runs it once.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from typing import Any, Sequence

from tfshare import validation
from tfshare._cluster_spec import CHIEF_JOB, PS_JOB, WORKER_JOB, ClusterTask, as_cluster_spec, port_open
from tfshare._placement import DEFAULT_TIMEOUT, TaskPlacement
from tfshare._tf import tf, tf1
from tfshare.errors import ClusterError, InputError
from tfshare.runtime import GraphSession

_log = logging.getLogger(__name__)
# What ``serve`` logs once its server has bound its port; ``LocalCluster`` waits for it.
_SERVING = "serving {}/{} at"

__all__ = [
    "CHIEF_JOB", "DEFAULT_TIMEOUT", "PS_JOB", "WORKER_JOB", "ClusterConfig", "LocalCluster", "TaskPlacement",
    "as_cluster_spec", "port_open", "serve", "start_server", "subprocess_env",
]


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


# ------------------------------------------------------------------ servers
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
    _log.info(_SERVING.format(config.job_name, config.task_index) + " %s", server.target)
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


def subprocess_env() -> dict[str, str]:
    """This process's environment, with this tfshare importable in a child ``python``."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def _free_ports(count: int) -> list[int]:
    """Ports the kernel hands out on 127.0.0.1 (held together, so they are distinct)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _stop(processes: Sequence[subprocess.Popen], grace: float = 3.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; waits for every process."""
    for p in processes:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in processes:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        if p.stdin is not None:
            p.stdin.close()


def _stop_and_remove(processes: Sequence[subprocess.Popen], log_dir: str) -> None:
    """A LocalCluster's finalizer (close(), collection, exit): stops its servers, then removes their logs."""
    _stop(processes)
    for name in os.listdir(log_dir):
        os.remove(os.path.join(log_dir, name))
    os.rmdir(log_dir)


class LocalCluster:
    """1 ps (or more) and N worker servers, each a subprocess on 127.0.0.1.

    Example:
      >>> with LocalCluster(num_workers=2) as cluster:
      ...     gs0 = cluster.graph_session(0)   # chief
      ...     gs1 = cluster.graph_session(1)

    The servers stop on ``close()`` (or leaving the ``with`` block), when
    this object is collected or the interpreter exits, when this process
    dies (their stdin closes), and in any case after ``max_lifetime``
    seconds. After ``close()`` nothing is left listening.

    Args:
      num_workers: worker servers (>= 1).
      num_ps: parameter servers (>= 1).
      startup_timeout: seconds to wait for every server to listen.
      max_lifetime: seconds after which every server exits by itself.

    Raises:
      ClusterError: a server did not start (its log's tail is in the message).
    """

    def __init__(
        self,
        num_workers: int = 2,
        num_ps: int = 1,
        *,
        startup_timeout: float = 60.0,
        max_lifetime: float = 900.0,
    ) -> None:
        self._num_workers = validation.positive_int(num_workers, "num_workers")
        self._num_ps = validation.positive_int(num_ps, "num_ps")
        self._startup_timeout = validation.positive_float(startup_timeout, "startup_timeout")
        self._max_lifetime = validation.positive_float(max_lifetime, "max_lifetime")
        self._log_dir = tempfile.mkdtemp(prefix="tfshare-cluster-")
        self._processes: dict[tuple[str, int], subprocess.Popen] = {}
        self._started: list[subprocess.Popen] = []
        # Stops the servers, and removes their logs, when this object is collected or the interpreter exits.
        self._finalizer = weakref.finalize(self, _stop_and_remove, self._started, self._log_dir)
        self._closed = False
        try:
            for attempt in range(3):
                jobs = self._jobs(_free_ports(self._num_ps + self._num_workers))
                self._config = ClusterConfig(jobs, WORKER_JOB, 0)
                try:
                    self._start()
                    break
                except _PortTaken:
                    _log.info("a port was taken before its server bound it; retrying (%d)", attempt + 1)
            else:
                raise ClusterError("could not start the local cluster: its ports kept being taken by other processes")
        except BaseException:
            self.close()
            raise

    def _jobs(self, ports: list[int]) -> dict[str, list[str]]:
        addresses = [f"127.0.0.1:{p}" for p in ports]
        return {PS_JOB: addresses[: self._num_ps], WORKER_JOB: addresses[self._num_ps :]}

    def _start(self) -> None:
        env = subprocess_env()
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env.pop("TF_CONFIG", None)
        _stop(self._started)  # the servers of a failed attempt
        self._started.clear()
        self._processes = {}
        for job, addresses in self._config.jobs.items():
            for i in range(len(addresses)):
                child_env = dict(env)
                if job == PS_JOB:
                    child_env["CUDA_VISIBLE_DEVICES"] = ""  # a ps keeps variables on its CPU
                with open(os.path.join(self._log_dir, f"{job}-{i}.log"), "wb") as log:
                    process = subprocess.Popen(
                        [sys.executable, "-m", "tfshare.cluster", f"--job_name={job}", f"--task_index={i}",
                         f"--ps_hosts={','.join(self._config.jobs[PS_JOB])}",
                         f"--worker_hosts={','.join(self._config.jobs[WORKER_JOB])}",
                         f"--max_seconds={self._max_lifetime}", "--exit_on_stdin_eof"],
                        stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, env=child_env,
                        cwd=self._log_dir,
                    )
                self._started.append(process)
                self._processes[(job, i)] = process
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._startup_timeout
        waiting = dict(self._processes)
        while waiting:
            for key, process in list(waiting.items()):
                if process.poll() is not None:
                    log = self.log(*key)
                    if "already in use" in log or "Could not start gRPC server" in log:
                        raise _PortTaken()
                    raise ClusterError(
                        f"the {key[0]} server {key[1]} exited with code {process.returncode} while starting; "
                        f"its log ends with:\n{log[-2000:]}"
                    )
                # Its own "serving" line too: an open port alone may be another process's, which took it first.
                if port_open(self.address(*key), 0.2) and _SERVING.format(*key) in self.log(*key):
                    del waiting[key]
            if waiting and time.monotonic() > deadline:
                raise ClusterError(
                    f"servers {sorted(waiting)} did not listen within startup_timeout={self._startup_timeout:g} s"
                )
            if waiting:
                time.sleep(0.05)

    # -------------------------------------------------------------- queries
    @property
    def config(self) -> ClusterConfig:
        """The cluster, seen from worker 0 (use ``.task(job, i)`` for another task)."""
        return self._config

    @property
    def spec(self) -> Any:
        """The ``tf.train.ClusterSpec`` the servers run."""
        return self._config.spec

    @property
    def num_workers(self) -> int:
        return self._num_workers

    def _task_key(self, job_name: Any, task_index: Any) -> tuple[str, int]:
        """(job_name, task_index) of one of this cluster's tasks; a negative index is no alias for another."""
        task = self._config.task(job_name, task_index)  # InputError for no such task
        return task.job_name, task.task_index

    def address(self, job_name: str, task_index: int) -> str:
        """A task's "127.0.0.1:port".

        Raises:
          InputError: no such task (also for a negative index).
        """
        job_name, task_index = self._task_key(job_name, task_index)
        return self._config.jobs[job_name][task_index]

    def addresses(self) -> list[str]:
        """Every task's address."""
        return [a for addresses in self._config.jobs.values() for a in addresses]

    def process(self, job_name: str, task_index: int) -> subprocess.Popen:
        """A task's subprocess; InputError for no such task."""
        return self._processes[self._task_key(job_name, task_index)]

    def log(self, job_name: str, task_index: int) -> str:
        """What a task's server has printed so far; InputError for no such task."""
        job_name, task_index = self._task_key(job_name, task_index)
        path = os.path.join(self._log_dir, f"{job_name}-{task_index}.log")
        try:
            with open(path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def graph_session(self, task_index: int, **kwargs: Any) -> Any:
        """A ``GraphSession`` whose master is worker ``task_index``; ``kwargs`` go to its constructor."""
        return self._config.task(WORKER_JOB, task_index).graph_session(**kwargs)

    # ------------------------------------------------------------ lifecycle
    def kill(self, job_name: str, task_index: int) -> None:
        """Kills one task's server with SIGKILL (to test what a dead task does to the others).

        Raises:
          InputError: no such task.
        """
        process = self._processes[self._task_key(job_name, task_index)]
        process.kill()
        process.wait()

    def close(self) -> None:
        """Stops every server and waits until none is left listening. Closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        self._finalizer()  # _stop on every process, once, and the log folder removed
        deadline = time.monotonic() + 5.0
        for address in self.addresses() if self._processes else []:
            while port_open(address, 0.1) and time.monotonic() < deadline:
                time.sleep(0.05)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "LocalCluster":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running"
        return f"LocalCluster(ps={list(self._config.jobs[PS_JOB])}, workers={list(self._config.jobs[WORKER_JOB])}, {state})"


class _PortTaken(Exception):
    """A server could not bind its port: another process took it first."""


# ---------------------------------------------------------------------- CLI
def _cli() -> None:
    from absl import app, flags

    ps_hosts = flags.DEFINE_list("ps_hosts", None, "Parameter servers, host:port,host:port.")
    worker_hosts = flags.DEFINE_list("worker_hosts", None, "Workers, host:port,...; worker 0 is the chief.")
    job_name = flags.DEFINE_enum("job_name", None, [PS_JOB, WORKER_JOB, CHIEF_JOB], "This task's job.")
    task_index = flags.DEFINE_integer("task_index", 0, "This task's index in its job.", lower_bound=0)
    max_seconds = flags.DEFINE_float("max_seconds", None, "Exit after this many seconds (default: never).")
    exit_on_eof = flags.DEFINE_bool("exit_on_stdin_eof", False, "Exit when stdin closes.")

    def main(argv: list[str]) -> None:
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {argv[1:]}")
        if ps_hosts.value or worker_hosts.value:
            if job_name.value is None:
                raise app.UsageError("--job_name is required with --ps_hosts/--worker_hosts")
            config = ClusterConfig.from_flags(ps_hosts.value or (), worker_hosts.value or (),
                                              job_name.value, task_index.value)
        else:
            if job_name.present or task_index.present:
                # TF_CONFIG's "task" names the task; flags beside it would be silently ignored.
                raise app.UsageError(
                    "--job_name/--task_index need --ps_hosts/--worker_hosts; with TF_CONFIG, its \"task\" "
                    "names this process's task"
                )
            config = ClusterConfig.from_tf_config()
        serve(config, max_seconds.value, exit_on_eof.value)

    app.run(main)


if __name__ == "__main__":
    _cli()
