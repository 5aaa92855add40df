"""tfshare-bench graph_construction: what building N classifiers costs in each way of instantiating them.

Modes: isolated (a graph and Session each), shared_graph, shared_trunk,
template_trunk, eager and tf_function; N = 1, 2, 4, ... --max_instances.
Builds are one-shot, each timed once per repeat (--repeats, default 3, 1
with --quick; --num_warmup untimed builds per mode first, default 1;
--min_time does not apply). --batch_size: the rows of each classifier's
first prediction (one size, default 1).

  tfshare-bench graph_construction --quick
  tfshare-bench graph_construction --model=cnn --quick
  tfshare-bench graph_construction --max_instances=64 --device=cpu --output=results/gc.json
"""

from __future__ import annotations

from absl import flags

from tfshare.bench import graph_construction as bench
from tfshare.bench.apps import _common

_MAX_INSTANCES = flags.DEFINE_integer(
    "max_instances", None,
    "Largest N; sizes are 1, 2, 4, ... up to it (default 64, 16 with --quick; --model=cnn: 32, 8).", lower_bound=1,
)

flags.adopt_module_key_flags(_common)


def main(argv: list[str]) -> None:
    """Runs the benchmark from the flags and writes its JSON."""
    _common.not_applicable(bench.BENCHMARK, _common.MIN_TIME)
    _common.run(bench, argv, lambda common: bench.Config(
        **common,
        sizes=bench.sizes_up_to(_common.pick(_MAX_INSTANCES.value, *_common.for_model((64, 16), (32, 8)))),
        modes=_common.modes(bench.MODES),
        repeats=_common.pick(_common.REPEATS.value, 3, 1),
        warmup=_common.pick(_common.NUM_WARMUP.value, 1, 1),
        batch_size=_common.batch_size(1, bench.BENCHMARK),
    ))
