"""Efficiency of tfshare's own paths: compute at large batches, and fit's per-step overhead.

* ``compute``: at large batches the Session's per-call overhead is amortized
  and what is left is how well TensorFlow's kernels use the machine. At each
  batch size, each Session thread setting runs the ``--model``'s
  ``predict_proba``; the references are model-independent: TensorFlow's own
  MatMul of two n x n float32 matrices (a plain Session, default options),
  timed side by side with them, and NumPy's BLAS matmul of the same size,
  timed after them on its own. OpenBLAS's worker threads spin for a while
  after each product, and on a 2-core machine that made the TensorFlow call
  timed after it up to 1.6x slower (the CNN at batch 256: 14.0-15.2 ms beside
  NumPy's product, 9.1-11.6 ms without it; 7.9-9.6 ms with a one-thread
  OpenBLAS). FLOPs come from
  TensorFlow's profiler (``introspect.float_ops``) on each graph at its fixed
  shape, never from a copy of the model's math, and each setting's GFLOP/s is
  reported as a ratio to the MatMul's (``gflops_vs_tf_matmul``).
* ``training``: at each batch size, one epoch of ``fit`` (shuffle,
  validation, batching, history) against the raw ``TF_SessionRunCallable``
  running the same train op on the same batches, per step, interleaved with
  the eager twin's ``fit``, eagerly and through ``tf.function``.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from typing import Any, Callable

import numpy as np

from tfshare import validation
from tfshare._tf import config_pb2, tf, tf1
from tfshare.bench.config import RunConfig, apply_threads, positive_ints
from tfshare.bench.reference import raw_graph
from tfshare.errors import InputError
from tfshare.harness import introspect
from tfshare.harness.timing import (
    MIN_TIME,
    format_ratio,
    format_seconds,
    measure_interleaved,
    paired_ratio,
    ratio,
    warn_if_wide,
)
from tfshare.harness.tracing import OFF, Tracer
from tfshare.runtime import GraphSession

_log = logging.getLogger(__name__)

BENCHMARK = "efficiency"
TF_MATMUL, NUMPY_MATMUL = "tf_matmul", "numpy_matmul"
REFERENCES = (TF_MATMUL, NUMPY_MATMUL)


@dataclasses.dataclass(frozen=True)
class Config(RunConfig):
    """What to measure (and ``RunConfig``'s device, model, threads, seed, traces).

    Attributes:
      batch_sizes: rows per call: GFLOP/s and fit's per-step cost at each.
      matmul_size: n of the n x n @ n x n MatMul references.
      thread_settings: (intra_op_threads, inter_op_threads) pairs; 0 means
        tfshare's default (the usable cores on CPU).
      train_rows: rows per timed training epoch.
      repeats: timed values per setting; training times max(3, repeats // 2)
        whole epochs per mode (one epoch per value).
      warmup: untimed calls per setting first (training: one untimed epoch).
      min_time: seconds each timed value covers at least (not training's:
        an epoch is one value).
    """

    batch_sizes: tuple[int, ...] = (32, 256)
    matmul_size: int = 1024
    train_rows: int = 3200
    thread_settings: tuple[tuple[int, int], ...] = tuple(itertools.product((0, 1, 2), (0, 1, 2)))
    repeats: int = 15
    warmup: int = 3
    min_time: float = MIN_TIME

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("matmul_size", "train_rows", "repeats"):
            validation.positive_int(getattr(self, name), name)
        validation.positive_int(self.warmup, "warmup", minimum=0)
        validation.positive_float(self.min_time, "min_time")
        positive_ints(self.batch_sizes, "batch_sizes", "batch size")
        if self.train_rows < max(self.batch_sizes):
            raise InputError(
                f"train_rows (--train_rows) must be >= the largest batch size (--batch_size) "
                f"{max(self.batch_sizes)}, got {self.train_rows}"
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


def _runtime_threads(config: Config, setting: tuple[int, int]) -> tuple[int | None, int | None]:
    """A thread setting's (intra, inter) counts; a 0 is ``config``'s count (None: tfshare's default)."""
    intra, inter = setting
    return intra or config.intra_op_threads, inter or config.inter_op_threads


def _runtime(config: Config, setting: tuple[int, int]) -> GraphSession:
    """A runtime with a thread setting's counts (0: tfshare's default), or ``config``'s threads when both are 0."""
    intra, inter = _runtime_threads(config, setting)
    return GraphSession(device=config.device, intra_op_threads=intra, inter_op_threads=inter)


def _model_flops(config: Config, clf: Any, shape: tuple[int, ...]) -> int:
    """The model's float operations per call at ``shape``, counted on its plain graph.

    Counted on ``raw_graph`` (the same layers and weights, built
    without tfshare), not on the classifier's own inference path: on CPU that
    one runs each Conv2D + BatchNorm + ReLU as one ``_FusedConv2D`` op, for
    which TensorFlow's profiler has no count (elsewhere it folds BatchNorm
    into the kernel with per-call ops the profiler does count, while it
    counts a FusedBatchNorm as 0). The count is the model's, whatever path
    computes it.
    """
    raw = raw_graph(config.model, clf.get_weights(), config.num_classes)
    logits = raw.probabilities.op.inputs[0]  # the softmax aside, as tfshare's exp(log_softmax) counts 0
    try:
        return introspect.float_ops(logits, {raw.input: shape})
    finally:
        raw.session.close()


def compute(config: Config, batch: int, tracer: Tracer = OFF) -> list[dict[str, Any]]:
    """Times predict_proba per thread setting and TF's MatMul interleaved, then NumPy's MatMul, at one batch size.

    Returns:
      One "compute" record per thread setting, then "tf_matmul" and
      "numpy_matmul" (TensorFlow's timed beside them, NumPy's after them):
      ``batch_size`` (the model's rows per call), ``flops_per_call``
      (TensorFlow's profiler), ``seconds``, ``gflops``, and
      ``gflops_vs_tf_matmul`` / ``gflops_vs_numpy_matmul`` (the FLOPs ratio
      over the median per-repeat time ratio, or over the ratio of medians
      between NumPy's product and the others).
    """
    x = config.model.inputs(batch, config.seed)
    first = _runtime_threads(config, config.thread_settings[0])
    apply_threads(*first)  # before the eager context (the intra-op pool's size) and any Session start
    runtimes, fns, traced = [], {}, []
    matmul = None
    try:
        reference, flops = None, {}
        for setting in config.thread_settings:
            gs = _runtime(config, setting)
            runtimes.append(gs)
            clf = config.model.classifier(config.num_classes, runtime=gs, seed=config.seed)
            out = clf.predict_proba(x)
            if reference is None:
                reference = out
                model_flops = _model_flops(config, clf, x.shape)
            np.testing.assert_allclose(out, reference, atol=1e-5)  # same function under every setting
            fns[_label(setting)] = (lambda c: lambda: c.predict_proba(x))(clf)
            flops[_label(setting)] = model_flops
            traced.append((f"batch{batch}_{_label(setting)}", gs.session, clf.probabilities_tensor,
                           {clf.input_tensor: x}))
        asked = {(gs.config.intra_op_parallelism_threads, gs.config.inter_op_parallelism_threads) for gs in runtimes}
        if len(asked) > 1:
            _log.warning(
                "TensorFlow sizes its intra-op and inter-op pools once per process, with the first setting's "
                "counts: the later settings' counts (%s) do not apply here (run one --num_intra_threads / "
                "--num_inter_threads per process to compare them; docs/performance.md, section 6)",
                sorted(asked))
        # Made after the settings' Sessions, so that its Session (TensorFlow's default options) sizes no pool.
        matmul = MatMul(config.matmul_size, config.tf_device, config.seed)
        np.testing.assert_allclose(matmul.tf(), matmul.numpy(), rtol=1e-4)
        fns[TF_MATMUL] = matmul.tf
        flops[TF_MATMUL] = flops[NUMPY_MATMUL] = matmul.flops
        stats = measure_interleaved(fns, config.repeats, config.warmup, config.min_time)
        # Apart, after: OpenBLAS's spinning threads would slow the TensorFlow calls timed after it.
        stats.update(measure_interleaved({NUMPY_MATMUL: matmul.numpy}, config.repeats, config.warmup, config.min_time))
        for args in traced:
            tracer.session_step(*args)
        tracer.session_step(f"batch{batch}_{TF_MATMUL}", matmul.session, matmul.product)
    finally:
        if matmul is not None:
            matmul.close()
        for gs in runtimes:
            gs.close()
    n = config.matmul_size
    records = []
    for name, s in stats.items():
        warn_if_wide(f"compute batch={batch} {name}", s)
        record = {
            "kind": "compute", "setting": name,
            "workload": f"MatMul {n}x{n} @ {n}x{n}" if name in REFERENCES else f"{config.model.name}, batch {batch}",
            "batch_size": batch, "matmul_size": n, "flops_per_call": flops[name],
            "seconds": s.to_dict(), "gflops": flops[name] / s.median / 1e9,
        }
        for ref in REFERENCES:  # GFLOP/s ratio = FLOPs ratio / time ratio (paired when timed side by side)
            apart = (name == NUMPY_MATMUL) != (ref == NUMPY_MATMUL)
            time_ratio = ratio(s, stats[ref]) if apart else paired_ratio(s, stats[ref])
            record[f"gflops_vs_{ref}"] = flops[name] / flops[ref] / time_ratio
        records.append(record)
    return records


def training(config: Config, batch: int, tracer: Tracer = OFF) -> dict[str, Any]:
    """Per-step cost of ``fit`` at one batch size against the raw callable running the same train op.

    Returns:
      A "training" record: per-step seconds of graph ``fit`` and the raw
      callable, their ratio (the median of per-repeat ratios; the ratio of
      the medians as ``ratio_of_medians``), both Stats; and the same epoch of the eager
      twin's ``fit`` (same seed, so the same starting weights) eagerly and
      through ``tf.function`` (``eager_step_s``, ``tf_function_step_s``,
      ``eager_fit``, ``tf_function_fit``).
    """
    data = config.model.dataset(config.train_rows, 1, seed=config.seed)
    x, y = data.x_train, data.y_train
    with config.graph_session() as gs:
        clf = config.model.classifier(config.num_classes, runtime=gs, seed=config.seed)
        clf.fit(x[:batch], y[:batch])  # builds the train op and its callable
        train_op, finite, loss, accuracy = clf._train
        inputs = (clf.input_tensor, clf._y, clf._learning_rate)
        options = config_pb2.CallableOptions()
        options.feed.extend(t.name for t in inputs)
        options.fetch.extend(t.name for t in (loss, accuracy, finite))
        options.target.append(train_op.name)
        if gs.caller_thread:  # the same run options as fit's own callable
            options.run_options.inter_op_thread_pool = -1
        # The bare TF callable (TrackedSession's override would wrap it with a clock tick).
        raw = tf1.Session._make_callable_from_options(gs.session, options)
        lr = np.asarray(1e-4, np.float32)
        steps = -(-len(x) // batch)
        twins = {
            mode: config.model.eager(config.num_classes, use_tf_function=mode == "tf_function", seed=config.seed)
            for mode in ("eager", "tf_function")
        }
        for twin in twins.values():
            twin.fit(x[:batch], y[:batch], batch_size=batch)  # builds (and traces) its step

        def raw_epoch() -> None:
            for start in range(0, len(x), batch):
                raw(x[start : start + batch], y[start : start + batch], lr)

        stats = measure_interleaved(
            {
                "fit": lambda: clf.fit(x, y, epochs=1, batch_size=batch, learning_rate=1e-4, shuffle=True),
                "raw_callable": raw_epoch,
                **{
                    f"{mode}_fit": (lambda t: lambda: t.fit(x, y, epochs=1, batch_size=batch, learning_rate=1e-4))(twin)
                    for mode, twin in twins.items()
                },
            },
            repeats=max(3, config.repeats // 2), warmup=1,
            loops={"fit": 1, "raw_callable": 1, "eager_fit": 1, "tf_function_fit": 1},
        )
        tracer.session_step(f"batch{batch}_train_step", gs.session, [train_op, loss, accuracy, finite],
                            dict(zip(inputs, (x[:batch], y[:batch], lr))))
    for name, s in stats.items():
        warn_if_wide(f"training batch={batch} {name}", s)
    return {
        "kind": "training", "batch_size": batch, "steps_per_epoch": steps,
        "fit_step_s": stats["fit"].median / steps, "raw_step_s": stats["raw_callable"].median / steps,
        "fit": stats["fit"].to_dict(), "raw_callable": stats["raw_callable"].to_dict(),
        # Paired: fit and the raw epoch run back to back in each repeat, so a burst of noise inflates both.
        "ratio": paired_ratio(stats["fit"], stats["raw_callable"]),
        "ratio_of_medians": stats["fit"].median / stats["raw_callable"].median,
        "eager_step_s": stats["eager_fit"].median / steps,
        "tf_function_step_s": stats["tf_function_fit"].median / steps,
        "eager_fit": stats["eager_fit"].to_dict(), "tf_function_fit": stats["tf_function_fit"].to_dict(),
    }


def run(config: Config, on_record: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Measures compute efficiency per thread setting at each batch size, then fit's per-step overhead at each."""
    tracer = config.tracer()
    records: list[dict[str, Any]] = []
    steps = [("compute", b) for b in config.batch_sizes] + [("training", b) for b in config.batch_sizes]
    for i, (kind, batch) in enumerate(steps, 1):
        _log.info("%s %d/%d: batch size %d", kind, i, len(steps), batch)
        new = compute(config, batch, tracer) if kind == "compute" else [training(config, batch, tracer)]
        for record in new:
            records.append(record)
            if on_record is not None:
                on_record(record)
    return records


def best_setting(records: list[dict[str, Any]], batch_size: int | None = None) -> dict[str, Any]:
    """The model's record (a TensorFlow thread setting) with the most GFLOP/s at ``batch_size`` (default: the largest)."""
    compute_records = [r for r in records if r["kind"] == "compute" and r["setting"] not in REFERENCES]
    batch = max(r["batch_size"] for r in compute_records) if batch_size is None else batch_size
    return max((r for r in compute_records if r["batch_size"] == batch), key=lambda r: r["gflops"])


HEADERS = {
    "compute": (
        "| batch | setting | workload | time per call | GFLOP/s | GFLOP/s vs TF MatMul | GFLOP/s vs NumPy matmul |\n"
        "|---:|---|---|---:|---:|---:|---:|"
    ),
    "training": (
        "| batch | fit per step | raw callable per step | fit / raw | eager twin's fit | its tf.function fit |\n"
        "|---:|---:|---:|---:|---:|---:|"
    ),
}


def _optional_seconds(value: float | None) -> str:
    """A time, or "-" in result files written before the column existed."""
    return "-" if value is None else format_seconds(value)


def table_row(record: dict[str, Any]) -> str:
    """One Markdown row of a "compute" or "training" record."""
    if record["kind"] == "training":
        return (
            f"| {record['batch_size']} | {format_seconds(record['fit_step_s'])} "
            f"| {format_seconds(record['raw_step_s'])} | {format_ratio(record['ratio'])} "
            f"| {_optional_seconds(record.get('eager_step_s'))} "
            f"| {_optional_seconds(record.get('tf_function_step_s'))} |"
        )
    return (
        f"| {record['batch_size']} | {record['setting']} | {record['workload']} "
        f"| {format_seconds(record['seconds']['median'])} "
        f"| {record['gflops']:.2f} | {format_ratio(record['gflops_vs_tf_matmul'])} "
        f"| {format_ratio(record['gflops_vs_numpy_matmul'])} |"
    )


__all__ = [
    "BENCHMARK", "Config", "HEADERS", "MatMul", "REFERENCES", "best_setting", "compute", "run", "table_row", "training",
]
