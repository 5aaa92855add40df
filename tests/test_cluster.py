"""tfshare.cluster: one trunk on a parameter server, shared by worker processes.

Every server runs on 127.0.0.1 in a subprocess started by ``LocalCluster``;
fixtures close them even when a test fails, each server also exits when this
process dies (its stdin closes) and after ``max_lifetime`` seconds.
"""

from __future__ import annotations

import gc
import json
import pathlib
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import tfshare
from tfshare import _local_cluster, cluster
from tfshare._tf import tf, tf1

pytestmark = pytest.mark.distributed

LIFETIME = 120.0  # no server of these tests outlives this, whatever happens
TIMEOUT = 2.0  # seconds one Session call may block in these tests
HANG = 60.0  # a call still running after this long hangs: a bound on liveness, never a speed


def _returns(fn, within: float = HANG):
    """fn()'s result, or its exception, raised here; fails the test if fn is still running after ``within`` s."""
    outcome: dict[str, object] = {}

    def call() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - raised again below
            outcome["error"] = exc

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(within)
    if thread.is_alive():
        pytest.fail(f"{fn} hung: still running after {within:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def _port_open(address: str) -> bool:
    return cluster.port_open(address, 0.2)


def _values(gs: tfshare.GraphSession, variables) -> list[np.ndarray]:
    return gs.run(list(variables))


@pytest.fixture(scope="module")
def local_cluster():
    with cluster.LocalCluster(num_workers=2, max_lifetime=LIFETIME) as lc:
        yield lc


@pytest.fixture
def sessions(local_cluster):
    """Opens GraphSessions on the module's cluster and closes them after the test."""
    opened: list[tfshare.GraphSession] = []

    def open_session(task_index: int, **kwargs) -> tfshare.GraphSession:
        kwargs.setdefault("timeout", TIMEOUT)
        gs = local_cluster.graph_session(task_index, device="cpu", **kwargs)
        opened.append(gs)
        return gs

    yield open_session
    for gs in opened:
        gs.close()


def _worker(open_session, task_index: int, trunk_name: str, seed: int, **session_kwargs):
    gs = open_session(task_index, **session_kwargs)
    trunk = tfshare.SharedTrunk(gs, 784, (32,), name=trunk_name, seed=1)
    # Heads live on their worker's server, which outlives a GraphSession:
    # a name per test keeps one test's heads out of the next.
    clf = tfshare.DenseClassifier(trunk=trunk, name=f"clf_{trunk_name}", seed=seed)
    return gs, trunk, clf


CONV_SHAPE = (8, 8, 1)
CONV_CLASSES = 3
STATISTICS = ("moving_mean", "moving_variance")


def _conv_body():
    # Small and quick: 2 blocks of 4 and 8 filters; momentum 0.5 moves the
    # statistics clearly within the few steps a test takes.
    return tfshare.conv_body(filters=(4, 8), momentum=0.5)


def _conv_worker(open_session, task_index: int, trunk_name: str, seed: int):
    gs = open_session(task_index)
    trunk = tfshare.SharedTrunk(gs, layers=_conv_body(), input_shape=CONV_SHAPE, name=trunk_name, seed=1)
    clf = tfshare.Classifier(trunk=trunk, num_classes=CONV_CLASSES, name=f"clf_{trunk_name}", seed=seed)
    return gs, trunk, clf


def _statistic_keys(named: dict) -> list[str]:
    return [k for k in named if k.rsplit("/", 1)[-1] in STATISTICS]


@pytest.fixture(scope="module")
def images():
    """64 small images in [0, 1) (finite even times 3e38) and their labels."""
    rng = np.random.default_rng(0)
    return rng.random((64, *CONV_SHAPE), dtype=np.float32), rng.integers(0, CONV_CLASSES, 64)


# ------------------------------------------------------------- describing
def test_config_from_flags():
    config = cluster.ClusterConfig.from_flags("127.0.0.1:2222", "127.0.0.1:2223,127.0.0.1:2224", "worker", 1)
    assert config.jobs == {"ps": ("127.0.0.1:2222",), "worker": ("127.0.0.1:2223", "127.0.0.1:2224")}
    assert config.target == "grpc://127.0.0.1:2224"
    assert not config.is_chief and config.task("worker", 0).is_chief
    assert config.spec.as_dict() == {"ps": ["127.0.0.1:2222"], "worker": ["127.0.0.1:2223", "127.0.0.1:2224"]}


def test_config_from_tf_config_round_trips(monkeypatch):
    config = cluster.ClusterConfig.from_flags(["127.0.0.1:1"], ["127.0.0.1:2"], "ps", 0)
    monkeypatch.setenv("TF_CONFIG", config.to_tf_config())
    assert cluster.ClusterConfig.from_tf_config() == config
    chief = json.dumps({"cluster": {"chief": ["127.0.0.1:3"], "ps": ["127.0.0.1:1"], "worker": ["127.0.0.1:2"]},
                        "task": {"type": "worker", "index": 0}})
    assert not cluster.ClusterConfig.from_tf_config(chief).is_chief  # a "chief" job takes the role


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: cluster.ClusterConfig.from_flags("127.0.0.1", "127.0.0.1:2", "worker", 0),
         r"ps_hosts must hold host:port addresses with a port in 1..65535, got '127.0.0.1'"),
        (lambda: cluster.ClusterConfig.from_flags("", "127.0.0.1:2", "worker", 0), "needs a 'ps' job"),
        (lambda: cluster.ClusterConfig.from_flags("127.0.0.1:1", "127.0.0.1:2", "worker", 1), r"\[0, 1\)"),
        (lambda: cluster.ClusterConfig.from_flags("127.0.0.1:1", "127.0.0.1:2", "chief", 0), "job_name"),
        (lambda: cluster.ClusterConfig.from_tf_config("{not json"), "TF_CONFIG must be JSON"),
        (lambda: cluster.ClusterConfig.from_flags("127.0.0.1:\u00b2", "127.0.0.1:2", "worker", 0), "host:port"),
        (lambda: cluster.ClusterConfig.from_flags("127.0.0.1:2", "127.0.0.1:3,127.0.0.1:2", "worker", 0),
         r"its own address, got '127.0.0.1:2' for both ps/0 and worker/1"),
        (lambda: cluster.ClusterConfig({"ps": ["127.0.0.1:1"], "trainer": ["127.0.0.1:2"]}, "trainer", 0),
         r"needs a 'worker' \(or 'chief'\) job, whose chief initializes the shared variables, got jobs \['ps', 'trainer'\]"),
        (lambda: tfshare.GraphSession("cpu", cluster={"ps": ["127.0.0.1:1"], "worker": ["127.0.0.1:1"]},
                                      job_name="worker"), "its own address"),
        (lambda: cluster.ClusterConfig.from_flags("grpc://127.0.0.1:1", "127.0.0.1:2", "worker", 0),
         r"ps_hosts must hold bare host:port addresses \(no scheme such as 'grpc://'.*got 'grpc://127.0.0.1:1'"),
        (lambda: cluster.ClusterConfig.from_flags("127.0.0.1:1", "127.0.0.1 :2", "worker", 0),
         r"worker_hosts must hold bare host:port addresses .*no spaces\), got '127.0.0.1 :2'"),
        (lambda: cluster.ClusterConfig({"ps": ["127.0.0.1:1"], "worker": ["127.0.0.1:2"], "eval-job": ["127.0.0.1:3"]},
                                       "worker", 0),
         r"jobs' keys must be job names TensorFlow's device names accept .*got 'eval-job'"),
        (lambda: cluster.ClusterConfig.from_tf_config(json.dumps(
            {"cluster": {"ps": ["127.0.0.1:1"], "worker": ["127.0.0.1:2"], "1st": ["127.0.0.1:3"]},
             "task": {"type": "worker", "index": 0}})), r"job names .*got '1st'"),
    ],
    ids=["no-port", "no-ps", "task-out-of-range", "unknown-job", "bad-json", "non-ascii-port", "repeated-address",
         "no-worker-job", "repeated-address-in-a-graph-session", "address-with-a-scheme", "address-with-a-space",
         "job-name-with-a-dash", "tf-config-job-name-with-a-digit-first"],
)
def test_config_rejects_bad_descriptions(make, match):
    with pytest.raises(tfshare.InputError, match=match):
        make()


