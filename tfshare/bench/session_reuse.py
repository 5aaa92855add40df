"""What one prediction costs on each path, and how a shared Session scales with threads.

All modes run the same model (``--model``: the MLP or the CNN, see
``tfshare.bench.models``) with the same weights on the same input:

* ``new_session``: a new ``tf.compat.v1.Session`` per call on the classifier's
  graph, which runs the variables' initializers, predicts, and closes (a lower
  bound for "load per request": real code would also restore a checkpoint).
* ``session_run``: the reused Session, ``Session.run`` with ``feed_dict``.
* ``predict_proba``: tfshare's ``predict_proba`` (``DenseClassifier`` or ``ConvClassifier``).
* ``callable_floor``: ``Session._make_callable_from_options`` on the same graph,
  the same placeholder and probabilities tensor, with TensorFlow's default
  options: the floor any graph-mode Python caller reaches as TF ships it.
* ``callable_caller_thread``: the same callable run in the calling thread
  (``RunOptions.inter_op_thread_pool = -1``), as tfshare's runtimes run
  theirs; ``predict_proba`` against it is tfshare's own overhead.
* ``raw_graph``: the same layers and weights in a ``tf.Graph`` and Session
  built by hand with TensorFlow's default options (Grappler on), its
  callable run in the calling thread (``reference.raw_graph``):
  the floor without tfshare at all, and the one the CNN's goals name.
* ``eager``: a tf_keras ``Sequential`` with the same layers and weights,
  written by hand (``tfshare.bench.reference``), ``model(x, training=False)``.
* ``tf_function``: the same model through ``tf.function``.
* ``model_predict``: tf_keras ``Model.predict``.
* ``saved_model``: the classifier exported with ``export_saved_model`` and
  loaded in TF2 (``tf.saved_model.load(path).signatures["serving_default"]``,
  called eagerly): what leaving the Session for a served model costs, or saves.

Per batch size, the modes are timed side by side (interleaved repeats), and
each is reported as a ratio to the floor and to eager: the median over
repeats of the per-repeat ratio (``timing.paired_ratio``).
Throughput runs ``predict_proba`` from 1, 2, 4 and 8 threads sharing the one
Session.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
from typing import Any, Callable

import numpy as np

from tfshare import validation
from tfshare._tf import config_pb2, tf, tf1
from tfshare.bench import reference
from tfshare.bench.config import RunConfig, positive_ints
from tfshare.harness import results
from tfshare.harness.timing import (
    MIN_TIME,
    format_ratio,
    format_seconds,
    interleaved_orders,
    measure_interleaved,
    paired_ratio,
    throughput,
    warn_if_wide,
)
from tfshare.errors import InputError
from tfshare.harness.tracing import Tracer

_log = logging.getLogger(__name__)

BENCHMARK = "session_reuse"
MODES = (
    "new_session", "session_run", "predict_proba", "callable_floor", "callable_caller_thread", "raw_graph",
    "eager", "tf_function", "model_predict", "saved_model",
)
FLOOR, EAGER, CALLER_THREAD = "callable_floor", "eager", "callable_caller_thread"
#: Modes that run no tf.compat.v1 Session (traced with tf.profiler).
EAGER_MODES = ("eager", "tf_function", "model_predict", "saved_model")


@dataclasses.dataclass(frozen=True)
class Config(RunConfig):
    """One run of the Session reuse benchmark (and ``RunConfig``'s device, model, threads, seed, traces).

    Attributes:
      batch_sizes: rows per prediction call.
      modes: which modes to time, a subset of MODES (must include the floor).
      repeats: timed values per mode and batch size.
      warmup: untimed calls per mode first.
      min_time: seconds each timed value covers at least.
      threads: thread counts for the throughput test (empty to skip it).
      throughput_seconds: how long each throughput measurement runs.
      throughput_repeats: measurements per (batch size, thread count).
    """

    batch_sizes: tuple[int, ...] = (1, 32, 256)
    modes: tuple[str, ...] = MODES
    repeats: int = 25
    warmup: int = 3
    min_time: float = MIN_TIME
    threads: tuple[int, ...] = (1, 2, 4, 8)
    throughput_seconds: float = 1.0
    throughput_repeats: int = 3

    def __post_init__(self) -> None:
        super().__post_init__()
        for mode in self.modes:
            validation.choice(mode, "modes", MODES)
        if FLOOR not in self.modes:
            raise InputError(f"modes must include {FLOOR!r}, the baseline of the ratios, got {list(self.modes)}")
        validation.positive_int(self.repeats, "repeats")
        validation.positive_int(self.throughput_repeats, "throughput_repeats")
        positive_ints(self.batch_sizes, "batch_sizes", "batch size")
        for threads in self.threads:
            validation.positive_int(threads, "threads")
        validation.positive_int(self.warmup, "warmup", minimum=0)
        validation.positive_float(self.min_time, "min_time")
        validation.positive_float(self.throughput_seconds, "throughput_seconds")


class Setup:
    """One classifier in a GraphSession, and an eager tf_keras model with its weights."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.runtime = config.graph_session()
        self.classifier = config.model.classifier(config.num_classes, runtime=self.runtime, seed=config.seed)
        self.runtime.initialize()
        self._session_config = self.runtime.config
        self._init_ops = [v.initializer for v in self.classifier.variables]
        # The kernels' initial values are fed (tfshare.initial_values); computed once here.
        self._init_feeds = self.runtime.initial_value_feeds(self.classifier.variables)
        self.floor = self.raw_callable(caller_thread=False)
        self.floor_caller_thread = self.raw_callable(caller_thread=True)
        with tf.device(config.tf_device):
            self.model = reference.keras_model(config.model, config.num_classes)
            reference.set_named_weights(self.model, self.classifier.get_weights())
            spec = tf.TensorSpec([None, *config.model.input_shape], tf.float32)
            self.function = tf.function(lambda t: self.model(t, training=False), input_signature=[spec])
        self.raw_graph = None  # a second graph and Session (with its thread pools) only when measured
        if "raw_graph" in config.modes:
            self.raw_graph = reference.raw_graph(config.model, self.classifier.get_weights(), config.num_classes,
                                                 config.session_config())
        self._export_dir = tempfile.mkdtemp(prefix="tfshare-session-reuse-")
        self.serving = None
        if "saved_model" in config.modes:
            path = self.classifier.export_saved_model(os.path.join(self._export_dir, "1"))
            with tf.device(config.tf_device):
                self._loaded = tf.saved_model.load(path)  # kept: the signature holds it weakly
                self.serving = self._loaded.signatures["serving_default"]

    def raw_callable(self, caller_thread: bool, run_options: Any = None) -> Callable[..., list[np.ndarray]]:
        """TensorFlow's callable from the classifier's input to its probabilities, as TF ships it.

        Args:
          caller_thread: run it in the calling thread (``inter_op_thread_pool = -1``, as tfshare's callables).
          run_options: a RunOptions to start from (e.g. FULL_TRACE for a trace).
        """
        options = config_pb2.CallableOptions()
        options.feed.append(self.classifier.input_tensor.name)
        options.fetch.append(self.classifier.probabilities_tensor.name)
        if run_options is not None:
            options.run_options.CopyFrom(run_options)
        if caller_thread:
            options.run_options.inter_op_thread_pool = -1
        # read_only: the raw TensorFlow callable, without the runtime's write-clock wrapper.
        return self.runtime.session._make_callable_from_options(options, read_only=True)

    def new_session_run(self, x: np.ndarray, options: Any = None, run_metadata: Any = None) -> np.ndarray:
        """One ``new_session`` call: a new Session on the graph initializes the variables, predicts and closes."""
        clf = self.classifier
        with tf1.Session(graph=self.runtime.graph, config=self._session_config) as s:
            s.run(self._init_ops, self._init_feeds)
            return s.run(clf.probabilities_tensor, {clf.input_tensor: x}, options=options, run_metadata=run_metadata)

    def trace(self, tracer: Tracer, x: np.ndarray) -> None:
        """One traced step of every mode on ``x`` (``predict_proba`` and ``session_run`` as ``Session.run``)."""
        clf = self.classifier
        for mode in self.config.modes:
            if mode in EAGER_MODES:
                tracer.eager_step(mode, self.call(mode, x))
            elif mode == "new_session":
                tracer.graph_step(mode, self.runtime.graph, lambda o, m: self.new_session_run(x, o, m))
            elif mode in (FLOOR, CALLER_THREAD):
                inline = mode == CALLER_THREAD
                tracer.graph_step(mode, self.runtime.graph,
                                  lambda o, m, inline=inline: self.raw_callable(inline, o)(x, run_metadata=m))
            elif mode == "raw_graph":
                raw = self.raw_graph
                tracer.session_step(mode, raw.session, raw.probabilities, {raw.input: x})
            else:
                tracer.session_step(mode, self.runtime.session, clf.probabilities_tensor, {clf.input_tensor: x})

    def call(self, mode: str, x: np.ndarray) -> Callable[[], np.ndarray]:
        """A zero-argument callable that predicts probabilities for ``x`` in ``mode``."""
        clf, session = self.classifier, self.runtime.session
        x_ph, proba = clf.input_tensor, clf.probabilities_tensor
        model, function, floor, inline = self.model, self.function, self.floor, self.floor_caller_thread
        serving, raw = self.serving, self.raw_graph
        if mode == "new_session":
            return lambda: self.new_session_run(x)
        table: dict[str, Callable[[], np.ndarray]] = {
            "session_run": lambda: session.run(proba, {x_ph: x}),
            "predict_proba": lambda: clf.predict_proba(x),
            "callable_floor": lambda: floor(x)[0],
            "callable_caller_thread": lambda: inline(x)[0],
            "raw_graph": lambda: raw.call(x)[0],
            "eager": lambda: model(x, training=False).numpy(),
            "tf_function": lambda: function(x).numpy(),
            "model_predict": lambda: model.predict(x, verbose=0),
            "saved_model": lambda: serving(x=tf.constant(x))["probabilities"].numpy(),
        }
        return table[mode]

    def close(self) -> None:
        self.classifier.close()
        self.runtime.close()
        if self.raw_graph is not None:
            self.raw_graph.session.close()
        shutil.rmtree(self._export_dir, ignore_errors=True)


def _inputs(config: Config, batch: int) -> np.ndarray:
    return config.model.inputs(batch, config.seed + batch)


def latency(setup: Setup, batch: int) -> list[dict[str, Any]]:
    """Times every mode at one batch size, side by side; one record per mode."""
    config = setup.config
    x = _inputs(config, batch)
    fns = {mode: setup.call(mode, x) for mode in config.modes}
    reference = fns[FLOOR]()
    max_diff = {mode: float(np.max(np.abs(np.asarray(fn()) - reference))) for mode, fn in fns.items()}
    stats = measure_interleaved(fns, config.repeats, config.warmup, config.min_time)
    records = []
    for mode, s in stats.items():
        warn_if_wide(f"{mode} batch={batch}", s)
        records.append(
            {
                "kind": "latency",
                "mode": mode,
                "batch_size": batch,
                "seconds": s.to_dict(),
                "per_row_s": s.median / batch,
                "ratio_vs_floor": paired_ratio(s, stats[FLOOR]),
                "ratio_vs_eager": paired_ratio(s, stats[EAGER]) if EAGER in stats else None,
                "ratio_vs_caller_thread": paired_ratio(s, stats[CALLER_THREAD]) if CALLER_THREAD in stats else None,
                "max_abs_diff_vs_floor": max_diff[mode],
            }
        )
    return records


def thread_scaling(setup: Setup, batch: int) -> list[dict[str, Any]]:
    """Calls/s of ``predict_proba`` from several threads sharing one Session."""
    config = setup.config
    fn = setup.call("predict_proba", _inputs(config, batch))
    values: dict[int, list[float]] = {t: [] for t in config.threads}
    for order in interleaved_orders(config.threads, config.throughput_repeats):
        for t in order:
            values[t].append(throughput(fn, t, config.throughput_seconds))
    base = float(np.median(values[config.threads[0]]))
    records = []
    for t in config.threads:
        calls = float(np.median(values[t]))
        records.append(
            {
                "kind": "throughput",
                "mode": "predict_proba",
                "batch_size": batch,
                "threads": t,
                "calls_per_s": calls,
                "rows_per_s": calls * batch,
                "calls_per_s_values": values[t],
                "speedup_vs_first": calls / base if base else None,
            }
        )
    return records


def run(config: Config, on_record: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Measures latency per mode and batch size, then thread scaling.

    Args:
      config: what to measure.
      on_record: called with each record as soon as it is complete.

    Returns:
      Latency records (``kind="latency"``) and throughput records (``kind="throughput"``).
    """
    setup = Setup(config)
    records: list[dict[str, Any]] = []
    try:
        with tf.device(config.tf_device):
            for i, batch in enumerate(config.batch_sizes, 1):
                _log.info("latency %d/%d: batch size %d, %d modes x %d repeats",
                          i, len(config.batch_sizes), batch, len(config.modes), config.repeats)
                for record in latency(setup, batch):
                    records.append(record)
                    if on_record is not None:
                        on_record(record)
            setup.trace(config.tracer(), _inputs(config, config.batch_sizes[0]))
            for i, batch in enumerate(config.batch_sizes if config.threads else (), 1):
                _log.info("throughput %d/%d: batch size %d, threads %s", i, len(config.batch_sizes), batch, config.threads)
                for record in thread_scaling(setup, batch):
                    records.append(record)
                    if on_record is not None:
                        on_record(record)
    finally:
        setup.close()
    return records


LATENCY_HEADER = (
    "| batch | mode | median | IQR | p90 | n x loops | vs floor | vs eager |\n"
    "|---:|---|---:|---:|---:|---:|---:|---:|"
)
THROUGHPUT_HEADER = (
    "| batch | threads | calls/s | rows/s | vs 1st thread count |\n"
    "|---:|---:|---:|---:|---:|"
)

HEADERS = {"latency": LATENCY_HEADER, "throughput": THROUGHPUT_HEADER}



def table_row(record: dict[str, Any]) -> str:
    """One Markdown row of a latency or throughput record."""
    if record["kind"] == "throughput":
        return (
            f"| {record['batch_size']} | {record['threads']} | {record['calls_per_s']:,.0f} "
            f"| {record['rows_per_s']:,.0f} | {format_ratio(record['speedup_vs_first'])} |"
        )
    s = record["seconds"]
    wide = " (wide)" if s["wide_spread"] else ""
    return (
        f"| {record['batch_size']} | {record['mode']} | {format_seconds(s['median'])}{wide} "
        f"| {format_seconds(s['iqr'])} | {format_seconds(s['p90'])} | {s['n']} x {s['loops']} "
        f"| {format_ratio(record['ratio_vs_floor'])} | {format_ratio(record['ratio_vs_eager'])} |"
    )


def table(records: list[dict[str, Any]]) -> str:
    """The latency table, then the throughput table, in Markdown."""
    return results.kind_tables(records, HEADERS, table_row, ("latency", "throughput"))


def overhead_lines(records: list[dict[str, Any]]) -> list[str]:
    """Markdown bullets: predict_proba against the floor with the same run options (tfshare's own cost)."""
    lines = [
        "",
        "tfshare's runtimes run callables in the calling thread (`callable_caller_thread`); against that "
        "callable, `predict_proba`'s own cost (input validation, dispatch) is:",
        "",
    ]
    for r in records:
        if r["kind"] == "latency" and r["mode"] == "predict_proba" and r.get("ratio_vs_caller_thread") is not None:
            lines.append(
                f"- batch {r['batch_size']}: predict_proba {format_seconds(r['seconds']['median'])} = "
                f"{format_ratio(r['ratio_vs_caller_thread'])} the caller-thread callable, "
                f"{format_ratio(r['ratio_vs_floor'])} TF's default callable floor"
            )
    return lines if len(lines) > 3 else []


def summary_table(records: list[dict[str, Any]]) -> str:
    """Median latency per mode (rows) and batch size (columns), with ratios to floor/eager."""
    lat = [r for r in records if r["kind"] == "latency"]
    batches = sorted({r["batch_size"] for r in lat})
    by = {(r["mode"], r["batch_size"]): r for r in lat}
    head = "| mode | " + " | ".join(f"batch {b}: median (vs floor, vs eager)" for b in batches) + " |"
    lines = [head, "|---|" + "---:|" * len(batches)]
    for mode in MODES:
        cells = []
        for b in batches:
            r = by.get((mode, b))
            if r is None:
                cells.append("-")
                continue
            wide = " (wide)" if r["seconds"]["wide_spread"] else ""
            cells.append(
                f"{format_seconds(r['seconds']['median'])}{wide} "
                f"({format_ratio(r['ratio_vs_floor'])}, {format_ratio(r['ratio_vs_eager'])})"
            )
        if any(c != "-" for c in cells):
            lines.append(f"| {mode} | " + " | ".join(cells) + " |")
    return "\n".join(lines + overhead_lines(records))


__all__ = [
    "BENCHMARK", "Config", "EAGER_MODES", "HEADERS", "MODES", "Setup", "latency", "overhead_lines", "run", "summary_table", "table",
    "thread_scaling",
]
