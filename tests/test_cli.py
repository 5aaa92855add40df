"""tfshare-bench / python -m tfshare.bench: lists the apps, runs one from any folder, asks for the bench extra."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from tfshare.bench import cli
from tfshare.bench.apps import APPS

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _bench(*argv: str, cwd: pathlib.Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m tfshare.bench ARGV`` in ``cwd``, with this checkout importable."""
    env = dict(os.environ, **(env or {}))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "tfshare.bench", *argv], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def test_help_lists_every_app(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["tfshare-bench", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: tfshare-bench <app> [flags]")
    for app in APPS:
        assert f"\n  {app} " in out, app


def test_no_app_prints_the_usage_and_fails(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["tfshare-bench"])
    assert exit_.value.code == 2 and "usage: tfshare-bench" in capsys.readouterr().out


def test_an_unknown_app_is_named(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["tfshare-bench", "sesion_reuse", "--quick"])
    assert exit_.value.code == 2
    assert "unknown app 'sesion_reuse'; choose among: graph_construction, session_reuse" in capsys.readouterr().err


def test_a_missing_bench_extra_is_asked_for_by_name(monkeypatch, capsys):
    monkeypatch.setattr(cli, "missing_extra", lambda: ["psutil", "threadpoolctl"])
    with pytest.raises(SystemExit) as exit_:
        cli.run_app("session_reuse", ["tfshare-bench session_reuse"])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "needs the 'bench' extra (missing: psutil, threadpoolctl): pip install 'tfshare[bench]'" in err


@pytest.mark.slow
def test_an_app_runs_from_another_folder_into_results_there_with_progress(tmp_path):
    proc = _bench("graph_construction", "--quick", "--max_instances=2", "--modes=isolated", "--device=cpu",
                  cwd=tmp_path, env={"TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((tmp_path / "results" / "graph_construction.json").read_text())
    assert doc["benchmark"] == "graph_construction" and doc["flags"]["max_instances"] == 2
    assert "| isolated | 2 |" in proc.stdout  # the table, on stdout
    assert "size 1/2: N=1" in proc.stderr and "size 2/2: N=2" in proc.stderr  # progress, through absl logging


@pytest.mark.slow
def test_a_bad_flag_value_exits_non_zero_with_a_usage_message(tmp_path):
    proc = _bench("variable_sharing", "--batch_size=8,16", "--device=cpu", cwd=tmp_path)
    assert proc.returncode != 0
    assert "--batch_size: variable_sharing takes one batch size, got [8, 16]" in proc.stderr
    assert not (tmp_path / "results").exists()
