"""audit(): what a block of TensorFlow code created, what it costs, and what to change.

>>> with tfshare.audit() as report:
...     with tf.Graph().as_default():
...         x = tf_keras.Input((784,))
...         model = tf_keras.Model(x, tf_keras.layers.Dense(10)(x))
>>> report.graphs_created, report.ops_added, report.variables_created
(1, 24, 2)
>>> print(report)            # the counts, then the findings, worst first

Or on a whole script, as ``cProfile`` runs one::

    python -m tfshare.audit [--json=PATH] [--fail-on=KIND,...] script.py [args...]

While an audit is active, a few TensorFlow entry points are wrapped
(``tfshare.audit.hooks`` lists them) and every audit that is active is told
about each event: graphs, ops, variables, Sessions and their calls, models,
``tf.function`` traces and tf_keras layer constructions. At the end the
report reads the graphs themselves: which variables two towers or two models
read (``tfshare.audit.sharing``), which ops were built again after a graph
was run, and the creation sites TensorFlow recorded for them. The findings
(``tfshare.audit.findings``) are explained, with their fixes, in
``docs/tf1_code.md``.

The wrappers are installed when the first audit starts and removed when the
last one ends, also when the block raises; nested audits each see everything
created inside them. Events from every thread are counted. The audit holds
only weak references, so it keeps no graph, model or variable alive (unless
``hold_graphs=True``).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from tfshare.audit import hooks
from tfshare.audit.findings import KINDS, Finding
from tfshare.audit.hooks import is_active
from tfshare.audit.report import AuditReport


@contextlib.contextmanager
def audit(hold_graphs: bool = False) -> Iterator[AuditReport]:
    """Reports what a block creates (graphs, ops, variables by role, models, Sessions, traces) and its findings.

    Example:
      >>> with tfshare.audit() as report:
      ...     a = DenseClassifier(runtime=gs)
      ...     b = DenseClassifier(runtime=gs)
      >>> print(report)            # a short table, then the findings
      >>> report.as_dict()         # plain numbers, and the findings as dicts
      >>> report.findings          # [Finding(kind, severity, message, where, fix, docs, ...)]

    Works on any code, not only tfshare's: graph-mode tf_keras models, eager
    models, ``make_template`` / ``variable_scope(reuse=...)`` code,
    ``tf.function`` methods and hand-opened Sessions. Audits nest; each one
    counts everything created inside it.

    Args:
      hold_graphs: keep every graph the block touches alive until the block
        ends, so that a graph built in a function that has returned is still
        read for sharing and growth (the command line does this).

    Yields:
      An ``AuditReport``, live inside the block and frozen when it ends.
    """
    report = AuditReport(hold_graphs=hold_graphs)
    hooks.activate(report)
    try:
        yield report
    finally:
        try:
            hooks.deactivate(report)
        finally:
            report._freeze()


__all__ = ["KINDS", "AuditReport", "Finding", "audit", "is_active"]