def test_config_hosts_of_another_type_are_a_type_error_naming_the_job():
    with pytest.raises(TypeError, match=r"jobs\['ps'\] must be a list of host:port addresses .*got int 2222"):
        cluster.ClusterConfig({"ps": 2222, "worker": ["127.0.0.1:2"]}, "worker", 0)


def test_a_job_name_of_another_type_is_a_type_error():
    # It used to become str(1) silently.
    with pytest.raises(TypeError, match=r"jobs' keys must be job names \(str\), got int 1"):
        cluster.ClusterConfig({"ps": ["127.0.0.1:1"], "worker": ["127.0.0.1:2"], 1: ["127.0.0.1:3"]}, "worker", 0)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: cluster.ClusterConfig.from_flags("127.0.0.1:1,,127.0.0.1:3", "127.0.0.1:2", "ps", 0),
         r"ps_hosts must not hold an empty address \(as in 'a:1,,b:2'\), got '127.0.0.1:1,,127.0.0.1:3'"),
        (lambda: cluster.ClusterConfig.from_flags("127.0.0.1:1", "127.0.0.1:2,", "ps", 0),
         r"worker_hosts must not hold an empty address .*got '127.0.0.1:2,'"),
        (lambda: cluster.ClusterConfig.from_flags(["127.0.0.1:1", " "], ["127.0.0.1:2"], "ps", 0),
         r"ps_hosts must not hold an empty address .*got \['127.0.0.1:1', ' '\]"),
        (lambda: cluster.ClusterConfig({"ps": ["127.0.0.1:1"], "worker": ["", "127.0.0.1:2"]}, "worker", 0),
         r"jobs\['worker'\] must not hold an empty address .*got \['', '127.0.0.1:2'\]"),
    ],
    ids=["flag-with-two-commas", "flag-with-a-trailing-comma", "list-with-a-blank-item", "job-with-an-empty-item"],
)
def test_an_empty_address_in_a_host_list_is_an_error_naming_the_argument_and_the_value(make, match):
    # Before, empty items were skipped silently: "a:1,,b:2" was two tasks, and task indices shifted.
    with pytest.raises(tfshare.InputError, match=match):
        make()


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: cluster.ClusterConfig({"ps": ["127.0.0.1:1"], "worker": ["127.0.0.1:2"], "chief": []}, "worker", 0),
         r"jobs\['chief'\] must hold at least one host:port address \(or leave the job out\), got \[\]"),
        (lambda: cluster.ClusterConfig({"ps": ["127.0.0.1:1"], "worker": "", "chief": ["127.0.0.1:2"]}, "chief", 0),
         r"jobs\['worker'\] must hold at least one host:port address .*got ''"),
        (lambda: cluster.ClusterConfig.from_tf_config(_tf_config({"type": "worker", "index": 0}, chief=[],
                                                                 ps=["127.0.0.1:1"], worker=["127.0.0.1:2"])),
         r"jobs\['chief'\] must hold at least one host:port address .*got \[\]"),
        (lambda: tfshare.GraphSession("cpu", cluster={"ps": [], "worker": ["127.0.0.1:2"]}, job_name="worker"),
         r"jobs\['ps'\] must hold at least one host:port address .*got \(\)"),
    ],
    ids=["empty-chief", "empty-worker-str", "tf-config-empty-chief", "graph-session-empty-ps"],
)
def test_a_job_with_no_address_is_an_error_naming_the_job(make, match):
    # Before, the job was dropped silently: {"chief": []} left worker 0 the chief, with no word of it.
    with pytest.raises(tfshare.InputError, match=match):
        make()


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: cluster.ClusterConfig.from_flags("::1:2222", "127.0.0.1:2", "ps", 0),
         r"ps_hosts must hold IPv6 addresses in brackets, as in '\[::1\]:2222': write '\[::1\]:2222', "
         r"got '::1:2222'"),
        (lambda: cluster.ClusterConfig({"ps": ["127.0.0.1:1"], "worker": ["fe80::1:2222"]}, "ps", 0),
         r"jobs\['worker'\] must hold IPv6 addresses in brackets, .*write '\[fe80::1\]:2222', got 'fe80::1:2222'"),
        (lambda: cluster.port_open("::1:2222", 0.1),
         r"address must be an IPv6 address in brackets, as in '\[::1\]:2222': write '\[::1\]:2222'"),
    ],
    ids=["flag", "job", "port-open"],
)
def test_an_ipv6_address_without_brackets_is_an_error_that_shows_the_brackets(make, match):
    # Before, "::1:2222" passed the check as host "::1", port 2222.
    with pytest.raises(tfshare.InputError, match=match):
        make()


def test_a_bracketed_ipv6_address_is_taken():
    config = cluster.ClusterConfig.from_flags("[::1]:2222", "[fe80::1]:2223", "ps", 0)
    assert config.jobs == {"ps": ("[::1]:2222",), "worker": ("[fe80::1]:2223",)}


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: cluster.ClusterConfig.from_flags(["127.0.0.1:1", 2222], "127.0.0.1:2", "ps", 0),
         r"ps_hosts must hold host:port addresses as str, got int 2222 at index 1 of \['127.0.0.1:1', 2222\]"),
        (lambda: cluster.ClusterConfig({"ps": [b"127.0.0.1:1"], "worker": ["127.0.0.1:2"]}, "ps", 0),
         r"jobs\['ps'\] must hold host:port addresses as str, got bytes b'127.0.0.1:1' at index 0"),
        (lambda: cluster.ClusterConfig.from_flags(b"127.0.0.1:1", "127.0.0.1:2", "ps", 0),
         r"ps_hosts must be a list of host:port addresses or a comma-separated str, got bytes"),
    ],
    ids=["int-item", "bytes-item", "bytes-value"],
)
def test_a_host_list_item_of_another_type_is_a_type_error(make, match):
    # Before, str() made 2222 the address '2222' (then "host:port" failed) and b'...' the address "b'...'".
    with pytest.raises(TypeError, match=match):
        make()


@pytest.mark.parametrize(
    "address, error, match",
    [
        ("hostonly", tfshare.InputError, r"address must be a host:port address with a port in 1..65535, got 'hostonly'"),
        ("127.0.0.1:0", tfshare.InputError, r"address must be a host:port address .*got '127.0.0.1:0'"),
        ("127.0.0.1:http", tfshare.InputError, r"address must be a host:port address .*got '127.0.0.1:http'"),
        ("grpc://127.0.0.1:1", tfshare.InputError,
         r"address must be a bare host:port address \(no scheme such as 'grpc://'.*got 'grpc://127.0.0.1:1'"),
        (2222, TypeError, r"address must be a host:port str, got int 2222"),
        (("127.0.0.1", 1), TypeError, r"address must be a host:port str, got tuple"),
    ],
    ids=["no-port", "port-0", "named-port", "scheme", "int", "tuple"],
)
def test_port_open_rejects_a_bad_address_naming_it(address, error, match):
    # Before, "hostonly" raised int()'s bare ValueError ("invalid literal for int() with base 10: 'hostonly'").
    with pytest.raises(error, match=match):
        cluster.port_open(address, 0.1)


