"""tfshare.harness.timing: statistics on fixed data, calibration and interleaving on a fake clock."""

from __future__ import annotations

import logging
import math

import pytest

from tfshare.harness import timing
from tfshare.harness.timing import Stats


def test_stats_on_one_to_ten():
    s = Stats(tuple(float(v) for v in range(1, 11)))
    assert s.n == 10
    assert s.median == pytest.approx(5.5)
    assert s.p25 == pytest.approx(3.25)
    assert s.p75 == pytest.approx(7.75)
    assert s.iqr == pytest.approx(4.5)
    assert s.p90 == pytest.approx(9.1)
    assert s.min == 1.0 and s.max == 10.0
    assert s.mean == pytest.approx(5.5)
    assert s.stdev == pytest.approx(math.sqrt(55 / 6))  # sample stdev, ddof=1
    assert s.spread == pytest.approx(4.5 / 5.5)
    assert s.wide


def test_stats_narrow_spread_is_not_wide():
    s = Stats((1.0, 1.0, 1.1, 1.0, 1.05))
    assert s.median == 1.0
    assert s.spread == pytest.approx(0.05)
    assert not s.wide


def test_single_value_has_zero_stdev_and_spread():
    s = Stats((0.25,))
    assert (s.median, s.min, s.p90, s.stdev, s.iqr, s.n) == (0.25, 0.25, 0.25, 0.0, 0.0, 1)


def test_stats_rejects_empty_values_and_bad_loops():
    with pytest.raises(ValueError, match="at least one value"):
        Stats(())
    with pytest.raises(ValueError, match="loops must be >= 1, got 0"):
        Stats((1.0,), loops=0)


def test_to_dict_keeps_raw_values_and_round_trips():
    s = Stats((3.0, 1.0, 2.0), loops=7)
    d = s.to_dict()
    assert d["values"] == [3.0, 1.0, 2.0]
    assert d["loops"] == 7 and d["n"] == 3 and d["median"] == 2.0
    assert set(d) >= {"median", "iqr", "p90", "min", "mean", "stdev", "n", "wide_spread"}
    assert Stats.from_dict(d) == s


def test_warn_if_wide_logs_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="tfshare.harness.timing"):
        assert timing.warn_if_wide("mode x", Stats((1.0, 2.0, 3.0, 10.0)))
        assert not timing.warn_if_wide("mode y", Stats((1.0, 1.0, 1.0)))
    assert len(caplog.records) == 1
    assert "mode x: wide spread" in caplog.text


