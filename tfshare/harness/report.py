"""The report: REPORT.md with tables and plots, from a directory of result files.

``build_report(directory, sections)`` reads every ``*.json`` result file
there, writes each section's plot as a PNG next to them, and writes
``REPORT.md``: the machine the numbers came from, a warning when the files
come from different machines or versions (``provenance_warnings``), then
one section per benchmark, model and data (``--model=mlp|cnn``, its sizes,
``--data``; results of different models or data are never mixed in one table
or plot), headed by the model and data it is for (``results.model_label``),
and per config: the flags, machine and versions of the run
(``collect.config_key``). Where one model has several configs, the heading
names what differs; where one config has several files, the newest is shown
and its section names the older ones (``collect.scan``).
What a section holds is the benchmark's business: ``sections`` maps a
benchmark's name to a ``Section`` (``tfshare.bench.sections.SECTIONS``).
The plots need matplotlib (the ``bench`` extra).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any, Callable, Mapping

from tfshare.harness import results
from tfshare.harness.collect import MACHINE_KEYS, VERSION_KEYS, Dropped, ResultKey, config_labels, scan
from tfshare.harness.timing import format_bytes

_log = logging.getLogger(__name__)

REPORT = "REPORT.md"


@dataclasses.dataclass(frozen=True)
class Section:
    """How one benchmark's results appear in the report.

    Attributes:
      title: the heading, before ": <model label>" (then the config, where one label has several).
      plot_file: the PNG's name for the MLP on the synthetic data; other models get
        "_<model>" before ".png", other data "_<data>" (a ``.npz`` path its file name).
      plot: draws the PNG: plot(records, path, label) -> path.
      body: the Markdown lines under the heading: body(document, plot file name).
    """

    title: str
    plot_file: str
    plot: Callable[[list[dict[str, Any]], str, str], str]
    body: Callable[[dict[str, Any], str], list[str]]

    def plot_name(self, model: str, data: str = "synthetic") -> str:
        """The plot's file name for ``model`` on ``data`` (a name of ``--data`` or a ``.npz`` path)."""
        parts = [model] if model != "mlp" else []
        if data != "synthetic":
            parts.append(os.path.splitext(os.path.basename(data))[0])
        return self.plot_file.replace(".png", "".join(f"_{p}" for p in parts) + ".png")


def load(directory: str) -> dict[ResultKey, dict[str, Any]]:
    """Reads the result files in ``directory``: (benchmark name, model label, config key) -> document.

    ``scan``'s documents: one per benchmark, model label and ``config_key``,
    the newest of each.

    Raises:
      FileNotFoundError: the directory has no result file.
    """
    return scan(directory).docs


def _fingerprint(doc: Mapping[str, Any], keys: tuple[str, ...]) -> tuple:
    machine = doc["machine"]
    return tuple(machine.get(k) for k in keys)


def _tfshare(doc: Mapping[str, Any]) -> tuple:
    """tfshare's version, commit and whether the checkout had uncommitted changes (None: unrecorded)."""
    info = doc.get("tfshare") or {}
    return info.get("version"), info.get("commit"), info.get("dirty")


def provenance_warnings(docs: Mapping[tuple, Mapping[str, Any]]) -> list[str]:
    """What differs between the files' machines and versions; empty when they agree.

    Machines are compared by ``MACHINE_KEYS`` and versions by ``VERSION_KEYS``
    plus tfshare's version, commit and dirty flag (a dirty checkout ran code
    that its commit does not hold; files of schema 1 record none, and say so).

    Args:
      docs: ``load``'s documents, or any mapping keyed by (benchmark, model label[, config key]).

    Returns:
      One sentence per difference, naming the files' benchmarks (and configs, where one label has several).
    """
    warnings = []
    configs = config_labels(docs)
    names = {key: f"{key[0]} ({key[1]}{', ' + configs[key] if configs[key] else ''})" for key in docs}
    checks = (
        ("machines", lambda d: _fingerprint(d, MACHINE_KEYS), MACHINE_KEYS),
        ("versions", lambda d: _fingerprint(d, VERSION_KEYS) + _tfshare(d), (*VERSION_KEYS, "tfshare", "commit", "dirty")),
    )
    for what, fingerprint, fields in checks:
        groups: dict[tuple, list[str]] = {}
        for key, doc in docs.items():
            groups.setdefault(fingerprint(doc), []).append(names[key])
        if len(groups) > 1:
            described = "; ".join(
                ", ".join(f"{f}={v}" for f, v in zip(fields, values) if v is not None) + f": {', '.join(sorted(files))}"
                for values, files in groups.items()
            )
            warnings.append(f"the result files come from {len(groups)} different {what}, so compare them with "
                            f"care ({described})")
    old = sorted(names[key] for key, doc in docs.items() if "tfshare" not in doc)
    if old:
        warnings.append(f"{', '.join(old)}: written before result files recorded tfshare's version, commit and flags")
    return warnings