@pytest.mark.parametrize(
    "seconds, error, match",
    [
        (0, tfshare.InputError, r"seconds must be a finite number > 0, got 0"),
        (-1.0, tfshare.InputError, r"seconds must be a finite number > 0, got -1.0"),
        (float("nan"), tfshare.InputError, r"seconds must be a finite number > 0, got nan"),
        (float("inf"), tfshare.InputError, r"seconds must be a finite number > 0, got inf"),
        (None, TypeError, r"seconds must be a number, got NoneType None"),
        ("1", TypeError, r"seconds must be a number, got str '1'"),
        (True, TypeError, r"seconds must be a number, got bool True"),
    ],
    ids=["zero", "negative", "nan", "inf", "none", "str", "bool"],
)
def test_port_open_rejects_a_bad_timeout_naming_it(seconds, error, match):
    # Before: 0 answered False for an open port, None could block for ever, nan/inf raised socket's own errors.
    with pytest.raises(error, match=match):
        cluster.port_open("127.0.0.1:1", seconds)


@pytest.mark.parametrize("family, host", [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")], ids=["ipv4", "ipv6"])
def test_port_open_answers_for_a_listening_port_and_a_closed_one(family, host):
    listener = socket.socket(family)
    try:
        listener.bind((host, 0))
    except OSError as exc:
        listener.close()
        pytest.skip(f"no {host} here: {exc}")
    listener.listen()
    # An IPv6 address is written "[::1]:port" in a ClusterSpec; it used to answer False even when listening.
    address = f"[{host}]:{listener.getsockname()[1]}" if family == socket.AF_INET6 else f"{host}:{listener.getsockname()[1]}"
    try:
        assert cluster.port_open(address, 1.0)
    finally:
        listener.close()
    assert not cluster.port_open(address, 1.0)


def test_start_server_takes_only_a_cluster_config():
    with pytest.raises(TypeError, match=r"config must be a tfshare.cluster.ClusterConfig .*got dict"):
        cluster.start_server({"ps": ["127.0.0.1:1"], "worker": ["127.0.0.1:2"]})


def _run_cluster_module(code_or_args, env_extra=None, timeout=HANG):
    env = cluster.subprocess_env()
    env.pop("TF_CONFIG", None)
    env.update(env_extra or {})
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return subprocess.run([sys.executable, *code_or_args], env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def _free_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.parametrize("max_seconds", ["-1.0", "0.0", "float('nan')", "'5'"], ids=["negative", "zero", "nan", "str"])
def test_serve_refuses_a_bad_max_seconds_before_starting_the_server(max_seconds):
    # Before, a server started and exited at once with status 0: as if it had served its time.
    config = f"cluster.ClusterConfig.from_flags({_free_address()!r}, {_free_address()!r}, 'ps', 0)"
    r = _run_cluster_module(["-c", f"from tfshare import cluster; cluster.serve({config}, max_seconds={max_seconds})"])
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
    assert "max_seconds must be" in r.stderr and "serving ps/0" not in r.stderr


@pytest.mark.parametrize("max_seconds", [float("inf"), 0.0], ids=["inf", "zero"])
def test_serve_refusing_a_max_seconds_says_none_serves_forever(max_seconds):
    # Refused before the server starts, so this runs in-process. Before, inf got only "must be a finite float > 0".
    config = cluster.ClusterConfig.from_flags(_free_address(), _free_address(), "ps", 0)
    with pytest.raises(tfshare.InputError, match=rf"max_seconds must be a finite float > 0, got {max_seconds} "
                                                 r"\(use None to serve forever\)$"):
        cluster.serve(config, max_seconds=max_seconds)


def test_cli_refuses_a_job_name_beside_tf_config():
    # Before, TF_CONFIG's task ran and --job_name/--task_index were silently ignored.
    tf_config = json.dumps({"cluster": {"ps": [_free_address()], "worker": [_free_address()]},
                            "task": {"type": "worker", "index": 0}})
    r = _run_cluster_module(["-m", "tfshare.cluster", "--job_name=ps", "--task_index=0", "--max_seconds=1"],
                            {"TF_CONFIG": tf_config})
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
    assert "--job_name/--task_index need --ps_hosts/--worker_hosts" in r.stderr


def test_tf_config_unset_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(tfshare.InputError, match="TF_CONFIG is not set"):
        cluster.ClusterConfig.from_tf_config()


def _tf_config(task: dict, **jobs) -> str:
    cluster_jobs = jobs or {"ps": ["127.0.0.1:1"], "worker": ["127.0.0.1:2", "127.0.0.1:3"]}
    return json.dumps({"cluster": cluster_jobs, "task": task})


@pytest.mark.parametrize(
    "task, match",
    [
        ({"type": "worker", "index": 1.7}, r'"index" must be a JSON integer .*got float 1\.7'),
        ({"type": "worker", "index": 1.0}, r'"index" must be a JSON integer .*got float 1\.0'),
        ({"type": "worker", "index": "1"}, r'"index" must be a JSON integer .*got str \'1\''),
        ({"type": "worker", "index": True}, r'"index" must be a JSON integer .*got bool True'),
        ({"type": "worker", "index": None}, r'"index" must be a JSON integer .*got NoneType None'),
        ({"type": "worker", "index": -1}, r'"index" must be in \[0, 2\) for its job \'worker\' \(2 tasks\), got -1'),
        ({"type": "worker", "index": 2}, r'"index" must be in \[0, 2\) for its job \'worker\' \(2 tasks\), got 2'),
        ({"type": "ps", "index": 1}, r'"index" must be in \[0, 1\) for its job \'ps\' \(1 task\), got 1'),
        ({"type": "worker"}, r'needs an "index": its job \'worker\' has 2 tasks'),
        ({"type": "evaluator", "index": 0}, r'task "type" must be one of its cluster\'s jobs \[\'ps\', \'worker\'\], '
                                            r"got 'evaluator'"),
        ({"type": 1, "index": 0}, r'task "type" must be one of .*got 1'),
        ({"index": 0}, r"TF_CONFIG must be JSON like .*KeyError\('type'\)"),
    ],
    ids=["float-index", "integral-float-index", "string-index", "bool-index", "null-index", "negative-index",
         "index-past-the-job", "index-past-the-ps-job", "no-index-in-a-job-of-two", "unknown-type", "int-type",
         "no-type"],
)
def test_tf_config_task_must_name_a_task_of_the_cluster(task, match):
    # TensorFlow's TFConfigClusterResolver runs int() on the index (1.7 -> task 1, "1" -> 1, true -> 1);
    # a TF_CONFIG that names no task of its cluster exactly is refused here before any server starts.
    with pytest.raises(tfshare.InputError, match=match):
        cluster.ClusterConfig.from_tf_config(_tf_config(task))


def test_tf_config_may_leave_out_the_index_of_a_single_task_job():
    config = cluster.ClusterConfig.from_tf_config(_tf_config({"type": "ps"}))
    assert (config.job_name, config.task_index) == ("ps", 0)
    config = cluster.ClusterConfig.from_tf_config(_tf_config({"type": "worker", "index": 1}))
    assert (config.job_name, config.task_index, config.address) == ("worker", 1, "127.0.0.1:3")


@pytest.mark.parametrize(
    "value, match",
    [
        (json.dumps({"cluster": ["127.0.0.1:1"], "task": {"type": "ps", "index": 0}}),
         r'"cluster" and "task" must be JSON objects, got list and dict'),
        (json.dumps({"cluster": {"ps": ["127.0.0.1:1"], "worker": ["127.0.0.1:2"]}, "task": "ps"}),
         r"TF_CONFIG must be JSON like"),
        ("[]", r"TF_CONFIG must be JSON like"),
        (json.dumps({"cluster": {"ps": 5, "worker": ["127.0.0.1:2"]}, "task": {"type": "worker", "index": 0}}),
         r"""^TF_CONFIG's "cluster" must map each job to its list of addresses: jobs\['ps'\] must be a list of """
         r"host:port addresses or a comma-separated str, got int 5$"),
    ],
    ids=["cluster-a-list", "task-a-string", "a-list", "hosts-a-number"],
)
def test_tf_config_of_another_shape_is_a_clear_error(value, match):
    with pytest.raises(tfshare.InputError, match=match):
        cluster.ClusterConfig.from_tf_config(value)


# ------------------------------------------------- placement (no servers)
SPEC = {"ps": ["127.0.0.1:1", "127.0.0.1:2"], "worker": ["127.0.0.1:3", "127.0.0.1:4"]}


def test_trunk_variables_go_to_the_ps_and_heads_stay_on_the_worker():
    with tfshare.GraphSession("cpu", cluster=SPEC, job_name="worker", task_index=1) as gs:
        trunk = tfshare.TemplateTrunk(gs, 8, (4,), name="trunk")
        clf = tfshare.DenseClassifier(trunk=trunk, name="clf")
        assert gs.target == "grpc://127.0.0.1:4"
        assert gs.device == "/job:worker/task:1/device:CPU:0"
        assert all(v.device.startswith("/job:ps/task:") for v in trunk.variables)
        head = [clf.named_variables["head/kernel"], clf.named_variables["head/bias"]]
        assert all(v.device == "/job:worker/task:1/device:CPU:0" for v in head)
        assert clf.probabilities_tensor.device == "/job:worker/task:1/device:CPU:0"
        assert list(gs.config.device_filters) == ["/job:ps", "/job:worker/task:1"]
        assert gs.config.operation_timeout_in_ms == int(cluster.DEFAULT_TIMEOUT * 1000)
        assert not gs.config.HasField("cluster_def")  # the servers know the cluster already


def test_a_variable_lands_on_the_same_ps_task_in_every_worker():
    devices = []
    for task_index, order in ((0, ("a", "b", "c")), (1, ("c", "b", "a"))):
        with tfshare.GraphSession("cpu", cluster=SPEC, job_name="worker", task_index=task_index) as gs:
            trunks = {name: tfshare.SharedTrunk(gs, 8, (4, 4), name=name) for name in order}
            devices.append({v.name: v.device for t in trunks.values() for v in t.variables})
    assert devices[0] == devices[1]
    assert {d for d in devices[0].values()} == {"/job:ps/task:0", "/job:ps/task:1"}


@pytest.mark.parametrize("kind", [tfshare.SharedTrunk, tfshare.TemplateTrunk], ids=["shared", "template"])
def test_a_conv_trunk_and_its_batchnorm_statistics_go_to_the_ps(kind):
    with tfshare.GraphSession("cpu", cluster=SPEC, job_name="worker", task_index=1) as gs:
        trunk = kind(gs, layers=_conv_body(), input_shape=CONV_SHAPE, name="conv")
        clf = tfshare.Classifier(trunk=trunk, num_classes=CONV_CLASSES, name="clf")
        updates = trunk.training_updates  # the training path, built as a first fit builds it
        gs.finalize()  # and the train step, with its Adam slots
        named = trunk.named_variables()
        statistics = _statistic_keys(named)
        assert len(statistics) == 4 and len(updates) == 4  # 2 BatchNorm layers x (mean, variance)
        assert all(v.device.startswith("/job:ps/task:") for v in trunk.variables)
        assert all(v.op.device == v.device for v in trunk.variables)  # the VarHandleOp itself
        assert {named[k].ref() for k in statistics} <= {v.ref() for v in trunk.variables}
        worker = "/job:worker/task:1/device:CPU:0"
        assert clf.named_variables["head/kernel"].device == worker
        assert clf.named_variables["head/bias"].device == worker
        assert trunk.training_output.device == worker  # only variables leave the worker
        trainable = {v.ref() for v in gs.graph.get_collection(tf1.GraphKeys.TRAINABLE_VARIABLES)}
        for key in statistics:
            variable = named[key]
            assert not variable.trainable and variable.ref() not in trainable
            assert variable.ref() not in {t.ref() for t in clf.trainable_variables}
            assert variable.ref() in {g.ref() for g in gs.global_variables()}  # the chief initializes them
        # Adam's 2 slots per trainable trunk weight, on the ps; none for the statistics (not trained).
        slots = [v for v in gs.global_variables() if v.name.startswith("optimizer/conv/")]
        assert len(slots) == 2 * sum(v.trainable for v in trunk.variables) == 12
        assert all(s.device.startswith("/job:ps/task:") for s in slots)
        assert not [s for s in slots if any(stat in s.name for stat in STATISTICS)]


def test_adam_slots_of_trunk_variables_are_on_the_ps_and_named_by_the_classifier():
    """docs/distributed.md, "Optimizer state": classifiers of one name share the trunk's slots; another name, its own."""
    slots = {}
    for task_index, name in ((0, "clf"), (1, "clf"), (1, "other")):
        with tfshare.GraphSession("cpu", cluster=SPEC, job_name="worker", task_index=task_index) as gs:
            trunk = tfshare.SharedTrunk(gs, 8, (4,), name="trunk")
            clf = tfshare.DenseClassifier(trunk=trunk, name=name)
            gs.finalize()  # builds the train step of each live classifier: Adam's variables
            assert clf.runtime is gs
            slots[task_index, name] = {v.name: v.device for v in gs.global_variables()
                                       if v.name.startswith("optimizer/trunk/")}
    assert len(slots[0, "clf"]) == 2 * 2  # m and v of the trunk's kernel and bias
    assert all(device.startswith("/job:ps/task:") for found in slots.values() for device in found.values())
    assert slots[0, "clf"] == slots[1, "clf"]  # one set on the ps, by name, for both workers
    assert not set(slots[1, "clf"]) & set(slots[1, "other"])  # another classifier name: its own copy


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"job_name": "worker"}, tfshare.InputError, "need cluster="),
        ({"cluster": SPEC, "job_name": "ps"}, tfshare.InputError, "a ps only serves"),
        ({"cluster": SPEC, "job_name": "worker", "task_index": 2}, tfshare.InputError, r"\[0, 2\)"),
        ({"cluster": SPEC, "job_name": "worker", "timeout": 0}, tfshare.InputError, "timeout"),
        ({"cluster": ["127.0.0.1:1"], "job_name": "worker"}, TypeError, "ClusterSpec"),
    ],
    ids=["no-cluster", "ps-job", "task-out-of-range", "zero-timeout", "list-cluster"],
)
def test_graph_session_rejects_bad_cluster_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        tfshare.GraphSession("cpu", **kwargs)


