"""Compute efficiency: GFLOP/s of a batched prediction against NumPy/BLAS, per thread setting.

At large batches the Session's per-call overhead is amortized and what is
left is how well TensorFlow's kernels use the CPU. The reference is NumPy
computing the very same MLP (same weights, float32, BLAS matmuls), measured
side by side; the benchmark repeats it for several Session thread settings so
the default can be chosen from data.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Callable

import numpy as np
from threadpoolctl import threadpool_limits

from tfshare.bench.timing import format_ratio, format_seconds, measure_interleaved, warn_if_wide
from tfshare.classifiers import DenseClassifier
from tfshare.runtime import GraphSession

BENCHMARK = "compute"


@dataclasses.dataclass(frozen=True)
class Config:
    """What to measure.

    Attributes:
      batch_size: rows per call.
      thread_settings: (intra_op_threads, inter_op_threads) pairs; 0 means
        TensorFlow's default (one thread per core).
      repeats: timed values per setting.
      input_dim, hidden_units, num_classes: the MLP.
      seed: weights and inputs.
    """

    batch_size: int = 256
    thread_settings: tuple[tuple[int, int], ...] = tuple(itertools.product((0, 1, 2), (0, 1, 2)))
    repeats: int = 15
    input_dim: int = 784
    hidden_units: tuple[int, ...] = (64,)
    num_classes: int = 10
    seed: int = 0


def mlp_flops(input_dim: int, hidden_units: tuple[int, ...], num_classes: int) -> int:
    """Floating-point operations per row: 2 per multiply-add of each matmul, plus bias, ReLU and softmax."""
    flops, width = 0, input_dim
    for units in (*hidden_units, num_classes):
        flops += 2 * width * units + units  # matmul + bias
        width = units
    flops += sum(hidden_units)  # ReLU
    flops += 3 * num_classes  # softmax: exp, sum, divide
    return flops


def numpy_forward(weights: list[np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """The same MLP in NumPy: [kernel, bias] per layer, ReLU between, softmax last."""
    layers = [(weights[i], weights[i + 1]) for i in range(0, len(weights), 2)]

    def forward(x: np.ndarray) -> np.ndarray:
        h = x
        for kernel, bias in layers[:-1]:
            h = np.maximum(h @ kernel + bias, 0.0)
        kernel, bias = layers[-1]
        logits = h @ kernel + bias
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    return forward


def _label(setting: tuple[int, int]) -> str:
    intra, inter = setting
    return f"intra={intra or 'default'},inter={inter or 'default'}"


def run(config: Config, on_record: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Measures GFLOP/s per thread setting and NumPy's, interleaved; returns records."""
    rng = np.random.default_rng(config.seed)
    x = rng.random((config.batch_size, config.input_dim), dtype=np.float32)
    arch = dict(input_dim=config.input_dim, num_classes=config.num_classes, hidden_units=config.hidden_units)
    runtimes, fns = [], {}
    try:
        reference = None
        for setting in config.thread_settings:
            gs = GraphSession(device="cpu", intra_op_threads=setting[0] or None, inter_op_threads=setting[1] or None)
            runtimes.append(gs)
            clf = DenseClassifier(**arch, runtime=gs, seed=config.seed)
            out = clf.predict_proba(x)
            if reference is None:
                reference = out
                weights = gs.run(clf.variables)
            np.testing.assert_allclose(out, reference, atol=1e-5)  # same function under every setting
            fns[_label(setting)] = (lambda c: lambda: c.predict_proba(x))(clf)
        forward = numpy_forward(weights)
        np.testing.assert_allclose(forward(x), reference, atol=1e-5)

        def numpy_one_thread() -> np.ndarray:
            # BLAS's own thread pool oversubscribes a small machine that also
            # runs TensorFlow's: measured both ways, the faster is the reference.
            with threadpool_limits(limits=1, user_api="blas"):
                return forward(x)

        fns["numpy"] = lambda: forward(x)
        fns["numpy_1_thread"] = numpy_one_thread
        stats = measure_interleaved(fns, repeats=config.repeats, warmup=3)
    finally:
        for gs in runtimes:
            gs.close()
    flops = mlp_flops(config.input_dim, config.hidden_units, config.num_classes) * config.batch_size
    numpy_median = min(stats["numpy"].median, stats["numpy_1_thread"].median)
    records = []
    for name, s in stats.items():
        warn_if_wide(f"compute {name}", s)
        record = {
            "kind": "compute", "setting": name, "batch_size": config.batch_size, "flops_per_call": flops,
            "seconds": s.to_dict(), "gflops": flops / s.median / 1e9, "vs_numpy": s.median / numpy_median,
            "numpy_gflops": flops / numpy_median / 1e9,
        }
        records.append(record)
        if on_record is not None:
            on_record(record)
    return records


def best_setting(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The TensorFlow record with the most GFLOP/s."""
    return max((r for r in records if not r["setting"].startswith("numpy")), key=lambda r: r["gflops"])


HEADERS = {
    "compute": "| setting | batch | time per call | GFLOP/s | time vs best NumPy |\n|---|---:|---:|---:|---:|",
}


def table_row(record: dict[str, Any]) -> str:
    """One Markdown row."""
    return (
        f"| {record['setting']} | {record['batch_size']} | {format_seconds(record['seconds']['median'])} "
        f"| {record['gflops']:.2f} | {format_ratio(record['vs_numpy'])} |"
    )


__all__ = ["BENCHMARK", "Config", "HEADERS", "best_setting", "mlp_flops", "numpy_forward", "run", "table_row"]
