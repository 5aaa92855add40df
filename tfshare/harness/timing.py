"""Timing: warm-up, loop calibration, repeats, and robust statistics.

Every timed value is the mean time of one call over a loop calibrated to cover
at least ``min_time`` seconds (about 1 ms by default), so timer resolution and
loop overhead do not dominate fast calls. Repeats give a distribution; the
summary is the median with its inter-quartile range, plus p90, min, mean,
stdev and n, and the raw values are kept.

``measure_interleaved`` times several callables side by side: each repeat
runs every callable once, so a burst of machine noise hits all of them alike
and their ratios stay meaningful on a shared machine. The order is balanced
and varied (``interleaved_orders``): every callable takes every position
equally often, and which callable runs right before which changes from one
block of repeats to the next, so no callable always inherits what one other
leaves behind (spinning thread pools, cold caches).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from typing import Any, Callable, Mapping, Sequence, TypeVar

import numpy as np

_log = logging.getLogger(__name__)

#: A spread (IQR / median) above this is reported as wide.
WIDE_SPREAD = 0.25
#: Default minimum duration of one timed value, in seconds.
MIN_TIME = 1e-3
#: The benchmark apps' default outside --quick. With 1 ms, a CNN call at batch 32
#: (~1.5 ms) is one call per value, and whatever the previous mode left behind
#: (other Sessions' spinning pool threads, cold caches) lands on it: predict_proba
#: measured 1.16x the hand-built floor that way, 1.06x with 20 ms per value.
FULL_MIN_TIME = 2e-2
_MAX_LOOPS = 1_000_000

clock = time.perf_counter


@dataclasses.dataclass(frozen=True)
class Stats:
    """Summary of repeated timings (or any repeated measurement).

    Attributes:
      values: the raw values, one per repeat (seconds per call for timings).
      loops: calls per timed value (1 for one-shot measurements).
    """

    values: tuple[float, ...]
    loops: int = 1

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError("Stats needs at least one value, got none")
        if self.loops < 1:
            raise ValueError(f"loops must be >= 1, got {self.loops}")
        object.__setattr__(self, "values", tuple(float(v) for v in self.values))

    @property
    def n(self) -> int:
        """Number of values."""
        return len(self.values)

    def percentile(self, q: float) -> float:
        """The q-th percentile (linear interpolation, as numpy.percentile)."""
        return float(np.percentile(self.values, q))

    @property
    def median(self) -> float:
        return self.percentile(50)

    @property
    def p25(self) -> float:
        return self.percentile(25)

    @property
    def p75(self) -> float:
        return self.percentile(75)

    @property
    def p90(self) -> float:
        return self.percentile(90)

    @property
    def iqr(self) -> float:
        """Inter-quartile range, p75 - p25."""
        return self.p75 - self.p25

    @property
    def min(self) -> float:
        return float(min(self.values))

    @property
    def max(self) -> float:
        return float(max(self.values))

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def stdev(self) -> float:
        """Sample standard deviation (ddof=1); 0.0 for a single value."""
        return float(np.std(self.values, ddof=1)) if self.n > 1 else 0.0

    @property
    def spread(self) -> float:
        """IQR relative to the median (0.0 when the median is 0)."""
        median = self.median
        return self.iqr / abs(median) if median else 0.0

    @property
    def wide(self) -> bool:
        """Whether the spread exceeds ``WIDE_SPREAD``: treat the median with care."""
        return self.spread > WIDE_SPREAD

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary that keeps the raw values."""
        return {
            "median": self.median,
            "iqr": self.iqr,
            "p25": self.p25,
            "p75": self.p75,
            "p90": self.p90,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "stdev": self.stdev,
            "n": self.n,
            "loops": self.loops,
            "spread": self.spread,
            "wide_spread": self.wide,
            "values": list(self.values),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Stats":
        """Rebuilds Stats from ``to_dict`` output (only the raw values count)."""
        return cls(tuple(data["values"]), int(data.get("loops", 1)))


def warn_if_wide(label: str, stats: Stats) -> bool:
    """Logs a warning when ``stats`` has a wide spread; returns whether it did."""
    if stats.wide:
        _log.warning(
            "%s: wide spread (IQR is %.0f%% of the median over %d repeats); "
            "the machine is noisy, treat this number with care",
            label, 100 * stats.spread, stats.n,
        )
        return True
    return False


def _time_loops(fn: Callable[[], Any], loops: int) -> float:
    """Seconds per call of ``fn`` over ``loops`` calls."""
    start = clock()
    for _ in range(loops):
        fn()
    return (clock() - start) / loops


def calibrate(fn: Callable[[], Any], min_time: float = MIN_TIME, max_loops: int = _MAX_LOOPS) -> int:
    """Returns the number of calls whose total time is at least ``min_time``.

    Args:
      fn: the callable to time (already warmed up).
      min_time: seconds one timed value must cover (> 0).
      max_loops: an upper bound on the loop count.

    A count is kept only when a second timing of it covers ``min_time`` too:
    one timing slowed by a pause (preemption, garbage collection) would
    otherwise end calibration early, with a count that covers a fraction of
    ``min_time``. The faster of the two timings sets the next count.

    Returns:
      A loop count >= 1.
    """
    if min_time <= 0:
        raise ValueError(f"min_time must be > 0, got {min_time}")
    loops = 1
    while True:
        per_call = _time_loops(fn, loops)
        if loops >= max_loops:
            return loops
        if per_call * loops >= min_time:
            per_call = min(per_call, _time_loops(fn, loops))
            if per_call * loops >= min_time:
                return loops
        # Aim 20% past the target, and at least double, so calibration ends fast.
        wanted = math.ceil(1.2 * min_time / per_call) if per_call > 0 else loops * 10
        loops = min(max_loops, max(2 * loops, wanted))


def measure(
    fn: Callable[[], Any],
    repeats: int = 10,
    warmup: int = 1,
    min_time: float = MIN_TIME,
    loops: int | None = None,
) -> Stats:
    """Times ``fn``: warm-up calls, a calibrated loop, then ``repeats`` timed values.

    Args:
      fn: a callable taking no arguments.
      repeats: timed values to collect (>= 1).
      warmup: untimed calls before calibration (>= 0).
      min_time: seconds each timed value must cover.
      loops: calls per timed value; None calibrates it.

    Returns:
      Stats of seconds per call.
    """
    return measure_interleaved({"fn": fn}, repeats, warmup, min_time, None if loops is None else {"fn": loops})["fn"]


def measure_interleaved(
    fns: Mapping[str, Callable[[], Any]],
    repeats: int = 10,
    warmup: int = 1,
    min_time: float = MIN_TIME,
    loops: Mapping[str, int] | None = None,
) -> dict[str, Stats]:
    """Times several callables side by side, in balanced and varied orders (``interleaved_orders``).

    Args:
      fns: name -> callable taking no arguments.
      repeats: timed values per callable (>= 1).
      warmup: untimed calls of each callable first (>= 0).
      min_time: seconds each timed value must cover.
      loops: optional name -> calls per timed value; missing names are calibrated.

    Returns:
      name -> Stats of seconds per call, in the order of ``fns``.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    names = list(fns)
    if not names:
        raise ValueError("fns must name at least one callable")
    for name in names:
        for _ in range(warmup):
            fns[name]()
    for name, count in (loops or {}).items():
        if count is not None and count < 1:
            raise ValueError(f"loops[{name!r}] must be >= 1, got {count}")
    counts = {name: (loops or {}).get(name) or calibrate(fns[name], min_time) for name in names}
    values: dict[str, list[float]] = {name: [] for name in names}
    for order in interleaved_orders(names, repeats):
        for name in order:
            values[name].append(_time_loops(fns[name], counts[name]))
    return {name: Stats(tuple(values[name]), counts[name]) for name in names}


_T = TypeVar("_T")


def interleaved_orders(names: Sequence[_T], repeats: int, seed: int = 0) -> list[list[_T]]:
    """The order of ``names`` in each of ``repeats`` repeats: balanced, and varied between blocks.

    Repeats come in blocks of ``len(names)``. Each block draws a cyclic order
    of the names at random (seeded: the same schedule every run) and rotates
    it by one per repeat, so within a block every name runs once in every
    position; across blocks, each name's predecessor changes. (A fixed
    rotation would always run a name right after the same other one.)

    Args:
      names: the callables' names (or any items: modes, thread counts), in the caller's order.
      repeats: the number of orders wanted (>= 1).
      seed: the seed of the block orders.

    Returns:
      ``repeats`` lists, each a permutation of ``names``.
    """
    rng = np.random.default_rng(seed)
    n = len(names)
    orders: list[list[_T]] = []
    for r in range(repeats):
        if r % n == 0:
            cycle = [names[i] for i in rng.permutation(n)]
        shift = r % n
        orders.append(cycle[shift:] + cycle[:shift])
    return orders


def time_once(fn: Callable[[], Any]) -> tuple[Any, float]:
    """Calls ``fn`` once; returns (its result, seconds taken). For one-shot work."""
    start = clock()
    result = fn()
    return result, clock() - start


def throughput(fn: Callable[[], Any], threads: int, duration: float) -> float:
    """Calls per second of ``fn`` when ``threads`` threads call it in a loop together.

    Args:
      fn: a thread-safe callable taking no arguments.
      threads: number of threads (>= 1), started together behind a barrier.
      duration: seconds to let them run (> 0); calls in flight then are counted.

    Returns:
      Completed calls per second, over all threads.
    """
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if duration <= 0:
        raise ValueError(f"duration must be > 0, got {duration}")
    counts = [0] * threads
    errors: list[BaseException] = []
    ready = threading.Barrier(threads + 1)
    stop = threading.Event()

    def worker(i: int) -> None:
        ready.wait()
        done = 0
        try:
            while not stop.is_set():
                fn()
                done += 1
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            errors.append(exc)
        counts[i] = done

    workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    ready.wait()
    start = clock()
    time.sleep(duration)
    stop.set()
    for w in workers:
        w.join()
    elapsed = clock() - start
    if errors:
        raise errors[0]
    return sum(counts) / elapsed


def summarize(values: Sequence[float], loops: int = 1) -> Stats:
    """Stats of already collected values (e.g. one-shot build times)."""
    return Stats(tuple(values), loops)


def ratio(numerator: Stats, denominator: Stats) -> float:
    """Ratio of medians (inf when the denominator's median is 0)."""
    den = denominator.median
    return numerator.median / den if den else math.inf


def paired_ratio(numerator: Stats, denominator: Stats) -> float:
    """Median over repeats of numerator[i] / denominator[i], for Stats timed side by side.

    ``measure_interleaved`` times every callable once per repeat, back to
    back, so a burst of machine noise inflates both values of a pair; the
    per-repeat ratio cancels much of it. Falls back to ``ratio`` when the
    repeat counts differ.
    """
    if numerator.n != denominator.n:
        return ratio(numerator, denominator)
    pairs = [a / b for a, b in zip(numerator.values, denominator.values) if b]
    return float(np.median(pairs)) if pairs else math.inf


def _sig3(value: float) -> float:
    """``value`` rounded to the 3 significant digits the formatters print (999.6 -> 1000.0)."""
    return float(f"{value:.3g}")


def format_seconds(seconds: float) -> str:
    """Formats a duration with a unit that keeps 3 significant digits: "45.2 µs".

    The unit is chosen after rounding, so 999.6 µs prints as "1 ms", never
    "1e+03 µs"; durations of 1,000 s and more print in whole seconds ("1,234 s").
    """
    if seconds is None or not math.isfinite(seconds):
        return "-"
    for unit, scale in (("ns", 1e-9), ("µs", 1e-6), ("ms", 1e-3)):
        if abs(_sig3(seconds / scale)) < 1000:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds:.3g} s" if abs(_sig3(seconds)) < 1000 else f"{seconds:,.0f} s"


