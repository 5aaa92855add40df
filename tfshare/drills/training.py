"""Training-fault drill: fits driven to a NaN/Inf loss must change nothing.

A head shares a trunk with another head. After one good step (which gives
the optimizer its slots and, for the CNN, moves BatchNorm's moving
statistics off their initial values), it is made to fail in two ways:

1. Finite but huge features (3e38): the activations overflow.
2. A huge learning rate (1e38): a step succeeds, the next one diverges.
   (1e30 did not always: weights of ~1e30 can leave a finite loss for ten
   steps, depending on the signs of near-zero gradients, which the order of
   multithreaded sums decides; 1 run in 30 never stopped.)

Each fit runs one step per call, so the state before the failing step is
known. After the ``TrainingError`` the drill compares ``get_weights()``
(every weight, BatchNorm's moving statistics included) and every variable
of the runtime (optimizer slots and step counters too) with their values
from before the failing step, and the other head's predictions with its
predictions from before.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfshare.bench.models import ModelLike, as_model, random_inputs
from tfshare.errors import TrainingError
from tfshare.runtime import GraphSession

#: Keys of ``get_weights()`` that hold BatchNorm moving statistics end with these.
STATISTICS = ("moving_mean", "moving_variance")


@dataclasses.dataclass(frozen=True)
class TrainingFaultFigures:
    """Fits made to fail with a NaN/Inf loss.

    Attributes:
      model: "mlp" or "cnn".
      runs: failing fits tried.
      stopped: fits stopped by TrainingError.
      weights_kept: runs after which ``get_weights()`` (BatchNorm statistics
        included) and every variable of the runtime (optimizer state too)
        held its value from before the failing step, bit for bit.
      statistics: BatchNorm moving-statistic variables of the classifier
        (0 for the MLP).
      statistics_moved: runs in which those statistics had moved off their
        initial values (mean 0, variance 1) before the failing step, so that
        keeping them proves something.
      others_unchanged: runs after which the other head on the shared trunk
        predicted exactly as before (bit for bit: after the 1e38 step that
        succeeded, the CNN's inference-mode predictions are already NaN).
    """

    model: str
    runs: int
    stopped: int
    weights_kept: int
    statistics: int
    statistics_moved: int
    others_unchanged: int

    @property
    def passed(self) -> bool:
        """Every failing fit stopped and changed nothing, after statistics that had moved."""
        moved = self.statistics == 0 or self.statistics_moved == self.runs
        return moved and self.stopped == self.weights_kept == self.others_unchanged == self.runs


def _identical(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit for bit, NaN included (a diverged step can leave weights whose predictions are NaN)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(_identical(a[k], b[k]) for k in a)


def statistic_keys(weights: dict[str, np.ndarray]) -> list[str]:
    """The keys of ``weights`` (as ``get_weights()`` returns) that hold BatchNorm moving statistics."""
    return [k for k in weights if k.endswith(STATISTICS)]


def statistics_moved(weights: dict[str, np.ndarray]) -> bool:
    """Whether there are moving statistics and each left its initial value (mean 0, variance 1)."""
    keys = statistic_keys(weights)
    return bool(keys) and all(np.any(weights[k] != (0.0 if k.endswith("moving_mean") else 1.0)) for k in keys)


def training_fault_drill(model: ModelLike = "mlp", seed: int = 0, rows: int = 32) -> TrainingFaultFigures:
    """Provokes non-finite losses in two ways, on a head sharing a trunk with another.

    Args:
      model: "mlp", "cnn", or a ``tfshare.bench.models.Model``.
      seed: seeds the data and the weights.
      rows: rows per step (one step per ``fit`` call).
    """
    model = as_model(model)
    rng = np.random.default_rng(seed)
    x = random_inputs(model, rows, rng)
    y = rng.integers(0, 3, rows)
    scenarios = [(x * np.float32(3e38), 1e-3), (x, 1e38)]
    stopped = kept = moved = unchanged = statistics = 0
    for features, learning_rate in scenarios:
        with GraphSession(device="cpu") as runtime, np.errstate(over="ignore", invalid="ignore"):  # on purpose
            trunk = model.shared_trunk(runtime, seed=seed)
            head = model.head(trunk, num_classes=3, seed=seed + 1)
            other = model.head(trunk, num_classes=3, seed=seed + 2)
            head.fit(x, y, epochs=1, batch_size=rows)  # a good step: optimizer slots, moved statistics
            statistics = len(statistic_keys(head.get_weights()))
            for _ in range(10):
                weights = head.get_weights()
                state = runtime.run(runtime.global_variables())
                other_before = other.predict_proba(x)
                try:
                    head.fit(features, y, epochs=1, batch_size=rows, learning_rate=learning_rate)
                except TrainingError:
                    stopped += 1
                    after = runtime.run(runtime.global_variables())
                    kept += _same(weights, head.get_weights()) and len(after) == len(state) and all(
                        _identical(a, b) for a, b in zip(state, after)
                    )
                    moved += statistics_moved(weights)
                    unchanged += _identical(other.predict_proba(x), other_before)
                    break
    return TrainingFaultFigures(model.name, len(scenarios), stopped, kept, statistics, moved, unchanged)


__all__ = ["STATISTICS", "TrainingFaultFigures", "statistic_keys", "statistics_moved", "training_fault_drill"]
