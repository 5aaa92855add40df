"""benchmarks/marginal_cost.py in a tiny configuration: every mode and part, schema-valid JSON."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from absl import flags

from tfshare.bench import marginal_cost, results

ROOT = Path(__file__).resolve().parents[1]


def _run_app(argv):
    path = ROOT / "benchmarks" / "marginal_cost.py"
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("_bench_app_marginal_cost", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["marginal_cost", *argv])
    try:
        module.main(["marginal_cost"])
    finally:
        flags.FLAGS.unparse_flags()


@pytest.fixture(scope="module")
def doc(tmp_path_factory):
    out = tmp_path_factory.mktemp("mc") / "marginal_cost.json"
    _run_app(["--device=cpu", f"--output={out}", "--max_instances=3", "--batch_instances=2", "--repeats=1"])
    return results.read(out)


def test_records_cover_every_mode_and_part(doc):
    results.validate(doc)
    assert doc["benchmark"] == "marginal_cost"
    slopes = [r for r in doc["records"] if r["kind"] == "slope"]
    assert {(r["mode"], r["part"]) for r in slopes} == {
        (m, p) for m in marginal_cost.MODES for p in marginal_cost.PARTS
    }
    for r in slopes:
        assert len(r["values"]) == 3 and all(v > 0 for v in r["values"])
        slope, intercept = np.polyfit([1, 2, 3], r["values"], 1)
        assert r["slope_s_per_k"] == pytest.approx(slope) and r["intercept_s"] == pytest.approx(intercept)


def test_batch_records_are_relative_to_isolated(doc):
    batch = {r["mode"]: r for r in doc["records"] if r["kind"] == "batch"}
    assert set(batch) == set(marginal_cost.MODES)
    assert batch["isolated"]["vs_isolated"] == pytest.approx(1.0)
    for r in batch.values():
        assert r["n"] == 2 and r["total_s"]["n"] == 1
        assert r["vs_isolated"] == pytest.approx(r["total_s"]["median"] / batch["isolated"]["total_s"]["median"])


def test_naive_and_tfshare_paths_predict_the_same(runtime):
    config = marginal_cost.Config(max_instances=2, batch_instances=2, repeats=1)
    x = np.random.default_rng(0).random((1, 784), dtype=np.float32)
    outputs = {}
    for mode in ("shared_graph", "naive_shared"):
        driver = marginal_cost._Mode(mode, config)
        clf = driver.build()
        driver.initialize(clf)
        outputs[mode] = driver.first_predict(clf, x)
        driver.close()
    np.testing.assert_allclose(outputs["shared_graph"], outputs["naive_shared"], atol=1e-6)


def test_config_rejects_unknown_modes():
    with pytest.raises(ValueError, match=r"modes must be among .* got unknown \['bogus'\]"):
        marginal_cost.Config(modes=("bogus",))
