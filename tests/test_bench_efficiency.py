"""The efficiency benchmark: FLOP count, the NumPy reference, compute and training records."""

from __future__ import annotations

import numpy as np
import pytest

import tfshare
from tfshare.bench import efficiency as compute


def test_mlp_flops_counts_every_layer():
    # 784->64: 2*784*64 + 64 (bias); 64->10: 2*64*10 + 10; ReLU 64; softmax 3*10.
    assert compute.mlp_flops(784, (64,), 10) == 2 * 784 * 64 + 64 + 2 * 64 * 10 + 10 + 64 + 30
    assert compute.mlp_flops(4, (), 3) == 2 * 4 * 3 + 3 + 9


def test_numpy_forward_matches_the_classifier(runtime, data):
    clf = tfshare.DenseClassifier(hidden_units=(32, 16), runtime=runtime, seed=0)
    forward = compute.numpy_forward(runtime.run(clf.variables))
    np.testing.assert_allclose(forward(data.x_test[:40]), clf.predict_proba(data.x_test[:40]), atol=1e-5)


def test_run_records_every_setting_and_both_numpy_references():
    config = compute.Config(batch_size=8, thread_settings=((0, 0), (1, 1)), repeats=2)
    records = compute.compute(config)
    settings = [r["setting"] for r in records]
    assert settings == ["intra=default,inter=default", "intra=1,inter=1", "numpy", "numpy_1_thread"]
    flops = compute.mlp_flops(784, (64,), 10) * 8
    for r in records:
        assert r["flops_per_call"] == flops
        assert r["gflops"] == pytest.approx(flops / r["seconds"]["median"] / 1e9)
    assert min(r["vs_numpy"] for r in records if r["setting"].startswith("numpy")) == pytest.approx(1.0)
    assert compute.best_setting(records)["setting"] in settings[:2]


def test_training_record_compares_fit_with_the_raw_train_callable():
    record = compute.training(compute.Config(train_rows=64, train_batch_size=16, repeats=2))
    assert record["kind"] == "training" and record["steps_per_epoch"] == 4
    assert record["ratio"] == pytest.approx(record["fit"]["median"] / record["raw_callable"]["median"])
    assert record["fit_step_s"] > 0 and record["raw_step_s"] > 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"repeats": 0}, "repeats must be an int >= 1, got 0"),
        ({"train_rows": 8, "train_batch_size": 16}, r"train_rows must be >= train_batch_size \(16\), got 8"),
        ({"thread_settings": ()}, "thread_settings must name at least one"),
        ({"thread_settings": ((-1, 0),)}, "thread_settings intra_op_threads must be an int >= 0, got -1"),
    ],
    ids=["repeats", "rows", "no-settings", "negative-threads"],
)
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(tfshare.InputError, match=match):
        compute.Config(**kwargs)
