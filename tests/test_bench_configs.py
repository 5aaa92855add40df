"""The benchmarks' frozen configs reject bad values with messages that name them."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

import tfshare
from tfshare._tf import tf
from tfshare.bench import efficiency, graph_construction, marginal_cost, models, session_reuse, variable_sharing
from tfshare.bench.config import apply_threads


def test_sizes_up_to_doubles_and_ends_at_the_maximum():
    assert graph_construction.sizes_up_to(64) == (1, 2, 4, 8, 16, 32, 64)
    assert graph_construction.sizes_up_to(10) == (1, 2, 4, 8, 10)
    assert graph_construction.sizes_up_to(1) == (1,)
    with pytest.raises(tfshare.InputError, match="max_instances must be an int >= 1, got 0"):
        graph_construction.sizes_up_to(0)


@pytest.mark.parametrize("make, message", [
    (lambda: graph_construction.Config(modes=("eager", "nope")), "modes must be one of .*, got 'nope'"),
    (lambda: graph_construction.Config(repeats=0), "repeats must be an int >= 1, got 0"),
    (lambda: graph_construction.Config(sizes=()), r"sizes must name at least one N, got \(\)"),
    (lambda: session_reuse.Config(modes=("eager",)), "modes must include 'callable_floor'"),
    (lambda: session_reuse.Config(batch_sizes=(1, 0)), "batch_sizes must be an int >= 1, got 0"),
    (lambda: session_reuse.Config(threads=(0,)), "threads must be an int >= 1, got 0"),
    (lambda: variable_sharing.Config(num_classifiers=1), "num_classifiers must be an int >= 2, got 1"),
    (lambda: variable_sharing.Config(interference_steps=0), "interference_steps must be an int >= 1, got 0"),
], ids=["gc-mode", "gc-repeats", "gc-sizes", "sr-floor", "sr-batch", "sr-threads", "vs-n", "vs-steps"])
def test_config_rejects_bad_values(make, message):
    with pytest.raises(tfshare.InputError, match=message):
        make()


@pytest.mark.parametrize("config_cls", [
    graph_construction.Config, session_reuse.Config, variable_sharing.Config, marginal_cost.Config, efficiency.Config,
], ids=lambda c: c.__module__.rsplit(".", 1)[-1])
def test_every_config_takes_a_model_and_defaults_to_the_mlp(config_cls):
    assert config_cls().model == models.MLP == models.model("mlp")
    assert config_cls(model=models.model("cnn")).model.input_shape == (28, 28, 1)


def test_model_rejects_unknown_names():
    with pytest.raises(tfshare.InputError, match=r"model must be one of \['mlp', 'cnn'\], got 'rnn'"):
        models.model("rnn")


def test_configs_are_frozen():
    config = session_reuse.Config()
    with pytest.raises(AttributeError):
        config.repeats = 3


def test_graph_construction_closes_what_it_built_when_a_prediction_fails(monkeypatch):
    import numpy as np

    from tfshare.bench import graph_construction

    closed = []

    class Failing(graph_construction._Built):
        def first_predictions(self, x):
            raise RuntimeError("prediction failed")

        def close(self):
            closed.append(True)

    monkeypatch.setattr(graph_construction, "build", lambda mode, n, config: Failing([], []))
    config = graph_construction.Config(sizes=(1,), modes=("shared_graph",), repeats=1)
    with pytest.raises(RuntimeError, match="prediction failed"):
        graph_construction.measure_once("shared_graph", 1, config, np.zeros((1, 784), np.float32))
    assert closed == [True]


def test_graph_construction_build_closes_its_runtimes_when_a_constructor_fails(monkeypatch):
    from tfshare.bench import graph_construction

    from tfshare.bench import config as bench_config

    made = []
    real_runtime = bench_config.GraphSession

    def tracked_runtime(**kwargs):
        made.append(real_runtime(**kwargs))
        return made[-1]

    calls = []

    def failing_classifier(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("constructor failed")
        return object()

    monkeypatch.setattr(bench_config, "GraphSession", tracked_runtime)
    monkeypatch.setattr(models.Model, "classifier", failing_classifier)
    config = graph_construction.Config(sizes=(4,), modes=("isolated",), repeats=1)
    with pytest.raises(RuntimeError, match="constructor failed"):
        graph_construction.build("isolated", 4, config)
    assert len(made) == 3 and all(gs.closed for gs in made)


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_sizes": (1, 0)}, "batch_sizes must be an int >= 1, got 0"),
    ({"workers": ()}, r"workers must name at least one value, got \(\)"),
    ({"modes": ("grpc_ps_trunk",)}, "modes must include 'in_process'"),
    ({"intra_op_threads": 0}, "intra_op_threads must be an int >= 1, got 0"),
], ids=["batch", "no-workers", "no-baseline", "threads"])
def test_distributed_sharing_config_rejects_bad_values(kwargs, message):
    from tfshare.bench import distributed_sharing

    with pytest.raises(tfshare.InputError, match=message):
        distributed_sharing.Config(**kwargs)


def test_distributed_sharing_trains_at_the_largest_batch_size_on_a_wider_mlp_by_default():
    from tfshare.bench import distributed_sharing

    config = distributed_sharing.Config(batch_sizes=(1, 64, 16))
    assert config.train_batch_size == 64
    assert (config.model.name, config.model.hidden_units, config.model.input_shape) == ("mlp", (256, 256), (784,))


_THREADS_CHILD = """
import tensorflow as tf
from tfshare.bench.config import RunConfig
config = RunConfig(intra_op_threads=1, inter_op_threads=1)
with config.graph_session() as gs:
    config.model.classifier(10, runtime=gs, seed=0).predict_proba(config.model.inputs(2))
print(tf.config.threading.get_intra_op_parallelism_threads(), tf.config.threading.get_inter_op_parallelism_threads())
"""


def test_a_runs_thread_counts_reach_the_eager_context_that_sizes_the_intra_op_pool():
    """tfshare computes initial values eagerly before the first Session, so the eager context sizes the
    process's intra-op pool: a run's counts apply only if the context has them (fresh process: ours started)."""
    root = pathlib.Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "TF_CPP_MIN_LOG_LEVEL": "3"}
    child = subprocess.run([sys.executable, "-c", _THREADS_CHILD], capture_output=True, text=True, env=env,
                           timeout=300)
    assert child.returncode == 0, child.stderr[-2000:]
    assert child.stdout.split()[-2:] == ["1", "1"]


def test_thread_counts_the_started_eager_context_cannot_take_are_reported(caplog):
    tf.constant(1.0)  # the context has started (with the suite's counts)
    other = tf.config.threading.get_intra_op_parallelism_threads() + 1
    with caplog.at_level("WARNING", logger="tfshare.devices"):
        assert not apply_threads(other, None)
    assert f"intra_op_threads={other} does not apply" in caplog.text
    assert apply_threads(None, None)
