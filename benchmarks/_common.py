"""Flags and plumbing shared by the benchmark apps (not a library: it reads FLAGS).

Every app defines its own flags, then uses these: ``--device``, ``--output``,
``--quick``, ``--repeats``, ``--seed``, ``--modes``, ``--model`` (mlp|cnn),
``--hidden_units`` (the MLP's) and ``--filters`` (the CNN's).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Callable

from absl import app, flags
from absl import logging as absl_logging

from tfshare.bench import machine, models, results
from tfshare.errors import InputError

DEVICE = flags.DEFINE_enum(
    "device", "auto", ["auto", "cpu", "gpu"],
    "Where to run: cpu, gpu (GPU:0, memory growth on; fails if there is none) or auto (GPU:0 if visible).",
)
OUTPUT = flags.DEFINE_string(
    "output", None,
    "Where to write the JSON results (default: results/<benchmark>.json, results/<benchmark>_cnn.json with --model=cnn).",
)
QUICK = flags.DEFINE_bool("quick", False, "Small sizes and few repeats: a demo or smoke run, not a measurement.")
REPEATS = flags.DEFINE_integer("repeats", None, "Timed repeats per measurement (default depends on --quick).",
                               lower_bound=1)
SEED = flags.DEFINE_integer("seed", 0, "Seed of weights and inputs.", lower_bound=0)
MODES = flags.DEFINE_list("modes", None, "Modes to measure, comma-separated (default: all of the app's modes).")
MODEL = flags.DEFINE_enum(
    "model", "mlp", list(models.MODELS),
    "The classifier every mode runs: mlp (DenseClassifier on 784 features, --hidden_units) or cnn "
    "(ConvClassifier's default on 28x28x1 images: Conv-BN-ReLU-MaxPool, Conv-BN-ReLU-GlobalAvgPool, "
    "Dropout, Dense; --filters).",
)
HIDDEN_UNITS = flags.DEFINE_list("hidden_units", ["64"], "Units per hidden layer of every classifier (--model=mlp).")
FILTERS = flags.DEFINE_list("filters", ["32", "64"], "Filters per conv block of every classifier (--model=cnn).")


def pick(value: Any, default: Any, quick: Any) -> Any:
    """A flag's value if it was given, else the --quick or the normal default."""
    if value is not None:
        return value
    return quick if QUICK.value else default


def ints(values: list[str], name: str) -> tuple[int, ...]:
    """Parses a list flag of positive integers."""
    try:
        parsed = tuple(int(v) for v in values)
    except ValueError:
        raise app.UsageError(f"--{name} must be a comma-separated list of integers, got {values}") from None
    if not parsed or min(parsed) < 1:
        raise app.UsageError(f"--{name} must list positive integers, got {values}")
    return parsed


def modes(known: tuple[str, ...], required: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The --modes the app knows, in its canonical order, plus ``required`` ones."""
    chosen = set(MODES.value or known)
    unknown = sorted(chosen - set(known))
    if unknown:
        raise app.UsageError(f"--modes: unknown {unknown}; choose among {list(known)}")
    chosen |= set(required)
    return tuple(m for m in known if m in chosen)


def model() -> models.Model:
    """The ``Model`` of --model, with its sizes from --hidden_units or --filters."""
    return models.model(MODEL.value, ints(HIDDEN_UNITS.value, "hidden_units"), ints(FILTERS.value, "filters"))


def for_model(mlp: Any, cnn: Any) -> Any:
    """The app's default for the --model being run (e.g. fewer CNN classifiers)."""
    return cnn if MODEL.value == "cnn" else mlp


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


def quiet_tensorflow() -> None:
    """Silences TensorFlow's Python warnings (e.g. tf.function retracing, expected here)."""
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


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


def run(bench: Any, argv: list[str], make_config: Callable[[dict], Any], *, with_model: bool = False) -> str:
    """What every app's main does: device, machine info, config, records, tables, JSON.

    Args:
      bench: the benchmark's library module (BENCHMARK, HEADERS, table_row,
        run, and optionally summary_table).
      argv: main's argv (only the program name is allowed).
      make_config: builds the frozen config from the common values
        (device, tf_device, seed, and hidden_units or model) and the app's own flags.
      with_model: the common values carry ``model`` (the --model's ``Model``,
        which the app's Config takes) in place of ``hidden_units``.

    Returns:
      The path of the JSON file written.
    """
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    quiet_tensorflow()
    device, tf_device = resolve_device(bench.BENCHMARK)
    info = machine.machine_info(tf_device)
    common: dict[str, Any] = {"device": device, "tf_device": tf_device, "seed": SEED.value}
    if with_model:
        common["model"] = model()
    else:
        common["hidden_units"] = ints(HIDDEN_UNITS.value, "hidden_units")
    try:
        config = make_config(common)
    except InputError as exc:
        raise app.UsageError(str(exc)) from None
    absl_logging.info("%s: %s", bench.BENCHMARK, config)
    records = bench.run(config, printer(bench.HEADERS, bench.table_row))
    summary = getattr(bench, "summary_table", None)
    if summary is not None:
        print("\n" + summary(records))
    return write(bench.BENCHMARK, info, config, records)


def write(benchmark: str, machine_info: dict, config: Any, records: list[dict]) -> str:
    """Writes the results JSON to --output and says where.

    The default path is results/<benchmark>.json for the MLP and
    results/<benchmark>_<model>.json for another model, so that runs of both
    models sit side by side (the report keeps them apart).

    Args:
      machine_info: ``machine.machine_info()`` taken when the run began.
    """
    model = getattr(config, "model", None)
    name = getattr(model, "name", model)  # a Model, or (distributed_sharing) its name
    stem = benchmark if name is None or name == "mlp" else f"{benchmark}_{name}"
    path = OUTPUT.value or os.path.join("results", f"{stem}.json")
    doc = results.make_document(benchmark, machine_info, config, records)
    results.write(path, doc)
    print(f"\nWrote {path}", flush=True)
    return path
