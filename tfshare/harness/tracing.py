"""Traces for ``--trace_dir``: what one step of each mode ran, for TensorBoard and trace viewers.

A ``Tracer`` writes one folder per mode under its directory:

* a graph-mode mode (a tf.compat.v1 Session runs it): an event file with the
  graph (TensorBoard's Graphs dashboard) and the ``RunMetadata`` of one step
  run with ``RunOptions.FULL_TRACE`` (the dashboard's "Session runs": compute
  time and memory per op), and ``timeline.json``, the same step in Chrome's
  trace format (open it in chrome://tracing or https://ui.perfetto.dev);
* an eager or ``tf.function`` mode: one step under ``tf.profiler`` (the
  ``plugins/profile/<run>/*.xplane.pb`` that TensorBoard's Profile tab opens,
  trace viewer included).

Tracing runs a step of its own, after or beside the timed ones, and never
during them: it adds no op to any graph (run options and a FileWriter only
read the graph) and changes no measured number. A disabled tracer (no
directory) does nothing, so the benchmarks call it unconditionally.

  tensorboard --logdir DIR
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any, Callable

from tfshare._tf import tf, tf1, timeline

_log = logging.getLogger(__name__)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", name).strip("_") or "mode"


class Tracer:
    """Writes one traced step per mode under ``directory`` (does nothing when it is None).

    Args:
      directory: the folder of this run's traces (made when the first trace
        is written), or None to trace nothing.
    """

    def __init__(self, directory: str | os.PathLike | None) -> None:
        self.directory = None if directory is None else os.fspath(directory)
        self.written: list[str] = []

    @property
    def enabled(self) -> bool:
        """Whether traces are written."""
        return self.directory is not None

    def _folder(self, mode: str) -> str:
        path = os.path.join(self.directory, _slug(mode))
        os.makedirs(path, exist_ok=True)
        return path

    def graph_step(self, mode: str, graph: Any, step: Callable[[Any, Any], Any]) -> str | None:
        """Writes ``graph`` and one FULL_TRACE step of a graph-mode mode.

        Args:
          mode: the mode's name (its folder's name).
          graph: the ``tf.Graph`` the step runs.
          step: runs the mode's step once, given ``options`` (a RunOptions
            with FULL_TRACE) and ``run_metadata`` (a RunMetadata to fill),
            e.g. ``lambda o, m: session.run(fetch, feed, options=o, run_metadata=m)``.

        Returns:
          The mode's folder, or None when tracing is off.
        """
        if not self.enabled:
            return None
        folder = self._folder(mode)
        options = tf1.RunOptions(trace_level=tf1.RunOptions.FULL_TRACE)
        metadata = tf1.RunMetadata()
        step(options, metadata)
        with graph.as_default():  # the v1 FileWriter refuses eager mode; it adds no op
            writer = tf1.summary.FileWriter(folder, graph=graph)
        try:
            writer.add_run_metadata(metadata, f"{_slug(mode)}_step")
        finally:
            writer.close()
        with open(os.path.join(folder, "timeline.json"), "w") as f:
            f.write(timeline.Timeline(metadata.step_stats, graph=graph).generate_chrome_trace_format())
        self.written.append(folder)
        _log.info("trace of %s: %s", mode, folder)
        return folder

    def session_step(self, mode: str, session: Any, fetches: Any, feed_dict: dict | None = None) -> str | None:
        """``graph_step`` of ``session.run(fetches, feed_dict)`` on ``session``'s graph."""
        return self.graph_step(
            mode, session.graph,
            lambda options, metadata: session.run(fetches, feed_dict, options=options, run_metadata=metadata),
        )

    def eager_step(self, mode: str, step: Callable[[], Any]) -> str | None:
        """Runs ``step`` once under ``tf.profiler`` (an eager or ``tf.function`` mode).

        Returns:
          The mode's folder, or None when tracing is off.
        """
        if not self.enabled:
            return None
        folder = self._folder(mode)
        tf.profiler.experimental.start(folder)
        try:
            step()
        finally:
            tf.profiler.experimental.stop()
        self.written.append(folder)
        _log.info("profile of %s: %s", mode, folder)
        return folder


#: A tracer that writes nothing (the default of every benchmark).
OFF = Tracer(None)

__all__ = ["OFF", "Tracer"]