@pytest.mark.parametrize(
    "make",
    [lambda: SPEC, lambda: cluster.ClusterConfig(SPEC, "worker", 0), lambda: tf.train.ClusterSpec(SPEC)],
    ids=["dict", "cluster-config", "cluster-spec"],
)
def test_a_cluster_without_a_job_name_goes_into_the_config_whatever_its_form(make):
    """cluster= takes the forms TaskPlacement takes; without job_name it becomes the ConfigProto's cluster_def."""
    with tfshare.GraphSession("cpu", target="grpc://127.0.0.1:3", cluster=make()) as gs:  # no Session: nothing connects
        assert tf.train.ClusterSpec(gs.config.cluster_def).as_dict() == SPEC


@pytest.mark.parametrize("job_name", [None, "worker"], ids=["remote", "cluster-task"])
def test_a_sub_millisecond_timeout_still_bounds_every_call(job_name):
    """operation_timeout_in_ms = 0 means no limit: a timeout below 1 ms rounds up to 1 ms, never down to 0."""
    kwargs = {"target": "grpc://127.0.0.1:3"} if job_name is None else {"cluster": SPEC, "job_name": job_name}
    with tfshare.GraphSession("cpu", timeout=0.0004, **kwargs) as gs:  # no Session: nothing connects
        assert gs.config.operation_timeout_in_ms == 1


