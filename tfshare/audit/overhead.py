"""What the audit's wrappers add: per op created, per ``Session.run``, per callable call, per layer.

``python -m tfshare.audit.overhead [--repeats=N]`` measures two ways:

* **end to end**: each operation with and without an active audit, side by
  side: every repeat runs both modes in alternating order, each a loop
  calibrated to at least 2 ms after a warm-up; the result is the median of
  the per-repeat differences (with IQR and min), and the median times. The
  clock is the calling thread's CPU time (``time.thread_time``): what the
  wrappers add is work in the calling thread, and on a busy machine the wall
  clock varies far more than that (a ``Session.run``'s kernels, which run in
  TensorFlow's inter-op threads, are not in it).
* **the hooks alone**: the same wrappers put around a function that does
  nothing, called with an audit active, against that function called bare:
  exactly the work added per call (the wrapper and the report's bookkeeping),
  without TensorFlow's noise.

Nothing here is imported by the library.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any, Callable

import numpy as np

from tfshare._tf import TF_VERSION, config_pb2, keras, tf, tf1
from tfshare.audit import audit, hooks


def _per_call(fn: Callable[[int], None], n: int, clock: Callable[[], float] = time.perf_counter) -> float:
    start = clock()
    fn(n)
    return (clock() - start) / n


def _calibrate(fn: Callable[[int], None], floor: float = 2e-3) -> int:
    n = 1
    while True:
        start = time.perf_counter()
        fn(n)
        if time.perf_counter() - start >= floor or n >= 1 << 16:
            return n
        n *= 2


def _quartiles(values: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return q[0], q[2]


def measure(fn: Callable[[int], None], repeats: int) -> dict[str, Any]:
    """Seconds per call of ``fn`` without and with an audit, and their paired differences."""
    fn(8)  # warm-up
    n = _calibrate(fn)
    without, with_audit, diffs = [], [], []
    for r in range(repeats):
        pair = {}
        for mode in (("off", "on") if r % 2 == 0 else ("on", "off")):
            # Each mode is warmed up first: installing the wrappers (and a new
            # audit's first sight of a graph or fetch) is paid once, not per call.
            if mode == "on":
                with audit():
                    fn(n)
                    pair[mode] = _per_call(fn, n, time.thread_time)
            else:
                fn(n)
                pair[mode] = _per_call(fn, n, time.thread_time)
        without.append(pair["off"])
        with_audit.append(pair["on"])
        diffs.append(pair["on"] - pair["off"])
    return {
        "calls_per_repeat": n,
        "repeats": repeats,
        "without_median": statistics.median(without),
        "with_median": statistics.median(with_audit),
        "added_median": statistics.median(diffs),
        "added_iqr": _quartiles(diffs),
        "added_min": min(diffs),
        "without_min": min(without),
        "with_min": min(with_audit),
        "ratio_median": statistics.median(w / o for w, o in zip(with_audit, without)),
    }


def _cases() -> dict[str, Callable[[int], None]]:
    graph = tf.Graph()
    with graph.as_default():
        x = tf1.placeholder(tf.float32, [None, 784])
        w1 = tf1.get_variable("w1", [784, 64])
        w2 = tf1.get_variable("w2", [64, 10])
        probs = tf.nn.softmax(tf.matmul(tf.nn.relu(tf.matmul(x, w1)), w2))
        init = tf1.global_variables_initializer()
    session = tf1.Session(graph=graph)
    session.run(init)
    batch = np.zeros((1, 784), np.float32)
    options = config_pb2.CallableOptions(feed=[x.name], fetch=[probs.name])
    options.run_options.inter_op_thread_pool = -1
    fast = session._make_callable_from_options(options)  # pylint: disable=protected-access

    build_graph = tf.Graph()
    with build_graph.as_default():
        seed = tf.constant(1.0)

    def ops(n: int) -> None:
        with build_graph.as_default():
            for _ in range(n):
                tf.add(seed, 1.0)

    def runs(n: int) -> None:
        for _ in range(n):
            session.run(probs, {x: batch})

    def callables(n: int) -> None:
        for _ in range(n):
            fast(batch)

    def layers(n: int) -> None:
        for _ in range(n):
            keras.layers.Dense(4)

    return {"op created (tf.add in a graph)": ops, "Session.run (784-64-10 MLP, batch 1)": runs,
            "callable call (same MLP, caller thread)": callables, "tf_keras layer constructed (Dense)": layers}


def _hook_cases() -> dict[str, tuple[Callable[[int], None], Callable[[int], None]]]:
    """(the wrapper around a no-op, the no-op), per hooked entry point, on real TensorFlow objects."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf1.placeholder(tf.float32, [None, 2])
        y = tf.identity(x)
    session = tf1.Session(graph=graph)
    options = config_pb2.CallableOptions(feed=[x.name], fetch=[y.name])
    fast = session._make_callable_from_options(options)  # pylint: disable=protected-access
    feed = {x: np.zeros((1, 2), np.float32)}

    def pair(make: Callable[[Any], Any], args: tuple, result: Any = 1) -> tuple[Callable[[int], None], Callable[[int], None]]:
        def noop(*_: Any, **__: Any) -> Any:
            return result

        wrapped = make(noop)
        wrapped._tfshare_live = True

        def hooked(n: int) -> None:
            for _ in range(n):
                wrapped(*args)

        def bare(n: int) -> None:
            for _ in range(n):
                noop(*args)

        return hooked, bare

    return {
        "op created": pair(hooks._wrap_add_op, (graph, None)),  # pylint: disable=protected-access
        "Session.run": pair(hooks._wrap_run, (session, y, feed)),  # pylint: disable=protected-access
        "callable call": pair(hooks._wrap_callable_call, (fast, feed[x])),  # pylint: disable=protected-access
        "variable created": pair(hooks._wrap_variable, (type(tf.Variable),), _eager_variable()),  # pylint: disable=protected-access
        "tf_keras layer constructed": pair(hooks._wrap_version_selector, (keras.layers.Dense,), keras.layers.Dense(1)),
    }


