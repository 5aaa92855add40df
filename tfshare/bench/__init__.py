"""tfshare.bench: the measurement harness behind the benchmarks.

* ``timing``: warm-up, calibrated loops, repeats, interleaved timing, Stats
  (median, IQR, p90, min, mean, stdev, n) with a wide-spread warning, and
  multi-thread throughput.
* ``memory``: RSS, peak RSS, and the RSS a step adds.
* ``machine``: machine info for result files, device selection, the
  environment report of ``scripts/check_env.py``.
* ``results``: the versioned JSON result file (schema 1).
* ``introspect``: exact counts of ops, variables, parameter and GraphDef
  bytes, and FLOPs from TensorFlow's profiler.
* ``models``: the ``--model=mlp|cnn`` every app runs (each kind of object
  the apps compare, and data in the model's shape); ``reference``: the same
  models written out by hand in tf_keras, the references tfshare is compared with.
* ``graph_construction``, ``session_reuse``, ``variable_sharing``,
  ``marginal_cost``, ``efficiency``, ``distributed_sharing``: each
  benchmark's measurement logic, a frozen ``Config`` in, records out
  (``dist_trainer``: the distributed benchmark's worker process).
* ``report``: REPORT.md from a directory of result files, one section per
  benchmark and model; ``plots``: its matplotlib plots.

Library code here never reads absl flags; the apps under ``benchmarks/`` do.
"""

from tfshare.bench import introspect, machine, memory, results, timing
from tfshare.bench.results import SCHEMA
from tfshare.bench.timing import Stats, measure, measure_interleaved

__all__ = ["SCHEMA", "Stats", "introspect", "machine", "measure", "measure_interleaved", "memory", "results", "timing"]
