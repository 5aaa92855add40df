"""What one prediction costs on each path, and how a shared Session scales with threads.

Modes: a new Session per call, a reused Session with feed_dict, tfshare's
predict_proba, the raw callable floor, eager model(x), tf.function and
tf_keras Model.predict, timed side by side at each batch size.

  python benchmarks/session_reuse.py --quick
  python benchmarks/session_reuse.py --model=cnn --quick
  python benchmarks/session_reuse.py --batch_sizes=1,32,256 --threads=1,2,4,8 --output=results/sr.json
"""

from __future__ import annotations

from absl import app, flags

import _common
from tfshare.bench import session_reuse as bench

_BATCH_SIZES = flags.DEFINE_list("batch_sizes", ["1", "32", "256"], "Rows per prediction call.")
_THREADS = flags.DEFINE_list("threads", ["1", "2", "4", "8"], "Thread counts sharing one Session (throughput).")
_THROUGHPUT_SECONDS = flags.DEFINE_float(
    "throughput_seconds", None, "Seconds per throughput measurement (default 1.0, 0.25 with --quick).", lower_bound=0.01
)

flags.adopt_module_key_flags(_common)


def main(argv: list[str]) -> None:
    _common.run(bench, argv, lambda common: bench.Config(
        **common,
        batch_sizes=_common.ints(_BATCH_SIZES.value, "batch_sizes"),
        modes=_common.modes(bench.MODES, required=(bench.FLOOR, bench.EAGER)),
        repeats=_common.pick(_common.REPEATS.value, 25, 7),
        threads=_common.ints(_THREADS.value, "threads"),
        throughput_seconds=_common.pick(_THROUGHPUT_SECONDS.value, 1.0, 0.25),
        throughput_repeats=_common.pick(None, 3, 2),
    ), with_model=True)


if __name__ == "__main__":
    app.run(main)
