"""tfshare.bench: the benchmarks, each a measurement body and an absl app.

Run them with ``tfshare-bench <app> [flags]`` or ``python -m tfshare.bench
<app> [flags]`` (``tfshare-bench --help`` lists the apps; the files in the
repository's ``benchmarks/`` folder are the same apps). They need the
``bench`` extra: ``pip install 'tfshare[bench]'``.

* ``graph_construction``, ``session_reuse``, ``variable_sharing``,
  ``marginal_cost``, ``efficiency``, ``distributed_sharing``: each
  benchmark's measurement logic, a frozen ``Config`` in, records out; no
  flags are read here (``dist_trainer``: the distributed benchmark's
  worker loop).
* ``models``: the ``--model=mlp|cnn`` every app runs, and the ``--data`` it
  runs on; ``reference``: the same models written out by hand in tf_keras,
  the references tfshare is compared with.
* ``sections`` and ``plots``: each benchmark's part of the report.
* ``apps``: the absl apps (flags -> a frozen config -> the body -> JSON);
  ``cli``: the ``tfshare-bench`` entry point.

The timing, memory, machine, results, report and tracing harness the bodies
use is ``tfshare.harness``. Nothing here is imported by ``import tfshare``.
"""