def test_a_cluster_of_another_type_is_a_type_error_naming_the_forms():
    with pytest.raises(TypeError, match="cluster must be a tf.train.ClusterSpec.*got str"):
        tfshare.GraphSession("cpu", target="grpc://127.0.0.1:3", cluster="127.0.0.1:1")


def test_closing_a_runtime_whose_tasks_are_unreachable_skips_the_closing_rpc():
    """docs/distributed.md: close() skips the closing RPC when its worker or a ps is unreachable.

    That RPC would wait out the timeout (here HANG): nothing listens at SPEC's addresses.
    """
    gs = tfshare.GraphSession("cpu", cluster=SPEC, job_name="worker", task_index=1, timeout=HANG)
    session = gs.session  # made, never connected
    closed = []
    session.close = lambda: closed.append(True)
    gs.close()
    assert closed == [] and gs.closed


# ----------------------------------------------------- live: 1 ps + 2 workers
def test_worker_1_sees_the_trunk_worker_0_trains(sessions, data):
    gs0, trunk0, clf0 = _worker(sessions, 0, "trunk_a", seed=2)
    gs1, trunk1, clf1 = _worker(sessions, 1, "trunk_a", seed=3)
    gs1.finalize()  # the init policy adds no op to the graph
    clf0.predict(data.x_test[:1])  # the chief initializes the trunk
    x = data.x_test[:8]
    before = _values(gs1, trunk1.variables)
    proba_before = clf1.predict_proba(x)
    assert all(np.array_equal(a, b) for a, b in zip(before, _values(gs0, trunk0.variables)))

    clf0.fit(data.x_train[:256], data.y_train[:256], epochs=1, batch_size=32)

    after = _values(gs1, trunk1.variables)
    assert not np.allclose(before[0], after[0])
    assert all(np.array_equal(a, b) for a, b in zip(after, _values(gs0, trunk0.variables)))
    assert not np.allclose(proba_before, clf1.predict_proba(x))


def test_heads_stay_private_to_their_worker(sessions, data):
    gs0, _, clf0 = _worker(sessions, 0, "trunk_b", seed=2)
    gs1, _, clf1 = _worker(sessions, 1, "trunk_b", seed=3)
    clf0.predict(data.x_test[:1])
    head0 = [clf0.named_variables["head/kernel"], clf0.named_variables["head/bias"]]
    head1 = [clf1.named_variables["head/kernel"], clf1.named_variables["head/bias"]]
    assert head0[0].name == head1[0].name  # same name, different tasks: different variables
    before1 = _values(gs1, head1)
    before0 = _values(gs0, head0)
    assert not np.allclose(before0[0], before1[0])  # seeds 2 and 3

    clf0.fit(data.x_train[:128], data.y_train[:128], epochs=1, batch_size=32)

    assert not np.allclose(before0[0], _values(gs0, head0)[0])
    assert all(np.array_equal(a, b) for a, b in zip(before1, _values(gs1, head1)))


def test_joining_later_keeps_the_trained_trunk(sessions, data):
    _, trunk0, clf0 = _worker(sessions, 0, "trunk_c", seed=2)
    clf0.fit(data.x_train[:128], data.y_train[:128], epochs=1, batch_size=32)
    trained = _values(clf0.runtime, trunk0.variables)
    # A restarted chief and a late non-chief both find the trunk initialized.
    for task_index in (0, 1):
        gs, trunk, _ = _worker(sessions, task_index, "trunk_c", seed=5)
        assert all(np.array_equal(a, b) for a, b in zip(trained, _values(gs, trunk.variables)))


def test_a_new_graph_session_on_a_worker_finds_its_earlier_head(sessions, data):
    # docs/distributed.md, "State lives in the servers": a variable on a server keeps its value across Sessions.
    gs_a, _, clf_a = _worker(sessions, 0, "trunk_g", seed=2)
    clf_a.fit(data.x_train[:64], data.y_train[:64], epochs=1, batch_size=32)
    trained = clf_a.get_weights()
    gs_a.close()
    _, _, clf_b = _worker(sessions, 0, "trunk_g", seed=7)  # other initial values, were anything re-initialized
    clf_b.predict(data.x_test[:1])
    now = clf_b.get_weights()
    assert {"head/kernel", "head/bias"} <= set(now) and sorted(now) == sorted(trained)
    assert [k for k in trained if not np.array_equal(now[k], trained[k])] == []


def _listening_hosts(port: int) -> set[str]:
    """The local addresses (hex, as /proc/net/tcp* writes them) on which something listens on ``port``."""
    hosts = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = pathlib.Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            host, _, port_hex = local.rpartition(":")
            if state == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                hosts.add(host)
    return hosts


def test_a_server_listens_on_every_interface(local_cluster):
    # docs/distributed.md, "Ports" (and the README): TensorFlow's gRPC server has no bind address, so even
    # LocalCluster's 127.0.0.1 servers listen on all interfaces. Should TensorFlow change that, the docs must too.
    if not pathlib.Path("/proc/net/tcp").exists():
        pytest.skip("no /proc/net/tcp here")
    for job, task_index in (("ps", 0), ("worker", 0)):
        hosts = _listening_hosts(int(local_cluster.address(job, task_index).rpartition(":")[2]))
        assert hosts and all(set(h) == {"0"} for h in hosts), (job, hosts)  # 0.0.0.0 or ::


def test_a_worker_whose_first_call_finds_no_ps_gets_a_cluster_error(data):
    # docs/distributed.md: "A worker whose first call finds no ps fails after timeout with a ClusterError".
    with cluster.LocalCluster(num_workers=1, max_lifetime=LIFETIME) as lc:
        lc.kill("ps", 0)
        gs = lc.graph_session(0, device="cpu", timeout=TIMEOUT)
        try:
            clf = tfshare.DenseClassifier(trunk=tfshare.SharedTrunk(gs, 784, (8,), name="t", seed=1), name="c")
            with pytest.raises(tfshare.ClusterError, match=r"/job:worker/task:0 \(chief\) .* failed"):
                _returns(lambda: clf.predict(data.x_test[:1]))
        finally:
            gs.close()


