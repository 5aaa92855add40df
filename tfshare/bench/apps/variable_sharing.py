"""tfshare-bench variable_sharing: N classifiers with and without a shared trunk.

Bytes, checkpoints, memory, fused vs one-by-one vs eager prediction (timed
side by side: --repeats default 15, 5 with --quick; --num_warmup default 2),
and interference: training classifier 0 for --interference_steps moves the
others only when they share a trunk. --batch_size: rows per prediction and
per training step (one size, default 32).

  tfshare-bench variable_sharing --quick
  tfshare-bench variable_sharing --model=cnn --quick
  tfshare-bench variable_sharing --num_classifiers=32 --interference_steps=10 --output=results/vs.json
"""

from __future__ import annotations

from absl import flags

from tfshare.bench import variable_sharing as bench
from tfshare.bench.apps import _common
from tfshare.harness.timing import FULL_MIN_TIME, MIN_TIME

_NUM = flags.DEFINE_integer(
    "num_classifiers", None, "N, the classifiers per setup (default 32; --model=cnn: 16, 8 with --quick).", lower_bound=2
)
_STEPS = flags.DEFINE_integer("interference_steps", 10, "K, training steps of classifier 0.", lower_bound=1)
_PER_CLASSIFIER = flags.DEFINE_bool("per_classifier_checkpoints", True, "Also save each classifier on its own.")
_MEMORY_SUBPROCESS = flags.DEFINE_bool(
    "memory_in_subprocess", True, "Measure each setup's RSS in a fresh process (clean allocator state)."
)

flags.adopt_module_key_flags(_common)


def main(argv: list[str]) -> None:
    """Runs the benchmark from the flags and writes its JSON."""
    _common.run(bench, argv, lambda common: bench.Config(
        **common,
        num_classifiers=_common.pick(_NUM.value, *_common.for_model((32, 32), (16, 8))),
        batch_size=_common.batch_size(32, bench.BENCHMARK),
        modes=_common.modes(bench.MODES),
        repeats=_common.pick(_common.REPEATS.value, 15, 5),
        warmup=_common.pick(_common.NUM_WARMUP.value, 2, 2),
        min_time=_common.pick(_common.MIN_TIME.value, FULL_MIN_TIME, MIN_TIME),
        interference_steps=_STEPS.value,
        per_classifier_checkpoints=_PER_CLASSIFIER.value,
        memory_in_subprocess=_MEMORY_SUBPROCESS.value,
    ))
