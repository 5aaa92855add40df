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
* ``TaskPlacement`` is what ``GraphSession(cluster=..., job_name=...,
  task_index=...)`` uses: the device functions, the init policy (only the
  chief initializes shared variables; the others wait for them, bounded),
  and the translation of gRPC timeouts into ``ClusterError``.
* ``python -m tfshare.cluster --job_name=ps --task_index=0 --ps_hosts=...
  --worker_hosts=...`` runs one server (flags, or ``TF_CONFIG`` when no
  hosts are given); see docs/distributed.md.

This module is not imported by ``import tfshare`` (so that ``python -m
tfshare.cluster`` runs it once); ``GraphSession`` imports it on first use.
"""

from __future__ import annotations

import dataclasses
import json
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
import zlib
from typing import Any, Callable, Mapping, Sequence

from tfshare import validation
from tfshare._tf import tf, tf1
from tfshare.errors import ClusterError, InputError

_log = logging.getLogger(__name__)

PS_JOB = "ps"
WORKER_JOB = "worker"
CHIEF_JOB = "chief"
#: Default bound, in seconds, on one Session call (and on waiting for the chief) in a cluster.
DEFAULT_TIMEOUT = 60.0
_POLL_SECONDS = 0.1
# Errors that mean "a task did not answer": a dead or unreachable process.
_CLUSTER_ERRORS = (tf.errors.DeadlineExceededError, tf.errors.UnavailableError, tf.errors.AbortedError)


# --------------------------------------------------------------- describing
def _host_list(value: str | Sequence[str] | None, arg: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    hosts = tuple(str(h).strip() for h in items if str(h).strip())
    for host in hosts:
        name, _, port = host.rpartition(":")
        if not name or not port.isdigit() or not 0 < int(port) < 65536:
            raise InputError(f"{arg} must hold host:port addresses with a port in 1..65535, got {host!r}")
    return hosts


@dataclasses.dataclass(frozen=True)
class ClusterConfig:
    """A cluster's addresses and the task this process runs.

    Attributes:
      jobs: job name -> task addresses ("host:port"), e.g.
        {"ps": ("10.0.0.1:2222",), "worker": ("10.0.0.2:2222", "10.0.0.3:2222")}.
      job_name: this process's job, "ps" or "worker" (or "chief").
      task_index: this process's index in its job.
    """

    jobs: Mapping[str, tuple[str, ...]]
    job_name: str
    task_index: int

    def __post_init__(self) -> None:
        jobs = {str(k): _host_list(v, f"jobs[{k!r}]") for k, v in dict(self.jobs).items()}
        object.__setattr__(self, "jobs", {k: v for k, v in jobs.items() if v})
        if PS_JOB not in self.jobs:
            raise InputError(f"a cluster needs a {PS_JOB!r} job for the shared variables, got jobs {sorted(self.jobs)}")
        if self.job_name not in self.jobs:
            raise InputError(f"job_name must be one of the cluster's jobs {sorted(self.jobs)}, got {self.job_name!r}")
        count = len(self.jobs[self.job_name])
        if isinstance(self.task_index, bool) or not isinstance(self.task_index, int) or not 0 <= self.task_index < count:
            raise InputError(
                f"task_index must be an int in [0, {count}) for job {self.job_name!r}, got {self.task_index!r}"
            )

    @classmethod
    def from_flags(
        cls,
        ps_hosts: str | Sequence[str],
        worker_hosts: str | Sequence[str],
        job_name: str,
        task_index: int,
    ) -> "ClusterConfig":
        """Describes a cluster from flag values (tf_cnn_benchmarks' flag names).

        Args:
          ps_hosts: "host:port,host:port" (or a list) of the parameter servers.
          worker_hosts: the same for the workers; worker 0 is the chief.
          job_name: "ps" or "worker".
          task_index: this process's index in its job.

        Raises:
          InputError: a malformed address, no ps, an unknown job or task.
        """
        return cls({PS_JOB: ps_hosts, WORKER_JOB: worker_hosts}, job_name, task_index)

    @classmethod
    def from_tf_config(cls, value: str | None = None) -> "ClusterConfig":
        """Describes a cluster from a ``TF_CONFIG`` JSON string.

        The format is TensorFlow's: ``{"cluster": {"ps": [...], "worker":
        [...]}, "task": {"type": "worker", "index": 0}}``.

        Args:
          value: the JSON text; None reads the ``TF_CONFIG`` environment variable.

        Raises:
          InputError: TF_CONFIG is unset, not JSON, or lacks "cluster" / "task".
        """
        if value is None:
            value = os.environ.get("TF_CONFIG")
            if not value:
                raise InputError("TF_CONFIG is not set; pass --ps_hosts/--worker_hosts or set TF_CONFIG")
        try:
            parsed = json.loads(value)
            jobs, task = parsed["cluster"], parsed["task"]
            return cls(jobs, task["type"], int(task.get("index", 0)))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(
                'TF_CONFIG must be JSON like {"cluster": {"ps": ["h:p"], "worker": ["h:p"]}, '
                f'"task": {{"type": "worker", "index": 0}}}}; got {value!r:.200} ({exc})'
            ) from None

    def to_tf_config(self) -> str:
        """Returns this description as ``TF_CONFIG`` JSON text."""
        return json.dumps(
            {"cluster": {k: list(v) for k, v in self.jobs.items()}, "task": {"type": self.job_name, "index": self.task_index}}
        )

    def task(self, job_name: str, task_index: int) -> "ClusterConfig":
        """The same cluster, seen from another task."""
        return ClusterConfig(self.jobs, job_name, task_index)

    @property
    def spec(self) -> Any:
        """The ``tf.train.ClusterSpec``."""
        return tf.train.ClusterSpec({k: list(v) for k, v in self.jobs.items()})

    @property
    def address(self) -> str:
        """This task's "host:port"."""
        return self.jobs[self.job_name][self.task_index]

    @property
    def target(self) -> str:
        """This task's Session target, "grpc://host:port"."""
        return "grpc://" + self.address

    @property
    def num_workers(self) -> int:
        return len(self.jobs.get(WORKER_JOB, ()))

    @property
    def is_chief(self) -> bool:
        """Whether this task initializes the shared variables (the chief, else worker 0)."""
        return _is_chief(self.jobs, self.job_name, self.task_index)

    def graph_session(self, **kwargs: Any) -> Any:
        """A ``GraphSession`` for this (worker) task; ``kwargs`` go to its constructor."""
        from tfshare.runtime import GraphSession

        return GraphSession(cluster=self.spec, job_name=self.job_name, task_index=self.task_index, **kwargs)


