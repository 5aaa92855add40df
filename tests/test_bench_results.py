"""tfshare.harness.results, provenance, report, memory and machine: result files, RSS tracking, machine info."""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import subprocess

import numpy as np
import pytest

import tfshare
from tfshare.bench import models
from tfshare.harness import machine, memory, provenance, report, results

ROOT = pathlib.Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class _Config:
    sizes: tuple[int, ...] = (1, 2)
    rate: float = 0.5


def test_make_document_follows_schema_2():
    doc = results.make_document("demo", {"python": "3"}, _Config(), [{"mode": "a", "value": np.float32(1.5)}],
                                flags={"quick": True})
    assert doc == {
        "schema": 2,
        "benchmark": "demo",
        "tfshare": provenance.tfshare_info(),
        "machine": {"python": "3"},
        "flags": {"quick": True},
        "config": {"sizes": [1, 2], "rate": 0.5},
        "records": [{"mode": "a", "value": 1.5}],
        "gpu_memory": None,
    }
    json.dumps(doc, allow_nan=False)


def test_provenance_names_the_version_and_the_checkout_commit():
    info = provenance.tfshare_info()
    assert info["version"] == tfshare.__version__
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if commit.returncode != 0 or provenance.checkout_root() is None:
        pytest.skip("not run from a git checkout")
    assert info["commit"] == commit.stdout.strip() and isinstance(info["dirty"], bool)


def test_schema_1_files_are_still_read(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"schema": 1, "benchmark": "demo", "machine": {}, "config": {}, "records": []}))
    assert results.read(path)["schema"] == 1


@dataclasses.dataclass(frozen=True)
class _WithModel:
    model: models.Model = models.MLP
    num_classes: int = 10


@pytest.mark.parametrize("model, label", [
    (models.model("mlp", hidden_units=(32, 16)), "mlp (784-32-16-10)"),
    (models.model("cnn"), "cnn (28x28x1 images, conv filters 32-64, 10 classes)"),
], ids=["mlp", "cnn"])
def test_documents_record_the_model_as_it_describes_itself(model, label):
    doc = results.make_document("demo", {}, _WithModel(model), [])
    assert doc["config"] == {"model": model.describe(), "num_classes": 10}
    assert results.model_of(doc) == model.name and results.model_label(doc) == label


def test_documents_without_a_model_are_the_mlps():
    doc = results.make_document("demo", {}, {"hidden_units": [256, 256]}, [])
    assert results.model_of(doc) == "mlp" and results.model_label(doc) == "mlp (784-256-256-10)"


def test_non_finite_floats_become_null():
    doc = results.make_document("demo", {}, {}, [{"ratio": math.inf, "x": math.nan}])
    assert doc["records"] == [{"ratio": None, "x": None}]


def test_write_then_read_round_trips(tmp_path):
    doc = results.make_document("demo", {"cpu": "x"}, {"n": 3}, [{"values": [1.0, 2.0]}])
    path = results.write(tmp_path / "sub" / "demo.json", doc)
    assert results.read(path) == doc
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["demo.json"]  # no temporary file left


@pytest.mark.parametrize("doc, message", [
    ([], "must be a JSON object, got list"),
    ({"schema": 1}, r"lacks keys \['benchmark', 'machine', 'config', 'records'\]"),
    ({"schema": 3, "benchmark": "b", "machine": {}, "config": {}, "records": []}, r"schema must be one of \[1, 2\], got 3"),
    ({"schema": 2, "benchmark": "b", "machine": {}, "config": {}, "records": []}, r"lacks keys \['tfshare', 'flags'\]"),
    ({"schema": 1, "benchmark": "", "machine": {}, "config": {}, "records": []}, "'benchmark' must be a non-empty"),
    ({"schema": 1, "benchmark": "b", "machine": [], "config": {}, "records": []}, "'machine' must be an object"),
    ({"schema": 1, "benchmark": "b", "machine": {}, "config": {}, "records": [1]}, "'records' must be a list of objects"),
], ids=["not-object", "missing-keys", "schema-3", "schema-2-without-provenance", "empty-name", "machine-list",
        "record-not-object"])
def test_validate_rejects_bad_documents(doc, message):
    with pytest.raises(ValueError, match=message):
        results.validate(doc)


def test_read_names_the_file_of_a_bad_document(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"schema": 1}')
    with pytest.raises(ValueError, match="bad.json: result document lacks keys"):
        results.read(path)
    path.write_text("not json")
    with pytest.raises(ValueError, match="bad.json: not JSON"):
        results.read(path)


def test_track_sees_memory_a_step_adds():
    with memory.track() as mem:
        block = np.ones(64 * 2**20, np.uint8)  # 64 MiB, touched
    assert mem.added >= 32 * 2**20
    assert mem.peak >= mem.after > 0
    assert mem.to_dict()["added"] == mem.added
    del block


