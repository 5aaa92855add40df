"""Bad input to predict, predict_proba, fit and evaluate: clear errors, nothing reaches TF.

The tables live in ``tests/bad_inputs.py`` (``scripts/reliability.py`` runs them
too): one for the MLP's rows of 784 features, one for the CNN's 28x28x1 images.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import tfshare
import bad_inputs
from bad_inputs import NUM_CLASSES

_CASES = [(model, case) for model in ("mlp", "cnn") for case in bad_inputs.cases(model)]
_IDS = [f"{model}-{case.id}" for model, case in _CASES]


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_the_table_covers_what_the_issue_lists(model):
    cases = bad_inputs.cases(model)
    assert len(cases) >= 15
    assert {case.method for case in cases} == {"predict", "predict_proba", "fit", "evaluate"}
    assert len({case.id for case in cases}) == len(cases)
    assert {case.error for case in cases} == {tfshare.InputError, TypeError}
    ids = {case.id for case in cases}
    assert {"nan", "inf", "float64_beyond_float32", "ragged", "tensor_other_graph", "eager_tensor_x"} <= ids
    if model == "cnn":
        assert {"image_no_channel_axis", "image_wrong_size", "channels_first", "flattened_rows",
                "one_image_no_batch_axis"} <= ids


def test_the_mlp_table_is_the_default():
    assert [c.id for c in bad_inputs.BAD_INPUTS] == [c.id for c in bad_inputs.cases()]


def test_an_unknown_model_is_named():
    with pytest.raises(tfshare.InputError, match=r"model must be one of \['mlp', 'cnn'\], got 'rnn'"):
        bad_inputs.cases("rnn")


@pytest.mark.parametrize("model,case", _CASES, ids=_IDS)
def test_bad_input_raises_a_clear_error_before_reaching_tensorflow(runtime, model, case):
    clf = bad_inputs.make_classifier(model, runtime=runtime)
    ops = len(runtime.graph.get_operations())
    with pytest.raises(case.error, match=case.match):
        getattr(clf, case.method)(*case.make_args(), **case.kwargs)
    # Nothing was built (fit/evaluate build lazily) and nothing was run (no Session yet).
    assert len(runtime.graph.get_operations()) == ops
    assert not runtime.has_session


@pytest.mark.parametrize("model,case", _CASES, ids=_IDS)
def test_the_eager_twin_gives_the_same_errors(model, case):
    clf = _eager_classifier(model)
    with pytest.raises(case.error, match=case.match):
        getattr(clf, case.method)(*case.make_args(), **case.kwargs)


@functools.cache
def _eager_classifier(model):
    # One instance per model: a bad call changes nothing, which the graph test proves.
    return bad_inputs.table_model(model).eager(NUM_CLASSES, seed=0)


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_the_classifier_still_works_after_every_bad_call(runtime, rng, model):
    clf = bad_inputs.make_classifier(model, runtime=runtime)
    for case in bad_inputs.cases(model):
        assert bad_inputs.check(case, clf) is None
    x = rng.random((32, *clf.input_shape)).astype("float32")
    y = rng.integers(0, NUM_CLASSES, 32)
    clf.fit(x, y)
    assert clf.predict(x).shape == (32,)
    assert set(clf.evaluate(x, y)) == {"loss", "accuracy"}


def test_check_reports_a_case_that_is_accepted(runtime):
    clf = bad_inputs.make_classifier("cnn", runtime=runtime)
    good = bad_inputs.BadInput("good", "predict", lambda: (np.zeros((1, 28, 28, 1)),), TypeError, "x")
    assert bad_inputs.check(good, clf) == "good: predict accepted the input"
    wrong = bad_inputs.BadInput("wrong", "predict", lambda: (None,), tfshare.InputError, "x")
    assert "raised TypeError" in bad_inputs.check(wrong, clf)
    vague = bad_inputs.BadInput("vague", "predict", lambda: (np.zeros((1, 1, 28, 28)),), tfshare.InputError,
                                r"^x must have shape \[batch, 1, 28, 28\]")
    assert "does not match" in bad_inputs.check(vague, clf)


@pytest.mark.parametrize("model,shape", [("mlp", (784,)), ("cnn", (28, 28, 1))])
def test_bad_input_drill_figures(model, shape):
    figures = bad_inputs.bad_input_drill(model)
    assert figures.model == model and figures.input_shape == shape
    assert figures.tried == len(bad_inputs.cases(model))
    assert figures.clear == figures.tried, figures.unclear
    assert figures.passed
    assert figures.methods == ("evaluate", "fit", "predict", "predict_proba")