def _eager_variable() -> Any:
    from tfshare._tf import eager_mode

    with eager_mode():
        return tf.Variable(tf.zeros([2]))


def measure_hooks(repeats: int) -> dict[str, dict[str, float]]:
    """Seconds added per call by each wrapper and its event, with an audit active."""
    out = {}
    with audit():
        for name, (hooked, bare) in _hook_cases().items():
            n = _calibrate(hooked)
            diffs = [_per_call(hooked, n) - _per_call(bare, n) for _ in range(repeats)]
            lo, hi = _quartiles(diffs)
            out[name] = {"added_median": statistics.median(diffs), "added_iqr": (lo, hi), "added_min": min(diffs),
                         "calls_per_repeat": n, "repeats": repeats}
    return out


def main(argv: list[str] | None = None) -> int:
    """Measures and prints the table (and JSON with --json)."""
    parser = argparse.ArgumentParser(prog="python -m tfshare.audit.overhead")
    parser.add_argument("--repeats", type=int, default=15, help="paired repeats per case (default 15)")
    parser.add_argument("--json", metavar="PATH", help="also write the raw figures as JSON")
    options = parser.parse_args(argv)
    hooked = measure_hooks(options.repeats)
    results = {name: measure(fn, options.repeats) for name, fn in _cases().items()}
    out = sys.stdout
    out.write(f"tfshare.audit overhead (TensorFlow {TF_VERSION}; medians of {options.repeats} repeats)\n")
    out.write("the hooks alone (wrapper + event, around a no-op):\n")
    for name, r in hooked.items():
        lo, hi = r["added_iqr"]
        out.write(f"  {name:<42} +{r['added_median'] * 1e6:.2f} µs (IQR {lo * 1e6:.2f} to {hi * 1e6:.2f}, "
                  f"min {r['added_min'] * 1e6:.2f})\n")
    out.write("end to end, side by side, calling thread's CPU time (without -> with an audit):\n")
    for name, r in results.items():
        lo, hi = r["added_iqr"]
        out.write(f"  {name:<42} {r['without_median'] * 1e6:9.2f} µs -> {r['with_median'] * 1e6:9.2f} µs: "
                  f"{r['added_median'] * 1e6:+.2f} µs (IQR {lo * 1e6:.2f} to {hi * 1e6:.2f}, "
                  f"min {r['added_min'] * 1e6:.2f}; x{r['ratio_median']:.3f}; fastest repeats "
                  f"{r['without_min'] * 1e6:.2f} -> {r['with_min'] * 1e6:.2f} µs)\n")
    if options.json:
        with open(options.json, "w", encoding="utf-8") as f:
            json.dump({"schema": 1, "tensorflow": TF_VERSION, "hooks": hooked, "end_to_end": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
