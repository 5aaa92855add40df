"""tfshare-bench efficiency: tfshare's own paths against TensorFlow's floor.

At each --batch_size (a list, default 32,256): the model's GFLOP/s per
Session thread setting against a large MatMul in TensorFlow and NumPy, and
fit's per-step cost against the raw callable running the same train op.
The thread settings swept are --thread_counts squared (0: tfshare's default),
or the one setting of --num_intra_threads / --num_inter_threads when either
is given. TensorFlow sizes one intra-op and one inter-op pool per process, with the first
setting's counts, so a sweep's later counts do not apply (it says so);
compare counts with one --num_intra_threads/--num_inter_threads per run. --repeats default 15, 5 with --quick; --num_warmup default 3.
The training part times whole epochs of --train_rows rows, one epoch per
value: max(3, --repeats // 2) values per mode after one untimed epoch;
--num_warmup and --min_time apply to the compute part only.

  tfshare-bench efficiency --quick
  tfshare-bench efficiency --model=cnn --quick
  tfshare-bench efficiency --model=cnn --batch_size=256 --output=results/efficiency_cnn.json
"""

from __future__ import annotations

import itertools

from absl import app, flags

from tfshare.bench import efficiency as bench
from tfshare.bench.apps import _common
from tfshare.harness.timing import FULL_MIN_TIME, MIN_TIME

_MATMUL = flags.DEFINE_integer(
    "matmul_size", None, "n of the n x n @ n x n MatMul GFLOP/s references (default 1024, 512 with --quick).",
    lower_bound=1,
)
_TRAIN_ROWS = flags.DEFINE_integer(
    "train_rows", None, "Rows per timed training epoch (default 3200, 960 with --quick).", lower_bound=1
)
_THREADS = flags.DEFINE_list(
    "thread_counts", ["0", "1", "2"],
    "Values tried for intra_op and inter_op threads (0: tfshare's default; --quick: (0,0), (1,1), (2,1)).",
)

flags.adopt_module_key_flags(_common)


def _thread_settings() -> tuple[tuple[int, int], ...]:
    """The (intra, inter) pairs to sweep; the thread flags name one."""
    one = (_common.NUM_INTRA_THREADS.value, _common.NUM_INTER_THREADS.value)
    if one != (None, None):
        if _THREADS.present:
            raise app.UsageError("--thread_counts sweeps thread settings; --num_intra_threads/--num_inter_threads "
                                 "name one: give either, not both")
        return ((one[0] or 0, one[1] or 0),)
    if _common.QUICK.value and not _THREADS.present:
        return ((0, 0), (1, 1), (2, 1))
    try:
        counts = tuple(int(v) for v in _THREADS.value)
    except ValueError:
        raise app.UsageError(f"--thread_counts must list integers, got {_THREADS.value}") from None
    if not counts or min(counts) < 0:
        raise app.UsageError(f"--thread_counts must list integers >= 0, got {_THREADS.value}")
    if len(set(counts)) != len(counts):  # settings are keyed by their counts: a repeat would overwrite one
        raise app.UsageError(f"--thread_counts must list each value once, got {_THREADS.value}")
    return tuple(itertools.product(counts, counts))


def main(argv: list[str]) -> None:
    """Runs the benchmark from the flags and writes its JSON."""
    _common.run(bench, argv, lambda common: bench.Config(
        **common,
        batch_sizes=_common.batch_sizes((32, 256)),
        matmul_size=_common.pick(_MATMUL.value, 1024, 512),
        train_rows=_common.pick(_TRAIN_ROWS.value, 3200, 960),
        thread_settings=_thread_settings(),
        repeats=_common.pick(_common.REPEATS.value, 15, 5),
        warmup=_common.pick(_common.NUM_WARMUP.value, 3, 3),
        min_time=_common.pick(_common.MIN_TIME.value, FULL_MIN_TIME, MIN_TIME),
    ))
