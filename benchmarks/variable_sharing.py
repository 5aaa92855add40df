"""N classifiers with and without a shared trunk: bytes, memory, fused prediction, interference.

  python benchmarks/variable_sharing.py --quick
  python benchmarks/variable_sharing.py --model=cnn --quick
  python benchmarks/variable_sharing.py --num_classifiers=32 --interference_steps=10 --output=results/vs.json
"""

from __future__ import annotations

from absl import app, flags

import _common
from tfshare.bench import variable_sharing as bench

_NUM = flags.DEFINE_integer(
    "num_classifiers", None, "N, the classifiers per setup (default 32; --model=cnn: 16, 8 with --quick).", lower_bound=2
)
_BATCH = flags.DEFINE_integer("batch_size", 32, "Rows per prediction (and per training step).", lower_bound=1)
_STEPS = flags.DEFINE_integer("interference_steps", 10, "K, training steps of classifier 0.", lower_bound=1)
_PER_CLASSIFIER = flags.DEFINE_bool("per_classifier_checkpoints", True, "Also save each classifier on its own.")
_MEMORY_SUBPROCESS = flags.DEFINE_bool(
    "memory_in_subprocess", True, "Measure each setup's RSS in a fresh process (clean allocator state)."
)

flags.adopt_module_key_flags(_common)


def main(argv: list[str]) -> None:
    _common.run(bench, argv, lambda common: bench.Config(
        **common,
        num_classifiers=_common.pick(_NUM.value, *_common.for_model((32, 32), (16, 8))),
        batch_size=_BATCH.value,
        modes=_common.modes(bench.MODES),
        repeats=_common.pick(_common.REPEATS.value, 15, 5),
        interference_steps=_STEPS.value,
        per_classifier_checkpoints=_PER_CLASSIFIER.value,
        memory_in_subprocess=_MEMORY_SUBPROCESS.value,
    ), with_model=True)


if __name__ == "__main__":
    app.run(main)
