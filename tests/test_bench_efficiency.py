"""The efficiency benchmark: FLOPs from TensorFlow's profiler, the MatMul references, compute and training records."""

from __future__ import annotations

import numpy as np
import pytest

import tfshare
from tfshare._tf import tf, tf1
from tfshare.bench import efficiency as compute
from tfshare.bench import models
from tfshare.harness import introspect
from tfshare.harness.timing import Stats


def test_float_ops_counts_a_matmul_as_two_per_multiply_add():
    matmul = compute.MatMul(16, "/device:CPU:0")
    try:
        assert matmul.flops == 2 * 16**3
        np.testing.assert_allclose(matmul.tf(), matmul.numpy(), rtol=1e-5)
    finally:
        matmul.close()


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_float_ops_of_the_inference_graph_scale_with_the_batch(runtime, name):
    model = models.model(name, hidden_units=(32,), filters=(4, 8))
    clf = model.classifier(10, runtime=runtime, seed=0)
    per_batch = {b: introspect.float_ops(clf.probabilities_tensor, {clf.input_tensor: (b, *model.input_shape)})
                 for b in (1, 2, 3)}
    per_row, per_call = per_batch[2] - per_batch[1], 2 * per_batch[1] - per_batch[2]
    assert per_row > 0 and per_batch[3] == 3 * per_row + per_call
    # Nothing is computed once per call: the CNN's BatchNorm runs inside its fused convolutions
    # (on CPU; TF's profiler counts no FLOPs for _FusedConv2D, so efficiency counts the plain graph's).
    assert per_call == 0
    if name == "mlp":  # MatMul and BiasAdd; the profiler has no count for ReLU or softmax
        assert per_batch[1] == 2 * 784 * 32 + 32 + 2 * 32 * 10 + 10


def test_float_ops_needs_every_shape_fixed(runtime):
    clf = tfshare.DenseClassifier(hidden_units=(8,), runtime=runtime, seed=0)
    with pytest.raises(tfshare.InputError, match="shapes must fix every placeholder .* still unknown: .*x"):
        introspect.float_ops(clf.probabilities_tensor)


def test_float_ops_leaves_the_graph_it_reads_unchanged():
    with tf.Graph().as_default() as graph:
        x = tf1.placeholder(tf.float32, (None, 4))
        y = tf.matmul(x, tf.ones((4, 2)))
    before = len(graph.get_operations())
    assert introspect.float_ops(y, {x: (5, 4)}) == 2 * 5 * 4 * 2
    assert len(graph.get_operations()) == before


def test_compute_records_every_setting_and_both_matmul_references():
    config = compute.Config(batch_sizes=(8,), matmul_size=32, thread_settings=((0, 0), (1, 1)), repeats=2)
    records = compute.compute(config, 8)
    settings = [r["setting"] for r in records]
    assert {r["batch_size"] for r in records} == {8} and {r["matmul_size"] for r in records} == {32}
    assert settings == ["intra=default,inter=default", "intra=1,inter=1", "tf_matmul", "numpy_matmul"]
    for r in records:
        assert r["flops_per_call"] == (2 * 32**3 if r["setting"] in compute.REFERENCES else
                                       8 * (2 * 784 * 64 + 64 + 2 * 64 * 10 + 10))
        assert r["gflops"] == pytest.approx(r["flops_per_call"] / r["seconds"]["median"] / 1e9)
    assert records[2]["gflops_vs_tf_matmul"] == pytest.approx(1.0)
    assert records[3]["gflops_vs_numpy_matmul"] == pytest.approx(1.0)
    assert compute.best_setting(records)["setting"] in settings[:2]


@pytest.mark.parametrize("settings, warned", [
    (((0, 0), (1, 1)), True),
    (((1, 1), (1, 2)), True),  # the inter-op pool is process-wide too
    (((1, 1),), False),
    (((0, 0), (tfshare.devices.usable_cores(),) * 2), False),  # 0 is the usable cores: one setting twice
])
def test_a_sweep_of_several_thread_counts_warns_that_only_the_first_sessions_apply(caplog, settings, warned):
    config = compute.Config(batch_sizes=(8,), matmul_size=32, thread_settings=settings, repeats=2)
    with caplog.at_level("WARNING", logger="tfshare.bench.efficiency"):
        compute.compute(config, 8)
    said = [r.getMessage() for r in caplog.records if "once per process" in r.getMessage()]
    assert bool(said) == warned, said


def test_the_first_session_compute_makes_has_the_first_settings_thread_counts(monkeypatch):
    """TensorFlow sizes its inter-op (and, before the eager context, intra-op) pool with the first Session's
    counts: the MatMul reference's Session, with TensorFlow's default options, must not come first."""
    made = []
    real = tf1.Session.__init__

    def init(self, *args, **kwargs):
        config = kwargs.get("config") or (args[2] if len(args) > 2 else None)
        made.append(None if config is None else (config.intra_op_parallelism_threads,
                                                 config.inter_op_parallelism_threads))
        real(self, *args, **kwargs)

    monkeypatch.setattr(tf1.Session, "__init__", init)
    config = compute.Config(batch_sizes=(8,), matmul_size=32, thread_settings=((1, 2),), repeats=1, warmup=0)
    compute.compute(config, 8)
    assert made[0] == (1, 2), made


