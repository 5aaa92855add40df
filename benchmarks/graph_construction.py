"""What building N classifiers costs in each way of instantiating them.

Modes: isolated (a graph and Session each), shared_graph, shared_trunk,
template_trunk, eager and tf_function; N = 1, 2, 4, ... --max_instances.

  python benchmarks/graph_construction.py --quick
  python benchmarks/graph_construction.py --max_instances=64 --device=cpu --output=results/gc.json
"""

from __future__ import annotations

from absl import app, flags, logging

import _common
from tfshare.bench import graph_construction as bench
from tfshare.bench import machine

_MAX_INSTANCES = flags.DEFINE_integer(
    "max_instances", None, "Largest N; sizes are 1, 2, 4, ... up to it (default 64, 16 with --quick).", lower_bound=1
)

flags.adopt_module_key_flags(_common)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    _common.quiet_tensorflow()
    device, tf_device = _common.resolve_device(bench.BENCHMARK)
    info = machine.machine_info(tf_device)
    config = bench.Config(
        device=device,
        tf_device=tf_device,
        sizes=bench.sizes_up_to(_common.pick(_MAX_INSTANCES.value, 64, 16)),
        modes=_common.modes(bench.MODES),
        repeats=_common.pick(_common.REPEATS.value, 3, 1),
        hidden_units=_common.ints(_common.HIDDEN_UNITS.value, "hidden_units"),
        seed=_common.SEED.value,
    )
    logging.info("graph_construction on %s: sizes %s, %d repeats", tf_device, config.sizes, config.repeats)
    records = bench.run(config, _common.printer(bench.HEADERS, bench.table_row))
    print("\n" + bench.summary_table(records))
    _common.write(bench.BENCHMARK, info, config, records)


if __name__ == "__main__":
    app.run(main)
