"""The versioned result file every benchmark writes, and its reader.

Layout (schema 2)::

    {"schema": 2,
     "benchmark": "session_reuse",
     "tfshare": {"version": "0.2.0", "commit": "c0de6af...", "dirty": false},
     "machine": {...machine.machine_info()...},
     "flags": {...every flag of the app, by name...},
     "config": {...the run's frozen config...},
     "records": [{...}, ...],
     "gpu_memory": {"device", "current_bytes", "peak_bytes"} or null}

``tfshare`` says what produced the numbers (``provenance.tfshare_info``:
the commit is null outside a git checkout), ``machine`` where (versions,
CPU, BLAS and threads, TensorFlow's build), ``flags`` how the app was asked
(``flags`` may be empty for files written by code rather than an app).
Records are flat-ish dicts; timing summaries inside them come from
``Stats.to_dict`` and keep the raw values. The config's ``model`` says which
model the records are for (``Model.describe()``, e.g. {"model": "cnn",
"architecture": "conv", "input_shape": [28, 28, 1], "filters": [32, 64],
"data": "synthetic"}); files without one are the MLP's (``model_of``) on the
synthetic data (``data_of``). Files are written atomically
(a temporary file renamed into place), so a crash never leaves half a file.
Schema-1 files (before provenance was recorded) are still read. The JSON
Schema of each app's records is in ``docs/schemas/``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import tempfile
from typing import Any, Callable, Mapping, Sequence

from tfshare.harness import provenance

SCHEMA = 2
#: Schema versions ``read`` accepts: 1 lacks "tfshare" and "flags".
READABLE = (1, 2)
_KEYS = {1: ("schema", "benchmark", "machine", "config", "records"),
         2: ("schema", "benchmark", "tfshare", "machine", "flags", "config", "records")}


def _jsonable(value: Any) -> Any:
    """Converts dataclasses, tuples, NumPy scalars and non-finite floats for JSON.

    An object with a ``to_json()`` method (e.g. a benchmark ``Model``) is
    written as what that returns, also inside a dataclass.
    """
    to_json = getattr(type(value), "to_json", None)
    if callable(to_json):
        value = value.to_json()
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()  # NumPy scalar
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def make_document(
    benchmark: str,
    machine: Mapping[str, Any],
    config: Any,
    records: Sequence[Mapping[str, Any]],
    *,
    flags: Mapping[str, Any] | None = None,
    gpu_memory: Mapping[str, Any] | None = None,
    made_by: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Builds a result document of the current schema.

    Args:
      benchmark: the benchmark's name, e.g. "graph_construction".
      machine: ``machine.machine_info()`` output.
      config: the run's config (a dataclass or a mapping).
      records: one dict per measurement.
      flags: every flag of the app that ran, by name (None: not run by an app).
      gpu_memory: ``machine.gpu_memory()`` at the end of the run (None on CPU).
      made_by: ``provenance.tfshare_info()`` taken when the run started, as
        ``machine`` is: the code that ran (None: now, for documents made by
        code right after their measurements). A checkout committed or edited
        during a long run would otherwise be recorded as the code that ran.

    Returns:
      A JSON-ready dict that ``validate`` accepts.
    """
    doc = {
        "schema": SCHEMA,
        "benchmark": benchmark,
        "tfshare": _jsonable(provenance.tfshare_info() if made_by is None else made_by),
        "machine": _jsonable(machine),
        "flags": _jsonable(dict(flags or {})),
        "config": _jsonable(config),
        "records": _jsonable(list(records)),
        "gpu_memory": _jsonable(gpu_memory),
    }
    validate(doc)
    return doc


