"""Efficiency of tfshare's own paths: compute at large batches, and fit's per-step overhead.

* ``compute``: at large batches the Session's per-call overhead is amortized
  and what is left is how well TensorFlow's kernels use the CPU. The
  reference is NumPy computing the very same MLP (same weights, float32, BLAS
  matmuls), measured side by side; repeated for several Session thread
  settings so the default can be chosen from data.
* ``training``: one epoch of ``DenseClassifier.fit`` (shuffle, validation,
  batching, history) against the raw ``TF_SessionRunCallable`` running the
  same train op on the same batches, per step, interleaved.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Callable

import numpy as np
from threadpoolctl import threadpool_limits

from tfshare._tf import config_pb2, tf1
from tfshare.bench.timing import format_ratio, format_seconds, measure_interleaved, warn_if_wide
from tfshare.classifiers import DenseClassifier
from tfshare.data import synthetic
from tfshare import validation
from tfshare.errors import InputError
from tfshare.runtime import GraphSession

BENCHMARK = "efficiency"


@dataclasses.dataclass(frozen=True)
class Config:
    """What to measure.

    Attributes:
      device: "cpu" or "gpu".
      tf_device: the TensorFlow device string.
      batch_size: rows per prediction call (compute).
      thread_settings: (intra_op_threads, inter_op_threads) pairs; 0 means
        TensorFlow's default (one thread per core).
      train_batch_size: rows per training step.
      train_rows: rows per timed training epoch.
      repeats: timed values per setting.
      input_dim, hidden_units, num_classes: the MLP.
      seed: weights and inputs.
    """

    device: str = "cpu"
    tf_device: str = "/device:CPU:0"
    batch_size: int = 256
    train_batch_size: int = 32
    train_rows: int = 3200
    thread_settings: tuple[tuple[int, int], ...] = tuple(itertools.product((0, 1, 2), (0, 1, 2)))
    repeats: int = 15
    input_dim: int = 784
    hidden_units: tuple[int, ...] = (64,)
    num_classes: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("batch_size", "train_batch_size", "train_rows", "repeats", "input_dim", "num_classes"):
            validation.positive_int(getattr(self, name), name)
        if self.train_rows < self.train_batch_size:
            raise InputError(
                f"train_rows must be >= train_batch_size ({self.train_batch_size}), got {self.train_rows}"
            )
        if not self.thread_settings:
            raise InputError("thread_settings must name at least one (intra, inter) pair, got ()")
        for intra, inter in self.thread_settings:
            validation.positive_int(intra, "thread_settings intra_op_threads", minimum=0)
            validation.positive_int(inter, "thread_settings inter_op_threads", minimum=0)


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


def compute(config: Config) -> list[dict[str, Any]]:
    """Measures GFLOP/s per thread setting and NumPy's, interleaved; returns "compute" records."""
    rng = np.random.default_rng(config.seed)
    x = rng.random((config.batch_size, config.input_dim), dtype=np.float32)
    arch = dict(input_dim=config.input_dim, num_classes=config.num_classes, hidden_units=config.hidden_units)
    runtimes, fns = [], {}
    try:
        reference = None
        for setting in config.thread_settings:
            gs = GraphSession(device=config.device, intra_op_threads=setting[0] or None, inter_op_threads=setting[1] or None)
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
        records.append({
            "kind": "compute", "setting": name, "batch_size": config.batch_size, "flops_per_call": flops,
            "seconds": s.to_dict(), "gflops": flops / s.median / 1e9, "vs_numpy": s.median / numpy_median,
            "numpy_gflops": flops / numpy_median / 1e9,
        })
    return records


def training(config: Config) -> dict[str, Any]:
    """Per-step cost of ``fit`` against the raw callable running the same train op; a "training" record."""
    data = synthetic(num_train=config.train_rows, num_test=1, seed=config.seed)
    x, y, batch = data.x_train, data.y_train, config.train_batch_size
    with GraphSession(device=config.device) as gs:
        clf = DenseClassifier(config.input_dim, config.num_classes, config.hidden_units, runtime=gs, seed=config.seed)
        clf.fit(x[:batch], y[:batch])  # builds the train op and its callable
        train_op, finite, loss, accuracy = clf._train
        options = config_pb2.CallableOptions()
        options.feed.extend(t.name for t in (clf.input_tensor, clf._y, clf._learning_rate))
        options.fetch.extend(t.name for t in (loss, accuracy, finite))
        options.target.append(train_op.name)
        if gs.caller_thread:  # the same run options as fit's own callable
            options.run_options.inter_op_thread_pool = -1
        # The bare TF callable (TrackedSession's override would wrap it with a clock tick).
        raw = tf1.Session._make_callable_from_options(gs.session, options)
        lr = np.asarray(1e-4, np.float32)
        steps = -(-len(x) // batch)

        def raw_epoch() -> None:
            for start in range(0, len(x), batch):
                raw(x[start : start + batch], y[start : start + batch], lr)

        stats = measure_interleaved(
            {
                "fit": lambda: clf.fit(x, y, epochs=1, batch_size=batch, learning_rate=1e-4, shuffle=True),
                "raw_callable": raw_epoch,
            },
            repeats=max(3, config.repeats // 2), warmup=1, loops={"fit": 1, "raw_callable": 1},
        )
    for name, s in stats.items():
        warn_if_wide(f"training {name}", s)
    return {
        "kind": "training", "batch_size": batch, "steps_per_epoch": steps,
        "fit_step_s": stats["fit"].median / steps, "raw_step_s": stats["raw_callable"].median / steps,
        "fit": stats["fit"].to_dict(), "raw_callable": stats["raw_callable"].to_dict(),
        "ratio": stats["fit"].median / stats["raw_callable"].median,
    }


def run(config: Config, on_record: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Measures compute efficiency per thread setting, then fit's per-step overhead."""
    records = compute(config) + [training(config)]
    for record in records:
        if on_record is not None:
            on_record(record)
    return records


def best_setting(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The TensorFlow record with the most GFLOP/s."""
    compute_records = (r for r in records if r["kind"] == "compute" and not r["setting"].startswith("numpy"))
    return max(compute_records, key=lambda r: r["gflops"])


HEADERS = {
    "compute": "| setting | batch | time per call | GFLOP/s | time vs best NumPy |\n|---|---:|---:|---:|---:|",
    "training": "| batch | fit per step | raw callable per step | fit / raw |\n|---:|---:|---:|---:|",
}


def table_row(record: dict[str, Any]) -> str:
    """One Markdown row of a "compute" or "training" record."""
    if record["kind"] == "training":
        return (
            f"| {record['batch_size']} | {format_seconds(record['fit_step_s'])} "
            f"| {format_seconds(record['raw_step_s'])} | {format_ratio(record['ratio'])} |"
        )
    return (
        f"| {record['setting']} | {record['batch_size']} | {format_seconds(record['seconds']['median'])} "
        f"| {record['gflops']:.2f} | {format_ratio(record['vs_numpy'])} |"
    )


__all__ = [
    "BENCHMARK", "Config", "HEADERS", "best_setting", "compute", "mlp_flops", "numpy_forward", "run", "table_row", "training",
]