def _is_chief(jobs: Mapping[str, Sequence[str]], job_name: str, task_index: int) -> bool:
    if CHIEF_JOB in jobs:
        return job_name == CHIEF_JOB
    return job_name == WORKER_JOB and task_index == 0


def as_cluster_spec(cluster: Any) -> Any:
    """Returns a ``tf.train.ClusterSpec`` from a ClusterSpec, a ClusterConfig or a dict."""
    if isinstance(cluster, ClusterConfig):
        return cluster.spec
    if isinstance(cluster, tf.train.ClusterSpec):
        return cluster
    if isinstance(cluster, dict):
        return tf.train.ClusterSpec(cluster)
    raise TypeError(
        "cluster must be a tf.train.ClusterSpec, a tfshare.cluster.ClusterConfig or a dict of "
        f"job -> addresses, got {type(cluster).__name__}"
    )


# ---------------------------------------------------------------- placement
class TaskPlacement:
    """Device functions, init policy and error translation of one worker's GraphSession.

    Args:
      cluster: the cluster (ClusterSpec, ClusterConfig or dict); needs a "ps" job.
      job_name: the job of the task whose master the Session talks to.
      task_index: that task's index.
      local_device: the device inside the task, e.g. "/device:CPU:0".
      timeout: seconds one Session call may block, and the chief may take to
        initialize shared variables; None for ``DEFAULT_TIMEOUT``.

    Raises:
      InputError: the task is not in the cluster, or the cluster has no ps.
    """

    def __init__(self, cluster: Any, job_name: Any, task_index: Any, local_device: str, timeout: float | None) -> None:
        if cluster is None:
            raise InputError("job_name/task_index need cluster=: the tf.train.ClusterSpec the servers were started with")
        spec = as_cluster_spec(cluster)
        jobs = {job: tuple(spec.job_tasks(job)) for job in spec.jobs}
        config = ClusterConfig(jobs, WORKER_JOB if job_name is None else job_name, 0 if task_index is None else task_index)
        if config.job_name == PS_JOB:
            raise InputError("job_name must name a worker job; a ps only serves (run `python -m tfshare.cluster`)")
        self.config = config
        self.timeout = DEFAULT_TIMEOUT if timeout is None else validation.positive_float(timeout, "timeout")
        self.task_device = f"/job:{config.job_name}/task:{config.task_index}"
        self.worker_device = self.task_device + local_device
        num_ps = len(jobs[PS_JOB])
        # Place each shared variable by a hash of its name, not in creation
        # order, so every worker maps a variable to the same ps task even
        # when workers build their graphs in different orders.
        self.shared_device = tf1.train.replica_device_setter(
            ps_tasks=num_ps,
            worker_device=self.worker_device,
            cluster=spec,
            ps_strategy=lambda op: zlib.crc32(op.name.encode()) % num_ps,
        )

    @property
    def is_chief(self) -> bool:
        return self.config.is_chief

    def describe(self) -> str:
        return f"{self.task_device} ({'chief' if self.is_chief else 'non-chief'}) at {self.config.address}"

    def configure(self, config: Any) -> None:
        """Adapts a Session ConfigProto: only this task and the ps, bounded calls."""
        # The servers already know the cluster; setting config.cluster_def as
        # well would make the master reject its own task. Device filters keep
        # this Session from contacting (and waiting for) the other workers.
        config.device_filters[:] = [f"/job:{PS_JOB}", self.task_device]
        if not config.operation_timeout_in_ms:
            config.operation_timeout_in_ms = int(self.timeout * 1000)
        else:
            self.timeout = config.operation_timeout_in_ms / 1000

    # ------------------------------------------------------------- errors
    def error(self, exc: Exception, what: str) -> ClusterError:
        """Turns a gRPC-level TensorFlow error into a ClusterError that says what to check."""
        first = (getattr(exc, "message", None) or str(exc)).strip().splitlines()
        detail = next((line for line in first if line and not line.startswith(("Graph execution", "="))), "")
        if isinstance(exc, tf.errors.DeadlineExceededError):
            why = (
                f"no answer within the {self.timeout:g} s timeout: a task the call needs (this "
                f"worker's server, or a ps in {list(self.config.jobs[PS_JOB])}) is down or stalled"
            )
        elif isinstance(exc, tf.errors.UnavailableError):
            why = "a task the call needs is unreachable (its process died or never started)"
        else:
            why = "the call was aborted: a task it needs died or restarted"
        return ClusterError(f"{what} on {self.describe()} failed: {why}. TensorFlow said: {detail[:300]}")

    def wrap(self, fn: Callable[..., Any], what: str = "a Session call") -> Callable[..., Any]:
        """Returns ``fn`` with cluster errors translated into ClusterError."""

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except _CLUSTER_ERRORS as exc:
                raise self.error(exc, what) from exc

        return call

    # --------------------------------------------------------------- init
    def shared(self, variable: Any) -> bool:
        """Whether a variable is a shared one: placed on the ps itself, not colocated (slots)."""
        device = tf1.DeviceSpec.from_string(variable.device or "")
        own_group = [b"loc:@" + variable.op.name.encode()]
        return device.job == PS_JOB and variable.op.colocation_groups() == own_group

    def initialize(self, session: Any, pending: Sequence[Any]) -> None:
        """Initializes the pending variables that hold no value yet, by the cluster's rules.

        A variable on a server keeps its value across Sessions, so nothing
        already initialized is reset (a restarted worker keeps the trained
        trunk). The chief initializes shared variables; any other worker
        waits for them, at most ``timeout`` seconds.

        Raises:
          ClusterError: a task did not answer, or the chief did not
            initialize the shared variables in time.
        """
        run = self.wrap(session.run, "initializing variables")
        flags = run([_is_initialized_op(v) for v in pending])
        missing = [v for v, ok in zip(pending, flags) if not ok]
        if self.is_chief:
            mine, wait = missing, []
        else:
            mine = [v for v in missing if not self.shared(v)]
            wait = [v for v in missing if self.shared(v)]
        if mine:
            run([v.initializer for v in mine])
        deadline = time.monotonic() + self.timeout
        while wait:
            if time.monotonic() > deadline:
                names = ", ".join(v.op.name for v in wait[:3]) + (", ..." if len(wait) > 3 else "")
                raise ClusterError(
                    f"{self.describe()} waited {self.timeout:g} s for the chief to initialize "
                    f"{len(wait)} shared variable(s) on the ps ({names}). Is the chief (worker 0) "
                    "running, and does it build its trunks with the same names?"
                )
            time.sleep(_POLL_SECONDS)
            flags = run([_is_initialized_op(v) for v in wait])
            wait = [v for v, ok in zip(wait, flags) if not ok]

    def reachable(self, seconds: float = 0.5) -> bool:
        """Whether this task's server and every ps accept connections.

        When one does not, closing the Session would wait out the timeout
        (the master tries to clean up on every task), so the runtime skips it.
        """
        addresses = (self.config.address, *self.config.jobs[PS_JOB])
        return all(_port_open(address, seconds) for address in addresses)


