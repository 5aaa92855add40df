"""The flags every benchmark app takes, in tf_cnn_benchmarks' spelling, and what each app's main does.

Every app defines its own flags, adopts these, and calls ``run``:

* ``--model`` (mlp|cnn), with ``--hidden_units`` (the MLP's) and ``--filters`` (the CNN's);
* ``--data``: synthetic, digits, mnist, or the path of a ``.npz`` file;
* ``--batch_size``: one size or a comma list (an app that takes one says so);
* ``--num_intra_threads``, ``--num_inter_threads``: every runtime's threads
  (unset: tfshare's default, the usable cores on CPU), and TensorFlow's
  process-wide ones for the eager modes;
* ``--device`` (auto|cpu|gpu);
* ``--num_warmup``, ``--min_time``: untimed calls first, and the seconds each timed value covers;
* ``--repeats``, ``--quick``, ``--output``, ``--trace_dir``, ``--seed``, ``--modes``.

Unknown or conflicting values are ``app.UsageError``s (absl prints them and
exits 1). This module reads FLAGS; the benchmark bodies never do: they get a
frozen config.
"""

from __future__ import annotations

import logging as std_logging
import os
import sys
from typing import Any, Callable

from absl import app, flags, logging

from tfshare._tf import tf
from tfshare.bench import models
from tfshare.errors import DataError, InputError
from tfshare.harness import machine, provenance, results
from tfshare.runtime import GraphSession

MODEL = flags.DEFINE_enum(
    "model", "mlp", list(models.MODELS),
    "The classifier every mode runs: mlp (DenseClassifier, --hidden_units) or cnn (ConvClassifier: "
    "Conv-BN-ReLU-MaxPool, Conv-BN-ReLU-GlobalAvgPool, Dropout, Dense; --filters).",
)
HIDDEN_UNITS = flags.DEFINE_list(
    "hidden_units", None, "Units per hidden layer of every classifier (--model=mlp; default 64, the app may say otherwise)."
)
FILTERS = flags.DEFINE_list("filters", ["32", "64"], "Filters per conv block of every classifier (--model=cnn).")
DATA = flags.DEFINE_string(
    "data", "synthetic",
    "The data: synthetic (the embedded MNIST-shaped set: 784 features or 28x28x1 images; timed inputs are uniform "
    "noise), digits (scikit-learn's 8x8 digits), mnist (tf_keras.datasets: a network or a cached file), or the path "
    "of a .npz file with x_train, y_train, x_test, y_test. The model takes the data's shape.",
)
BATCH_SIZE = flags.DEFINE_list(
    "batch_size", None, "Rows per call: one size or a comma list (default: the app's; an app that takes one says so)."
)
NUM_INTRA_THREADS = flags.DEFINE_integer(
    "num_intra_threads", None,
    "Threads inside one op, for every runtime (and TensorFlow's process-wide setting, for the eager modes). "
    "Unset: tfshare's default, the usable cores on CPU.", lower_bound=1,
)
NUM_INTER_THREADS = flags.DEFINE_integer(
    "num_inter_threads", None, "Ops run in parallel; as --num_intra_threads.", lower_bound=1
)
DEVICE = flags.DEFINE_enum(
    "device", "auto", ["auto", "cpu", "gpu"],
    "Where to run: cpu, gpu (GPU:0, memory growth on; fails if there is none) or auto (GPU:0 if visible).",
)
NUM_WARMUP = flags.DEFINE_integer(
    "num_warmup", None, "Untimed calls (or builds) of each mode before timing (default: the app's).", lower_bound=0
)
MIN_TIME = flags.DEFINE_float(
    "min_time", None,
    "Seconds each timed value covers at least: calls are looped until then (default 0.02, 0.001 with --quick).",
    lower_bound=1e-6,
)
REPEATS = flags.DEFINE_integer(
    "repeats", None, "Timed repeats per measurement (default: the app's, fewer with --quick).", lower_bound=1
)
QUICK = flags.DEFINE_bool("quick", False, "Small sizes and few repeats: a demo or smoke run, not a measurement.")
OUTPUT = flags.DEFINE_string(
    "output", None,
    "The JSON results (default: results/<app>.json under the current folder; results/<app>_<model>.json for a "
    "model other than mlp, and _<data> after it for data other than synthetic, _<name>-npz for a .npz file).",
)
TRACE_DIR = flags.DEFINE_string(
    "trace_dir", None,
    "Also write, per mode, TensorBoard traces of one step under DIR/<app>[_<model>]/<mode>: the graph and a "
    "FULL_TRACE step (plus timeline.json) for graph-mode modes, a tf.profiler step for eager ones.",
)
SEED = flags.DEFINE_integer("seed", 0, "Seed of weights and inputs.", lower_bound=0)
MODES = flags.DEFINE_list("modes", None, "Modes to measure, comma-separated (default: all of the app's modes).")


def pick(value: Any, default: Any, quick: Any) -> Any:
    """A flag's value if it was given, else the --quick or the normal default."""
    if value is not None:
        return value
    return quick if QUICK.value else default


