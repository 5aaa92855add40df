"""A finding: one diagnosis of what a block's TensorFlow code did, with its place and its fix.

Each kind has a fixed severity (``error``: results are wrong or code will
fail; ``warning``: it works, and costs time or memory, or trains what it
should not; ``info``: worth knowing, often intended), a fix and a section
of ``docs/tf1_code.md`` that explains it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

DOCS = "docs/tf1_code.md"
SEVERITIES = ("error", "warning", "info")


@dataclasses.dataclass(frozen=True)
class Kind:
    """What every finding of one kind shares."""

    name: str
    severity: str
    title: str
    anchor: str
    fix: str


_KINDS = [
    Kind("graph_growth", "warning", "Graph growth", "graph-growth",
         "Build the op once, before the loop (not inside the function called per step), and only run it in the "
         "loop; feed new inputs through a placeholder. graph.finalize() turns any later op into an error."),
    Kind("session_per_call", "warning", "A Session per call", "a-session-per-call",
         "Create one Session per graph, keep it, and reuse it for every call (or tfshare.GraphSession, whose "
         "cached callables skip Session.run's Python work)."),
    Kind("nothing_shared", "info", "Nothing shared", "nothing-shared",
         "If these models should share their body, reuse the layer objects (call one layer on each input), "
         "use tf.compat.v1.make_template, or a tfshare SharedTrunk / TemplateTrunk; if each must learn alone, "
         "this is expected."),
    Kind("shared_interference", "warning", "Shared, and training interferes", "shared-and-training-interferes",
         "Train the shared variables with every model that reads them (one joint loss), or freeze them for "
         "the others (var_list= only the head, trainable=False, stop_gradient); BatchNorm statistics of a "
         "shared body move with any training-mode run."),
    Kind("retracing", "warning", "tf.function retracing", "tffunction-retracing",
         "Per instance: one module-level tf.function taking the weights as arguments. New shapes or dtypes: "
         "input_signature=[tf.TensorSpec([None, ...], dtype)] or reduce_retracing=True. Python values: "
         "pass tensors (tf.constant), or fix the value."),
    Kind("keras3", "warning", "Keras 3 near a v1 graph or Session", "keras-3-near-a-v1-graph-or-session",
         "Use Keras 2: `import tf_keras as keras` (pip install tf-keras at TensorFlow's minor version) instead "
         "of tf.keras / keras, which is Keras 3 on TensorFlow >= 2.16 and has no graph or Session support."),
    Kind("base_class_swap", "error", "tf_keras's base-class swap", "tf_kerass-base-class-swap",
         "Construct tf_keras layer objects in eager mode (outside `with graph.as_default()`) and call them on "
         "graph tensors, as tfshare does; or construct all of them inside graphs. Never mix the two for one "
         "class."),
    Kind("uninitialized", "error", "Uninitialized variables", "uninitialized-or-re-initialized-variables",
         "Run tf.compat.v1.global_variables_initializer() once after the last variable is created (after the "
         "optimizer's minimize), or restore a checkpoint."),
    Kind("reinitialized", "error", "Re-initialized variables", "uninitialized-or-re-initialized-variables",
         "Run the initializer once, right after building, never per call or after training; to start from "
         "saved values restore a checkpoint instead."),
]
KINDS: dict[str, Kind] = {k.name: k for k in _KINDS}


@dataclasses.dataclass(frozen=True)
class Finding:
    """One diagnosis.

    Attributes:
      kind: one of ``KINDS`` (e.g. "graph_growth").
      severity: "error", "warning" or "info".
      message: one line, with the figures.
      where: "file:line" in the user's code ("" when no user line is known).
      fix: one or two sentences.
      docs: the docs section that explains it ("docs/tf1_code.md#...").
      count: how many times it happened (ops, Sessions, traces, variables...).
      details: JSON-ready figures.
    """

    kind: str
    severity: str
    message: str
    where: str
    fix: str
    docs: str
    count: int = 1
    details: dict = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the schema of ``docs/tf1_code.md``)."""
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        where = f" at {self.where}" if self.where else ""
        return f"[{self.severity}] {self.kind}{where}: {self.message}\n      fix: {self.fix} ({self.docs})"


def format_bytes(n: int) -> str:
    """``n`` bytes, readable: "7.1 MiB", "3.0 KiB", "48 B"."""
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def make(kind: str, message: str, where: Any = None, count: int = 1, severity: str | None = None,
         **details: Any) -> Finding:
    """A finding of ``kind``, with that kind's fix and docs link."""
    spec = KINDS[kind]
    return Finding(kind, severity or spec.severity, message, "" if where is None else str(where), spec.fix,
                   f"{DOCS}#{spec.anchor}", int(count), details)


def worst_first(findings: list[Finding]) -> list[Finding]:
    """Errors, then warnings, then information; within each, the largest count first."""
    return sorted(findings, key=lambda f: (SEVERITIES.index(f.severity), -f.count, f.kind, f.where))


__all__ = ["DOCS", "Finding", "KINDS", "Kind", "SEVERITIES", "format_bytes", "make", "worst_first"]