def _is_initialized_op(variable: Any) -> Any:
    # Resource variables built in graph mode carry this op; using it adds
    # nothing to the graph (which may be finalized).
    op = getattr(variable, "_is_initialized_op", None)
    if op is None:
        with variable.graph.as_default():
            op = tf1.is_variable_initialized(variable)
    return op


# ------------------------------------------------------------------ servers
def start_server(config: ClusterConfig) -> Any:
    """Starts this process's ``tf.distribute.Server`` for ``config``'s task and returns it.

    A worker on another machine runs this, then builds with
    ``config.graph_session()`` (whose target is this server). TensorFlow's
    gRPC server listens on all interfaces, with no authentication: run it
    on a private network only.
    """
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
    """
    server = start_server(config)
    _log.info("serving %s/%d at %s", config.job_name, config.task_index, server.target)
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


def subprocess_env() -> dict[str, str]:
    """This process's environment, with this tfshare importable in a child ``python``."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def _port_open(address: str, seconds: float) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=seconds):
            return True
    except OSError:
        return False


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
        # Stops the servers when this object is collected or the interpreter exits.
        self._finalizer = weakref.finalize(self, _stop, self._started)
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
                if _port_open(self.address(*key), 0.2):
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

    def address(self, job_name: str, task_index: int) -> str:
        """A task's "127.0.0.1:port"."""
        return self._config.jobs[job_name][task_index]

    def addresses(self) -> list[str]:
        """Every task's address."""
        return [a for addresses in self._config.jobs.values() for a in addresses]

    def process(self, job_name: str, task_index: int) -> subprocess.Popen:
        """A task's subprocess."""
        return self._processes[(job_name, task_index)]

    def log(self, job_name: str, task_index: int) -> str:
        """What a task's server has printed so far."""
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
        """Kills one task's server with SIGKILL (to test what a dead task does to the others)."""
        process = self._processes[(job_name, task_index)]
        process.kill()
        process.wait()

    def close(self) -> None:
        """Stops every server and waits until none is left listening. Closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        self._finalizer()  # _stop on every process, once
        deadline = time.monotonic() + 5.0
        for address in self.addresses() if self._processes else []:
            while _port_open(address, 0.1) and time.monotonic() < deadline:
                time.sleep(0.05)
        for name in os.listdir(self._log_dir):
            os.remove(os.path.join(self._log_dir, name))
        os.rmdir(self._log_dir)

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
            config = ClusterConfig.from_tf_config()
        serve(config, max_seconds.value, exit_on_eof.value)

    app.run(main)


if __name__ == "__main__":
    _cli()
