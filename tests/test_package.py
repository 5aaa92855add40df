"""The package's public door and its promises about global state."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

import tfshare
from tfshare import _tf

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_all_is_sorted_and_importable():
    assert list(tfshare.__all__) == sorted(tfshare.__all__)
    for name in tfshare.__all__:
        assert hasattr(tfshare, name), name


def test_only_tf_module_imports_tensorflow():
    offenders = []
    for path in (ROOT / "tfshare").rglob("*.py"):
        if path.name == "_tf.py":
            continue
        text = path.read_text()
        if re.search(r"^\s*(import tensorflow|from tensorflow|import tf_keras|from tf_keras|import keras)", text, re.M):
            offenders.append(path.name)
    assert offenders == []


def test_tf_module_imports_each_module_once():
    """One module object, one name: the base-class swap and the audit read the same ``version_utils``."""
    text = (ROOT / "tfshare" / "_tf.py").read_text()
    imported = re.findall(r"^from (\S+) import (\w+)(?: as \w+)?", text, re.M)
    repeated = sorted({pair for pair in imported if imported.count(pair) > 1})
    assert repeated == []
    assert _tf.keras_version_utils.should_use_v2 in (_tf._should_use_v2, _tf._original_should_use_v2)


def test_library_never_switches_global_mode_or_uses_keras3():
    text = "\n".join(p.read_text() for p in (ROOT / "tfshare").rglob("*.py"))
    assert "disable_eager_execution" not in text
    assert "disable_v2_behavior" not in text
    assert not re.search(r"(^|[^_])tf\.keras\.", text)


def test_import_sets_nothing_global():
    code = (
        "import tensorflow as tf\n"
        "before = len(tf.compat.v1.get_default_graph().get_operations())\n"
        "import tfshare\n"
        "assert tf.executing_eagerly()\n"
        "assert len(tf.compat.v1.get_default_graph().get_operations()) == before\n"
        "assert tf.compat.v1.get_default_session() is None\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")


@pytest.mark.parametrize(
    "tf_version, keras_version, match",
    [
        ("2.21.0", "3.5.0", "needs Keras 2"),
        ("2.21.0", "2.20.1", "does not match TensorFlow 2.21.0"),
    ],
    ids=["keras3", "minor-mismatch"],
)
def test_version_check_rejects_wrong_keras(tf_version, keras_version, match):
    with pytest.raises(ImportError, match=match):
        _tf.check_versions(tf_version, keras_version)


def test_version_check_accepts_matching_pair():
    _tf.check_versions("2.21.0", "2.21.0")
    _tf.check_versions(_tf.TF_VERSION, _tf.KERAS_VERSION)
