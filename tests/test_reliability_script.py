"""scripts/reliability.py runs end to end and prints its figures."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest
from absl import app

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_script_prints_every_figure():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([_ROOT, os.environ.get("PYTHONPATH", "")]),
               TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, os.path.join(_ROOT, "scripts", "reliability.py"),
         "--threads=4", "--calls=5", "--heads=2", "--crash_runs=1", "--cycles=3"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for needle in (
        "4 threads x 5 predict_proba calls, 1 classifier: 0 mismatches",
        "4 threads x 5 predict_proba calls, 2 classifiers on one shared trunk: 0 mismatches",
        "16 built, 16 unique names",
        "DenseClassifier.save: 1 saving processes SIGKILLed",
        "save_runtime: 1 saving processes SIGKILLed",
        "0 losses",
        "clear InputError/TypeError",
        "2 stopped with TrainingError",
        "3 build/use/close cycles: RSS growth",
        "9 of 9 drills passed",
    ):
        assert needle in out, out
    assert "FAIL" not in out


def test_script_rejects_extra_arguments():
    spec = importlib.util.spec_from_file_location("reliability_script", os.path.join(_ROOT, "scripts", "reliability.py"))
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    with pytest.raises(app.UsageError, match="unexpected arguments: extra"):
        script.main(["reliability.py", "extra"])
