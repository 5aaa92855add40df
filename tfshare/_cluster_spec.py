"""A cluster's description: its jobs' addresses and the task this process runs.

From flag values (tf_cnn_benchmarks' names) or from ``TF_CONFIG``. Part of
``tfshare.cluster`` (which re-exports everything here, ``ClusterTask`` as
``ClusterConfig`` with its ``graph_session()``); kept apart so that the
GraphSession side (``tfshare._placement``) and the server side share it
without an import cycle (``tfshare.runtime`` imports ``tfshare._placement``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
import re
import socket
from typing import Any, Mapping, Sequence

from tfshare._tf import tf
from tfshare.errors import InputError

PS_JOB = "ps"
WORKER_JOB = "worker"
CHIEF_JOB = "chief"


# TensorFlow's device names take a job name of this form ("/job:my-job" fails only when a graph runs).
_JOB_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _job_name(job: Any) -> str:
    if not isinstance(job, str):
        raise TypeError(f"jobs' keys must be job names (str), got {type(job).__name__} {job!r:.100}")
    if not _JOB_NAME.fullmatch(job):
        raise InputError(
            f"jobs' keys must be job names TensorFlow's device names accept (a letter, then letters, digits "
            f"and '_'), got {job!r:.100}"
        )
    return job


def _host_list(value: str | Sequence[str] | None, arg: str) -> tuple[str, ...]:
    """The addresses of ``value`` ("host:port,host:port", or a list of them), each checked; () for None or ""."""
    if value is None:
        return ()
    if not isinstance(value, (str, Sequence)) or isinstance(value, (bytes, bytearray)):
        raise TypeError(f"{arg} must be a list of host:port addresses or a comma-separated str, "
                         f"got {type(value).__name__} {value!r:.100}")
    if isinstance(value, str) and not value.strip():
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    hosts = []
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise TypeError(f"{arg} must hold host:port addresses as str, got {type(item).__name__} {item!r:.100} "
                            f"at index {i} of {value!r:.200}")
        if not item.strip():
            raise InputError(f"{arg} must not hold an empty address (as in 'a:1,,b:2'), got {value!r:.200}")
        _split_address(item.strip(), arg)
        hosts.append(item.strip())
    return tuple(hosts)


def _split_address(address: str, arg: str, one: bool = False) -> tuple[str, int]:
    """Checks one "host:port" address of ``arg`` (a list of them unless ``one``); returns its host and port."""
    must = f"{arg} must be a" if one else f"{arg} must hold"
    plural = "" if one else "es"
    name, _, port = address.rpartition(":")
    if not name or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise InputError(f"{must} host:port address{plural} with a port in 1..65535, got {address!r:.100}")
    if "/" in name or any(c.isspace() for c in name):
        raise InputError(
            f"{must} bare host:port address{plural} (no scheme such as 'grpc://', no path, no spaces), "
            f"got {address!r:.100}"
        )
    if ":" in name and not (name.startswith("[") and name.endswith("]")):
        # Else "::1:2222" would pass as host "::1", port 2222, and "fe80::1" as host "fe80:", port 1.
        raise InputError(
            f"{arg} must {'be an' if one else 'hold'} IPv6 address{plural} in brackets, as in '[::1]:2222': "
            f"write '[{name}]:{port}', got {address!r:.100}"
        )
    return name, int(port)


@dataclasses.dataclass(frozen=True)
class ClusterTask:
    """A cluster's addresses and the task this process runs.

    Attributes:
      jobs: job name -> task addresses ("host:port"), e.g.
        {"ps": ("10.0.0.1:2222",), "worker": ("10.0.0.2:2222", "10.0.0.3:2222")}.
      job_name: this process's job, "ps" or "worker" (or "chief").
      task_index: this process's index in its job.

    Raises:
      InputError: a job with no address, a malformed address (an IPv6 one
        not in brackets), one address for two tasks, no ps, no worker (or
        chief) job, an unknown job or task.
      TypeError: a job name that is not a str, or addresses of another type.
    """

    jobs: Mapping[str, tuple[str, ...]]
    job_name: str
    task_index: int

    def __post_init__(self) -> None:
        given = dict(self.jobs)
        jobs = {_job_name(k): _host_list(v, f"jobs[{k!r}]") for k, v in given.items()}
        for job, addresses in jobs.items():
            if not addresses:  # it used to be dropped silently: "chief": [] made worker 0 the chief
                raise InputError(f"jobs[{job!r}] must hold at least one host:port address (or leave the job out), "
                                 f"got {given[job]!r:.100}")
        object.__setattr__(self, "jobs", jobs)
        if PS_JOB not in self.jobs:
            raise InputError(f"a cluster needs a {PS_JOB!r} job for the shared variables, got jobs {sorted(self.jobs)}")
        if WORKER_JOB not in self.jobs and CHIEF_JOB not in self.jobs:
            raise InputError(
                f"a cluster needs a {WORKER_JOB!r} (or {CHIEF_JOB!r}) job, whose chief initializes the shared "
                f"variables, got jobs {sorted(self.jobs)}"
            )
        seen: dict[str, str] = {}
        for job, addresses in self.jobs.items():
            for i, address in enumerate(addresses):
                task = f"{job}/{i}"
                if seen.setdefault(address, task) != task:
                    raise InputError(f"every task needs its own address, got {address!r} for both "
                                     f"{seen[address]} and {task}")
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
    ) -> "ClusterTask":
        """Describes a cluster from flag values (tf_cnn_benchmarks' flag names).

        Args:
          ps_hosts: "host:port,host:port" (or a list) of the parameter servers.
          worker_hosts: the same for the workers; worker 0 is the chief.
          job_name: "ps" or "worker".
          task_index: this process's index in its job.

        Raises:
          InputError: a malformed address (an IPv6 one not in brackets), an
            empty one ("a:1,,b:2"), one address for two tasks, no ps, an
            unknown job or task.
          TypeError: hosts that are neither a str nor a list, or a list
            item that is not a str.
        """
        # Checked under the flags' names first, so that a message names the flag to fix.
        jobs = {PS_JOB: _host_list(ps_hosts, "ps_hosts"), WORKER_JOB: _host_list(worker_hosts, "worker_hosts")}
        return cls({job: hosts for job, hosts in jobs.items() if hosts}, job_name, task_index)  # unset flag: no job

    @classmethod
    def from_tf_config(cls, value: str | None = None) -> "ClusterTask":
        """Describes a cluster from a ``TF_CONFIG`` JSON string.

        The format is TensorFlow's: ``{"cluster": {"ps": [...], "worker":
        [...]}, "task": {"type": "worker", "index": 0}}``. Stricter than
        TensorFlow's ``TFConfigClusterResolver``, which passes the index through
        ``int()``: the index must be a JSON integer (not 1.7, "1" or true), and
        may be left out only when the task's job has a single task.

        Args:
          value: the JSON text; None reads the ``TF_CONFIG`` environment variable.

        Raises:
          InputError: TF_CONFIG is unset, not JSON, or lacks "cluster" / "task";
            a job of its cluster has no address (``"chief": []``) or a
            malformed one; its task's "type" is not one of the cluster's jobs,
            or its "index" is not an int in range for that job.
        """
        if value is None:
            value = os.environ.get("TF_CONFIG")
            if not value:
                raise InputError("TF_CONFIG is not set; pass --ps_hosts/--worker_hosts or set TF_CONFIG")
        try:
            parsed = json.loads(value)
            jobs, task = parsed["cluster"], parsed["task"]
            job_name = task["type"]
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(
                'TF_CONFIG must be JSON like {"cluster": {"ps": ["h:p"], "worker": ["h:p"]}, '
                f'"task": {{"type": "worker", "index": 0}}}}; got {value!r:.200} ({exc!r})'
            ) from None
        if not isinstance(jobs, dict) or not isinstance(task, dict):
            raise InputError(
                'TF_CONFIG\'s "cluster" and "task" must be JSON objects, got '
                f"{type(jobs).__name__} and {type(task).__name__} in {value!r:.200}"
            )
        if not isinstance(job_name, str) or job_name not in jobs:
            raise InputError(
                f'TF_CONFIG\'s task "type" must be one of its cluster\'s jobs {sorted(map(str, jobs))}, '
                f"got {job_name!r:.100}"
            )
        index = task.get("index")
        if "index" in task and (isinstance(index, bool) or not isinstance(index, int)):
            raise InputError(
                f'TF_CONFIG\'s task "index" must be a JSON integer (e.g. 1; not 1.0, "1" or true), '
                f"got {type(index).__name__} {index!r:.100}"
            )
        try:
            config = cls(jobs, job_name, 0)  # checks the addresses and the job
        except TypeError as exc:  # hosts of another type: the text's fault, not a caller's
            raise InputError(f'TF_CONFIG\'s "cluster" must map each job to its list of addresses: {exc}') from None
        count = len(config.jobs[job_name])
        if "index" not in task and count != 1:
            raise InputError(
                f'TF_CONFIG\'s task needs an "index": its job {job_name!r} has {count} tasks, got task {task!r:.200}'
            )
        if "index" in task and not 0 <= index < count:
            raise InputError(
                f'TF_CONFIG\'s task "index" must be in [0, {count}) for its job {job_name!r} '
                f"({count} task{'s' if count != 1 else ''}), got {index}"
            )
        return config.task(job_name, index or 0)

    def to_tf_config(self) -> str:
        """Returns this description as ``TF_CONFIG`` JSON text."""
        return json.dumps(
            {"cluster": {k: list(v) for k, v in self.jobs.items()}, "task": {"type": self.job_name, "index": self.task_index}}
        )

    def task(self, job_name: str, task_index: int) -> "ClusterTask":
        """The same cluster, seen from another task (an object of this one's class)."""
        return dataclasses.replace(self, job_name=job_name, task_index=task_index)

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


def _is_chief(jobs: Mapping[str, Sequence[str]], job_name: str, task_index: int) -> bool:
    if CHIEF_JOB in jobs:
        return job_name == CHIEF_JOB
    return job_name == WORKER_JOB and task_index == 0


def as_cluster_spec(cluster: Any) -> Any:
    """Returns a ``tf.train.ClusterSpec`` from a ClusterSpec, a ClusterConfig (ClusterTask) or a dict."""
    if isinstance(cluster, ClusterTask):
        return cluster.spec
    if isinstance(cluster, tf.train.ClusterSpec):
        return cluster
    if isinstance(cluster, dict):
        return tf.train.ClusterSpec(cluster)
    raise TypeError(
        "cluster must be a tf.train.ClusterSpec, a tfshare.cluster.ClusterConfig or a dict of "
        f"job -> addresses, got {type(cluster).__name__}"
    )


def port_open(address: str, seconds: float) -> bool:
    """Whether ``address`` accepts a TCP connection within ``seconds``.

    Args:
      address: "host:port", as in a cluster spec ("[::1]:2222" for IPv6).
      seconds: how long to wait for the connection, a finite number > 0.

    Raises:
      InputError: an address that is not a bare host:port with a port in
        1..65535, or ``seconds`` not finite and > 0.
      TypeError: an address that is not a str, or ``seconds`` not a number.
    """
    if not isinstance(address, str):
        raise TypeError(f"address must be a host:port str, got {type(address).__name__} {address!r:.100}")
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real):
        raise TypeError(f"seconds must be a number, got {type(seconds).__name__} {seconds!r:.100}")
    if not (math.isfinite(seconds) and seconds > 0):
        raise InputError(f"seconds must be a finite number > 0, got {seconds!r}")
    host, port = _split_address(address, "address", one=True)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]  # "[::1]:2222" is written bracketed; the socket takes the bare IPv6 address
    try:
        with socket.create_connection((host, port), timeout=float(seconds)):
            return True
    except OSError:
        return False
