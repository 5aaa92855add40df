"""What building N classifiers costs in each way of instantiating them.

Modes: isolated (a graph and Session each), shared_graph, shared_trunk,
template_trunk, eager and tf_function; N = 1, 2, 4, ... --max_instances.

  python benchmarks/graph_construction.py --quick
  python benchmarks/graph_construction.py --model=cnn --quick
  python benchmarks/graph_construction.py --max_instances=64 --device=cpu --output=results/gc.json
"""

from __future__ import annotations

from absl import app, flags

import _common
from tfshare.bench import graph_construction as bench

_MAX_INSTANCES = flags.DEFINE_integer(
    "max_instances", None,
    "Largest N; sizes are 1, 2, 4, ... up to it (default 64, 16 with --quick; --model=cnn: 32, 8).", lower_bound=1,
)

flags.adopt_module_key_flags(_common)


def main(argv: list[str]) -> None:
    _common.run(bench, argv, lambda common: bench.Config(
        **common,
        sizes=bench.sizes_up_to(_common.pick(_MAX_INSTANCES.value, *_common.for_model((64, 16), (32, 8)))),
        modes=_common.modes(bench.MODES),
        repeats=_common.pick(_common.REPEATS.value, 3, 1),
    ), with_model=True)


if __name__ == "__main__":
    app.run(main)