def format_ratio(value: float | None) -> str:
    """Formats a ratio of times: "0.026x", "1.68x", "39.0x", "100x", "1,080x" (the branch is chosen after rounding)."""
    if value is None or not math.isfinite(value):
        return "-"
    if round(value, 1) >= 100:
        return f"{value:,.0f}x"
    if round(value, 2) >= 10:
        return f"{value:.1f}x"
    return f"{value:.2f}x" if round(value, 3) >= 0.1 else f"{value:.3f}x"


def format_bytes(num: float | None) -> str:
    """Formats a byte count: "1.5 MiB" (1,023.9 KiB prints as "1 MiB", never "1.02e+03 KiB"); "-" for None, NaN, inf."""
    if num is None or not math.isfinite(num):
        return "-"
    value = float(num)
    if abs(round(value)) < 1024:
        return f"{value:.0f} B"
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if abs(_sig3(value)) < 1000:
            return f"{value:.3g} {unit}"
    return f"{value:,.0f} GiB"


__all__ = [
    "FULL_MIN_TIME",
    "MIN_TIME",
    "Stats",
    "WIDE_SPREAD",
    "calibrate",
    "format_bytes",
    "format_ratio",
    "format_seconds",
    "interleaved_orders",
    "measure",
    "measure_interleaved",
    "paired_ratio",
    "ratio",
    "summarize",
    "throughput",
    "time_once",
    "warn_if_wide",
]
