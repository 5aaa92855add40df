"""tfshare-bench distributed_sharing: what sharing a trunk through a parameter server costs, on TF's gRPC runtime.

Starts a LocalCluster (1 ps + N worker servers on 127.0.0.1) and measures
per-call predict latency at each --batch_size (default 1,64) in-process vs
over gRPC (trunk on the worker, trunk on the ps; timed side by side:
--repeats default 25, 5 with --quick; --num_warmup default 1; --min_time
default 0.002), training steps/s with 1, 2 and 4 workers sharing the ps
trunk (steps take the largest --batch_size), and the ps's bytes against a
trunk copy per worker (see tfshare/bench/distributed_sharing.py).
--model=mlp (--hidden_units defaults to 256,256 here) or --model=cnn (its
BatchNorm statistics on the ps with the rest of the trunk).

  tfshare-bench distributed_sharing --quick
  tfshare-bench distributed_sharing --model=cnn --workers=1,2 --output=results/distributed_sharing_cnn.json

--role=trainer is one worker's loop (what the driver starts per worker; on
several machines, each worker machine runs it against the cluster; it
measures and writes nothing):

  tfshare-bench distributed_sharing --role=trainer --serve \\
      --ps_hosts=ps0:2222 --worker_hosts=w0:2222,w1:2222 --task_index=1
"""

from __future__ import annotations

import json

from absl import app, flags

from tfshare import cluster
from tfshare.bench import dist_trainer
from tfshare.bench import distributed_sharing as bench
from tfshare.bench.apps import _common
from tfshare.errors import InputError

_ROLE = flags.DEFINE_enum("role", "driver", ["driver", "trainer"], "driver: run everything; trainer: one worker's loop.")
_WORKERS = flags.DEFINE_list("workers", ["1", "2", "4"], "Worker counts to train with.")
_TRAIN_SECONDS = flags.DEFINE_float("train_seconds", None, "Timed training window (default 4, 1 with --quick).",
                                    lower_bound=0.1)
_TIMEOUT = flags.DEFINE_float("timeout", 60.0, "Seconds any one cluster call may block.", lower_bound=0.1)
# Trainer role (what a worker machine runs): the cluster from flags, or TF_CONFIG.
_PS_HOSTS = flags.DEFINE_list("ps_hosts", None, "Trainer: parameter servers host:port,... (else TF_CONFIG).")
_WORKER_HOSTS = flags.DEFINE_list("worker_hosts", None, "Trainer: workers host:port,...")
_JOB = flags.DEFINE_string("job_name", "worker", "Trainer: this task's job.")
_TASK = flags.DEFINE_integer("task_index", 0, "Trainer: this task's index.", lower_bound=0)
_SERVE = flags.DEFINE_bool("serve", False, "Trainer: start this task's server in-process (one machine per worker).")
_TRUNK_NAME = flags.DEFINE_string("trunk_name", "trunk", "Trainer: the shared trunk's name (same in every worker).")
_NUM_CLASSES = flags.DEFINE_integer(
    "num_classes", None, "Trainer: the head's classes, the measured model's (default: the classes of --data).",
    lower_bound=2,
)
_WAIT_FOR_GO = flags.DEFINE_bool(
    "wait_for_go", False, "Trainer: print a JSON ready line after the warm-up, then wait for a line on stdin."
)

flags.adopt_module_key_flags(_common)

_HIDDEN_UNITS = (256, 256)


def _config(common: dict) -> bench.Config:
    return bench.Config(
        **common,
        modes=_common.modes(bench.MODES, required=(bench.BASELINE,)),
        workers=_common.ints(_WORKERS.value, "workers", unique=True),
        batch_sizes=_common.batch_sizes((1, 64)),
        repeats=_common.pick(_common.REPEATS.value, 25, 5),
        warmup=_common.pick(_common.NUM_WARMUP.value, 1, 1),
        min_time=_common.pick(_common.MIN_TIME.value, 2e-3, 2e-3),
        train_seconds=_common.pick(_TRAIN_SECONDS.value, 4.0, 1.0),
        timeout=_TIMEOUT.value,
    )


def trainer(argv: list[str]) -> None:
    """One worker's loop against an existing cluster; prints its steps as JSON."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    _common.quiet_tensorflow()
    device, _ = _common.resolve_device(bench.BENCHMARK)
    model = _common.model(_HIDDEN_UNITS)
    try:
        if _PS_HOSTS.value or _WORKER_HOSTS.value:
            task = cluster.ClusterConfig.from_flags(_PS_HOSTS.value or (), _WORKER_HOSTS.value or (),
                                                    _JOB.value, _TASK.value)
        else:
            task = cluster.ClusterConfig.from_tf_config()
    except InputError as exc:
        raise app.UsageError(
            f"--role=trainer needs its cluster: --ps_hosts, --worker_hosts, --job_name and --task_index, or "
            f"TF_CONFIG; {exc}"
        ) from None
    try:
        result = dist_trainer.train(
            task, model=model, batch_size=_common.batch_size(64, f"{bench.BENCHMARK} --role=trainer"),
            seconds=_common.pick(_TRAIN_SECONDS.value, 4.0, 1.0), timeout=_TIMEOUT.value, trunk_name=_TRUNK_NAME.value,
            device=device, seed=_common.SEED.value, num_classes=_NUM_CLASSES.value, serve=_SERVE.value,
            wait_for_go=_WAIT_FOR_GO.value,
            **_common.apply_threads(),
        )
    except InputError as exc:  # a flag value train() refuses (e.g. --num_classes below the data's classes)
        raise app.UsageError(f"--role=trainer: {exc}") from None
    print(json.dumps(result), flush=True)


def main(argv: list[str]) -> None:
    """The driver (runs and writes everything) or, with --role=trainer, one worker's loop."""
    if _ROLE.value == "trainer":
        trainer(argv)
    else:
        _common.run(bench, argv, _config, hidden_units_default=_HIDDEN_UNITS)
