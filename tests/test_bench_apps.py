"""The benchmark apps' main() in tiny --quick configurations, their JSON, and the report built from it.

distributed_sharing starts a loopback cluster, so its run is a fixture of its
own, used only by the tests marked ``distributed``.

Every app runs twice: with the MLP (the default) and with ``--model=cnn``,
both ``--quick`` with tiny sizes; each JSON must record its model and follow
the app's JSON Schema in docs/schemas/.

Nothing here asserts a timing: only that every mode ran, the files follow the
schema and record their model, the modes agree on their outputs, ratios are
taken against the right reference, and interference has the right sign.
"""

from __future__ import annotations

import functools
import gc
import importlib
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from absl import flags

import tfshare
from tfshare.bench import (
    distributed_sharing,
    efficiency,
    graph_construction,
    marginal_cost,
    models,
    sections,
    session_reuse,
    variable_sharing,
)
from tfshare.bench.apps import report as report_app
from tfshare.harness import collect, provenance, report, results
from tfshare.harness.timing import Stats, paired_ratio, ratio

ROOT = Path(__file__).resolve().parents[1]
APPS = ("graph_construction", "session_reuse", "variable_sharing", "marginal_cost", "efficiency")
DIST = "distributed_sharing"
ALL_APPS = (*APPS, DIST)
# Every app runs --quick; these shrink it further (every mode still runs).
TINY = {
    "graph_construction": ["--max_instances=2", "--repeats=1"],
    "session_reuse": ["--batch_size=1,4", "--threads=1,2", "--repeats=2", "--throughput_seconds=0.02"],
    "variable_sharing": ["--num_classifiers=3", "--repeats=2", "--interference_steps=3", "--batch_size=8"],
    "marginal_cost": ["--live_instances=3", "--batch_instances=2", "--repeats=1"],
    "efficiency": ["--batch_size=8,64", "--repeats=2", "--thread_counts=0,1"],
    DIST: ["--workers=1,2", "--batch_size=1,4", "--repeats=2", "--train_seconds=0.2", "--hidden_units=32",
           "--timeout=30"],
}
TINY_CNN = {
    "graph_construction": ["--max_instances=2"],
    "session_reuse": ["--batch_size=1,4", "--threads=2", "--repeats=2", "--throughput_seconds=0.02"],
    "variable_sharing": ["--num_classifiers=2", "--repeats=2", "--interference_steps=2", "--batch_size=4",
                         "--nomemory_in_subprocess"],
    "marginal_cost": ["--live_instances=2", "--batch_instances=2"],
    "efficiency": ["--batch_size=4", "--train_rows=32", "--repeats=2", "--thread_counts=0", "--matmul_size=64"],
}
APPS_DIR = ROOT / "tfshare" / "bench" / "apps"
SCHEMAS = ROOT / "docs" / "schemas"
_FLAG_NAME = re.compile(r'DEFINE_\w+\(\s*"(\w+)"')
_APP_MODULES = [f"tfshare.bench.apps.{p.stem}" for p in APPS_DIR.glob("*.py") if p.stem != "__init__"]


@pytest.fixture(scope="module", autouse=True)
def _app_flags():
    """Gives the apps absl's global FLAGS to themselves while this module runs.

    Other tests may load scripts whose flags share names with the apps' (e.g.
    --threads, --seed, --model); such flags are set aside, then restored
    afterwards, and the apps' flags and modules removed, so the order of test
    modules does not matter.
    """
    names = {n for path in APPS_DIR.glob("*.py") for n in _FLAG_NAME.findall(path.read_text())}
    saved = {n: flags.FLAGS[n] for n in names if n in flags.FLAGS}
    for n in saved:
        delattr(flags.FLAGS, n)
    for name in _APP_MODULES:
        sys.modules.pop(name, None)
    try:
        yield
    finally:
        for n in names:
            if n in flags.FLAGS:
                delattr(flags.FLAGS, n)
        for n, flag in saved.items():
            flags.FLAGS[n] = flag
        for name in _APP_MODULES:
            sys.modules.pop(name, None)


def run_main(app: str, argv: list[str]) -> None:
    """Parses ``argv`` into absl's FLAGS and calls the app's main, as app.run would."""
    module = importlib.import_module(f"tfshare.bench.apps.{app}")
    flags.FLAGS.unparse_flags()
    flags.FLAGS([app, *argv])
    try:
        module.main([app])
    finally:
        flags.FLAGS.unparse_flags()


@pytest.fixture(scope="module")
def _frozen_gc():
    """Freezes the objects alive now (TensorFlow's modules and graphs) out of garbage collection.

    The apps' memory tracking collects garbage around every build; with
    TensorFlow imported a full collection takes about 0.3 s, with those
    objects frozen microseconds. Nothing asserted depends on it.
    """
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, _frozen_gc):
    """Runs every app once, tiny, on CPU; returns {app: path of its JSON}."""
    directory = tmp_path_factory.mktemp("results")
    paths = {}
    for app in APPS:
        paths[app] = directory / f"{app}.json"
        run_main(app, ["--device=cpu", "--quick", f"--output={paths[app]}", *TINY[app]])
    return paths


@pytest.fixture(scope="module")
def cnn_outputs(tmp_path_factory, _frozen_gc):
    """Runs every app once with --model=cnn --quick, tiny, on CPU; returns {app: path of its JSON}.

    session_reuse runs without --output from a scratch directory, to show the
    CNN's default path (results/<benchmark>_cnn.json).
    """
    directory = tmp_path_factory.mktemp("results_cnn")
    paths = {}
    for app in APPS:
        argv = ["--device=cpu", "--model=cnn", "--quick", *TINY_CNN[app]]
        if app == "session_reuse":
            with pytest.MonkeyPatch.context() as patch:
                patch.chdir(directory)
                run_main(app, argv)
            paths[app] = directory / "results" / f"{app}_cnn.json"
        else:
            paths[app] = directory / f"{app}_cnn.json"
            run_main(app, [*argv, f"--output={paths[app]}"])
    return paths


