"""tfshare's own paths against TensorFlow's floor: batch-256 GFLOP/s vs a large MatMul, fit vs the raw train op.

  python benchmarks/efficiency.py --quick
  python benchmarks/efficiency.py --model=cnn --quick
  python benchmarks/efficiency.py --model=cnn --compute_batch_size=256 --output=results/efficiency_cnn.json
"""

from __future__ import annotations

import itertools

from absl import app, flags

import _common
from tfshare.bench import efficiency as bench

_BATCH = flags.DEFINE_integer("compute_batch_size", 256, "Rows per prediction call for GFLOP/s.", lower_bound=1)
_MATMUL = flags.DEFINE_integer(
    "matmul_size", None, "n of the n x n @ n x n MatMul GFLOP/s references (default 1024, 512 with --quick).",
    lower_bound=1,
)
_TRAIN_BATCH = flags.DEFINE_integer("train_batch_size", 32, "Rows per training step.", lower_bound=1)
_TRAIN_ROWS = flags.DEFINE_integer(
    "train_rows", None, "Rows per timed training epoch (default 3200, 960 with --quick).", lower_bound=1
)
_THREADS = flags.DEFINE_list(
    "thread_counts", ["0", "1", "2"], "Values tried for intra_op and inter_op threads (0: TensorFlow's default)."
)

flags.adopt_module_key_flags(_common)


def _thread_settings() -> tuple[tuple[int, int], ...]:
    try:
        counts = tuple(int(v) for v in _THREADS.value)
    except ValueError:
        raise app.UsageError(f"--thread_counts must list integers, got {_THREADS.value}") from None
    if not counts or min(counts) < 0:
        raise app.UsageError(f"--thread_counts must list integers >= 0, got {_THREADS.value}")
    return tuple(itertools.product(counts, counts))


def main(argv: list[str]) -> None:
    _common.run(bench, argv, lambda common: bench.Config(
        **common,
        batch_size=_BATCH.value,
        matmul_size=_common.pick(_MATMUL.value, 1024, 512),
        train_batch_size=_TRAIN_BATCH.value,
        train_rows=_common.pick(_TRAIN_ROWS.value, 3200, 960),
        thread_settings=_thread_settings() if not _common.QUICK.value or _THREADS.present else ((0, 0), (1, 1), (2, 1)),
        repeats=_common.pick(_common.REPEATS.value, 15, 5),
    ), with_model=True)


if __name__ == "__main__":
    app.run(main)
