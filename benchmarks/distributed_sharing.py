"""What sharing a trunk through a parameter server costs, on TensorFlow's gRPC runtime.

Starts a LocalCluster (1 ps + N worker servers on 127.0.0.1) and measures
per-call predict latency in-process vs over gRPC (trunk on the worker, trunk
on the ps; timed side by side), training steps/s with 1, 2 and 4 workers
sharing the ps trunk, and the ps's bytes against a trunk copy per worker
(see tfshare/bench/distributed_sharing.py). --model=mlp (--hidden_units
defaults to 256,256 here) or --model=cnn (the shipped CNN, 32 and 64
filters, its BatchNorm statistics on the ps with the rest of the trunk).

  python benchmarks/distributed_sharing.py --quick
  python benchmarks/distributed_sharing.py --model=cnn --workers=1,2 --output=results/distributed_sharing_cnn.json
  python benchmarks/distributed_sharing.py --workers=1,2,4 --output=results/distributed_sharing.json

On several machines, each worker machine runs the trainer role against the
cluster (see docs/distributed.md); it measures and writes nothing:

  python benchmarks/distributed_sharing.py --role=trainer --serve \\
      --ps_hosts=ps0:2222 --worker_hosts=w0:2222,w1:2222 --task_index=1
"""

from __future__ import annotations

import json

from absl import app, flags

import _common
from tfshare import cluster
from tfshare.bench import dist_trainer
from tfshare.bench import distributed_sharing as bench

_ROLE = flags.DEFINE_enum("role", "driver", ["driver", "trainer"], "driver: run everything; trainer: one worker's loop.")
_WORKERS = flags.DEFINE_list("workers", ["1", "2", "4"], "Worker counts to train with.")
_PREDICT_BATCHES = flags.DEFINE_list("predict_batch_sizes", ["1", "64"], "Rows per predict call.")
_STEP_BATCH = flags.DEFINE_integer("step_batch_size", 64, "Rows per distributed training step.", lower_bound=1)
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

flags.adopt_module_key_flags(_common)


def _config(common: dict) -> bench.Config:
    if not _common.HIDDEN_UNITS.present:
        common = dict(common, hidden_units=bench.Config.hidden_units)
    return bench.Config(
        **common,
        model=_common.MODEL.value,
        filters=_common.ints(_common.FILTERS.value, "filters"),
        modes=_common.modes(bench.MODES, required=(bench.BASELINE,)),
        workers=_common.ints(_WORKERS.value, "workers"),
        predict_batch_sizes=_common.ints(_PREDICT_BATCHES.value, "predict_batch_sizes"),
        batch_size=_STEP_BATCH.value,
        repeats=_common.pick(_common.REPEATS.value, 25, 5),
        train_seconds=_common.pick(_TRAIN_SECONDS.value, 4.0, 1.0),
        timeout=_TIMEOUT.value,
    )


def trainer(argv: list[str]) -> None:
    """One worker's loop against an existing cluster; prints its steps as JSON."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    _common.quiet_tensorflow()
    device, tf_device = _common.resolve_device(bench.BENCHMARK)
    config = _config({"device": device, "tf_device": tf_device, "seed": _common.SEED.value,
                      "hidden_units": _common.ints(_common.HIDDEN_UNITS.value, "hidden_units")})
    if _PS_HOSTS.value or _WORKER_HOSTS.value:
        task = cluster.ClusterConfig.from_flags(_PS_HOSTS.value or (), _WORKER_HOSTS.value or (),
                                                _JOB.value, _TASK.value)
    else:
        task = cluster.ClusterConfig.from_tf_config()
    result = dist_trainer.train(
        task, model=config.model_spec, batch_size=config.batch_size, seconds=config.train_seconds,
        timeout=config.timeout, trunk_name=_TRUNK_NAME.value, device=config.device, seed=config.seed,
        serve=_SERVE.value,
    )
    print(json.dumps(result), flush=True)


def main(argv: list[str]) -> None:
    if _ROLE.value == "trainer":
        trainer(argv)
    else:
        _common.run(bench, argv, _config)


if __name__ == "__main__":
    app.run(main)