def ints(values: list[str], name: str, unique: bool = False) -> tuple[int, ...]:
    """Parses a list flag of positive integers.

    Args:
      values: the flag's strings.
      name: the flag's name, for messages.
      unique: refuse a repeated value (lists whose values key the results, such as batch sizes).
    """
    try:
        parsed = tuple(int(v) for v in values)
    except ValueError:
        raise app.UsageError(f"--{name} must be a comma-separated list of integers, got {values}") from None
    if not parsed or min(parsed) < 1:
        raise app.UsageError(f"--{name} must list positive integers, got {values}")
    repeated = sorted({v for v in parsed if parsed.count(v) > 1}) if unique else []
    if repeated:  # tables and records are keyed by these values: a repeat would be measured, then dropped
        raise app.UsageError(f"--{name} must list each value once, got {values} ({repeated} repeated)")
    return parsed


def batch_sizes(default: tuple[int, ...]) -> tuple[int, ...]:
    """--batch_size as a tuple of positive ints (``default`` when unset)."""
    return default if BATCH_SIZE.value is None else ints(BATCH_SIZE.value, "batch_size", unique=True)


def batch_size(default: int, app_name: str) -> int:
    """--batch_size for an app that takes one size.

    Raises:
      app.UsageError: a list of several sizes was given.
    """
    sizes = batch_sizes((default,))
    if len(sizes) != 1:
        raise app.UsageError(f"--batch_size: {app_name} takes one batch size, got {list(sizes)}")
    return sizes[0]


