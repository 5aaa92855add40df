"""tfshare-bench marginal_cost: what the k-th classifier in a runtime costs (build, init, first prediction).

The live pattern builds k = 1..--live_instances one by one in each mode and
fits a line through each part; the batch pattern builds --batch_instances,
then predicts once with each, against isolated classifiers (--repeats,
default 3, 1 with --quick; --num_warmup untimed batch patterns per mode
first, default 1; --min_time does not apply: every build is timed once).
--batch_size: the rows of each first prediction (one size, default 1).
--peak_rss: run each mode's live pattern in a fresh process and report its peak RSS
(the modes share one process otherwise, whose peak never goes down).

  tfshare-bench marginal_cost --quick
  tfshare-bench marginal_cost --model=cnn --quick
  tfshare-bench marginal_cost --live_instances=1000 --batch_instances=64 --device=cpu
  tfshare-bench marginal_cost --modes=isolated,shared_graph,unsharded --live_instances=600
  tfshare-bench marginal_cost --modes=isolated,shared_trunk --peak_rss
"""

from __future__ import annotations

from absl import flags

from tfshare.bench import marginal_cost as bench
from tfshare.bench.apps import _common

_MAX_INSTANCES = flags.DEFINE_integer(
    "live_instances", None,
    "Classifiers built one by one per mode (default 1000, 16 with --quick; --model=cnn: 200, 8).", lower_bound=2,
)
_BATCH_INSTANCES = flags.DEFINE_integer(
    "batch_instances", None,
    "N of the build-N-then-predict-each pattern (default 64, 16 with --quick; --model=cnn: 32, 8).",
    lower_bound=1,
)
_PEAK_RSS = flags.DEFINE_boolean(
    "peak_rss", False,
    "Run each mode's live pattern in a fresh process and record its peak RSS (memory records, vs isolated).",
)

flags.adopt_module_key_flags(_common)


def main(argv: list[str]) -> None:
    """Runs the benchmark from the flags and writes its JSON."""
    _common.not_applicable(bench.BENCHMARK, _common.MIN_TIME)
    _common.run(bench, argv, lambda common: bench.Config(
        **common,
        max_instances=_common.pick(_MAX_INSTANCES.value, *_common.for_model((1000, 16), (200, 8))),
        batch_instances=_common.pick(_BATCH_INSTANCES.value, *_common.for_model((64, 16), (32, 8))),
        modes=_common.modes(bench.MODES, required=("isolated",)),
        repeats=_common.pick(_common.REPEATS.value, 3, 1),
        warmup=_common.pick(_common.NUM_WARMUP.value, 1, 1),
        batch_size=_common.batch_size(1, bench.BENCHMARK),
        peak_rss=_PEAK_RSS.value,
    ))