def test_in_subprocess_runs_a_function_in_another_process():
    import os

    assert memory.in_subprocess(math.sqrt, 16.0) == 4.0
    assert memory.in_subprocess(os.getpid) != os.getpid()
    with pytest.raises(RuntimeError, match="sqrt failed in a subprocess"):
        memory.in_subprocess(math.sqrt, -1.0)


def test_rss_and_peak_are_positive():
    assert memory.rss_bytes() > 0
    assert memory.peak_rss_bytes() >= memory.rss_bytes() // 2


def test_machine_info_names_versions_cpu_and_device():
    info = machine.machine_info("/device:CPU:0")
    assert info["tensorflow"] == tfshare.TF_VERSION
    assert info["tf_keras"] == tfshare.KERAS_VERSION
    assert info["device"] == "/device:CPU:0"
    assert info["logical_cores"] >= 1 and info["usable_cores"] >= 1
    assert info["cpu_model"]
    assert info["gpu_name"] == (info["gpus"][0]["name"] if info["gpus"] else None)
    json.dumps(info)


def test_select_device_cpu_and_auto():
    assert machine.select_device("cpu") == "/device:CPU:0"
    expected = "/device:GPU:0" if tfshare.visible_gpus() else "/device:CPU:0"
    assert machine.select_device("auto") == expected


def test_select_device_gpu_without_gpu_raises():
    if tfshare.visible_gpus():
        pytest.skip("a GPU is visible here")
    with pytest.raises(tfshare.InputError, match="device='gpu' needs a visible GPU"):
        machine.select_device("gpu")


@pytest.mark.gpu
def test_select_device_gpu_with_gpu():
    assert machine.select_device("gpu") == "/device:GPU:0"


def test_environment_report_has_what_a_runner_needs():
    env = machine.environment_report()
    for key in ("python", "tensorflow", "tf_keras", "tf_keras_is_keras3", "devices", "gpus",
                "built_with_cuda", "cuda_version", "cudnn_version", "onednn_enabled", "tf_intra_op_threads",
                "tf_inter_op_threads", "env", "blas"):
        assert key in env
    json.dumps(env)


def _doc(benchmark: str, **machine_fields) -> dict:
    machine_info = {"hostname": "a", "cpu_model": "x", "logical_cores": 2, "tensorflow": "2.21.0", **machine_fields}
    return {"schema": 2, "benchmark": benchmark, "tfshare": {"version": "0.2.0", "commit": None, "dirty": None},
            "machine": machine_info, "flags": {}, "config": {}, "records": []}


def test_report_warns_when_files_come_from_different_machines_or_versions():
    same = {("a", "mlp"): _doc("a"), ("b", "mlp"): _doc("b")}
    assert report.provenance_warnings(same) == []
    mixed = {("a", "mlp"): _doc("a"), ("b", "mlp"): _doc("b", hostname="other", tensorflow="2.16.2")}
    machines, versions = report.provenance_warnings(mixed)
    assert machines.startswith("the result files come from 2 different machines") and "hostname=other" in machines
    assert "2 different versions" in versions and "tensorflow=2.16.2, tfshare=0.2.0: b (mlp)" in versions
    old = {("a", "mlp"): _doc("a"), ("c", "mlp"): {**_doc("c"), "schema": 1}}
    del old[("c", "mlp")]["tfshare"]
    assert "c (mlp): written before result files recorded tfshare's version" in report.provenance_warnings(old)[-1]


def test_report_warns_when_files_ran_on_other_devices_cores_or_a_dirty_checkout():
    """One GPU machine runs --device=cpu and gpu; taskset changes the usable cores; a dirty tree ran other code."""
    for fields, text in (({"device": "/device:GPU:0"}, "device=/device:GPU:0"), ({"usable_cores": 1}, "usable_cores=1")):
        machines, = report.provenance_warnings({("a", "mlp"): _doc("a", device="/device:CPU:0", usable_cores=2),
                                                ("b", "mlp"): _doc("b", **{"device": "/device:CPU:0",
                                                                           "usable_cores": 2, **fields})})
        assert "2 different machines" in machines and text in machines.split("; ")[-1]
    dirty = _doc("b")
    dirty["tfshare"] = {"version": "0.2.0", "commit": "c0de", "dirty": True}
    clean = _doc("a")
    clean["tfshare"] = {"version": "0.2.0", "commit": "c0de", "dirty": False}
    versions, = report.provenance_warnings({("a", "mlp"): clean, ("b", "mlp"): dirty})
    assert "2 different versions" in versions and "commit=c0de, dirty=True: b (mlp)" in versions


def test_machine_info_records_blas_threads_and_tensorflows_build():
    info = machine.machine_info("/device:CPU:0")
    assert isinstance(info["tf_build"]["onednn_enabled"], bool) and "cudnn_version" in info["tf_build"]
    assert any(lib["user_api"] == "blas" for lib in info["blas"])
    assert info["threads"]["tf_intra_op_threads"] >= 0 and info["usable_cores"] >= 1
    assert machine.gpu_memory("/device:CPU:0") is None
    json.dumps(info)