def machine_table(doc: Mapping[str, Any]) -> str:
    """Where a document's numbers come from, as a two-column Markdown table."""
    machine, info = doc["machine"], doc.get("tfshare") or {}
    build, blas = machine.get("tf_build") or {}, machine.get("blas") or []
    commit = info.get("commit")
    rows = [
        ("date (UTC)", machine.get("date")),
        ("tfshare", f"{info.get('version', '-')}" + (f" ({commit[:12]}{', dirty' if info.get('dirty') else ''})"
                                                      if commit else "")),
        ("device", machine.get("device")),
        ("CPU", machine.get("cpu_model")),
        ("cores (logical / usable)", f"{machine.get('logical_cores')} / {machine.get('usable_cores')}"),
        ("memory", format_bytes(machine.get("memory_total_bytes"))),
        ("GPU", machine.get("gpu_name") or "none"),
        ("Python", machine.get("python")),
        ("TensorFlow / tf_keras / NumPy",
         f"{machine.get('tensorflow')} / {machine.get('tf_keras')} / {machine.get('numpy')}"),
        ("TensorFlow build", ", ".join(
            f"{k} {v}" for k, v in (("oneDNN", build.get("onednn_enabled")), ("CUDA", build.get("cuda_version")),
                                    ("cuDNN", build.get("cudnn_version"))) if v is not None) or "-"),
        ("BLAS (threads)", ", ".join(f"{b.get('internal_api')} {b.get('version')} ({b.get('num_threads')})"
                                     for b in blas if b.get("user_api") == "blas") or "-"),
        ("platform", machine.get("platform")),
        ("load average at start (1, 5, 15 min)",
         ", ".join(f"{v:.2f}" for v in machine.get("load_average") or []) or "-"),
    ]
    return "\n".join(["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows])


def _report_order(doc: Mapping[str, Any]) -> tuple:
    """Where a document's section goes among its benchmark's: the MLP first, then the other models by
    name; for each model the synthetic data first, then the others by name; then by label."""
    model, data = results.model_of(doc), results.data_of(doc)
    return model != "mlp", model, data != "synthetic", data, results.model_label(doc)


def _unused(name: str, used: set[str]) -> str:
    """``name``, or ``name`` with "_2", "_3", ... before its extension if ``used`` has it; added to ``used``."""
    stem, ext = os.path.splitext(name)
    candidate, n = name, 1
    while candidate in used:
        n += 1
        candidate = f"{stem}_{n}{ext}"
    used.add(candidate)
    return candidate


def _dropped_note(dropped: list[Dropped], kept: str) -> list[str]:
    """The line under a section's heading that names the older files of its config, not shown."""
    if not dropped:
        return []
    older = ", ".join(f"`{os.path.basename(d.path)}`" for d in dropped)
    return [f"From `{os.path.basename(kept)}`, the newest of {len(dropped) + 1} result files of this benchmark, "
            f"model, data and config; not shown, older: {older}.", ""]


def build_report(directory: str, sections: Mapping[str, Section], output: str | None = None) -> str:
    """Writes the plots and ``REPORT.md`` for the result files in ``directory``.

    Each benchmark, model label and config (``config_key``) gets a section;
    where one label has several configs, the heading names the flags (or
    machine fields) that tell them apart. Where one config has several files,
    the newest is shown and its section names the others.

    Args:
      directory: where the result files are; the plots are written there too.
      sections: benchmark name -> its Section; files of other benchmarks are
        listed, not tabulated.
      output: the report's path (default ``directory/REPORT.md``).

    Returns:
      The report's path.

    Raises:
      FileNotFoundError: no result files in ``directory``.
    """
    loaded = scan(directory)
    docs = loaded.docs
    configs = config_labels(docs)
    output = output or os.path.join(directory, REPORT)
    warnings = provenance_warnings(docs)
    for warning in warnings:
        _log.warning("%s", warning)
    lines = [
        "# tfshare benchmark report",
        "",
        "Numbers from one run on the machine below. On a shared or busy machine they are noisy: "
        "compare the ratios of modes measured side by side rather than absolute times. "
        "Entries marked (wide) had an inter-quartile range over 25% of the median. "
        "Each section holds the results of one model on one data set, named in its heading "
        "(`--model=mlp|cnn` and its sizes; `--data`, unless the synthetic data), "
        "and of one config: where a model has results of several, the heading names the flags that differ.",
        *(f"\n> **Warning:** {w}." for w in warnings),
        "",
        "## Machine",
        "",
        machine_table(next(iter(docs.values()))),
    ]
    plots: set[str] = set()
    for name, section in sections.items():
        keys = sorted((k for k in docs if k.benchmark == name), key=lambda k: (*_report_order(docs[k]), configs[k]))
        for key in keys:
            doc = docs[key]
            label = key.label + (f", {configs[key]}" if configs[key] else "")
            # Sizes and configs are not in the name: a second MLP of other hidden units gets "_2".
            plot_file = _unused(section.plot_name(results.model_of(doc), results.data_of(doc)), plots)
            plot_path = os.path.join(os.path.dirname(os.path.abspath(output)), plot_file)
            try:
                section.plot(doc["records"], plot_path, label)
                body = section.body(doc, os.path.basename(plot_path))
            except (KeyError, TypeError, ValueError) as exc:  # records of an older layout
                _log.warning("cannot tabulate %s (%s): %s %s", name, label, type(exc).__name__, exc)
                body = [f"Not tabulated: its records lack {exc} (written by an older version of the benchmark)."]
            lines += ["", f"## {section.title}: {label}", "", *_dropped_note(loaded.dropped[key], loaded.paths[key]),
                      *body]
    unknown = sorted({key.benchmark for key in docs} - set(sections))
    if unknown:
        lines += ["", f"Other result files (not tabulated): {', '.join(unknown)}."]
    with open(output, "w") as f:
        f.write("\n".join(lines) + "\n")
    return output


__all__ = ["MACHINE_KEYS", "REPORT", "Section", "VERSION_KEYS", "build_report", "load", "machine_table",
           "provenance_warnings"]
