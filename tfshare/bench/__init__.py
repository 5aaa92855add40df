"""tfshare.bench: the measurement harness behind the benchmarks.

* ``timing``: warm-up, calibrated loops, repeats, interleaved timing, Stats
  (median, IQR, p90, min, mean, stdev, n) with a wide-spread warning, and
  multi-thread throughput.
* ``memory``: RSS, peak RSS, and the RSS a step adds.
* ``machine``: machine info for result files, device selection, the
  environment report of ``scripts/check_env.py``.
* ``results``: the versioned JSON result file (schema 1).
* ``introspect``: exact counts of ops, variables, parameter and GraphDef bytes.
* ``graph_construction``, ``session_reuse``, ``variable_sharing``,
  ``marginal_cost``, ``efficiency``, ``distributed_sharing``: each
  benchmark's measurement logic, a frozen ``Config`` in, records out
  (``dist_trainer``: the distributed benchmark's worker process).
* ``report``: REPORT.md and the plots from a directory of result files.

Library code here never reads absl flags; the apps under ``benchmarks/`` do.
"""

from tfshare.bench import introspect, machine, memory, results, timing
from tfshare.bench.results import SCHEMA
from tfshare.bench.timing import Stats, measure, measure_interleaved

__all__ = ["SCHEMA", "Stats", "introspect", "machine", "measure", "measure_interleaved", "memory", "results", "timing"]