def validate(doc: Any) -> None:
    """Raises ValueError unless ``doc`` is a result document of a readable schema.

    Args:
      doc: a parsed result document.

    Raises:
      ValueError: a key is missing or has the wrong type, or the schema
        version is not one of ``READABLE``.
    """
    if not isinstance(doc, Mapping):
        raise ValueError(f"a result document must be a JSON object, got {type(doc).__name__}")
    if doc.get("schema") not in READABLE:
        raise ValueError(f"result schema must be one of {list(READABLE)}, got {doc.get('schema')!r}")
    missing = [k for k in _KEYS[doc["schema"]] if k not in doc]
    if missing:
        raise ValueError(f"result document lacks keys {missing}; it has {sorted(doc)}")
    if not isinstance(doc["benchmark"], str) or not doc["benchmark"]:
        raise ValueError(f"'benchmark' must be a non-empty string, got {doc['benchmark']!r}")
    for key in ("tfshare", "machine", "flags", "config"):
        if key in doc and not isinstance(doc[key], Mapping):
            raise ValueError(f"{key!r} must be an object, got {type(doc[key]).__name__}")
    if not isinstance(doc["records"], list) or not all(isinstance(r, Mapping) for r in doc["records"]):
        raise ValueError("'records' must be a list of objects")


def write(path: str | os.PathLike, doc: Mapping[str, Any]) -> str:
    """Validates ``doc`` and writes it atomically as indented JSON.

    Returns:
      The path written.
    """
    validate(doc)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent=1, allow_nan=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def read(path: str | os.PathLike) -> dict[str, Any]:
    """Reads and validates a result file.

    Raises:
      ValueError: the file is not a result document of a readable schema.
      OSError: the file cannot be read.
    """
    with open(path) as f:
        try:
            doc = json.load(f)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not JSON ({exc})") from None
    try:
        validate(doc)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return doc


def model_of(doc: Mapping[str, Any]) -> str:
    """The model a result document's records are for: "mlp", "cnn", ... ("mlp" when unrecorded)."""
    model = doc["config"].get("model")
    if isinstance(model, Mapping):
        return str(model.get("model", "mlp"))
    return str(model) if model else "mlp"


def data_of(doc: Mapping[str, Any]) -> str:
    """The data a result document's records are for: "synthetic" (also when unrecorded), "digits",
    "mnist" or the path of a ``.npz`` file, as ``--data`` gave it."""
    model = doc["config"].get("model")
    data = model.get("data") if isinstance(model, Mapping) else None
    return str(data) if data else "synthetic"


def model_label(doc: Mapping[str, Any]) -> str:
    """A short description of the model and data of a result document, e.g. "mlp (784-64-10)",
    "cnn (28x28x1 images, conv filters 32-64, 10 classes)" or "mlp (64-64-10) on digits".

    The data is named unless it is the synthetic data. The label names
    everything the config's ``model`` and ``num_classes`` record, so two
    documents of one label are of one model on one data set.
    """
    config = doc["config"]
    model = config.get("model") if isinstance(config.get("model"), Mapping) else config
    name, classes, data = model_of(doc), config.get("num_classes", 10), data_of(doc)
    on = "" if data == "synthetic" else f" on {data}"
    if "filters" in model:
        shape = "x".join(str(d) for d in model.get("input_shape", ()))
        filters = "-".join(str(f) for f in model["filters"])
        return f"{name} ({shape} images, conv filters {filters}, {classes} classes){on}"
    widths = [model.get("input_dim", 784), *model.get("hidden_units", ()), classes]
    return f"{name} ({'-'.join(str(w) for w in widths)}){on}"


def kind_tables(
    records: Sequence[Mapping[str, Any]],
    headers: Mapping[str, str],
    table_row: Callable[[Mapping[str, Any]], str],
    kinds: Sequence[str],
) -> str:
    """The records of each kind in ``kinds`` as a Markdown table (header + rows), blank-line separated.

    Kinds without records are left out.
    """
    parts = []
    for kind in kinds:
        rows = [table_row(r) for r in records if r["kind"] == kind]
        if rows:
            parts.append("\n".join([headers[kind], *rows]))
    return "\n\n".join(parts)


__all__ = ["READABLE", "SCHEMA", "data_of", "kind_tables", "make_document", "model_label", "model_of", "read",
           "validate", "write"]