@pytest.mark.parametrize("task_index", [0, 1], ids=["chief", "non-chief"])
def test_a_trunk_of_another_shape_under_a_name_the_ps_holds_fails_at_its_first_call(sessions, data, task_index):
    # docs/distributed.md, "Same names, same kind, same shapes": the ps's variable is not re-created.
    name = f"trunk_h{task_index}"
    _, _, clf0 = _worker(sessions, 0, name, seed=2)
    clf0.predict(data.x_test[:1])  # the ps now holds the trunk's 784x32 kernel
    gs = sessions(task_index)
    other = tfshare.DenseClassifier(trunk=tfshare.SharedTrunk(gs, 784, (16,), name=name, seed=1), name=f"clf_{name}_16")
    # Before, the 784x32 kernel fed the new 16-unit head: TensorFlow's "Matrix size-incompatible: In[0]: [1,32],
    # In[1]: [16,10]", from the first op that met the old shape, naming neither the variable nor the cause.
    with pytest.raises(tfshare.InputError, match=rf"variable '{name}/hidden_0/kernel' \(and 1 more\) already exists "
                                                 r"on /job:ps/task:0.* with shape \(784, 32\); this graph asks for "
                                                 r"shape \(784, 16\)\. .*give the trunk \(or classifier\) a new name"):
        _returns(lambda: other.predict(data.x_test[:1]))


def test_non_chief_waits_for_the_chief_to_initialize(sessions, data):
    # Worker 1 waits for the chief as long as its timeout: longer than building worker 0 may take.
    gs1, trunk1, clf1 = _worker(sessions, 1, "trunk_d", seed=3, timeout=HANG)
    errors: list[BaseException] = []

    def non_chief() -> None:
        try:
            clf1.predict(data.x_test[:1])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=non_chief)
    thread.start()
    thread.join(0.5)  # a bounded wait, not a synchronization: nothing may end it early
    assert thread.is_alive()  # still waiting: nothing initialized the trunk yet
    _, trunk0, clf0 = _worker(sessions, 0, "trunk_d", seed=2)
    clf0.predict(data.x_test[:1])
    thread.join(HANG)
    assert not thread.is_alive() and not errors
    assert all(np.array_equal(a, b) for a, b in zip(_values(gs1, trunk1.variables),
                                                     _values(clf0.runtime, trunk0.variables)))


@pytest.mark.parametrize(
    "job_name, task_index, match",
    [
        ("worker", -1, r"task_index must be an int in \[0, 2\) for job 'worker', got -1"),
        ("worker", 2, r"task_index must be an int in \[0, 2\) for job 'worker', got 2"),
        ("ps", True, r"task_index must be an int in \[0, 1\) for job 'ps', got True"),
        ("chief", 0, r"job_name must be one of the cluster's jobs \['ps', 'worker'\], got 'chief'"),
    ],
    ids=["negative-index", "index-past-the-job", "bool-index", "unknown-job"],
)
@pytest.mark.parametrize("method", ["address", "log", "process", "kill"])
def test_local_cluster_task_lookups_name_only_its_tasks(local_cluster, method, job_name, task_index, match):
    # A negative index used to name another task (address("worker", -1) was worker 1's, log() was "").
    with pytest.raises(tfshare.InputError, match=match):
        getattr(local_cluster, method)(job_name, task_index)
    assert all(p.poll() is None for p in (local_cluster.process("ps", 0), local_cluster.process("worker", 1)))


def test_a_worker_that_saw_adam_slots_uninitialized_never_resets_them_after_another_trained(sessions, data):
    # Adam's slots (and beta powers) of trunk variables live on the ps, next to them, and workers whose
    # classifiers have the same name share them. Each worker initializes those it finds uninitialized.
    # The race, made deterministic: worker 1 checks, finds its slots uninitialized; before it initializes
    # them, the chief initializes them and trains; worker 1 then goes on initializing.
    gs0, trunk0, clf0 = _worker(sessions, 0, "trunk_race", seed=2)
    gs1, trunk1, clf1 = _worker(sessions, 1, "trunk_race", seed=3, timeout=HANG)
    gs1.finalize()  # builds worker 1's train step: its slots, pending
    pending = gs1.pending_variables()
    on_ps = [v for v in pending if v.device.startswith("/job:ps/")]
    trunk_names = {v.name for v in trunk1.variables}
    colocated = [v for v in on_ps if v.name not in trunk_names]
    assert len(colocated) == 2 * len(trunk1.variables)  # Adam's m and v of each trunk weight
    task = gs1._task
    wrap = task.wrap
    trained: dict[str, np.ndarray] = {}

    def interleaved(fn, what="a Session call"):
        wrapped = wrap(fn, what)

        def call(*args, **kwargs):
            result = wrapped(*args, **kwargs)
            if what == "initializing variables" and not trained:  # right after worker 1's check
                seen = dict(zip((v.name for v in pending), result))  # the check runs on every pending variable
                assert not any(seen[v.name] for v in on_ps)  # nothing on the ps was initialized yet
                clf0.fit(data.x_train[:64], data.y_train[:64], epochs=1, batch_size=32)
                chief = {v.name: v for v in gs0.global_variables()}
                trained.update(zip((v.name for v in colocated), gs0.run([chief[v.name] for v in colocated])))
            return result

        return call

    task.wrap = interleaved
    try:
        _returns(gs1.initialize)
    finally:
        task.wrap = wrap
    assert trained
    now = dict(zip((v.name for v in colocated), gs1.run(colocated)))
    reset = [name for name in trained if not np.array_equal(now[name], trained[name])]
    assert not reset, f"worker 1 reset what the chief had trained: {reset}"


def test_a_new_classifier_on_a_worker_starts_adam_at_step_0(sessions, data):
    # Adam's beta powers (beta1**t, beta2**t: its bias correction) used to be named "beta1_power" and
    # "beta2_power" in every graph, so a classifier of another name in a later GraphSession on the same
    # worker server found the earlier one's, already advanced, and did not initialize its own.
    names: dict[str, list[str]] = {}
    for trunk_name, steps in (("trunk_adam_a", 2), ("trunk_adam_b", 0)):
        gs, _, clf = _worker(sessions, 1, trunk_name, seed=3, timeout=HANG)
        # Worker 1 waits for the chief to initialize the trunk; it trains only its head and the trunk.
        _worker(sessions, 0, trunk_name, seed=2)[2].predict(data.x_test[:1])
        gs.finalize()  # builds the train step: Adam's variables
        powers = sorted((v for v in gs.global_variables() if v.name.rsplit("/", 1)[-1].startswith("beta")),
                        key=lambda v: v.name)
        assert [v.name.rsplit("/", 1)[-1] for v in powers] == ["beta1_power:0", "beta2_power:0"]
        np.testing.assert_allclose(gs.run(powers), [0.9, 0.999], rtol=1e-6)  # step 0
        names[trunk_name] = [v.name for v in powers]
        if steps:
            clf.fit(data.x_train[:32 * steps], data.y_train[:32 * steps], epochs=1, batch_size=32)
            np.testing.assert_allclose(gs.run(powers), [0.9 ** (steps + 1), 0.999 ** (steps + 1)], rtol=1e-5)
    # Each its own, named by its classifier (whose name shares the slots too).
    assert all(name.startswith(f"optimizer/clf_{trunk}_adam/") for trunk, pair in names.items() for name in pair)


def test_non_chief_without_a_chief_times_out_with_a_clear_error(sessions):
    gs1 = sessions(1, timeout=1.0)
    tfshare.SharedTrunk(gs1, 8, (4,), name="trunk_nobody_builds")
    with pytest.raises(tfshare.ClusterError, match=r"waited 1 s for the chief to initialize 2 shared variable"):
        _returns(gs1.initialize)


