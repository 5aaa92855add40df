"""What the k-th classifier in a runtime costs (build, init, first prediction), k = 1..N.

  python benchmarks/marginal_cost.py --quick
  python benchmarks/marginal_cost.py --model=cnn --quick
  python benchmarks/marginal_cost.py --live_instances=128 --batch_instances=64 --device=cpu
"""

from __future__ import annotations

from absl import app, flags

import _common
from tfshare.bench import marginal_cost as bench

_MAX_INSTANCES = flags.DEFINE_integer(
    "live_instances", None,
    "Classifiers built one by one per mode (default 128, 16 with --quick; --model=cnn: 64, 8).", lower_bound=2,
)
_BATCH_INSTANCES = flags.DEFINE_integer(
    "batch_instances", None,
    "N of the build-N-then-predict-each pattern (default 64, 16 with --quick; --model=cnn: 32, 8).",
    lower_bound=1,
)

flags.adopt_module_key_flags(_common)


def main(argv: list[str]) -> None:
    _common.run(bench, argv, lambda common: bench.Config(
        **common,
        max_instances=_common.pick(_MAX_INSTANCES.value, *_common.for_model((128, 16), (64, 8))),
        batch_instances=_common.pick(_BATCH_INSTANCES.value, *_common.for_model((64, 16), (32, 8))),
        modes=_common.modes(bench.MODES, required=("isolated",)),
        repeats=_common.pick(_common.REPEATS.value, 3, 1),
    ), with_model=True)


if __name__ == "__main__":
    app.run(main)
