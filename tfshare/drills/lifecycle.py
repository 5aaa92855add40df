"""Lifecycle drill: isolated classifiers built, used and closed in a loop.

It measures what stays behind: resident memory, the op count of each graph,
``ClosedError`` on use after close, runtimes still reachable after garbage
collection, and ops added to the caller's default graph. Runs either model
of ``tfshare.bench.models`` (see ``tfshare.bench.models.as_model``).
"""

from __future__ import annotations

import dataclasses
import gc
import weakref
from typing import Any

import numpy as np

from tfshare import validation
from tfshare._tf import tf1
from tfshare.bench.models import ModelLike, as_model, random_inputs
from tfshare.errors import ClosedError
from tfshare.harness import memory


@dataclasses.dataclass(frozen=True)
class LifecycleFigures:
    """Build/use/close cycles of isolated classifiers.

    Attributes:
      model: "mlp" or "cnn".
      cycles: classifiers built, used (predict_proba) and closed.
      rss_growth_mb: resident memory after the cycles minus before (after
        warm-up cycles), in MiB.
      ops_per_graph: (min, max) op count of the cycles' graphs.
      closed_errors: cycles in which a use after close raised ClosedError.
      runtimes_alive: runtimes of closed classifiers still reachable after
        garbage collection (leaked graphs).
      default_graph_ops_added: ops added to the caller's default graph.
    """

    model: str
    cycles: int
    rss_growth_mb: float
    ops_per_graph: tuple[int, int]
    closed_errors: int
    runtimes_alive: int
    default_graph_ops_added: int

    #: The issue's bound on resident memory growth over the cycles.
    MAX_RSS_GROWTH_MB = 50.0

    @property
    def passed(self) -> bool:
        """Memory and op counts stayed bounded, and nothing outlived its close."""
        return (
            self.rss_growth_mb < self.MAX_RSS_GROWTH_MB
            and self.ops_per_graph[0] == self.ops_per_graph[1]
            and self.closed_errors == self.cycles
            and self.runtimes_alive == 0
            and self.default_graph_ops_added == 0
        )


def lifecycle_drill(model: ModelLike = "mlp", cycles: int = 200, warmup: int = 10) -> LifecycleFigures:
    """Builds, uses and closes ``cycles`` isolated classifiers; measures what stays behind.

    Args:
      model: "mlp", "cnn", or a ``tfshare.bench.models.Model``.
      cycles: measured cycles, each predicting on a batch of 16 before closing.
      warmup: cycles run before resident memory is first read.

    Raises:
      TypeError: cycles or warmup is not an int.
      InputError: cycles < 1 (no cycle, no figures) or warmup < 0.
    """
    cycles = validation.positive_int(cycles, "cycles")
    warmup = validation.positive_int(warmup, "warmup", minimum=0)
    model = as_model(model)
    x = random_inputs(model, 16, np.random.default_rng(0))
    default_graph = tf1.get_default_graph()
    default_ops = len(default_graph.get_operations())

    def cycle(i: int) -> tuple[int, bool, Any]:
        with model.classifier(seed=i) as clf:
            clf.predict_proba(x)  # creates the Session, initializes, makes a fast callable
            ops = len(clf.runtime.graph.get_operations())
        try:
            clf.predict(x)
            closed = False
        except ClosedError:
            closed = True
        return ops, closed, weakref.ref(clf.runtime)

    for i in range(warmup):
        cycle(i)
    gc.collect()
    rss_before = memory.rss_bytes()
    results = [cycle(i) for i in range(cycles)]
    gc.collect()
    rss_after = memory.rss_bytes()
    ops = [r[0] for r in results]
    return LifecycleFigures(
        model=model.name,
        cycles=cycles,
        rss_growth_mb=(rss_after - rss_before) / 2**20,
        ops_per_graph=(min(ops), max(ops)),
        closed_errors=sum(r[1] for r in results),
        runtimes_alive=sum(r[2]() is not None for r in results),
        default_graph_ops_added=len(default_graph.get_operations()) - default_ops,
    )


__all__ = ["LifecycleFigures", "lifecycle_drill"]