class FakeClock:
    """A clock that only moves when a fake workload says so."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def work(self, seconds):
        def fn():
            self.now += seconds
        return fn


@pytest.fixture
def fake_clock(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(timing, "clock", clock)
    return clock


def test_calibrate_reaches_min_time(fake_clock):
    # 0.1 ms per call: one call is too short; the loop grows to cover >= 1 ms.
    loops = timing.calibrate(fake_clock.work(1e-4), min_time=1e-3)
    assert loops == 12
    assert timing.calibrate(fake_clock.work(5e-3), min_time=1e-3) == 1


def test_calibrate_is_not_ended_early_by_one_slow_timing(fake_clock):
    # 10 µs per call, but calibration's first call is paused for 5 ms: loops=1 must not be kept.
    calls = []

    def fn():
        calls.append(None)
        fake_clock.now += 5e-3 if len(calls) == 1 else 1e-5

    loops = timing.calibrate(fn, min_time=1e-3)
    assert loops * 1e-5 >= 1e-3


def test_calibrate_rejects_non_positive_min_time():
    with pytest.raises(ValueError, match="min_time must be > 0, got 0"):
        timing.calibrate(lambda: None, min_time=0)


def test_measure_interleaved_rotates_order_and_reports_per_call_time(fake_clock):
    calls = []

    def fn(name, seconds):
        work = fake_clock.work(seconds)

        def call():
            calls.append(name)
            work()
        return call

    fns = {"a": fn("a", 5e-4), "b": fn("b", 2e-3)}
    stats = timing.measure_interleaved(fns, repeats=4, warmup=2, min_time=1e-3, loops={"a": 2, "b": 1})
    assert calls[:4] == ["a", "a", "b", "b"]  # warm-up first
    timed = calls[4:]
    # each repeat: a twice (its loop), b once, in the order interleaved_orders gives
    expected = [name for order in timing.interleaved_orders(["a", "b"], 4) for name in order for _ in range(2 if name == "a" else 1)]
    assert timed == expected
    assert {tuple(o) for o in timing.interleaved_orders(["a", "b"], 4)} == {("a", "b"), ("b", "a")}
    assert stats["a"].values == pytest.approx((5e-4,) * 4)
    assert stats["b"].values == pytest.approx((2e-3,) * 4)
    assert (stats["a"].loops, stats["b"].loops) == (2, 1)
    assert timing.ratio(stats["b"], stats["a"]) == pytest.approx(4.0)


def test_interleaved_orders_are_balanced_seeded_and_vary_each_names_predecessor():
    names = ["a", "b", "c", "d"]
    orders = timing.interleaved_orders(names, 40)
    assert len(orders) == 40 and all(sorted(o) == names for o in orders)
    for block in range(0, 40, 4):  # within a block of 4 repeats, every name once in every position
        for position in range(4):
            assert sorted(o[position] for o in orders[block:block + 4]) == names
    predecessors = {name: {o[o.index(name) - 1] for o in orders if o.index(name) > 0} for name in names}
    assert all(len(p) >= 2 for p in predecessors.values()), predecessors  # a fixed rotation gives one each
    assert timing.interleaved_orders(names, 40) == orders  # the same schedule every run
    assert timing.interleaved_orders(names, 40, seed=1) != orders
    assert all(sorted(o) == [1, 2] for o in timing.interleaved_orders([2, 1], 3))  # any items, a partial block


def test_measure_calibrates_when_loops_not_given(fake_clock):
    s = timing.measure(fake_clock.work(1e-4), repeats=3, warmup=0, min_time=1e-3)
    assert s.loops == 12 and s.n == 3
    assert s.median == pytest.approx(1e-4)


@pytest.mark.parametrize("kwargs, message", [
    ({"repeats": 0}, "repeats must be >= 1, got 0"),
    ({"warmup": -1}, "warmup must be >= 0, got -1"),
], ids=["repeats", "warmup"])
def test_measure_interleaved_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        timing.measure_interleaved({"f": lambda: None}, **kwargs)


def test_throughput_counts_calls_from_all_threads():
    import threading

    lock = threading.Lock()
    seen = set()

    def fn():
        with lock:
            seen.add(threading.get_ident())

    assert timing.throughput(fn, threads=3, duration=0.05) > 0
    assert len(seen) == 3
    with pytest.raises(ValueError, match="threads must be >= 1, got 0"):
        timing.throughput(fn, threads=0, duration=0.1)


def test_throughput_reraises_a_worker_error():
    def fn():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        timing.throughput(fn, threads=2, duration=0.01)


def test_ratio_of_medians_and_zero_denominator():
    assert timing.ratio(Stats((2.0, 4.0, 6.0)), Stats((1.0, 2.0, 3.0))) == 2.0
    assert timing.ratio(Stats((1.0,)), Stats((0.0,))) == math.inf


@pytest.mark.parametrize("seconds, text", [
    (1.5, "1.5 s"), (0.0452, "45.2 ms"), (45.2e-6, "45.2 µs"), (3e-9, "3 ns"), (math.nan, "-"),
    (0.0009996, "1 ms"), (999.6e-9, "1 µs"), (-653e-6, "-653 µs"), (1234.5, "1,234 s"),
], ids=["s", "ms", "us", "ns", "nan", "rounds-up-to-ms", "rounds-up-to-us", "negative", "thousands"])
def test_format_seconds(seconds, text):
    assert timing.format_seconds(seconds) == text


@pytest.mark.parametrize("num, text", [
    (512, "512 B"), (1536, "1.5 KiB"), (6.5 * 2**20, "6.5 MiB"), (-2048, "-2 KiB"), (None, "-"),
    (1000 * 1024, "0.977 MiB"), (1023 * 1024, "0.999 MiB"), (1023, "1023 B"), (5000 * 2**30, "5,000 GiB"),
    (math.nan, "-"), (math.inf, "-"),
], ids=["B", "KiB", "MiB", "negative", "none", "1000-KiB", "1023-KiB", "1023-B", "thousands-GiB", "nan", "inf"])
def test_format_bytes(num, text):
    assert timing.format_bytes(num) == text


@pytest.mark.parametrize("value, text", [
    (0.0257, "0.026x"), (1.0, "1.00x"), (39.04, "39.0x"), (1080.4, "1,080x"), (None, "-"), (math.inf, "-"),
    (99.96, "100x"), (9.996, "10.0x"), (0.09996, "0.10x"),
], ids=["small", "one", "tens", "thousands", "none", "inf", "rounds-up-to-100", "rounds-up-to-10", "rounds-up-to-0.1"])
def test_format_ratio(value, text):
    assert timing.format_ratio(value) == text


def test_paired_ratio_cancels_noise_shared_by_a_repeat():
    # Repeat 2 was slowed 10x for both modes: the per-repeat ratio stays 2.
    a = Stats((2.0, 20.0, 2.0))
    b = Stats((1.0, 10.0, 1.0))
    assert timing.paired_ratio(a, b) == 2.0
    assert timing.paired_ratio(Stats((4.0, 6.0)), Stats((1.0,))) == timing.ratio(Stats((4.0, 6.0)), Stats((1.0,)))


def test_measure_interleaved_rejects_zero_loops():
    from tfshare.harness import timing as _timing

    with pytest.raises(ValueError, match=r"loops\['f'\] must be >= 1, got 0"):
        _timing.measure_interleaved({"f": lambda: None}, repeats=1, warmup=0, loops={"f": 0})
