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

The parts live in modules of their own and are re-exported here: the
description in ``tfshare._cluster_spec``, ``ClusterConfig`` and the server in
``tfshare._cluster_server``, ``LocalCluster`` in ``tfshare._local_cluster``;
this module adds the command line.

``import tfshare`` does not import this module, so that ``python -m
tfshare.cluster`` runs it once.
"""

from __future__ import annotations

from tfshare._cluster_server import ClusterConfig, serve, start_server
from tfshare._cluster_spec import CHIEF_JOB, PS_JOB, WORKER_JOB, as_cluster_spec, port_open
from tfshare._local_cluster import LocalCluster, subprocess_env
from tfshare._placement import DEFAULT_TIMEOUT, TaskPlacement

__all__ = [
    "CHIEF_JOB", "DEFAULT_TIMEOUT", "PS_JOB", "WORKER_JOB", "ClusterConfig", "LocalCluster", "TaskPlacement",
    "as_cluster_spec", "port_open", "serve", "start_server", "subprocess_env",
]


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
