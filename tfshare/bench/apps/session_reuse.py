"""tfshare-bench session_reuse: what one prediction costs on each path, and how a shared Session scales with threads.

Modes: a new Session per call, a reused Session with feed_dict, tfshare's
predict_proba, the raw callable floor (TensorFlow's default options, and in
the calling thread), eager model(x), tf.function and tf_keras Model.predict,
timed side by side at each --batch_size (default 1,32,256; --num_warmup
default 3, --repeats 25, 7 with --quick). Then predict_proba's calls/s with
--threads threads sharing the one Session (--throughput_seconds per
count, 3 times, 2 with --quick; --repeats does not apply to it).

  tfshare-bench session_reuse --quick
  tfshare-bench session_reuse --model=cnn --quick --trace_dir=traces
  tfshare-bench session_reuse --batch_size=1,32,256 --threads=1,2,4,8 --output=results/sr.json
"""

from __future__ import annotations

from absl import flags

from tfshare.bench import session_reuse as bench
from tfshare.bench.apps import _common
from tfshare.harness.timing import FULL_MIN_TIME, MIN_TIME

_THREADS = flags.DEFINE_list(
    "threads", ["1", "2", "4", "8"], "Thread counts sharing one Session (throughput); --threads= skips the throughput test."
)
_THROUGHPUT_SECONDS = flags.DEFINE_float(
    "throughput_seconds", None, "Seconds per throughput measurement (default 1.0, 0.25 with --quick).", lower_bound=0.01
)

flags.adopt_module_key_flags(_common)


def main(argv: list[str]) -> None:
    """Runs the benchmark from the flags and writes its JSON."""
    _common.run(bench, argv, lambda common: bench.Config(
        **common,
        batch_sizes=_common.batch_sizes((1, 32, 256)),
        modes=_common.modes(bench.MODES, required=(bench.FLOOR, bench.EAGER)),
        repeats=_common.pick(_common.REPEATS.value, 25, 7),
        warmup=_common.pick(_common.NUM_WARMUP.value, 3, 3),
        min_time=_common.pick(_common.MIN_TIME.value, FULL_MIN_TIME, MIN_TIME),
        threads=_common.ints(_THREADS.value, "threads", unique=True) if _THREADS.value else (),
        throughput_seconds=_common.pick(_THROUGHPUT_SECONDS.value, 1.0, 0.25),
        throughput_repeats=_common.pick(None, 3, 2),
    ))
