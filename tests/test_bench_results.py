"""tfshare.bench.results, memory and machine: the JSON schema, RSS tracking, machine info."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

import tfshare
from tfshare.bench import models
from tfshare.harness import machine, memory, results


@dataclasses.dataclass(frozen=True)
class _Config:
    sizes: tuple[int, ...] = (1, 2)
    rate: float = 0.5


def test_make_document_follows_schema_1():
    doc = results.make_document("demo", {"python": "3"}, _Config(), [{"mode": "a", "value": np.float32(1.5)}])
    assert doc == {
        "schema": 1,
        "benchmark": "demo",
        "machine": {"python": "3"},
        "config": {"sizes": [1, 2], "rate": 0.5},
        "records": [{"mode": "a", "value": 1.5}],
    }
    json.dumps(doc, allow_nan=False)


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
    ({"schema": 2, "benchmark": "b", "machine": {}, "config": {}, "records": []}, "schema must be 1, got 2"),
    ({"schema": 1, "benchmark": "", "machine": {}, "config": {}, "records": []}, "'benchmark' must be a non-empty"),
    ({"schema": 1, "benchmark": "b", "machine": [], "config": {}, "records": []}, "'machine' must be an object"),
    ({"schema": 1, "benchmark": "b", "machine": {}, "config": {}, "records": [1]}, "'records' must be a list of objects"),
], ids=["not-object", "missing-keys", "schema-2", "empty-name", "machine-list", "record-not-object"])
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
                "built_with_cuda", "cuda_version", "cudnn_version", "intra_op_threads", "inter_op_threads"):
        assert key in env
    json.dumps(env)