def test_app_records_the_checkout_it_started_from_not_the_one_at_its_end(tmp_path, monkeypatch, caplog, _frozen_gc):
    """A commit and an edit during a run: the code that ran is the start's, and the file says so."""
    checkout = {"commit": "a" * 40, "dirty": False}
    monkeypatch.setattr(provenance, "tfshare_info", lambda: {"version": tfshare.__version__, **checkout})
    measure = graph_construction.run

    def run_then_commit(*args, **kwargs):
        records = measure(*args, **kwargs)
        checkout.update(commit="b" * 40, dirty=True)
        return records

    monkeypatch.setattr(graph_construction, "run", run_then_commit)
    path = tmp_path / "graph_construction.json"
    with caplog.at_level("WARNING"):
        run_main("graph_construction", ["--device=cpu", "--quick", f"--output={path}", *TINY["graph_construction"]])
    assert results.read(path)["tfshare"] == {"version": tfshare.__version__, "commit": "a" * 40, "dirty": False}
    assert [r.getMessage() for r in caplog.records if "checkout changed during the run" in r.getMessage()]


@pytest.mark.parametrize("model", ["mlp", "cnn"])
@pytest.mark.parametrize("app", APPS)
def test_app_writes_schema_valid_json_that_records_its_model(request, app, model):
    paths = request.getfixturevalue("outputs" if model == "mlp" else "cnn_outputs")
    doc = results.read(paths[app])
    assert doc["schema"] == results.SCHEMA
    assert doc["benchmark"] == app
    assert doc["machine"]["device"] == "/device:CPU:0"
    assert doc["machine"]["tensorflow"] == tfshare.TF_VERSION
    assert doc["config"]["device"] == "cpu"
    assert doc["config"]["model"] == models.model(model).describe()
    assert results.model_of(doc) == model
    assert doc["records"]


@functools.cache
def _validator(app: str):
    """A jsonschema validator of ``app``'s records: docs/schemas/<app>.schema.json and the envelope it refers to."""
    jsonschema = pytest.importorskip("jsonschema")
    referencing = pytest.importorskip("referencing")
    schemas = {p.name: json.loads(p.read_text()) for p in SCHEMAS.glob("*.schema.json")}
    registry = referencing.Registry().with_resources(
        (name, referencing.Resource.from_contents(schema)) for name, schema in schemas.items()
    )
    schema = schemas[f"{app}.schema.json"]
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, registry=registry)