def test_a_non_chief_initializes_its_local_variables_on_the_ps_itself(sessions):
    # LOCAL_VARIABLES are each process's own (TF1's local_init_op runs on every worker, chief or not). One
    # that a device function put on the ps (a metric built beside a trunk) used to count as a shared
    # variable: a non-chief waited for the chief to initialize it, and timed out when the chief never built it.
    gs1 = sessions(1, timeout=1.0)
    with gs1.building(shared=True):
        labels = tf1.placeholder(tf.int64, [None], name="labels")
        _, update = tf1.metrics.accuracy(labels, labels, name="accuracy_local_on_ps")
    local = gs1.graph.get_collection(tf1.GraphKeys.LOCAL_VARIABLES)
    assert local and all(v.device.startswith("/job:ps/") for v in local)
    assert _returns(gs1.initialize) == len(local)
    assert gs1.run(update, {labels: [1, 2]}) == 1.0


def test_a_worker_checkpoint_restores_locally_and_into_the_cluster(sessions, data, tmp_path):
    _, _, clf0 = _worker(sessions, 0, "trunk_e", seed=2)
    clf0.fit(data.x_train[:128], data.y_train[:128], epochs=1, batch_size=32)
    expected = clf0.predict_proba(data.x_test[:16])
    clf0.save(str(tmp_path / "ckpt"))
    with tfshare.DenseClassifier(hidden_units=(32,), seed=9) as local:  # its own graph, no cluster
        local.restore(str(tmp_path / "ckpt"))
        np.testing.assert_allclose(local.predict_proba(data.x_test[:16]), expected, rtol=1e-5, atol=1e-6)
    # ... and back into the cluster by the chief, e.g. after a ps restart (a fresh
    # trunk name stands for an empty ps); the other workers then read the restored trunk.
    _, trunk_0, clf_0 = _worker(sessions, 0, "trunk_f", seed=4)
    clf_0.restore(str(tmp_path / "ckpt"))
    np.testing.assert_allclose(clf_0.predict_proba(data.x_test[:16]), expected, rtol=1e-5, atol=1e-6)
    gs1, trunk_1, _ = _worker(sessions, 1, "trunk_f", seed=6)
    restored = _values(clf_0.runtime, trunk_0.variables)
    assert all(np.array_equal(a, b) for a, b in zip(restored, _values(gs1, trunk_1.variables)))