def modes(known: tuple[str, ...], required: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The --modes the app knows, in its canonical order, plus ``required`` ones."""
    chosen = set(MODES.value or known)
    unknown = sorted(chosen - set(known))
    if unknown:
        raise app.UsageError(f"--modes: unknown {unknown}; choose among {list(known)}")
    chosen |= set(required)
    return tuple(m for m in known if m in chosen)


def model(hidden_units_default: tuple[int, ...] = (64,)) -> models.Model:
    """The ``Model`` of --model on --data, with its sizes from --hidden_units or --filters.

    Raises:
      app.UsageError: an unknown --data, data that cannot be loaded, images the model cannot take, or
        sizes (--filters, --hidden_units) whose body cannot be built on the data's shape.
    """
    hidden = hidden_units_default if HIDDEN_UNITS.value is None else ints(HIDDEN_UNITS.value, "hidden_units")
    try:
        chosen = models.model(MODEL.value, hidden, ints(FILTERS.value, "filters"), DATA.value)
        chosen.input_shape  # loads the data once, here: a bad --data fails before anything runs
    except (InputError, DataError, OSError) as exc:
        raise app.UsageError(f"--data={DATA.value} (--model={MODEL.value}): {exc}") from None
    try:  # one throwaway build: e.g. too many --filters for small images fails here, not mid-run
        with GraphSession(device="cpu", shard_size=None) as probe:
            chosen.classifier(chosen.num_classes, runtime=probe)
    except InputError as exc:
        sizes = (f"--filters={','.join(FILTERS.value)}" if MODEL.value == "cnn"
                 else f"--hidden_units={','.join(map(str, hidden))}")
        raise app.UsageError(f"{sizes} (--model={MODEL.value}, --data={DATA.value}): {exc}") from None
    return chosen


def for_model(mlp: Any, cnn: Any) -> Any:
    """The app's default for the --model being run (e.g. fewer CNN classifiers)."""
    return cnn if MODEL.value == "cnn" else mlp


def not_applicable(app_name: str, *holders: Any) -> None:
    """Logs that flags the user set do nothing in this app (e.g. --min_time where every build is timed once)."""
    for holder in holders:
        if holder.present:
            logging.warning("--%s does not apply to %s; ignored", holder.name, app_name)


def quiet_tensorflow() -> None:
    """Silences TensorFlow's Python warnings (e.g. tf.function retracing, expected here)."""
    std_logging.getLogger("tensorflow").setLevel(std_logging.ERROR)


def resolve_device(benchmark: str) -> tuple[str, str]:
    """Applies --device: returns ("cpu" or "gpu", the TensorFlow device string).

    Exits with a clear message and status 1 when --device=gpu but no GPU is visible.
    """
    try:
        tf_device = machine.select_device(DEVICE.value)
    except InputError as exc:
        print(f"{benchmark}: --device={DEVICE.value}: {exc}", file=sys.stderr)
        sys.exit(1)
    return ("gpu" if "GPU" in tf_device else "cpu"), tf_device


def apply_threads() -> dict[str, int | None]:
    """Sets TensorFlow's process-wide threads from the flags (the eager modes'); returns the runtimes' settings.

    TensorFlow refuses a change once its runtime has started (a warning says so
    and the eager modes keep its settings; the machine info records them).
    """
    intra, inter = NUM_INTRA_THREADS.value, NUM_INTER_THREADS.value
    for value, setter in ((intra, tf.config.threading.set_intra_op_parallelism_threads),
                          (inter, tf.config.threading.set_inter_op_parallelism_threads)):
        if value is None:
            continue
        try:
            setter(value)
        except RuntimeError as exc:
            logging.warning("eager modes keep TensorFlow's process-wide threads: %s", exc)
    return {"intra_op_threads": intra, "inter_op_threads": inter}


def flag_values(app_module: str) -> dict[str, Any]:
    """Every flag of an app (its own and these, which it adopts), by name: what the result file records.

    Args:
      app_module: the app's module name, e.g. "tfshare.bench.apps.session_reuse".
    """
    return {f.name: f.value for f in sorted(flags.FLAGS.get_key_flags_for_module(app_module), key=lambda f: f.name)}


def stem(benchmark: str, model_name: str, data: str) -> str:
    """The run's file and trace folder name: ``benchmark``, then ``_<model>`` unless the MLP, and
    ``_<data>`` unless the synthetic data.

    A ``.npz`` path goes by its file name with the extension as ``-npz``
    (``digits.npz`` gives ``digits-npz``), so it never takes the name of a
    built-in dataset (``--data=digits`` gives ``digits``).
    """
    parts = [benchmark]
    if model_name != "mlp":
        parts.append(model_name)
    if data != "synthetic":
        root, ext = os.path.splitext(os.path.basename(data))
        parts.append(root + ext.replace(".", "-"))
    return "_".join(parts)


def output_path(name: str) -> str:
    """--output (default ``results/<name>.json``), checked before anything runs: a file path under a writable folder.

    Raises:
      app.UsageError: it names a folder, or its nearest existing parent is a
        file or not writable (the run would be lost when its results are written).
    """
    path = OUTPUT.value or os.path.join("results", f"{name}.json")
    if path.endswith(("/", os.sep)) or os.path.isdir(path):
        raise app.UsageError(f"--output must be the path of a JSON file, got {path!r}, a folder")
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise app.UsageError(f"--output must be a path under a folder, got {path!r}, under the file {parent!r}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise app.UsageError(f"--output must be writable, got {path!r}, under {parent!r}, which this user cannot write")
    return path


def printer(headers: dict[str, str], table_row: Callable[[dict], str]) -> Callable[[dict], None]:
    """Returns an on_record callback that prints Markdown tables as records arrive.

    Args:
      headers: record kind -> the Markdown header of its table.
      table_row: formats one record as a row.
    """
    last: list[str] = []

    def on_record(record: dict) -> None:
        kind = record["kind"]
        if last[-1:] != [kind]:
            print(("\n" if last else "") + headers[kind], flush=True)
            last.append(kind)
        print(table_row(record), flush=True)

    return on_record


def run(bench: Any, argv: list[str], make_config: Callable[[dict], Any], *,
        hidden_units_default: tuple[int, ...] = (64,)) -> str:
    """What every app's main does: device, machine info, config, records, tables, JSON.

    Args:
      bench: the benchmark's body module (BENCHMARK, HEADERS, table_row,
        run, and optionally summary_table).
      argv: main's argv (only the program name is allowed).
      make_config: builds the frozen config from the common values (device,
        tf_device, seed, model, num_classes, intra_op_threads,
        inter_op_threads, trace_dir) and the app's own flags.
      hidden_units_default: the MLP's hidden units when --hidden_units is unset.

    Returns:
      The path of the JSON file written.
    """
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    quiet_tensorflow()
    device, tf_device = resolve_device(bench.BENCHMARK)
    name = stem(bench.BENCHMARK, MODEL.value, DATA.value)
    path = output_path(name)  # before the data loads and the model builds: a bad --output costs nothing
    chosen = model(hidden_units_default)
    common: dict[str, Any] = {
        "device": device, "tf_device": tf_device, "seed": SEED.value, "model": chosen,
        "num_classes": chosen.num_classes, **apply_threads(),
        "trace_dir": None if TRACE_DIR.value is None else os.path.join(TRACE_DIR.value, name),
    }
    info, made_by = machine.machine_info(tf_device), provenance.tfshare_info()  # where and what runs, at its start
    try:
        config = make_config(common)
    except (InputError, DataError) as exc:  # a value the flags allowed but the config refuses
        raise app.UsageError(str(exc)) from None
    logging.info("%s: %s on %s (the JSON records the whole config)", bench.BENCHMARK, chosen.describe(), tf_device)
    logging.debug("%s", config)
    records = bench.run(config, printer(bench.HEADERS, bench.table_row))
    summary = getattr(bench, "summary_table", None)
    if summary is not None:
        print("\n" + summary(records))
    now = provenance.tfshare_info()
    if now != made_by:
        logging.warning("tfshare's checkout changed during the run (%s at the start, %s now); the JSON records "
                        "the start's, the code this process loaded", made_by, now)
    doc = results.make_document(bench.BENCHMARK, info, config, records,
                                flags=flag_values(f"tfshare.bench.apps.{bench.BENCHMARK}"),
                                gpu_memory=machine.gpu_memory(tf_device), made_by=made_by)
    results.write(path, doc)
    print(f"\nWrote {path}", flush=True)
    if TRACE_DIR.value is not None:
        print(f"Traces in {common['trace_dir']} (tensorboard --logdir {TRACE_DIR.value})", flush=True)
    return path
