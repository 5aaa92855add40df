"""python -m tfshare.audit: a script run under an audit, in a real subprocess, and its exit codes."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

from tfshare.audit import __main__ as cli

ROOT = pathlib.Path(__file__).resolve().parents[1]
PUBLIC = ROOT / "tests" / "public_tf1" / "mnist_cnn.py"

LEAKY = textwrap.dedent("""\
    import sys
    import numpy as np
    import tensorflow.compat.v1 as tf
    tf.disable_v2_behavior()
    x = tf.placeholder(tf.float32, [None, 4])
    logits = tf.matmul(x, tf.get_variable("w", [4, 3]))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(3):
            print(sess.run(tf.argmax(logits, 1), {x: np.ones((1, 4))}))  # the leak: line 10
    print("args", sys.argv[1:])
    import tfshare
    print("tfshare from", tfshare.__file__)
    if "--raise" in sys.argv:
        raise ValueError("the script failed")
""")


def run_cli(*args: str, cwd: pathlib.Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "tfshare.audit", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_a_leaky_script_reports_json_and_fails_on_its_finding(tmp_path):
    script = tmp_path / "leaky.py"
    script.write_text(LEAKY)
    out = run_cli("--json=report.json", "--fail-on=graph_growth", str(script), "--lr", "0.1", cwd=tmp_path)
    assert out.returncode == cli.FAILED_ON_FINDINGS, out.stderr[-3000:]
    assert len(re.findall(r"^\[\d\]$", out.stdout, re.M)) == 3 and "args ['--lr', '0.1']" in out.stdout  # its own output and arguments
    assert f"tfshare from {ROOT / 'tfshare' / '__init__.py'}" in out.stdout  # this tree's tfshare
    assert "tfshare.audit:" in out.stderr and "[warning] graph_growth at" in out.stderr
    assert "--fail-on matched 1 finding(s): graph_growth" in out.stderr
    doc = json.loads((tmp_path / "report.json").read_text())
    assert doc["schema"] == cli.SCHEMA and doc["exit_code"] == 0
    assert doc["command"] == [str(script), "--lr", "0.1"]
    assert doc["report"]["sessions_created"] == 1 and doc["report"]["variables_by_role"]["weights"] == 1
    [finding] = doc["findings"]
    assert finding["kind"] == "graph_growth" and finding["where"].endswith("leaky.py:10")
    assert set(finding) == {"kind", "severity", "message", "where", "fix", "docs", "count", "details"}


def test_a_script_that_raises_keeps_its_traceback_and_exit_code_and_is_reported(tmp_path):
    script = tmp_path / "leaky.py"
    script.write_text(LEAKY)
    out = run_cli("--fail-on=error", str(script), "--raise", cwd=tmp_path)
    assert out.returncode == 1
    assert "Traceback (most recent call last)" in out.stderr and "ValueError: the script failed" in out.stderr
    assert "runpy" not in out.stderr and "__main__.py" not in out.stderr  # the traceback starts at the script
    assert out.stderr.index("ValueError") < out.stderr.index("tfshare.audit:")  # then the report
    assert "graph_growth" in out.stderr and "--fail-on matched" not in out.stderr


def test_a_public_tf1_script_nobody_here_wrote(tmp_path):
    out = run_cli("--json=report.json", str(PUBLIC), "--run-dir", str(tmp_path / "run"), "--epochs", "3",
                  cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count("Saving checkpoint") == 3 and "Exporting saved model" in out.stdout
    doc = json.loads((tmp_path / "report.json").read_text())
    saver_line = next(i + 1 for i, text in enumerate(PUBLIC.read_text().splitlines())
                      if "tf.train.Saver().save(" in text)
    [growth] = [f for f in doc["findings"] if f["severity"] in ("error", "warning")]
    assert growth["kind"] == "graph_growth" and growth["where"].endswith(f"mnist_cnn.py:{saver_line}")
    assert growth["details"]["times"] == 3
    report = doc["report"]
    assert report["variables_by_role"] == {"weights": 8, "optimizer": 18, "statistics": 0, "bookkeeping": 1}
    assert report["sessions_created"] == 1 and report["shared_variables"] == 0


# In-process: the option parsing and the script's own exit code.
@pytest.fixture
def isolated_sys(monkeypatch):
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setattr(sys, "path", list(sys.path))


@pytest.mark.parametrize("body, code", [("import sys; sys.exit(4)", 4), ("import sys; sys.exit()", 0),
                                        ("print('done')", 0), ("import sys; sys.exit('bye')", 1)],
                         ids=["exit-4", "exit-none", "ends", "exit-message"])
def test_the_scripts_exit_code_is_kept(tmp_path, isolated_sys, capsys, body, code):
    script = tmp_path / "s.py"
    script.write_text(body + "\n")
    assert cli.main(["--fail-on=warning", str(script)]) == code
    assert "findings: 0 (nothing to report)" in capsys.readouterr().err


def test_a_module_runs_with_dash_m(tmp_path, isolated_sys, monkeypatch, capsys):
    (tmp_path / "audited_module.py").write_text(textwrap.dedent("""\
        import sys
        import tensorflow as tf
        with tf.Graph().as_default():
            tf.constant(1.0)
        print("module", __name__, sys.argv[1:])
        sys.exit(5)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert cli.main(["-m", "audited_module", "--flag"]) == 5
    out = capsys.readouterr()
    assert "module __main__ ['--flag']" in out.out
    assert "graphs created           1" in out.err


@pytest.mark.parametrize("args, match", [
    (["--fail-on=graph_growth,oops", "x.py"], "--fail-on: expected finding kinds .* got 'oops'"),
    (["missing.py"], "script: expected a Python file, got 'missing.py'"),
    (["--json=no/such/folder/r.json", "s.py"], "--json: expected a writable file path, got 'no/such/folder/r.json' "
                                                r"\(its folder .*folder' does not exist\)"),
    (["--json=.", "s.py"], r"--json: expected a writable file path, got '\.' \(it is a directory\)"),
], ids=["unknown-kind", "missing-script", "json-missing-folder", "json-directory"])
def test_bad_options_exit_with_2_and_say_why(tmp_path, isolated_sys, monkeypatch, capsys, args, match):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.py").write_text("print('the script ran')\n")
    with pytest.raises(SystemExit) as exit_:
        cli.main(args)
    assert exit_.value.code == 2
    out = capsys.readouterr()
    assert re.search(match, out.err)
    assert "the script ran" not in out.out  # refused before the script runs


def test_a_relative_json_path_is_taken_from_where_the_audit_started(tmp_path, isolated_sys, monkeypatch, capsys):
    (tmp_path / "sub").mkdir()
    script = tmp_path / "moves.py"
    script.write_text("import os, sys\nos.chdir('sub')\nsys.exit(4)\n")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["--json=report.json", str(script)]) == 4
    assert json.loads((tmp_path / "report.json").read_text())["exit_code"] == 4
    assert not (tmp_path / "sub" / "report.json").exists()


def test_fail_on_takes_kinds_and_severities():
    assert cli.parse_fail_on("graph_growth, keras3") == ({"graph_growth", "keras3"}, None)
    assert cli.parse_fail_on("error,warning") == (set(), "warning")
