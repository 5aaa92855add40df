"""N classifiers with and without a shared trunk: size, speed and interference.

Two setups of N graph-mode classifiers of the ``--model`` (the MLP or the
CNN, ``tfshare.bench.models``) in one ``GraphSession``:

* ``separate``: each classifier has its own body (no variable sharing).
* ``shared_trunk``: every classifier is a head on one ``SharedTrunk``.

For each setup the benchmark records the parameter bytes, the checkpoint bytes
(one Saver over every distinct variable, and the sum of one ``save`` per
classifier, which repeats the trunk), the RSS the N classifiers add (built,
initialized, one prediction), and the time to predict with all N:

* ``fused``: ``tfshare.predict_many``, one Session call fetching all N
  probability tensors; with a shared trunk its input is fed once and the trunk
  computed once.
* ``one_by_one``: ``predict_proba`` on each classifier in turn.
* ``one_call``: ``predict_proba`` of one classifier (the yardstick of a fused call).
* ``eager`` / ``tf_function``: eager twins (same weights, an ``EagerTrunk``
  when shared), one by one.
* ``saved_model_all``: the N classifiers exported together
  (``tfshare.export_saved_model``) and loaded in TF2; its "all" signature
  answers all N in one eager call (the trunk once, heads as one matmul).

Interference: train classifier 0 for K steps, then measure the largest
absolute change of the other classifiers' probabilities on a fixed probe
batch. With a shared trunk it is greater than 0 (training one head moved the
trunk under the others, and the CNN's BatchNorm statistics with it); without
one it is exactly 0.

Memory is measured in a fresh subprocess per setup, after a warm-up there, so
neither setup's number is blurred by the allocator state the other left.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
import shutil
import tempfile
from typing import Any, Callable

import numpy as np

import tfshare
from tfshare import validation
from tfshare._tf import tf, tf1
from tfshare.bench.config import RunConfig
from tfshare.classifier import Classifier
from tfshare.eager import EagerClassifier
from tfshare.harness import introspect, machine, memory, results
from tfshare.harness.timing import (
    MIN_TIME,
    clock,
    format_bytes,
    format_ratio,
    format_seconds,
    measure_interleaved,
    paired_ratio,
    warn_if_wide,
)
from tfshare.harness.tracing import Tracer

_log = logging.getLogger(__name__)

BENCHMARK = "variable_sharing"
SETUPS = ("shared_trunk", "separate")
MODES = ("fused", "one_by_one", "one_call", "eager", "tf_function", "saved_model_all")
#: Modes that run no tf.compat.v1 Session (traced with tf.profiler).
EAGER_MODES = ("eager", "tf_function", "saved_model_all")


@dataclasses.dataclass(frozen=True)
class Config(RunConfig):
    """One run of the variable sharing benchmark (and ``RunConfig``'s device, model, threads, seed, traces).

    Attributes:
      num_classifiers: N, the classifiers per setup (>= 2).
      batch_size: rows per prediction (and per training step).
      modes: prediction modes to time, a subset of MODES.
      repeats, warmup, min_time: timing parameters (see tfshare.harness.timing).
      interference_steps: K, the training steps of classifier 0.
      learning_rate: the learning rate of those steps.
      per_classifier_checkpoints: also save each classifier on its own.
      memory_in_subprocess: measure each setup's RSS in a fresh process (else here).
    """

    num_classifiers: int = 32
    batch_size: int = 32
    modes: tuple[str, ...] = MODES
    repeats: int = 15
    warmup: int = 2
    min_time: float = MIN_TIME
    interference_steps: int = 10
    learning_rate: float = 1e-2
    per_classifier_checkpoints: bool = True
    memory_in_subprocess: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        for mode in self.modes:
            validation.choice(mode, "modes", MODES)
        validation.positive_int(self.num_classifiers, "num_classifiers", minimum=2)  # interference needs 2
        for name in ("batch_size", "repeats", "interference_steps"):
            validation.positive_int(getattr(self, name), name)
        validation.positive_int(self.warmup, "warmup", minimum=0)
        validation.positive_float(self.min_time, "min_time")


def fused_predictor(classifiers: list[Classifier]) -> Callable[[np.ndarray], list[np.ndarray]]:
    """Returns f(x) -> the N probability arrays, from ``tfshare.predict_many`` (one Session call)."""
    return lambda x: list(tfshare.predict_many(classifiers, x).values())


class Setup:
    """N graph classifiers (with or without a shared trunk) and their eager twins."""

    def __init__(self, name: str, config: Config) -> None:
        validation.choice(name, "setup", SETUPS)
        self.name, self.config = name, config
        n, seed, model, classes = config.num_classifiers, config.seed, config.model, config.num_classes
        self.runtime = config.graph_session()
        if name == "shared_trunk":
            self.trunk = model.shared_trunk(self.runtime, seed=seed)
            self.classifiers = [model.head(self.trunk, classes, seed=seed + 1 + i) for i in range(n)]
        else:
            self.trunk = None
            self.classifiers = [model.classifier(classes, runtime=self.runtime, seed=seed + 1 + i) for i in range(n)]
        self.runtime.initialize()
        self.fused = fused_predictor(self.classifiers)
        self.eager: dict[str, list[EagerClassifier]] = {}
        self.serving: Any = None
        self._export_dir = tempfile.mkdtemp(prefix="tfshare-variable-sharing-")

    def build_saved_model(self) -> None:
        """Exports the N classifiers into one SavedModel and loads its "all" signature in TF2."""
        path = tfshare.export_saved_model(self.classifiers, os.path.join(self._export_dir, "1"))
        with tf.device(self.config.tf_device):
            self._loaded = tf.saved_model.load(path)  # kept: the signature holds it weakly
        signature, names = self._loaded.signatures["all"], [c.name for c in self.classifiers]
        self.serving = lambda x: [t.numpy() for t in map(signature(x=tf.constant(x)).__getitem__, names)]

    def build_eager(self) -> None:
        """Builds the eager and tf.function twins and copies the graph weights into them."""
        model = self.config.model
        for mode in ("eager", "tf_function"):
            trunk = None
            if self.trunk is not None:
                trunk = model.eager_trunk(name=f"{mode}_trunk")
            twins = [
                model.eager(self.config.num_classes, trunk=trunk, use_tf_function=mode == "tf_function", name=f"{mode}_{i}")
                for i in range(len(self.classifiers))
            ]
            for clf, twin in zip(self.classifiers, twins):
                values = self.runtime.run(clf.named_variables)
                for key, variable in twin.named_variables.items():
                    variable.assign(values[key])
            self.eager[mode] = twins

    def predictors(self, x: np.ndarray) -> dict[str, Callable[[], Any]]:
        """Zero-argument callables that predict with all N classifiers, per mode."""
        table: dict[str, Callable[[], Any]] = {
            "fused": lambda: self.fused(x),
            "one_by_one": lambda: [c.predict_proba(x) for c in self.classifiers],
            "one_call": lambda: [self.classifiers[0].predict_proba(x)],
        }
        for mode, twins in self.eager.items():
            table[mode] = lambda twins=twins: [t.predict_proba(x) for t in twins]
        if self.serving is not None:
            table["saved_model_all"] = lambda: self.serving(x)
        return {mode: table[mode] for mode in self.config.modes if mode in table}

    def trace(self, tracer: Tracer, x: np.ndarray) -> None:
        """One traced prediction per mode (``tfshare.harness.tracing``).

        ``fused`` is traced as one Session run of all N probabilities per
        shard (``predict_many`` makes one call per shard, and a Session runs
        only its own graph), ``one_by_one`` and ``one_call`` as classifier 0's
        (on its shard's Session), the eager modes under ``tf.profiler``. Trace
        folders are named ``<setup>_<mode>``; when the N classifiers span
        several shards, ``fused`` writes one folder per shard,
        ``<setup>_fused_shard<i>`` (i: the shard's place in
        ``runtime.shards``).
        """
        first = self.classifiers[0]
        by_shard = {i: [c for c in self.classifiers if c.shard is shard] for i, shard in enumerate(self.runtime.shards)}
        by_shard = {i: group for i, group in by_shard.items() if group}
        for mode, fn in self.predictors(x).items():
            name = f"{self.name}_{mode}"
            if mode in EAGER_MODES:
                tracer.eager_step(name, fn)
            elif mode == "fused":
                for i, group in by_shard.items():
                    tracer.session_step(name if len(by_shard) == 1 else f"{name}_shard{i}", group[0].shard.session,
                                        [c.probabilities_tensor for c in group], {c.input_tensor: x for c in group})
            else:
                tracer.session_step(name, first.shard.session, first.probabilities_tensor, {first.input_tensor: x})

    def sizes(self) -> dict[str, int]:
        variables = [v for c in self.classifiers for v in c.variables]
        stats = introspect.graph_stats(self.runtime.graphs)  # every shard's graph
        return {
            "param_bytes": introspect.variable_bytes(variables),
            "variables": len({id(v) for v in variables}),
            "ops": stats["ops"],
            "graphdef_bytes": stats["graphdef_bytes"],
        }

    def checkpoint_bytes(self, directory: str) -> dict[str, int | None]:
        """Bytes on disk of one Saver over all distinct variables (one per shard), and of one save per classifier."""
        variables = list({id(v): v for c in self.classifiers for v in c.variables}.values())
        whole = os.path.join(directory, "whole")
        for i, shard in enumerate(self.runtime.shards):
            own = [v for v in variables if v.graph is shard.graph]
            if not own:
                continue
            with shard.building():
                saver = tf1.train.Saver(var_list=own, max_to_keep=1)
            os.makedirs(os.path.join(whole, str(i)), exist_ok=True)
            with shard.graph.as_default():
                saver.save(shard.session, os.path.join(whole, str(i), "ckpt"), write_meta_graph=False)
        result: dict[str, int | None] = {"checkpoint_bytes": _data_bytes(whole), "per_classifier_checkpoint_bytes": None}
        if self.config.per_classifier_checkpoints:
            total = 0
            for i, clf in enumerate(self.classifiers):
                path = os.path.join(directory, f"clf_{i}")
                clf.save(path)
                total += _data_bytes(path)
            result["per_classifier_checkpoint_bytes"] = total
        return result

    def interference(self, probe: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
        """Trains classifier 0 for K steps; returns how much it and the others changed."""
        config = self.config
        before = self.fused(probe)
        rows = config.interference_steps * config.batch_size
        x = rng.random((rows, *config.model.input_shape), dtype=np.float32)
        y = rng.integers(0, config.num_classes, rows)
        self.classifiers[0].fit(x, y, epochs=1, batch_size=config.batch_size,
                                learning_rate=config.learning_rate, shuffle=False)
        after = self.fused(probe)
        changes = [float(np.max(np.abs(a - b))) for a, b in zip(after, before)]
        return {"trained_head_change": changes[0], "interference_max_abs_change": max(changes[1:])}

    def close(self) -> None:
        for clf in self.classifiers:
            clf.close()
        self.runtime.close()
        shutil.rmtree(self._export_dir, ignore_errors=True)


def _data_bytes(directory: str) -> int:
    """Bytes of the checkpoint data and index files under ``directory``."""
    total = 0
    for root, _, files in os.walk(directory):
        for name in files:
            if ".data-" in name or name.endswith(".index"):
                total += os.path.getsize(os.path.join(root, name))
    return total


def _inputs(config: Config) -> np.ndarray:
    return config.model.inputs(config.batch_size, config.seed)


def _ready(setup: Setup, x: np.ndarray) -> None:
    """One fused and one own prediction per classifier: everything a server would build."""
    setup.fused(x)
    for clf in setup.classifiers:
        clf.predict_proba(x)


def setup_memory(name: str, config: Config) -> dict[str, int]:
    """The RSS one setup adds in this process: built, initialized, predicted with.

    A throwaway two-classifier setup runs first, so TensorFlow's one-off
    runtime costs are not counted. Meant to run in a fresh process
    (``memory.in_subprocess``).
    """
    machine.select_device(config.device)
    x = _inputs(config)
    with tf.device(config.tf_device):
        warm = Setup("separate", dataclasses.replace(config, num_classifiers=2))
        _ready(warm, x)
        warm.close()
        del warm
        with memory.track() as mem:
            setup = Setup(name, config)
            _ready(setup, x)
        setup.close()
    return mem.to_dict()


def measure_setup(name: str, config: Config, checkpoint_dir: str) -> list[dict[str, Any]]:
    """All measurements of one setup: a "setup" record and one "predict" record per mode."""
    x = _inputs(config)
    if config.memory_in_subprocess:
        mem = memory.in_subprocess(setup_memory, name, config)
    with memory.track() as here:
        start = clock()
        setup = Setup(name, config)
        build_s = clock() - start
        _ready(setup, x)
    if not config.memory_in_subprocess:
        mem = here.to_dict()
    try:
        record: dict[str, Any] = {
            "kind": "setup", "setup": name, "n": config.num_classifiers, "build_s": build_s,
            "memory_added": mem["added"], "peak_rss": mem["peak_rss"],
            "memory_measured_in": "subprocess" if config.memory_in_subprocess else "process", **setup.sizes(),
        }
        setup.build_eager()
        if "saved_model_all" in config.modes:
            setup.build_saved_model()
        fns = setup.predictors(x)
        outputs = {mode: fn() for mode, fn in fns.items()}
        reference = outputs.get("fused")
        stats = measure_interleaved(fns, config.repeats, config.warmup, config.min_time)
        predict = []
        for mode, s in stats.items():
            warn_if_wide(f"{name} {mode}", s)
            diff = None
            if reference is not None:
                diff = max(float(np.max(np.abs(np.asarray(a) - b))) for a, b in zip(outputs[mode], reference))
            predict.append({
                "kind": "predict", "setup": name, "mode": mode, "n": config.num_classifiers,
                "batch_size": config.batch_size, "seconds": s.to_dict(),
                "per_classifier_s": s.median / (1 if mode == "one_call" else config.num_classifiers),
                "ratio_vs_one_by_one": paired_ratio(s, stats["one_by_one"]) if "one_by_one" in stats else None,
                "ratio_vs_one_call": paired_ratio(s, stats["one_call"]) if "one_call" in stats else None,
                "ratio_vs_eager": paired_ratio(s, stats["eager"]) if "eager" in stats else None,
                "max_abs_diff_vs_fused": diff,
            })
        setup.trace(config.tracer(), x)
        record.update(setup.checkpoint_bytes(os.path.join(checkpoint_dir, name)))
        record.update(setup.interference(x, np.random.default_rng(config.seed + 1)))
    finally:
        setup.close()
        del setup
        gc.collect()
    return [record] + predict


def run(config: Config, on_record: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Measures both setups; see the module docstring.

    Args:
      config: what to measure.
      on_record: called with each record as soon as it is complete.

    Returns:
      Per setup, one ``kind="setup"`` record then one ``kind="predict"`` record per mode.
    """
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="tfshare-bench-") as checkpoint_dir, tf.device(config.tf_device):
        for i, name in enumerate(SETUPS, 1):
            _log.info("setup %d/%d: %s, %d classifiers", i, len(SETUPS), name, config.num_classifiers)
            for record in measure_setup(name, config, checkpoint_dir):
                records.append(record)
                if on_record is not None:
                    on_record(record)
    return records


SETUP_HEADER = (
    "| setup | N | params | checkpoint (one Saver) | checkpoints (one per classifier) | RSS added | ops "
    "| interference (max abs change of other heads) |\n|---|---:|---:|---:|---:|---:|---:|---:|"
)
PREDICT_HEADER = (
    "| setup | mode | all N, median | IQR | per classifier | vs one-by-one | vs one call | vs eager |\n"
    "|---|---|---:|---:|---:|---:|---:|---:|"
)

HEADERS = {"setup": SETUP_HEADER, "predict": PREDICT_HEADER}



def table_row(record: dict[str, Any]) -> str:
    """One Markdown row of a setup or predict record."""
    if record["kind"] == "setup":
        return (
            f"| {record['setup']} | {record['n']} | {format_bytes(record['param_bytes'])} "
            f"| {format_bytes(record['checkpoint_bytes'])} | {format_bytes(record['per_classifier_checkpoint_bytes'])} "
            f"| {format_bytes(record['memory_added'])} | {record['ops']} | {record['interference_max_abs_change']:.3g} |"
        )
    s = record["seconds"]
    wide = " (wide)" if s["wide_spread"] else ""
    return (
        f"| {record['setup']} | {record['mode']} | {format_seconds(s['median'])}{wide} | {format_seconds(s['iqr'])} "
        f"| {format_seconds(record['per_classifier_s'])} | {format_ratio(record['ratio_vs_one_by_one'])} "
        f"| {format_ratio(record.get('ratio_vs_one_call'))} "
        f"| {format_ratio(record['ratio_vs_eager'])} |"
    )


def table(records: list[dict[str, Any]]) -> str:
    """The setup table, then the prediction table, in Markdown."""
    return results.kind_tables(records, HEADERS, table_row, ("setup", "predict"))


__all__ = [
    "BENCHMARK", "Config", "EAGER_MODES", "HEADERS", "MODES", "SETUPS", "Setup", "fused_predictor", "measure_setup", "run",
    "table",
]
