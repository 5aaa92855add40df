"""Efficiency of tfshare's own paths: compute at large batches, and fit's per-step overhead.

* ``compute``: at large batches the Session's per-call overhead is amortized
  and what is left is how well TensorFlow's kernels use the machine. Each
  Session thread setting runs the ``--model``'s ``predict_proba`` at one batch
  size; the references are model-independent and timed side by side with
  it: TensorFlow's own MatMul of two n x n float32 matrices (a plain Session,
  default options) and NumPy's BLAS matmul of the same size. FLOPs come from
  TensorFlow's profiler (``introspect.float_ops``) on each graph at its fixed
  shape, never from a copy of the model's math, and each setting's GFLOP/s is
  reported as a ratio to the MatMul's (``gflops_vs_tf_matmul``).
* ``training``: one epoch of ``fit`` (shuffle, validation, batching, history)
  against the raw ``TF_SessionRunCallable`` running the same train op on the
  same batches, per step, interleaved.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Callable

import numpy as np

from tfshare import validation
from tfshare._tf import config_pb2, tf, tf1
from tfshare.bench import introspect
from tfshare.bench.models import MLP, Model
from tfshare.bench.timing import format_ratio, format_seconds, measure_interleaved, paired_ratio, warn_if_wide
from tfshare.errors import InputError
from tfshare.runtime import GraphSession

BENCHMARK = "efficiency"
TF_MATMUL, NUMPY_MATMUL = "tf_matmul", "numpy_matmul"
REFERENCES = (TF_MATMUL, NUMPY_MATMUL)


@dataclasses.dataclass(frozen=True)
class Config:
    """What to measure.

    Attributes:
      device: "cpu" or "gpu".
      tf_device: the TensorFlow device string.
      batch_size: rows per prediction call (compute).
      matmul_size: n of the n x n @ n x n MatMul references.
      thread_settings: (intra_op_threads, inter_op_threads) pairs; 0 means
        TensorFlow's default (one thread per core).
      train_batch_size: rows per training step.
      train_rows: rows per timed training epoch.
      repeats: timed values per setting.
      model: the classifier's model (``tfshare.bench.models``).
      num_classes: the classifier's classes.
      seed: weights and inputs.
    """

    device: str = "cpu"
    tf_device: str = "/device:CPU:0"
    batch_size: int = 256
    matmul_size: int = 1024
    train_batch_size: int = 32
    train_rows: int = 3200
    thread_settings: tuple[tuple[int, int], ...] = tuple(itertools.product((0, 1, 2), (0, 1, 2)))
    repeats: int = 15
    model: Model = MLP
    num_classes: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("batch_size", "matmul_size", "train_batch_size", "train_rows", "repeats", "num_classes"):
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


def _label(setting: tuple[int, int]) -> str:
    intra, inter = setting
    return f"intra={intra or 'default'},inter={inter or 'default'}"


class MatMul:
    """TensorFlow's MatMul of two n x n float32 variables in a plain Session, and NumPy's of the same.

    The operands are variables (fed once), not constants, so Grappler cannot
    fold the product away; each call fetches the n x n product, as NumPy's
    ``a @ b`` returns it.
    """

    def __init__(self, n: int, tf_device: str, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.a, self.b = (rng.random((n, n), dtype=np.float32) for _ in range(2))
        self.graph = tf.Graph()
        with self.graph.as_default(), tf.device(tf_device):
            inits = [tf1.placeholder(tf.float32, (n, n)) for _ in range(2)]
            a, b = (tf1.Variable(init) for init in inits)
            self.product = tf.matmul(a, b)
        config = tf1.ConfigProto()
        config.gpu_options.allow_growth = True
        self.session = tf1.Session(graph=self.graph, config=config)
        self.session.run([a.initializer, b.initializer], dict(zip(inits, (self.a, self.b))))
        options = config_pb2.CallableOptions()
        options.fetch.append(self.product.name)
        self._run = self.session._make_callable_from_options(options)  # pylint: disable=protected-access

    @property
    def flops(self) -> int:
        """The MatMul's float operations (2 n^3), as TensorFlow's profiler counts them."""
        return introspect.float_ops(self.product)

    def tf(self) -> np.ndarray:
        """TensorFlow's product: float32 [n, n], through a callable with TensorFlow's default options."""
        return self._run()[0]

    def numpy(self) -> np.ndarray:
        """NumPy's (BLAS, its default threads) product of the same matrices: float32 [n, n]."""
        return self.a @ self.b

    def close(self) -> None:
        """Closes the Session."""
        self.session.close()