def test_numpys_matmul_is_timed_apart_from_tensorflows_calls(monkeypatch):
    """OpenBLAS's threads spin after each product and slow whatever runs next: NumPy's MatMul is timed in a
    block of its own, after the model's settings and TF's MatMul, and its ratios are ratios of medians (the
    others: medians of per-repeat ratios). Fixed timings, chosen so that the two kinds of ratio differ."""
    seconds = {"intra=default,inter=default": (1.0, 2.0, 6.0), "tf_matmul": (2.0, 1.0, 3.0), "numpy_matmul": (1.0, 5.0, 9.0)}
    blocks = []

    def fixed(fns, *args, **kwargs):
        blocks.append(list(fns))
        return {name: Stats(seconds[name], 1) for name in fns}

    monkeypatch.setattr(compute, "measure_interleaved", fixed)
    config = compute.Config(batch_sizes=(4,), matmul_size=16, thread_settings=((0, 0),), repeats=3)
    records = {r["setting"]: r for r in compute.compute(config, 4)}
    assert blocks == [["intra=default,inter=default", "tf_matmul"], ["numpy_matmul"]]
    model, tf_mm, np_mm = (records[k] for k in ("intra=default,inter=default", "tf_matmul", "numpy_matmul"))
    flops = model["flops_per_call"] / tf_mm["flops_per_call"]
    assert model["gflops_vs_tf_matmul"] == pytest.approx(flops / 2.0)  # median of 0.5, 2, 2 (medians: 2 / 2)
    assert model["gflops_vs_numpy_matmul"] == pytest.approx(flops / 0.4)  # 2 / 5 (paired: median of 1, 0.4, 0.67)
    assert np_mm["gflops_vs_tf_matmul"] == pytest.approx(1 / 2.5)  # 5 / 2, the same FLOPs
    assert tf_mm["gflops_vs_numpy_matmul"] == pytest.approx(2.5)


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_training_record_compares_fit_with_the_raw_train_callable(name):
    config = compute.Config(train_rows=32, batch_sizes=(16,), repeats=2, model=models.model(name, filters=(4, 8)))
    record = compute.training(config, 16)
    assert record["kind"] == "training" and record["steps_per_epoch"] == 2
    pairs = np.array(record["fit"]["values"]) / np.array(record["raw_callable"]["values"])
    assert record["ratio"] == pytest.approx(float(np.median(pairs)))
    assert record["ratio_of_medians"] == pytest.approx(record["fit"]["median"] / record["raw_callable"]["median"])
    assert record["fit_step_s"] > 0 and record["raw_step_s"] > 0
    for mode in ("eager", "tf_function"):  # the eager twin's fit, per step of the same epoch
        assert record[f"{mode}_step_s"] == pytest.approx(record[f"{mode}_fit"]["median"] / 2)


def test_training_ratio_pairs_the_repeats(monkeypatch):
    """fit and the raw epoch run back to back in each repeat: the ratio is the median of per-repeat ratios
    (noise inflates both of a pair), not the ratio of the medians. Fixed timings where the two differ."""
    seconds = {"fit": (1.0, 6.0, 3.0), "raw_callable": (1.0, 2.0, 4.0), "eager_fit": (9.0,) * 3, "tf_function_fit": (8.0,) * 3}
    monkeypatch.setattr(compute, "measure_interleaved", lambda fns, **kwargs: {n: Stats(seconds[n], 1) for n in fns})
    config = compute.Config(train_rows=16, batch_sizes=(8,), repeats=3, model=models.model("mlp", hidden_units=(4,)))
    record = compute.training(config, 8)
    assert record["ratio"] == pytest.approx(1.0)  # median of 1, 3, 0.75
    assert record["ratio_of_medians"] == pytest.approx(1.5)  # 3 / 2
    assert record["fit_step_s"] == pytest.approx(3.0 / 2) and record["raw_step_s"] == pytest.approx(2.0 / 2)
    assert compute.table_row(record).split(" | ")[3] == "1.00x"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"repeats": 0}, "repeats must be an int >= 1, got 0"),
        ({"matmul_size": 0}, "matmul_size must be an int >= 1, got 0"),
        ({"train_rows": 8, "batch_sizes": (4, 16)}, r"train_rows \(--train_rows\) must be >= the largest batch size \(--batch_size\) 16, got 8"),
        ({"batch_sizes": ()}, r"batch_sizes must name at least one batch size, got \(\)"),
        ({"thread_settings": ()}, "thread_settings must name at least one"),
        ({"thread_settings": ((-1, 0),)}, "thread_settings intra_op_threads must be an int >= 0, got -1"),
    ],
    ids=["repeats", "matmul-size", "rows", "no-batch-size", "no-settings", "negative-threads"],
)
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(tfshare.InputError, match=match):
        compute.Config(**kwargs)