def test_a_non_chiefs_restore_first_waits_for_the_chief_to_initialize(sessions, data, tmp_path):
    # docs/distributed.md: "a non-chief's restore first waits for the chief to initialize the trunk"
    # (else the chief's initialization could overwrite what it restored).
    _, trunk0, clf0 = _worker(sessions, 0, "trunk_i", seed=2)
    clf0.fit(data.x_train[:64], data.y_train[:64], epochs=1, batch_size=32)
    saved = _values(clf0.runtime, trunk0.variables)
    clf0.save(str(tmp_path / "ckpt"))
    gs1, trunk1, clf1 = _worker(sessions, 1, "trunk_j", seed=3, timeout=HANG)  # no chief has built trunk_j yet
    errors: list[BaseException] = []

    def restore() -> None:
        try:
            clf1.restore(str(tmp_path / "ckpt"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=restore, daemon=True)
    thread.start()
    thread.join(0.5)  # a bounded wait, not a synchronization: nothing may end it early
    assert thread.is_alive()  # waiting for the chief
    _worker(sessions, 0, "trunk_j", seed=4)[2].predict(data.x_test[:1])  # the chief initializes trunk_j
    thread.join(HANG)
    assert not thread.is_alive() and not errors
    assert all(np.array_equal(a, b) for a, b in zip(saved, _values(gs1, trunk1.variables)))  # restored, kept


# ------------------------------------------- live: a conv trunk with BatchNorm
def test_worker_1_reads_the_batchnorm_statistics_worker_0_trains(sessions, images):
    x, y = images
    gs0, trunk0, clf0 = _conv_worker(sessions, 0, "conv_a", seed=2)
    gs1, trunk1, clf1 = _conv_worker(sessions, 1, "conv_a", seed=3)
    clf0.predict(x[:1])  # the chief initializes the trunk
    named1 = trunk1.named_variables()
    statistics = _statistic_keys(named1)
    assert len(statistics) == 4
    for task_index, trunk, clf in ((0, trunk0, clf0), (1, trunk1, clf1)):
        assert all(v.device.startswith("/job:ps/") for v in trunk.variables)
        assert clf.named_variables["head/kernel"].device == f"/job:worker/task:{task_index}/device:CPU:0"
    before = clf1.get_weights()
    proba_before = clf1.predict_proba(x[:16])
    assert all(np.array_equal(a, b) for a, b in zip(_values(gs0, trunk0.variables), _values(gs1, trunk1.variables)))

    clf0.fit(x, y, epochs=1, batch_size=16)  # worker 1 never trains

    after = clf1.get_weights()
    for key in statistics:
        assert not np.allclose(before[key], after[key]), key
    np.testing.assert_array_equal(after["head/kernel"], before["head/kernel"])  # its own head: untouched
    assert all(np.array_equal(a, b) for a, b in zip(_values(gs0, trunk0.variables), _values(gs1, trunk1.variables)))
    proba_after = clf1.predict_proba(x[:16])
    assert not np.allclose(proba_before, proba_after)
    # Worker 1's predictions are those of its weights, statistics included:
    # the same model in one process agrees, and disagrees with the old statistics.
    with tfshare.Classifier(layers=_conv_body(), input_shape=CONV_SHAPE, num_classes=CONV_CLASSES) as local:
        local.set_weights(after)
        np.testing.assert_allclose(local.predict_proba(x[:16]), proba_after, rtol=1e-5, atol=1e-6)
        local.set_weights({**after, **{k: before[k] for k in statistics}})
        assert not np.allclose(local.predict_proba(x[:16]), proba_after, rtol=1e-5, atol=1e-6)


def test_a_non_finite_step_leaves_the_ps_statistics_alone(sessions, images):
    x, y = images
    _, _, clf0 = _conv_worker(sessions, 0, "conv_b", seed=2)
    gs1, trunk1, _ = _conv_worker(sessions, 1, "conv_b", seed=3)
    named = trunk1.named_variables()
    statistics = [named[k] for k in _statistic_keys(named)]
    assert len(statistics) == 4
    clf0.fit(x[:16], y[:16], epochs=1, batch_size=16)  # the train step works across devices
    before = _values(gs1, trunk1.variables)
    # Finite, valid inputs whose activations overflow: the step's gradients are not finite.
    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(tfshare.TrainingError, match=r"became non-finite .* rows 0:16; that step was not applied"):
            clf0.fit(x[:16] * np.float32(3e38), y[:16], epochs=1, batch_size=16, shuffle=False)
    # What the ps holds, read by the other worker: nothing moved, statistics included.
    assert all(np.array_equal(a, b) for a, b in zip(before, _values(gs1, trunk1.variables)))
    kept = _values(gs1, statistics)
    clf0.fit(x[16:32], y[16:32], epochs=1, batch_size=16)  # the next finite step updates them again
    assert all(not np.allclose(a, b) for a, b in zip(kept, _values(gs1, statistics)))


def test_the_benchmark_trainer_trains_a_cnn_trunk_on_the_ps(local_cluster, sessions):
    """What ``distributed_sharing --model=cnn`` runs in each trainer process, here in-process."""
    from tfshare.bench import dist_trainer, distributed_sharing, models

    config = distributed_sharing.Config(model=models.model("cnn", filters=(4, 8)), batch_sizes=(4,), timeout=30.0)
    result = dist_trainer.train(local_cluster.config, model=config.model, batch_size=4, seconds=0.01,
                                timeout=30.0, trunk_name="bench_cnn", device="cpu", seed=config.seed)
    assert result["task_index"] == 0 and result["steps"] % dist_trainer.STEPS_PER_CALL == 0
    # Worker 1 reads the statistics the trainer's warm-up moved (8 steps at least).
    gs1 = sessions(1)
    trunk = config.model.shared_trunk(gs1, name="bench_cnn", seed=config.seed + 1)
    named = trunk.named_variables()
    means, variances = ([named[k] for k in _statistic_keys(named) if k.endswith(stat)] for stat in STATISTICS)
    assert len(means) == len(variances) == 2
    assert all(not np.allclose(m, 0.0) for m in _values(gs1, means))  # initial values: 0 and 1
    assert all(not np.allclose(v, 1.0) for v in _values(gs1, variances))
    record = distributed_sharing.ps_bytes(config, local_cluster, 1, "bench_cnn", rss_start=0, rss_growth=0)
    weights = (3 * 3 * 1 * 4 + 4 * 4 + 3 * 3 * 4 * 8 + 8 * 4) * 4  # conv kernels, then gamma, beta, mean, variance
    statistics = (4 + 8) * 2 * 4
    assert record["trunk_weight_bytes"] == weights and record["trunk_statistics_bytes"] == statistics
    # Adam keeps 2 slots per trainable weight, none for the statistics; on the ps next to them.
    assert record["per_worker_copies_with_adam_bytes"] == 3 * weights - 2 * statistics
    # Plus, here, Adam's two float32 beta powers: colocated with the optimizer's first variable by name
    # ("bench_cnn/..." sorts before "clf/head/..."), so on the ps.
    assert record["ps_variable_bytes"] == record["per_worker_copies_with_adam_bytes"] + 2 * 4


# ------------------------------------------------------ a task that dies
def test_a_dead_task_does_not_hang_the_others_and_the_cluster_closes_on_error(data):
    with pytest.raises(tfshare.ClusterError, match=r"/job:worker/task:1 .* failed"):
        with cluster.LocalCluster(num_workers=2, max_lifetime=LIFETIME) as lc:
            addresses = lc.addresses()
            gs0 = lc.graph_session(0, device="cpu", timeout=TIMEOUT)
            gs1 = lc.graph_session(1, device="cpu", timeout=TIMEOUT)
            try:
                clf0 = tfshare.DenseClassifier(trunk=tfshare.SharedTrunk(gs0, 784, (16,), name="t", seed=1), name="c")
                clf1 = tfshare.DenseClassifier(trunk=tfshare.SharedTrunk(gs1, 784, (16,), name="t", seed=1), name="c")
                clf0.predict(data.x_test[:1])
                clf1.predict(data.x_test[:1])

                lc.kill("worker", 0)
                # Worker 1 needs only itself and the ps (device filters): it goes on, no error, no hang.
                _returns(lambda: clf1.fit(data.x_train[:64], data.y_train[:64], batch_size=32))
                assert _returns(lambda: clf1.predict(data.x_test[:4])).shape == (4,)
                # Worker 0's own client: a clear error after the timeout, no hang.
                with pytest.raises(tfshare.ClusterError, match=r"/job:worker/task:0 .* no answer within the 2 s timeout"):
                    _returns(lambda: clf0.predict(data.x_test[:1]))

                lc.kill("ps", 0)
                # Raises out of the `with`: the cluster closes on that error.
                _returns(lambda: clf1.predict(data.x_test[:1]))
            finally:
                gs0.close()
                gs1.close()
    assert lc.closed
    assert all(lc.process(job, i).returncode is not None for job, i in (("ps", 0), ("worker", 0), ("worker", 1)))
    assert not any(_port_open(a) for a in addresses)


# ----------------------------------------------------------------- cleanup
def test_a_port_another_process_listens_on_is_not_taken_for_a_started_server(monkeypatch):
    """A server that could not bind its port (another process listens there) makes LocalCluster retry, not report ready."""
    thief = socket.socket()
    thief.bind(("127.0.0.1", 0))
    thief.listen()
    taken = thief.getsockname()[1]
    free_ports, attempts = _local_cluster._free_ports, []

    def first_port_taken(count):
        attempts.append(count)
        ports = free_ports(count)
        return [taken, *ports[1:]] if len(attempts) == 1 else ports

    monkeypatch.setattr(_local_cluster, "_free_ports", first_port_taken)
    try:
        with cluster.LocalCluster(num_workers=1, max_lifetime=LIFETIME) as lc:
            assert len(attempts) == 2
            assert lc.address("ps", 0) != f"127.0.0.1:{taken}"
            assert lc.process("ps", 0).poll() is None and "serving ps/0 at" in lc.log("ps", 0)
    finally:
        thief.close()


def test_servers_exit_when_their_parent_is_killed(tmp_path):
    script = textwrap.dedent(
        """
        import json, sys, time
        from tfshare import cluster
        lc = cluster.LocalCluster(num_workers=1, max_lifetime=%r)
        print(json.dumps({"pids": [lc.process(j, 0).pid for j in ("ps", "worker")],
                          "addresses": lc.addresses()}), flush=True)
        time.sleep(%r)
        """ % (LIFETIME, LIFETIME)
    )
    env = cluster.subprocess_env()
    env["TMPDIR"] = str(tmp_path)  # the killed parent cannot remove its cluster's log folder: keep it here
    log = tmp_path / "parent.log"
    with open(log, "wb") as stderr:
        parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=stderr, env=env)
    try:
        info = json.loads(parent.stdout.readline() or "{}")
        assert info, f"the parent process failed to start its cluster:\n{log.read_text()[-2000:]}"
        assert all(_port_open(a) for a in info["addresses"])
    finally:
        parent.send_signal(signal.SIGKILL)  # no cleanup code of the parent runs
        parent.wait(timeout=HANG)
        parent.stdout.close()
    deadline = time.monotonic() + HANG  # a bounded poll: it ends as soon as the ports close
    while any(_port_open(a) for a in info["addresses"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_port_open(a) for a in info["addresses"])
    for pid in info["pids"]:
        assert not _alive(pid), f"server {pid} outlived its parent"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_servers_exit_by_themselves_after_max_lifetime():
    lc = cluster.LocalCluster(num_workers=1, max_lifetime=2.0)
    try:
        addresses = lc.addresses()
        processes = [lc.process(job, 0) for job in ("ps", "worker")]
        for p in processes:
            p.wait(timeout=HANG)  # no close(): each server ends its own life
        assert [p.returncode for p in processes] == [0, 0]
        assert "max_seconds=2.0 reached" in lc.log("ps", 0)
        assert not any(_port_open(a) for a in addresses)
    finally:
        lc.close()


def test_servers_stop_when_their_local_cluster_is_collected():
    lc = cluster.LocalCluster(num_workers=1, max_lifetime=LIFETIME)
    processes = [lc.process(job, 0) for job in ("ps", "worker")]
    addresses, log_dir = lc.addresses(), pathlib.Path(lc._log_dir)
    try:
        del lc
        gc.collect()  # no close(), no with block: the object's finalizer stops the servers
        assert [p.poll() is not None for p in processes] == [True, True]
        assert not any(_port_open(a) for a in addresses)
        assert not log_dir.exists()  # their logs go too (they used to stay behind in the temp folder)
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
