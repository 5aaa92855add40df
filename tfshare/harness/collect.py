"""Which result files a report shows: one per benchmark, model label and config, the newest of each.

``scan(directory)`` reads every ``*.json`` result file there and keys each
by ``ResultKey``: the benchmark, the model label (``results.model_label``:
the model, its sizes, classes and data) and the config key (``config_key``:
the flags the run was asked, the machine and the versions it ran on). Files
of one key are runs of one measurement: the newest is kept, the others are
listed as ``Dropped``, never lost without a word. ``config_labels`` says
what tells apart the configs of one benchmark and label, for headings.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import logging
import os
from typing import Any, Iterable, Mapping, NamedTuple

from tfshare.harness import results

_log = logging.getLogger(__name__)

#: Machine fields that must agree for numbers to be compared across files: the machine, the cores the run
#: could use (its affinity) and the device it ran on (one GPU machine runs both ``--device=cpu`` and ``gpu``).
MACHINE_KEYS = ("hostname", "cpu_model", "logical_cores", "usable_cores", "memory_total_bytes", "gpu_name",
                "platform", "device")
#: Version fields that must agree (the machine's, then tfshare's own).
VERSION_KEYS = ("python", "tensorflow", "tf_keras", "numpy")
#: Flags that say where the output goes, not what was measured: files that differ only in them are of one config.
UNMEASURED_FLAGS = ("output", "trace_dir")
#: Config fields left out of a config key when a file records no flags (schema 1, or written by code):
#: where its output went, and what the model label or the machine already records.
UNMEASURED_CONFIG = ("trace_dir", "model", "num_classes", "input_dim", "hidden_units", "filters", "input_shape",
                     "device", "tf_device")


class ResultKey(NamedTuple):
    """What ``scan`` keys a result document by: one report section each.

    Attributes:
      benchmark: the benchmark's name, e.g. "session_reuse".
      label: ``results.model_label``: the model, its sizes, classes and data.
      config: ``config_key``: the run's flags, machine and versions, as sorted (name, JSON value) pairs.
    """

    benchmark: str
    label: str
    config: tuple[tuple[str, str], ...]


@dataclasses.dataclass(frozen=True)
class Dropped:
    """A result file not shown: a newer file holds the same benchmark, model, data and config.

    Attributes:
      path: the file left out.
      kept: the newer file shown instead.
    """

    path: str
    kept: str


@dataclasses.dataclass(frozen=True)
class Loaded:
    """The result files of a directory, as ``scan`` read them.

    Attributes:
      docs: one document per benchmark, model label and config (the newest of each).
      paths: the file each document was read from.
      dropped: per key, the older files of that key, newest first (keys with one file have none).
    """

    docs: dict[ResultKey, dict[str, Any]]
    paths: dict[ResultKey, str]
    dropped: dict[ResultKey, list[Dropped]]


def config_key(doc: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """What a run was asked and where it ran, beyond its model and data: two files of one benchmark, model label
    and config key are two runs of one measurement, and the newer replaces the older.

    It holds every recorded flag as "--name" (but ``UNMEASURED_FLAGS``; a file
    without flags gives its config's fields instead, but ``UNMEASURED_CONFIG``),
    and the machine's ``MACHINE_KEYS`` and ``VERSION_KEYS``: the same flags on
    another machine, device or TensorFlow are another config. tfshare's
    version and commit are not in it: a re-run after a change of the code
    replaces the run before.

    Args:
      doc: a result document (``results.read``).

    Returns:
      Sorted (name, JSON-encoded value) pairs.
    """
    flags = doc.get("flags") or {}
    if flags:
        asked = {f"--{k}": v for k, v in flags.items() if k not in UNMEASURED_FLAGS}
    else:
        asked = {k: v for k, v in doc["config"].items() if k not in UNMEASURED_CONFIG}
    machine = doc["machine"]
    where = {k: machine.get(k) for k in (*MACHINE_KEYS, *VERSION_KEYS)}
    return tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in {**asked, **where}.items()))


def _run_date(doc: Mapping[str, Any]) -> str:
    date = doc["machine"].get("date")
    return date if isinstance(date, str) else ""


def scan(directory: str) -> Loaded:
    """Reads the result files in ``directory``, one document per benchmark, model label and config.

    Files that differ in the model, its sizes, classes or data (the label),
    or in any measured flag, the machine or the versions (``config_key``),
    are all kept. Of two or more files of one key, the newest run wins (the
    date the machine recorded, then the file's modification time), with a
    warning naming both; the others are listed in ``Loaded.dropped``. JSON
    files that are not result documents are skipped with a warning.

    Raises:
      FileNotFoundError: the directory has no result file.
    """
    found = []
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        try:
            doc = results.read(path)
        except ValueError as exc:  # another tool's JSON: say so, and go on
            _log.warning("skipping %s: %s", path, exc)
            continue
        found.append((_run_date(doc), os.path.getmtime(path), path, doc))
    loaded = Loaded({}, {}, {})
    for _, _, path, doc in sorted(found, key=lambda f: f[:3], reverse=True):  # newest first
        key = ResultKey(doc["benchmark"], results.model_label(doc), config_key(doc))
        if key in loaded.docs:
            kept = loaded.paths[key]
            _log.warning("%s and %s hold results of the same benchmark, model, data and config (%s, %s); "
                         "keeping the newer, %s", path, kept, key.benchmark, key.label, kept)
            loaded.dropped[key].append(Dropped(path, kept))
            continue
        loaded.docs[key], loaded.paths[key], loaded.dropped[key] = doc, path, []
    if not loaded.docs:
        raise FileNotFoundError(
            f"no result files (*.json with a 'schema' of {list(results.READABLE)}) in {directory!r}; run the "
            "benchmarks first, e.g. tfshare-bench session_reuse --quick"
        )
    return loaded


def _shown(name: str, value: str) -> str:
    value = json.loads(value)
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    return f"{name}={'default' if value is None and name.startswith('--') else value}"


def config_labels(keys: Iterable[tuple]) -> dict[tuple, str]:
    """What tells apart the configs of one benchmark and model label: key -> e.g. "--batch_size=256, --modes=default".

    A key whose benchmark and label no other key shares gets "". So does a key
    without a config (a (benchmark, label) pair).
    """
    groups: dict[tuple, list[tuple]] = {}
    for key in keys:
        groups.setdefault(tuple(key[:2]), []).append(key)
    labels = {}
    for members in groups.values():
        configs = [dict(key[2]) if len(key) > 2 else {} for key in members]
        names = sorted({n for c in configs for n in c})
        differ = [n for n in names if len({c.get(n) for c in configs}) > 1]
        for key, config in zip(members, configs):
            labels[key] = ", ".join(_shown(n, config.get(n, "null")) for n in differ) if len(members) > 1 else ""
    return labels


__all__ = ["Dropped", "Loaded", "MACHINE_KEYS", "ResultKey", "UNMEASURED_CONFIG", "UNMEASURED_FLAGS", "VERSION_KEYS",
           "config_key", "config_labels", "scan"]
