"""tfshare.harness: how the lab measures, apart from what it measures.

* ``timing``: warm-up, calibrated loops, repeats, interleaved timing, Stats
  (median, IQR, p90, min, mean, stdev, n) with a wide-spread warning, and
  multi-thread throughput.
* ``memory``: RSS, peak RSS, the RSS a step adds, and a step run in a fresh process.
* ``introspect``: exact counts of ops, variables, parameter and GraphDef
  bytes, and FLOPs from TensorFlow's profiler.
* ``machine``: where the numbers come from (versions, CPU, BLAS and threads,
  TensorFlow's build, GPUs), device selection, and the environment report of
  ``scripts/check_env.py``; ``provenance``: what produced them (tfshare's
  version and git commit).
* ``results``: the versioned JSON result file; ``collect``: which of a
  directory's files a report shows (the newest of each config); ``report``: REPORT.md from a
  directory of them (which warns when they come from different machines or
  versions); ``tracing``: ``--trace_dir``'s graphs, FULL_TRACE steps and
  ``tf.profiler`` steps.

It knows no benchmark and reads no flags. Needs the ``bench`` extra
(psutil, threadpoolctl, matplotlib).
"""