@pytest.mark.parametrize("model", ["mlp", "cnn"])
@pytest.mark.parametrize("app", APPS)
def test_app_quick_output_follows_its_json_schema_in_docs(request, app, model):
    paths = request.getfixturevalue("outputs" if model == "mlp" else "cnn_outputs")
    doc = json.loads(paths[app].read_text())
    errors = sorted(_validator(app).iter_errors(doc), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


def test_a_schema_rejects_a_record_it_does_not_describe(outputs):
    doc = json.loads(outputs["session_reuse"].read_text())
    doc["records"][0] = {**doc["records"][0], "kind": "latency", "seconds": {"median": "fast"}}
    assert not _validator("session_reuse").is_valid(doc)


def test_results_say_what_produced_them(outputs):
    doc = results.read(outputs["session_reuse"])
    assert doc["tfshare"]["version"] == tfshare.__version__
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert doc["tfshare"]["commit"] == (commit.stdout.strip() if commit.returncode == 0 else None)
    # Every flag of the app, by name, as parsed.
    assert doc["flags"]["batch_size"] == ["1", "4"] and doc["flags"]["quick"] is True
    assert {"model", "data", "num_intra_threads", "num_inter_threads", "num_warmup", "min_time", "trace_dir",
            "threads", "throughput_seconds"} <= set(doc["flags"])
    machine = doc["machine"]
    assert isinstance(machine["tf_build"]["onednn_enabled"], bool) and "cuda_version" in machine["tf_build"]
    assert machine["blas"] and all(lib["num_threads"] >= 1 for lib in machine["blas"])
    assert "tf_intra_op_threads" in machine["threads"]
    assert doc["gpu_memory"] is None  # a CPU run


def _doc(request, app: str, model: str) -> dict:
    return results.read(request.getfixturevalue("outputs" if model == "mlp" else "cnn_outputs")[app])


MODELS = ["mlp", "cnn"]
# Variables per classifier: the MLP's hidden and head kernels and biases; the CNN's
# two conv kernels, 2 x 4 BatchNorm variables, and the head's kernel and bias.
VARIABLES = {"mlp": 4, "cnn": 12}


def test_marginal_cost_peak_rss_runs_each_mode_in_its_own_process(tmp_path, _frozen_gc):
    """One process's peak never goes down: each mode's peak RSS comes from a fresh process of its own."""
    path = tmp_path / "marginal_cost.json"
    run_main("marginal_cost", ["--device=cpu", "--quick", "--modes=isolated,shared_trunk", "--peak_rss",
                               "--live_instances=2", "--batch_instances=2", "--repeats=1", f"--output={path}"])
    doc = json.loads(path.read_text())
    assert not sorted(_validator("marginal_cost").iter_errors(doc), key=str)
    memory = {r["mode"]: r for r in doc["records"] if r["kind"] == "memory"}
    assert set(memory) == {"isolated", "shared_trunk"} and doc["config"]["peak_rss"] is True
    pids = {r["pid"] for r in memory.values()}
    assert len(pids) == 2 and os.getpid() not in pids
    for r in memory.values():
        assert r["n"] == 2 and r["peak_rss"] >= r["rss_at_start"] > 0 and r["added"] == r["peak_rss"] - r["rss_at_start"]
        assert r["peak_rss_vs_isolated"] == pytest.approx(r["peak_rss"] / memory["isolated"]["peak_rss"])
    assert memory["isolated"]["peak_rss_vs_isolated"] == 1.0
    # The live pattern's records come back from the children as they would from this process.
    assert len([r for r in doc["records"] if r["kind"] == "marginal"]) == 4
    assert {r["mode"] for r in doc["records"] if r["kind"] == "slope"} == set(memory)


def test_marginal_cost_measures_no_memory_without_peak_rss(request):
    assert not [r for r in _doc(request, "marginal_cost", "mlp")["records"] if r["kind"] == "memory"]


@pytest.mark.parametrize("model", MODELS)
def test_graph_construction_records_every_mode_and_size(request, model):
    doc = _doc(request, "graph_construction", model)
    seen = {(r["mode"], r["n"]) for r in doc["records"]}
    assert seen == {(m, n) for m in graph_construction.MODES for n in (1, 2)}
    by = {(r["mode"], r["n"]): r for r in doc["records"]}
    per = VARIABLES[model]
    for record in doc["records"]:
        assert record["build_s"]["n"] == 1 and len(record["build_s"]["values"]) == 1
        n = record["n"]
        assert record["variables"] == (per * n if "trunk" not in record["mode"] else per - 2 + 2 * n), record["mode"]
    # Sharing a trunk keeps the parameter bytes of N=2 far below twice N=1's; separate ones double.
    assert by[("shared_graph", 2)]["param_bytes"] == 2 * by[("shared_graph", 1)]["param_bytes"]
    assert by[("shared_trunk", 2)]["param_bytes"] < 1.1 * by[("shared_trunk", 1)]["param_bytes"]
    assert by[("eager", 2)]["ops"] == 0 and by[("tf_function", 2)]["traces"] == 2
    assert by[("isolated", 2)]["graphdef_bytes"] > 0


@pytest.mark.parametrize("model, threads", [("mlp", (1, 2)), ("cnn", (2,))])
def test_session_reuse_modes_agree_and_ratios_use_the_floor(request, model, threads):
    doc = _doc(request, "session_reuse", model)
    latency = [r for r in doc["records"] if r["kind"] == "latency"]
    assert {(r["mode"], r["batch_size"]) for r in latency} == {(m, b) for m in session_reuse.MODES for b in (1, 4)}
    floor = {r["batch_size"]: Stats.from_dict(r["seconds"]) for r in latency if r["mode"] == session_reuse.FLOOR}
    for r in latency:
        assert r["max_abs_diff_vs_floor"] <= 1e-5, r["mode"]
        assert r["seconds"]["n"] == 2 and len(r["seconds"]["values"]) == 2
        expected = paired_ratio(Stats.from_dict(r["seconds"]), floor[r["batch_size"]])
        assert r["ratio_vs_floor"] == pytest.approx(expected), (r["mode"], r["batch_size"])
        if r["mode"] == "callable_floor":
            assert r["ratio_vs_floor"] == 1.0
        if r["mode"] == "eager":
            assert r["ratio_vs_eager"] == 1.0
    throughput = [r for r in doc["records"] if r["kind"] == "throughput"]
    assert {(r["threads"], r["batch_size"]) for r in throughput} == {(t, b) for t in threads for b in (1, 4)}
    assert all(r["calls_per_s"] > 0 for r in throughput)


@pytest.mark.parametrize("model, n, memory_in", [("mlp", 3, "subprocess"), ("cnn", 2, "process")])
def test_variable_sharing_interference_sign(request, model, n, memory_in):
    doc = _doc(request, "variable_sharing", model)
    setups = {r["setup"]: r for r in doc["records"] if r["kind"] == "setup"}
    assert setups["shared_trunk"]["interference_max_abs_change"] > 0
    assert setups["separate"]["interference_max_abs_change"] == 0.0
    for record in setups.values():
        assert record["trained_head_change"] > 0
        assert record["memory_measured_in"] == memory_in and isinstance(record["memory_added"], int)
    assert setups["shared_trunk"]["param_bytes"] < setups["separate"]["param_bytes"]
    assert setups["shared_trunk"]["checkpoint_bytes"] < setups["separate"]["checkpoint_bytes"]
    predict = [r for r in doc["records"] if r["kind"] == "predict"]
    assert {(r["setup"], r["mode"]) for r in predict} == {
        (s, m) for s in variable_sharing.SETUPS for m in variable_sharing.MODES
    }
    for r in predict:
        assert r["n"] == n and r["max_abs_diff_vs_fused"] <= 1e-5, (r["setup"], r["mode"])


def test_report_builds_tables_and_plots(outputs, tmp_path):
    directory = outputs["session_reuse"].parent
    output = tmp_path / "REPORT.md"
    assert report_app.main([str(directory), "--output", str(output)]) == 0
    text = output.read_text()
    for heading in ("## Machine", "## Graph construction", "## Session reuse", "## Variable sharing"):
        assert heading in text
    for png in ("build_time_vs_n.png", "latency_by_batch.png", "memory_sharing.png"):
        assert f"]({png})" in text
        data = (tmp_path / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    assert "callable_floor" in text and "interference" in text


def test_report_skips_foreign_json_and_fails_without_results(tmp_path, capsys):
    (tmp_path / "other.json").write_text('{"answers": []}')
    assert report_app.main([str(tmp_path)]) == 1
    assert "no result files" in capsys.readouterr().err


def _demo_section() -> report.Section:
    """A report section whose plot file holds its label and whose body names its records' tag."""
    def plot(records, path, label):
        Path(path).write_text(label)
        return path

    return report.Section("Demo", "demo.png", plot,
                          lambda doc, plot_file: [f"![plot]({plot_file})", f"tag: {doc['records'][0]['tag']}"])


def _demo_result(directory: Path, file: str, tag: str, model: dict, num_classes: int = 10, mtime: int = 0,
                 app_flags: dict | None = None, machine_info: dict | None = None, config: dict | None = None) -> Path:
    """Writes a "demo" result file of ``model`` (a ``Model.describe()`` dict) with one record tagged ``tag``."""
    config = {"model": model, "num_classes": num_classes, **(config or {})}
    doc = results.make_document("demo", machine_info or {}, config, [{"kind": "x", "tag": tag}], flags=app_flags)
    path = results.write(directory / file, doc)
    os.utime(path, (1_700_000_000 + mtime,) * 2)
    return Path(path)


def _mlp(hidden_units=(64,), input_dim=784, data="synthetic") -> dict:
    return {"model": "mlp", "input_dim": input_dim, "hidden_units": list(hidden_units), "data": data}


def test_report_gives_each_model_size_and_data_set_its_own_section_and_plot(tmp_path):
    cnn_digits = {"model": "cnn", "architecture": "conv", "input_shape": [8, 8, 1], "filters": [32, 64],
                  "data": "digits"}
    _demo_result(tmp_path, "a.json", "synthetic", _mlp())
    _demo_result(tmp_path, "b.json", "digits", _mlp(input_dim=64, data="digits"))
    _demo_result(tmp_path, "c.json", "wider", _mlp(hidden_units=(256, 256)))
    _demo_result(tmp_path, "d.json", "npz", _mlp(hidden_units=(8,), input_dim=20, data="/x/c12.npz"), num_classes=12)
    _demo_result(tmp_path, "e.json", "cnn digits", cnn_digits)
    text = Path(report.build_report(str(tmp_path), {"demo": _demo_section()})).read_text()
    expected = {  # heading -> (tag, plot file), in report order
        "mlp (784-256-256-10)": ("wider", "demo.png"),
        "mlp (784-64-10)": ("synthetic", "demo_2.png"),  # sizes are not in plot names
        "mlp (20-8-12) on /x/c12.npz": ("npz", "demo_c12.png"),
        "mlp (64-64-10) on digits": ("digits", "demo_digits.png"),
        "cnn (8x8x1 images, conv filters 32-64, 10 classes) on digits": ("cnn digits", "demo_cnn_digits.png"),
    }
    sections = text.split("\n## Demo: ")[1:]
    assert [s.splitlines()[0] for s in sections] == list(expected)
    for section, (label, (tag, plot)) in zip(sections, expected.items()):
        assert f"tag: {tag}\n" in section and f"![plot]({plot})" in section, label
        assert (tmp_path / plot).read_text() == label  # each plot drawn once, for its own section


def test_report_keeps_the_newer_of_two_files_of_one_configuration_and_names_both(tmp_path, caplog):
    newer = _demo_result(tmp_path, "a_newer.json", "newer", _mlp(data="digits"), mtime=2)
    older = _demo_result(tmp_path, "b_older.json", "older", _mlp(data="digits"), mtime=1)
    other = _demo_result(tmp_path, "c_other.json", "other", _mlp(data="mnist"), mtime=0)
    with caplog.at_level("WARNING", logger=collect.__name__):
        docs = report.load(str(tmp_path))
        text = Path(report.build_report(str(tmp_path), {"demo": _demo_section()})).read_text()
    assert {label: doc["records"][0]["tag"] for (_, label, _), doc in docs.items()} == {
        "mlp (784-64-10) on digits": "newer", "mlp (784-64-10) on mnist": "other"}
    assert "tag: newer" in text and "tag: older" not in text and "tag: other" in text
    (warning,) = {r.getMessage() for r in caplog.records if r.levelname == "WARNING"}
    assert warning == (f"{older} and {newer} hold results of the same benchmark, model, data and config "
                       f"(demo, mlp (784-64-10) on digits); keeping the newer, {newer}")
    assert str(other) not in warning


def _demo_flags(**values) -> dict:
    return {"batch_size": ["32"], "modes": None, "output": "results/demo.json", "quick": False, "trace_dir": None,
            **values}


def test_report_keeps_every_config_of_one_model_and_names_what_differs(tmp_path, caplog):
    _demo_result(tmp_path, "a.json", "batch 1", _mlp(), app_flags=_demo_flags(batch_size=["1"], output="a.json"))
    _demo_result(tmp_path, "b.json", "batch 256", _mlp(), app_flags=_demo_flags(batch_size=["256"], output="b.json"))
    _demo_result(tmp_path, "c.json", "tf 2.16", _mlp(), app_flags=_demo_flags(batch_size=["256"], output="c.json"),
                 machine_info={"tensorflow": "2.16.2"})
    with caplog.at_level("WARNING", logger=collect.__name__):
        docs = report.load(str(tmp_path))
        text = Path(report.build_report(str(tmp_path), {"demo": _demo_section()})).read_text()
    assert sorted(doc["records"][0]["tag"] for doc in docs.values()) == ["batch 1", "batch 256", "tf 2.16"]
    assert {key.label for key in docs} == {"mlp (784-64-10)"}
    sections = text.split("\n## Demo: ")[1:]
    assert [s.splitlines()[0] for s in sections] == [  # the output file is not a config
        "mlp (784-64-10), --batch_size=1, tensorflow=None",
        "mlp (784-64-10), --batch_size=256, tensorflow=2.16.2",
        "mlp (784-64-10), --batch_size=256, tensorflow=None",
    ]
    assert [re.search(r"tag: (.*)", s).group(1) for s in sections] == ["batch 1", "tf 2.16", "batch 256"]
    assert "not shown" not in text and not [r for r in caplog.records if "keeping the newer" in r.getMessage()]
    assert "demo (mlp (784-64-10), --batch_size=1, tensorflow=None)" in report.provenance_warnings(docs)[0]


def test_report_keeps_every_config_of_files_without_flags(tmp_path):
    """Schema-1 files and files written by code record no flags: their configs tell them apart."""
    _demo_result(tmp_path, "all.json", "all modes", _mlp(), config={"modes": ["fused", "eager"], "trace_dir": "x"})
    _demo_result(tmp_path, "fused.json", "fused only", _mlp(), config={"modes": ["fused"], "trace_dir": "y"})
    text = Path(report.build_report(str(tmp_path), {"demo": _demo_section()})).read_text()
    headings = [s.splitlines()[0] for s in text.split("\n## Demo: ")[1:]]
    assert headings == ["mlp (784-64-10), modes=fused", "mlp (784-64-10), modes=fused,eager"]
    assert "tag: all modes" in text and "tag: fused only" in text


def test_report_shows_the_newest_run_of_one_config_and_names_the_older_files(tmp_path, caplog):
    # The run's recorded date decides before the file's modification time (a checkout or copy changes that).
    newest = _demo_result(tmp_path, "a.json", "newest", _mlp(), mtime=0, app_flags=_demo_flags(output="a.json"),
                          machine_info={"date": "2026-12-02T10:00:00+00:00"})
    older = _demo_result(tmp_path, "b.json", "older", _mlp(), mtime=5, app_flags=_demo_flags(output="b.json"),
                         machine_info={"date": "2026-12-01T10:00:00+00:00"})
    oldest = _demo_result(tmp_path, "c.json", "oldest", _mlp(), mtime=9, app_flags=_demo_flags(),
                          machine_info={"date": "2026-11-30T10:00:00+00:00"})
    _demo_result(tmp_path, "d.json", "other config", _mlp(), app_flags=_demo_flags(quick=True),
                 machine_info={"date": "2026-11-30T10:00:00+00:00"})
    with caplog.at_level("WARNING", logger=collect.__name__):
        loaded = collect.scan(str(tmp_path))
    assert sorted(doc["records"][0]["tag"] for doc in loaded.docs.values()) == ["newest", "other config"]
    (key,) = [k for k, doc in loaded.docs.items() if doc["records"][0]["tag"] == "newest"]
    assert loaded.paths[key] == str(newest)
    assert loaded.dropped[key] == [collect.Dropped(str(older), str(newest)), collect.Dropped(str(oldest), str(newest))]
    assert sum("keeping the newer" in r.getMessage() for r in caplog.records) == 2
    text = Path(report.build_report(str(tmp_path), {"demo": _demo_section()})).read_text()
    section = text.split("\n## Demo: mlp (784-64-10), --quick=False\n")[1].split("\n## ")[0]
    assert section.startswith("\nFrom `a.json`, the newest of 3 result files of this benchmark, model, data and "
                              "config; not shown, older: `b.json`, `c.json`.\n")
    assert "tag: newest" in section and "tag: older" not in text and "tag: oldest" not in text
    assert "tag: other config" in text


def test_check_env_prints_json(capsys):
    spec = importlib.util.spec_from_file_location("_check_env_script", ROOT / "scripts" / "check_env.py")
    check_env = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check_env)
    assert check_env.main(["--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {"tf_keras_is_keras3", "cuda_version", "onednn_enabled", "blas", "tf_intra_op_threads"} <= set(info)


def _run_cli(app: str, *argv: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / f"{app}.py"), *argv],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
    )


COMMON_FLAGS = (
    "--model: <mlp|cnn>", "--batch_size", "--num_intra_threads", "--num_inter_threads", "--device", "--data",
    "--num_warmup", "--min_time", "--repeats", "--[no]quick", "--output", "--trace_dir", "--modes", "--filters",
)


@pytest.mark.slow
@pytest.mark.parametrize("app", ALL_APPS)
def test_help_shows_the_app_and_every_common_flag(app):
    proc = _run_cli(app, "--help")  # absl exits 1 after printing help
    assert f"tfshare-bench {app}:" in proc.stdout, proc.stderr  # the app's docstring
    for flag in COMMON_FLAGS:
        assert flag in proc.stdout, flag


@pytest.mark.slow
def test_device_gpu_without_gpu_exits_non_zero_with_a_message(tmp_path):
    if tfshare.visible_gpus():
        pytest.skip("a GPU is visible here")
    output = tmp_path / "out.json"
    proc = _run_cli("session_reuse", "--device=gpu", f"--output={output}")
    assert proc.returncode != 0
    assert "--device=gpu" in proc.stderr and "needs a visible GPU" in proc.stderr
    assert not output.exists()


def test_unknown_mode_is_a_usage_error():
    from absl import app

    with pytest.raises(app.UsageError, match=r"--modes: unknown \['nope'\]"):
        run_main("variable_sharing", ["--device=cpu", "--modes=fused,nope"])


@pytest.mark.parametrize(
    "app, argv, match",
    [
        ("variable_sharing", ["--batch_size=8,16"], r"--batch_size: variable_sharing takes one batch size, got \[8, 16\]"),
        ("graph_construction", ["--batch_size=two"], r"--batch_size must be a comma-separated list of integers"),
        ("session_reuse", ["--data=imagenet"], r"--data=imagenet \(--model=mlp\): data must be one of \['synthetic', "
                                               r"'digits', 'mnist'\] or the path of a \.npz file, got 'imagenet'"),
        ("session_reuse", ["--data=/nowhere/x.npz"], r"--data=/nowhere/x\.npz"),
        ("efficiency", ["--num_intra_threads=1", "--thread_counts=0,1"], r"give either, not both"),
        ("marginal_cost", ["--unexpected"], r"unexpected arguments"),
        ("graph_construction", ["--model=cnn", "--data=digits", "--filters=4,4,4,4,4,4"],
         r"^--filters=4,4,4,4,4,4 \(--model=cnn, --data=digits\): layers\(\)\[15\] \(MaxPooling2D 'pool_3'\) failed on an "
         r"input of shape \[batch, 1, 1, 4\]"),
        ("efficiency", ["--batch_size=2048"],
         r"^train_rows \(--train_rows\) must be >= the largest batch size \(--batch_size\) 2048, got 960$"),
        ("session_reuse", ["--batch_size=4,8,4"], r"^--batch_size must list each value once, got \['4', '8', '4'\] \(\[4\] repeated\)$"),
        ("efficiency", ["--thread_counts=0,0"], r"^--thread_counts must list each value once, got \['0', '0'\]$"),
        ("distributed_sharing", ["--role=trainer"], r"^--role=trainer needs its cluster: --ps_hosts, --worker_hosts, "
                                                    r"--job_name and --task_index, or TF_CONFIG; TF_CONFIG is not set"),
    ],
    ids=["one-batch-size", "batch-not-int", "unknown-data", "missing-npz", "threads-conflict", "extra-argument",
         "filters-too-many-for-the-images", "batch-beyond-train-rows", "repeated-batch-size", "repeated-thread-count",
         "trainer-without-cluster"],
)
def test_unknown_or_conflicting_values_are_usage_errors(app, argv, match, tmp_path, monkeypatch):
    from absl import app as absl_app

    monkeypatch.delenv("TF_CONFIG", raising=False)

    if argv == ["--unexpected"]:
        module = importlib.import_module(f"tfshare.bench.apps.{app}")
        with pytest.raises(absl_app.UsageError, match=match):
            module.main([app, "--unexpected"])
        return
    with pytest.raises(absl_app.UsageError, match=match):
        run_main(app, ["--device=cpu", "--quick", f"--output={tmp_path / 'x.json'}", *argv])
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("where", ["folder-slash", "existing-folder", "under-a-file"])
def test_a_bad_output_is_a_usage_error_before_anything_runs(where, tmp_path, monkeypatch):
    """--output is checked first: a run is not lost when its results cannot be written at the end."""
    from absl import app as absl_app

    from tfshare.bench import graph_construction

    (tmp_path / "a_file").write_text("")
    output, match = {
        "folder-slash": (f"{tmp_path / 'new'}/", r"--output must be the path of a JSON file, got '.*new/', a folder"),
        "existing-folder": (str(tmp_path), r"--output must be the path of a JSON file, got '.*', a folder"),
        "under-a-file": (str(tmp_path / "a_file" / "x.json"), r"--output must be a path under a folder, got '.*x\.json', "
                                                              r"under the file '.*a_file'"),
    }[where]
    monkeypatch.setattr(graph_construction, "run", lambda *a, **k: pytest.fail("the benchmark ran"))
    with pytest.raises(absl_app.UsageError, match=match):
        run_main("graph_construction", ["--device=cpu", "--quick", f"--output={output}"])
    with pytest.raises(absl_app.UsageError, match=match):  # before the data is read: not "--data=... not found"
        run_main("graph_construction", ["--device=cpu", "--quick", "--data=/nowhere/x.npz", f"--output={output}"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_data_flag_gives_the_model_its_shape(tmp_path):
    """--data=digits: the CNN runs on 8x8x1 images, and the result file says so."""
    output = tmp_path / "gc.json"
    run_main("graph_construction", ["--device=cpu", "--quick", "--model=cnn", "--data=digits", "--max_instances=1",
                                    "--modes=isolated,eager", "--filters=4", f"--output={output}"])
    doc = results.read(output)
    assert doc["config"]["model"]["input_shape"] == [8, 8, 1] and doc["config"]["model"]["data"] == "digits"
    assert {r["mode"] for r in doc["records"]} == {"isolated", "eager"}


def test_an_empty_threads_flag_skips_the_throughput_test(tmp_path):
    run_main("session_reuse", ["--device=cpu", "--quick", "--batch_size=2", "--threads=", "--repeats=2",
                               "--modes=callable_floor", f"--output={tmp_path / 'sr.json'}"])
    doc = results.read(tmp_path / "sr.json")
    assert doc["config"]["threads"] == [] and doc["records"]
    assert not [r for r in doc["records"] if r["kind"] == "throughput"]


def test_trace_dir_writes_a_graph_a_full_trace_and_a_profile_per_mode(tmp_path):
    from tfshare._tf import tf1

    run_main("session_reuse", ["--device=cpu", "--quick", "--batch_size=2", "--threads=1", "--repeats=2",
                               "--throughput_seconds=0.02",
                               "--modes=session_run,callable_floor,eager", f"--trace_dir={tmp_path / 'traces'}",
                               f"--output={tmp_path / 'sr.json'}"])
    root = tmp_path / "traces" / "session_reuse"
    assert sorted(p.name for p in root.iterdir()) == ["callable_floor", "eager", "session_run"]
    for mode in ("session_run", "callable_floor"):
        (events,) = (root / mode).glob("events.out.tfevents.*")
        kinds = {e.WhichOneof("what") for e in tf1.train.summary_iterator(str(events))}
        assert {"graph_def", "tagged_run_metadata"} <= kinds, mode
        trace = json.loads((root / mode / "timeline.json").read_text())
        ops = {e["args"]["name"] for e in trace["traceEvents"] if e.get("ph") == "X"}  # one span per op run
        assert "dense_classifier/hidden_0/MatMul" in ops, mode
    assert list((root / "eager" / "plugins" / "profile").glob("*/*.xplane.pb"))


@pytest.mark.gpu
def test_session_reuse_runs_on_gpu(tmp_path):
    output = tmp_path / "gpu.json"
    run_main("session_reuse", ["--device=gpu", "--quick", f"--output={output}", *TINY["session_reuse"]])
    doc = results.read(output)
    assert doc["machine"]["device"] == "/device:GPU:0" and doc["config"]["device"] == "gpu"
    assert doc["machine"]["gpu_name"] and doc["gpu_memory"]["peak_bytes"] > 0


@pytest.mark.parametrize("model, k", [("mlp", 3), ("cnn", 2)])
def test_marginal_cost_records_every_mode_and_part(request, model, k):
    doc = _doc(request, "marginal_cost", model)
    slopes = [r for r in doc["records"] if r["kind"] == "slope"]
    assert {(r["mode"], r["part"]) for r in slopes} == {(m, p) for m in marginal_cost.MODES for p in marginal_cost.PARTS}
    for r in slopes:
        assert len(r["values"]) == k and all(v > 0 for v in r["values"])
        slope, intercept = np.polyfit(range(1, k + 1), r["values"], 1)
        assert r["slope_s_per_k"] == pytest.approx(slope) and r["intercept_s"] == pytest.approx(intercept)
    batch = {r["mode"]: r for r in doc["records"] if r["kind"] == "batch"}
    assert set(batch) == set(marginal_cost.MODES) and batch["isolated"]["vs_isolated"] == pytest.approx(1.0)
    for r in batch.values():
        assert r["n"] == 2
        # Timed side by side, repeat by repeat: the median of per-repeat ratios, not a ratio of medians.
        pairs = np.divide(r["total_s"]["values"], batch["isolated"]["total_s"]["values"])
        assert r["vs_isolated"] == pytest.approx(float(np.median(pairs)))


def _check_gflops_ratios(compute: list[dict], model_flops: int, matmul_size: int) -> None:
    """FLOPs as TensorFlow's profiler counts them; GFLOP/s ratios from per-repeat time ratios to each MatMul,
    or from the ratio of medians between NumPy's MatMul (timed apart, after the others) and the others."""
    by = {r["setting"]: r for r in compute}
    for r in compute:
        reference = r["setting"] in efficiency.REFERENCES
        assert r["flops_per_call"] == (2 * matmul_size**3 if reference else model_flops), r["setting"]
        assert r["gflops"] == pytest.approx(r["flops_per_call"] / r["seconds"]["median"] / 1e9)
        for ref in efficiency.REFERENCES:
            apart = (r["setting"] == efficiency.NUMPY_MATMUL) != (ref == efficiency.NUMPY_MATMUL)
            time_ratio = (ratio if apart else paired_ratio)(Stats.from_dict(r["seconds"]), Stats.from_dict(by[ref]["seconds"]))
            expected = r["flops_per_call"] / by[ref]["flops_per_call"] / time_ratio
            assert r[f"gflops_vs_{ref}"] == pytest.approx(expected), (r["setting"], ref)
    assert by["tf_matmul"]["gflops_vs_tf_matmul"] == pytest.approx(1.0)


def test_efficiency_records_thread_settings_matmul_references_and_training_per_batch_size(outputs):
    doc = results.read(outputs["efficiency"])
    compute = [r for r in doc["records"] if r["kind"] == "compute"]
    settings = ["intra=default,inter=default", "intra=default,inter=1", "intra=1,inter=default", "intra=1,inter=1"]
    for batch in (8, 64):
        group = [r for r in compute if r["batch_size"] == batch]
        assert [r["setting"] for r in group] == [*settings, "tf_matmul", "numpy_matmul"]
        # The MLP: MatMul (2 per multiply-add) and BiasAdd; the profiler counts no ReLU or softmax.
        _check_gflops_ratios(group, batch * (2 * 784 * 64 + 64 + 2 * 64 * 10 + 10), doc["config"]["matmul_size"])
    training = [r for r in doc["records"] if r["kind"] == "training"]
    assert [(r["batch_size"], r["steps_per_epoch"]) for r in training] == [(8, 120), (64, 15)]  # 960 rows (--quick)
    best = efficiency.best_setting(doc["records"])
    assert best["batch_size"] == 64 and best["setting"] in settings


def test_efficiency_section_says_numpys_matmul_was_timed_apart_and_how_its_ratios_were_taken(outputs):
    doc = results.read(outputs["efficiency"])
    text = " ".join(sections.SECTIONS["efficiency"].body(doc, "plot.png")[:1])
    assert "NumPy's BLAS matmul of the same is timed after them, on its own" in text
    assert "from the ratio of medians to NumPy's, which was not timed beside them" in text


@pytest.fixture(scope="module")
def dist_output(outputs):
    """Runs distributed_sharing once, tiny, on a loopback cluster, next to the other apps' JSON."""
    path = outputs["session_reuse"].parent / f"{DIST}.json"
    run_main(DIST, ["--device=cpu", "--quick", f"--output={path}", *TINY[DIST]])
    return path


@pytest.mark.distributed
def test_distributed_sharing_records_every_kind(dist_output):
    doc = results.read(dist_output)
    assert doc["benchmark"] == DIST and doc["config"]["device"] == "cpu"
    assert doc["config"]["model"]["hidden_units"] == [32] and doc["config"]["batch_sizes"] == [1, 4]
    assert {r["kind"] for r in doc["records"]} == set(distributed_sharing.HEADERS)
    latency = [r for r in doc["records"] if r["kind"] == "latency"]
    assert {(r["mode"], r["batch_size"]) for r in latency} == {(m, b) for m in distributed_sharing.MODES for b in (1, 4)}
    for r in latency:
        assert r["seconds"]["n"] == 2 and r["max_abs_diff_vs_in_process"] <= 1e-5, r["mode"]
        if r["mode"] == distributed_sharing.BASELINE:
            assert r["ratio_vs_in_process"] == 1.0
    training = [r for r in doc["records"] if r["kind"] == "training"]
    assert [(r["mode"], r["workers"]) for r in training] == [("in_process", 1), ("ps_async", 1), ("ps_async", 2)]
    for r in training:
        assert r["steps"] > 0 and len(r["per_worker_steps_per_second"]) == r["workers"]
        assert r["batch_size"] == 4  # the largest --batch_size
    ps = {r["workers"]: r for r in doc["records"] if r["kind"] == "ps_bytes"}
    assert set(ps) == {1, 2}
    weights = (784 * 32 + 32) * 4
    for n, r in ps.items():
        assert r["trunk_weight_bytes"] == weights and r["ps_variable_bytes"] == 3 * weights  # weights + Adam slots
        assert r["per_worker_copies_weight_bytes"] == n * weights


@pytest.mark.distributed
def test_report_has_a_distributed_section(dist_output, tmp_path):
    output = tmp_path / "REPORT.md"
    assert report_app.main([str(dist_output.parent), "--output", str(output)]) == 0
    text = output.read_text()
    assert "## Distributed sharing" in text and "gRPC, trunk on the ps" in text
    data = (tmp_path / "distributed_latency.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


def _npz(path: Path, num_classes: int, features: int = 20) -> str:
    """A .npz data set of ``features`` features whose labels cycle through all ``num_classes`` classes."""
    rng = np.random.default_rng(0)
    rows = {"train": 4 * num_classes, "test": num_classes}
    np.savez(path, **{f"{key}_{part}": value for part, n in rows.items()
                      for key, value in (("x", rng.random((n, features), dtype=np.float32)),
                                         ("y", np.arange(n) % num_classes))})
    return str(path)


@pytest.mark.parametrize("num_classes", [12, 3])
def test_distributed_trainers_build_the_measured_models_head(num_classes, tmp_path, monkeypatch, capsys):
    """The trainer role, run from the command line the driver builds, trains a head of the measured model's classes.

    The cluster is not started: the trainer's ClusterConfig gives it a local GraphSession instead.
    """
    from tfshare import cluster
    from tfshare.bench import dist_trainer

    data = _npz(tmp_path / f"c{num_classes}.npz", num_classes)
    model = models.model("mlp", hidden_units=(8,), data=data)
    config = distributed_sharing.Config(model=model, num_classes=model.num_classes, batch_sizes=(1, 4),
                                        train_seconds=0.1, timeout=30.0)
    jobs = {cluster.PS_JOB: ("127.0.0.1:1",), cluster.WORKER_JOB: ("127.0.0.1:2",)}
    lc = type("FakeLocalCluster", (), {"config": cluster.ClusterConfig(jobs, cluster.WORKER_JOB, 0)})()
    command = distributed_sharing._trainer_command(config, lc, "trunk_1w", 0)
    assert command[2:5] == ["tfshare.bench", DIST, "--role=trainer"]
    assert f"--num_classes={num_classes}" in command

    widths = []  # the output width of each head the trainer builds
    original = dist_trainer.build_model

    def build_model(*args, **kwargs):
        clf = original(*args, **kwargs)
        widths.append(clf.probabilities_tensor.shape[-1])
        return clf

    monkeypatch.setattr(dist_trainer, "build_model", build_model)
    monkeypatch.setattr(cluster.ClusterConfig, "graph_session",
                        lambda self, timeout, **kwargs: tfshare.GraphSession(**kwargs))
    monkeypatch.setattr(sys, "stdin", io.StringIO("go\n"))
    run_main(DIST, command[4:])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert lines[0] == {"ready": 0} and lines[-1]["steps"] > 0
    assert widths == [num_classes]


def test_distributed_trainer_role_makes_fewer_classes_than_its_data_a_usage_error(tmp_path):
    from absl import app as absl_app

    data = _npz(tmp_path / "c12.npz", 12)
    with pytest.raises(absl_app.UsageError, match=r"^--role=trainer: num_classes must be at least the 12 classes of "
                                                  r"data .*c12\.npz', got 10"):
        run_main(DIST, ["--role=trainer", "--ps_hosts=127.0.0.1:1", "--worker_hosts=127.0.0.1:2", "--job_name=worker",
                        "--task_index=0", "--device=cpu", "--quick", f"--data={data}", "--hidden_units=8",
                        "--num_classes=10"])


def test_distributed_trainer_refuses_fewer_classes_than_its_data(tmp_path):
    from tfshare import cluster
    from tfshare.bench import dist_trainer

    model = models.model("mlp", hidden_units=(8,), data=_npz(tmp_path / "c12.npz", 12))
    task = cluster.ClusterConfig({cluster.PS_JOB: ("127.0.0.1:1",), cluster.WORKER_JOB: ("127.0.0.1:2",)},
                                 cluster.WORKER_JOB, 0)
    with pytest.raises(tfshare.InputError, match=r"num_classes must be at least the 12 classes of data .*c12\.npz'"
                                                 r", got 10"):
        dist_trainer.train(task, model=model, batch_size=4, seconds=0.1, timeout=30.0, num_classes=10)


# ------------------------------------------------------------------ --model=cnn
def test_cnn_efficiency_counts_conv_flops_and_compares_with_the_matmuls(cnn_outputs):
    doc = results.read(cnn_outputs["efficiency"])
    compute = [r for r in doc["records"] if r["kind"] == "compute"]
    assert [r["setting"] for r in compute] == ["intra=default,inter=default", "tf_matmul", "numpy_matmul"]
    # Conv2D: 2 per multiply-add; MaxPool and the global Mean: one per input element; MatMul + BiasAdd.
    per_row = (2 * 28 * 28 * 32 * 9 + 2 * 14 * 14 * 64 * 9 * 32 + 28 * 28 * 32 + 14 * 14 * 64
               + 2 * 64 * 10 + 10)
    _check_gflops_ratios(compute, 4 * per_row, 64)
    (training,) = [r for r in doc["records"] if r["kind"] == "training"]
    assert training["batch_size"] == 4 and training["steps_per_epoch"] == 8
    pairs = np.array(training["fit"]["values"]) / np.array(training["raw_callable"]["values"])
    assert training["ratio"] == pytest.approx(float(np.median(pairs)))


def test_report_keeps_each_model_in_its_own_section(outputs, cnn_outputs, tmp_path):
    for paths in (outputs, cnn_outputs):
        for app in ("session_reuse", "efficiency"):
            shutil.copy(paths[app], tmp_path / paths[app].name)
    loaded = report.load(str(tmp_path))
    assert len(loaded) == 4 and {(a, results.model_of(d)) for (a, _, _), d in loaded.items()} == {
        (a, m) for a in ("session_reuse", "efficiency") for m in ("mlp", "cnn")}
    text = Path(sections.build_report(str(tmp_path))).read_text()
    docs = {m: results.read(p["session_reuse"]) for m, p in (("mlp", outputs), ("cnn", cnn_outputs))}
    headings = [f"## Session reuse: {results.model_label(docs[m])}" for m in ("mlp", "cnn")]
    assert headings[0] == "## Session reuse: mlp (784-64-10)"
    assert headings[1] == "## Session reuse: cnn (28x28x1 images, conv filters 32-64, 10 classes)"
    mlp_section = text[text.index(headings[0]):text.index(headings[1])]
    cnn_section = text[text.index(headings[1]):text.index("## Efficiency")]
    # Each section's table is built from its own model's records only.
    assert session_reuse.summary_table(docs["mlp"]["records"]) in mlp_section
    assert session_reuse.summary_table(docs["cnn"]["records"]) in cnn_section
    for m in ("mlp", "cnn"):
        name = sections.SECTIONS["session_reuse"].plot_name(m)
        assert f"]({name})" in text and (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## Efficiency of tfshare's own paths: cnn (" in text


@pytest.mark.parametrize("model_name, data, expected", [
    ("mlp", "synthetic", "marginal_cost"),
    ("cnn", "synthetic", "marginal_cost_cnn"),
    ("mlp", "digits", "marginal_cost_digits"),
    ("mlp", "/data/digits.npz", "marginal_cost_digits-npz"),
    ("cnn", "mnist", "marginal_cost_cnn_mnist"),
    ("cnn", "runs/mnist.npz", "marginal_cost_cnn_mnist-npz"),
])
def test_default_result_names_keep_a_npz_file_apart_from_a_built_in_dataset(model_name, data, expected):
    _common = importlib.import_module("tfshare.bench.apps._common")  # under this module's flags fixture
    assert _common.stem("marginal_cost", model_name, data) == expected
