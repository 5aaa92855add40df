"""scripts/reliability.py runs end to end, for both models, and prints and writes its figures."""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import os
import subprocess
import sys

import pytest
from absl import app, flags

from tfshare.harness import machine, provenance

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([_ROOT, os.environ.get("PYTHONPATH", "")]),
               TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, os.path.join(_ROOT, "scripts", "reliability.py"),
         "--threads=4", "--calls=5", "--heads=2", "--cycles=3", *args],
        capture_output=True, text=True, env=env, timeout=300,
    )


@pytest.mark.slow
def test_script_runs_every_drill_for_both_models(tmp_path):
    output = tmp_path / "reliability.json"
    result = _run("--crash_runs=1", f"--output={output}")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for model in ("mlp", "cnn"):
        for needle in (
            "load          4 threads x 5 predict_proba calls, 1 classifier: 0 mismatches",
            "load_shared   4 threads x 5 predict_proba calls, 2 classifiers on one shared trunk: 0 mismatches",
            "construction  16 threads building into one runtime at once: 16 built, 16 unique names",
            "crash bundle  save_runtime: 1 saving processes SIGKILLed",
            "training      2 fits driven to a NaN/Inf loss: 2 stopped with TrainingError",
            "lifecycle     3 build/use/close cycles: RSS growth",
        ):
            assert f"ok    {model:<4} {needle}" in out, out
    assert "crash save    DenseClassifier.save: 1 saving processes SIGKILLed" in out
    assert "0 losses" in out and "predictions as saved 1x" in out
    assert "crash save    ConvClassifier.save: 1 saving processes SIGKILLed" in out
    assert "BatchNorm statistics (4 variables) restored and moved 1x" in out
    assert "(x of shape [batch, 784]): 37 clear InputError/TypeError" in out
    assert "(x of shape [batch, 28, 28, 1]): 44 clear InputError/TypeError" in out
    assert "(its 4 BatchNorm statistics had moved in 2)" in out
    assert "18 of 18 drills passed (mlp, cnn)" in out
    assert "FAIL" not in out
    doc = json.loads(output.read_text())
    assert doc["benchmark"] == "reliability" and doc["config"]["model"] == "all"
    assert set(doc["models"]) == {"mlp", "cnn"}
    assert all(doc["models"][m]["drills"] == doc["models"][m]["passed"] == 9 for m in ("mlp", "cnn"))
    by_model = {(r["model"], r["drill"]): r for r in doc["records"]}
    assert len(by_model) == 18
    assert by_model["cnn", "crash save"]["statistics_restored"] == 1
    assert by_model["cnn", "bad input"]["input_shape"] == [28, 28, 1]


@functools.cache
def _script():
    spec = importlib.util.spec_from_file_location("reliability_script", os.path.join(_ROOT, "scripts", "reliability.py"))
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def test_script_rejects_extra_arguments():
    with pytest.raises(app.UsageError, match="unexpected arguments: extra"):
        _script().main(["reliability.py", "extra"])


def test_model_flag_takes_all_mlp_or_cnn_and_defaults_to_both():
    holder = _script()._MODEL
    assert holder.default == "all"
    parser = flags.FLAGS[holder.name].parser
    assert [parser.parse(v) for v in ("all", "mlp", "cnn")] == ["all", "mlp", "cnn"]
    with pytest.raises(ValueError, match=r"value should be one of <all\|mlp\|cnn>"):
        parser.parse("rnn")


@dataclasses.dataclass
class _Figures:
    passed: bool = True


def test_the_json_records_the_machine_and_checkout_taken_before_the_drills(tmp_path, monkeypatch):
    """Its date, load average and peak RSS are "at start", and the code that ran is the start's."""
    script, phase = _script(), {"now": "start"}
    monkeypatch.setattr(machine, "machine_info", lambda device=None: {"taken": phase["now"]})
    monkeypatch.setattr(provenance, "tfshare_info", lambda: {"version": "0", "commit": None, "dirty": phase["now"]})

    def drill(model):
        phase["now"] = "end"
        yield "fake", _Figures(), "ran"

    monkeypatch.setattr(script, "_DRILLS", (drill,))
    output = tmp_path / "reliability.json"
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["reliability.py", "--model=mlp", f"--output={output}"])
    try:
        script.main(["reliability.py"])
    finally:
        flags.FLAGS.unparse_flags()
    doc = json.loads(output.read_text())
    assert doc["machine"] == {"taken": "start"}
    assert doc["tfshare"] == {"version": "0", "commit": None, "dirty": "start"}
    assert doc["records"] == [{"model": "mlp", "drill": "fake", "passed": True}]
