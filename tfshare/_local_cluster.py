"""``LocalCluster``: 1 ps (or more) and N worker servers, each a subprocess on 127.0.0.1.

Each server is ``python -m tfshare.cluster`` for one task; they stop on
``close()``, on collection and interpreter exit, when the parent dies (their
stdin closes) and after ``max_lifetime`` seconds. Part of ``tfshare.cluster``,
which re-exports ``LocalCluster`` and ``subprocess_env``.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from typing import Any, Sequence

from tfshare import validation
from tfshare._cluster_server import SERVING, ClusterConfig
from tfshare._cluster_spec import PS_JOB, WORKER_JOB, port_open
from tfshare.errors import ClusterError

_log = logging.getLogger(__name__)


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
                if port_open(self.address(*key), 0.2) and SERVING.format(*key) in self.log(*key):
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



__all__ = ["LocalCluster", "subprocess_env"]
