"""Shared pytest fixtures and the gpu marker's skip rule."""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import tempfile
import threading
import time

import numpy as np
import pytest

import tfshare
from tfshare._tf import tf1


def pytest_report_header(config):
    return f"tfshare {tfshare.__version__}: TensorFlow {tfshare.TF_VERSION}, tf_keras {tfshare.KERAS_VERSION}"


# pytest-timeout's per-test limit for tests that start TensorFlow gRPC servers (the others
# get pyproject.toml's `timeout`); a test's own @pytest.mark.timeout wins.
DISTRIBUTED_TIMEOUT = 900

# Property tests (hypothesis): the same bounded examples on every run, no deadline (a loaded
# machine must not fail a test for being slow), and no example database written into the
# checkout. HYPOTHESIS_PROFILE=explore draws new random examples, more of them.
try:
    import hypothesis
except ImportError:  # pragma: no cover - the test extra installs it
    hypothesis = None
else:
    # The autouse fixture below only counts the default graph's ops: it may span a test's examples.
    _quiet = [hypothesis.HealthCheck.function_scoped_fixture]
    hypothesis.settings.register_profile(
        "ci", max_examples=60, deadline=None, database=None, derandomize=True, suppress_health_check=_quiet)
    hypothesis.settings.register_profile(
        "explore", max_examples=1000, deadline=None, database=None, suppress_health_check=_quiet)
    hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# No test leaves files outside tmp_path: the session fails if the checkout gained a file, or if
# anything but TensorFlow's autograph sources (deleted at exit) is left in a temporary folder
# private to this session, where every tempfile.* call of the tests goes (tmp_path does not).
_CHECKOUT = pathlib.Path(__file__).resolve().parent.parent
_TF_TEMP = "__autograph_generated_file"
_files_key = pytest.StashKey[set]()  # the checkout's files when the session started


def _checkout_files() -> set[str]:
    found = set()
    for folder, subfolders, files in os.walk(_CHECKOUT):
        subfolders[:] = [d for d in subfolders
                         if not d.startswith(".") and d not in ("__pycache__", "build") and not d.endswith(".egg-info")]
        found.update(os.path.join(folder, f) for f in files if not f.endswith(".pyc"))
    return found


def _checking_files() -> bool:
    # Not under mutmut: its parent process writes results into the copied checkout while a test runs.
    return "MUTANT_UNDER_TEST" not in os.environ


def pytest_sessionstart(session):
    if not _checking_files():
        return
    session.config.stash[_files_key] = _checkout_files()
    os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", tempfile.gettempdir())  # tmp_path stays where pytest puts it
    tempfile.tempdir = tempfile.mkdtemp(prefix="tfshare-tests-")


def pytest_sessionfinish(session, exitstatus):
    if not _checking_files():
        return
    private, tempfile.tempdir = tempfile.gettempdir(), None
    left = sorted(_checkout_files() - session.config.stash[_files_key])
    left += sorted(os.path.join(private, n) for n in os.listdir(private) if not n.startswith(_TF_TEMP))
    if left:
        session.config.get_terminal_writer().line(f"FAILED: the tests left files outside tmp_path: {left}", red=True)
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    else:
        shutil.rmtree(private, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    if config.pluginmanager.hasplugin("timeout"):
        for item in items:
            if "distributed" in item.keywords and item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(DISTRIBUTED_TIMEOUT))
    if tfshare.visible_gpus():
        return
    skip = pytest.mark.skip(reason="needs a visible GPU; TensorFlow sees none on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def data() -> tfshare.Dataset:
    """A small slice of the embedded data set (shared read-only by all tests)."""
    return tfshare.synthetic(num_train=2000, num_test=500)


@pytest.fixture
def runtime():
    """A fresh CPU GraphSession per test, closed afterwards."""
    gs = tfshare.GraphSession(device="cpu")
    yield gs
    gs.close()


@pytest.fixture(autouse=True)
def _default_graph_untouched(request):
    """Every test proves that tfshare added nothing to the user's default graph.

    Tests that build into the default graph on purpose (as user code would)
    opt out with @pytest.mark.uses_default_graph.
    """
    if request.node.get_closest_marker("uses_default_graph"):
        yield
        return
    graph = tf1.get_default_graph()
    before = len(graph.get_operations())
    yield
    assert len(graph.get_operations()) == before, "something was built into the default graph"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def digits() -> tfshare.Dataset:
    """scikit-learn's 8x8 digits as images [n, 8, 8, 1] (1437 train, 360 test rows)."""
    return tfshare.load_digits()


def small_cnn_body():
    """A small Conv-BN-ReLU-Pool-Dropout-Flatten body (the issue's example, 8 filters)."""
    from tfshare._tf import keras

    return [
        keras.layers.Conv2D(8, 3, padding="same"), keras.layers.BatchNormalization(momentum=0.9),
        keras.layers.ReLU(), keras.layers.MaxPool2D(), keras.layers.Dropout(0.25), keras.layers.Flatten(),
    ]


# Bounded waits: a dead or stuck thread fails its test with a message instead of hanging the run.
WAIT_SECONDS = 60.0


def join_all(threads: list[threading.Thread], timeout: float = WAIT_SECONDS) -> None:
    """Joins every thread within ``timeout`` seconds in all; fails the test naming those still alive."""
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    alive = [t.name for t in threads if t.is_alive()]
    assert not alive, f"threads still running after {timeout} s: {alive}"


@contextlib.contextmanager
def never_ending_construction(place):
    """A live thread that called ``place()`` and ends its construction (neither ``built`` nor ``unplace``) only
    when the block exits."""
    placed, done = threading.Event(), threading.Event()

    def stuck():
        place()
        placed.set()
        done.wait(WAIT_SECONDS)

    holder = threading.Thread(target=stuck, daemon=True)
    holder.start()
    assert placed.wait(WAIT_SECONDS)
    try:
        yield
    finally:
        done.set()
        join_all([holder])


def wait_for(condition, timeout: float = WAIT_SECONDS, what: str = "the condition") -> None:
    """Polls ``condition()`` until it is true (a bounded poll, not a sleep); fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.001)


def before_raw_calls(runtime, monkeypatch, before_call, lookups: list | None = None) -> None:
    """Patches ``runtime.callable`` so that every raw callable it hands out (``unwrap()``, a classifier's
    hot path) runs ``before_call()`` first, then the real TensorFlow callable; ``lookups``, if given, gets
    the fetches of each ``runtime.callable`` call."""
    real_callable = runtime.callable

    def wrapped(*args, **kwargs):
        if lookups is not None:
            lookups.append(args[0])
        raw = real_callable(*args, **kwargs).unwrap()

        def call(*feeds):
            before_call()
            return raw(*feeds)

        return type("Unwrappable", (), {"unwrap": lambda _: call})()

    monkeypatch.setattr(runtime, "callable", wrapped)


def assert_same_weights(expected: dict, clf) -> None:
    """``clf.get_weights()`` has exactly the keys of ``expected``, with equal values."""
    weights = clf.get_weights()
    assert sorted(weights) == sorted(expected)
    for key in expected:
        np.testing.assert_array_equal(weights[key], expected[key], err_msg=key)
