"""Writing a ``tf.Graph`` for TensorBoard's Graphs tab and as text (used by ``GraphSession.export_graph``)."""

from __future__ import annotations

import os
from typing import Any

from tfshare._tf import eager_mode, tf


def write_graph(graph: Any, logdir: str) -> None:
    """Writes ``graph`` into ``logdir`` as ``graph.pbtxt`` and a TensorBoard event file.

    Args:
      graph: a ``tf.Graph``.
      logdir: directory to write into (created if missing).
    """
    os.makedirs(logdir, exist_ok=True)
    graph_def = graph.as_graph_def()
    tf.io.write_graph(graph_def, logdir, "graph.pbtxt", as_text=True)
    with eager_mode():  # the summary API adds ops to a caller's graph context otherwise
        writer = tf.summary.create_file_writer(logdir)
        try:
            with writer.as_default():
                tf.summary.graph(graph_def)
            writer.flush()
        finally:
            writer.close()
