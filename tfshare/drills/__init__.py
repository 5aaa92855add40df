"""tfshare.drills: reliability drills, each exercising one promise of the library.

* ``concurrency``: many threads predicting at once, building into one
  runtime at once, and predicting while ``fit`` runs.
* ``crash``: a process killed with SIGKILL while it saves, then restored.
* ``training``: fits driven to a NaN/Inf loss.
* ``lifecycle``: classifiers built, used and closed in a loop.

Each drill runs one of the models of ``tfshare.bench.models`` ("mlp" or
"cnn"), builds its own runtimes and returns a frozen dataclass of figures;
nothing is printed. ``scripts/reliability.py`` prints them (with the
bad-input table of ``tests/bad_inputs.py``) and ``tests/`` assert on them.
Nothing here is imported by ``import tfshare``.
"""