def compute(config: Config) -> list[dict[str, Any]]:
    """Times predict_proba per thread setting and both MatMul references, interleaved.

    Returns:
      One "compute" record per thread setting, then "tf_matmul" and
      "numpy_matmul": ``flops_per_call`` (TensorFlow's profiler), ``seconds``,
      ``gflops``, and ``gflops_vs_tf_matmul`` / ``gflops_vs_numpy_matmul``
      (the FLOPs ratio over the median per-repeat time ratio).
    """
    x = config.model.inputs(config.batch_size, config.seed)
    runtimes, fns = [], {}
    matmul = MatMul(config.matmul_size, config.tf_device, config.seed)
    try:
        reference, flops = None, {}
        for setting in config.thread_settings:
            gs = GraphSession(device=config.device, intra_op_threads=setting[0] or None, inter_op_threads=setting[1] or None)
            runtimes.append(gs)
            clf = config.model.classifier(config.num_classes, runtime=gs, seed=config.seed)
            out = clf.predict_proba(x)
            if reference is None:
                reference = out
                model_flops = introspect.float_ops(clf.probabilities_tensor, {clf.input_tensor: x.shape})
            np.testing.assert_allclose(out, reference, atol=1e-5)  # same function under every setting
            fns[_label(setting)] = (lambda c: lambda: c.predict_proba(x))(clf)
            flops[_label(setting)] = model_flops
        np.testing.assert_allclose(matmul.tf(), matmul.numpy(), rtol=1e-4)
        fns[TF_MATMUL], fns[NUMPY_MATMUL] = matmul.tf, matmul.numpy
        flops[TF_MATMUL] = flops[NUMPY_MATMUL] = matmul.flops
        stats = measure_interleaved(fns, repeats=config.repeats, warmup=3)
    finally:
        matmul.close()
        for gs in runtimes:
            gs.close()
    workload = f"{config.model.name}, batch {config.batch_size}"
    records = []
    for name, s in stats.items():
        warn_if_wide(f"compute {name}", s)
        n = config.matmul_size
        record = {
            "kind": "compute", "setting": name,
            "workload": f"MatMul {n}x{n} @ {n}x{n}" if name in REFERENCES else workload,
            "batch_size": n if name in REFERENCES else config.batch_size, "flops_per_call": flops[name],
            "seconds": s.to_dict(), "gflops": flops[name] / s.median / 1e9,
        }
        for ref in REFERENCES:  # GFLOP/s ratio = FLOPs ratio / paired time ratio
            record[f"gflops_vs_{ref}"] = flops[name] / flops[ref] / paired_ratio(s, stats[ref])
        records.append(record)
    return records


def training(config: Config) -> dict[str, Any]:
    """Per-step cost of ``fit`` against the raw callable running the same train op; a "training" record."""
    data = config.model.data(config.train_rows, 1, seed=config.seed)
    x, y, batch = data.x_train, data.y_train, config.train_batch_size
    with GraphSession(device=config.device) as gs:
        clf = config.model.classifier(config.num_classes, runtime=gs, seed=config.seed)
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
    """The model's record (a TensorFlow thread setting) with the most GFLOP/s."""
    compute_records = (r for r in records if r["kind"] == "compute" and r["setting"] not in REFERENCES)
    return max(compute_records, key=lambda r: r["gflops"])


HEADERS = {
    "compute": (
        "| setting | workload | time per call | GFLOP/s | GFLOP/s vs TF MatMul | GFLOP/s vs NumPy matmul |\n"
        "|---|---|---:|---:|---:|---:|"
    ),
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
        f"| {record['setting']} | {record['workload']} | {format_seconds(record['seconds']['median'])} "
        f"| {record['gflops']:.2f} | {format_ratio(record['gflops_vs_tf_matmul'])} "
        f"| {format_ratio(record['gflops_vs_numpy_matmul'])} |"
    )


__all__ = [
    "BENCHMARK", "Config", "HEADERS", "MatMul", "REFERENCES", "best_setting", "compute", "run", "table_row", "training",
]
