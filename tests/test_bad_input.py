"""Bad input to predict, predict_proba, fit and evaluate: clear errors, nothing reaches TF.

The table lives in ``tfshare.bad_inputs`` (``scripts/reliability.py`` runs it too).
"""

from __future__ import annotations

import pytest

import tfshare
from tfshare import bad_inputs, drills
from tfshare.bad_inputs import BAD_INPUTS, INPUT_DIM, NUM_CLASSES


def test_the_table_covers_what_the_issue_lists():
    assert len(BAD_INPUTS) >= 15
    assert {case.method for case in BAD_INPUTS} == {"predict", "predict_proba", "fit", "evaluate"}
    assert len({case.id for case in BAD_INPUTS}) == len(BAD_INPUTS)
    assert {case.error for case in BAD_INPUTS} == {tfshare.InputError, TypeError}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[case.id for case in BAD_INPUTS])
def test_bad_input_raises_a_clear_error_before_reaching_tensorflow(runtime, case):
    clf = tfshare.DenseClassifier(INPUT_DIM, NUM_CLASSES, (8,), runtime=runtime, seed=0)
    ops = len(runtime.graph.get_operations())
    with pytest.raises(case.error, match=case.match):
        getattr(clf, case.method)(*case.make_args(), **case.kwargs)
    # Nothing was built (fit/evaluate build lazily) and nothing was run (no Session yet).
    assert len(runtime.graph.get_operations()) == ops
    assert not runtime.has_session


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[case.id for case in BAD_INPUTS])
def test_the_eager_twin_gives_the_same_errors(case):
    clf = _eager_classifier()
    with pytest.raises(case.error, match=case.match):
        getattr(clf, case.method)(*case.make_args(), **case.kwargs)


_EAGER = []


def _eager_classifier():
    if not _EAGER:  # one instance: a bad call changes nothing, which the graph test proves
        _EAGER.append(tfshare.EagerDenseClassifier(INPUT_DIM, NUM_CLASSES, (8,), seed=0))
    return _EAGER[0]


def test_the_classifier_still_works_after_every_bad_call(runtime, rng):
    clf = tfshare.DenseClassifier(INPUT_DIM, NUM_CLASSES, (8,), runtime=runtime, seed=0)
    for case in BAD_INPUTS:
        assert bad_inputs.check(case, clf) is None
    x = rng.random((32, INPUT_DIM)).astype("float32")
    y = rng.integers(0, NUM_CLASSES, 32)
    clf.fit(x, y)
    assert clf.predict(x).shape == (32,)
    assert set(clf.evaluate(x, y)) == {"loss", "accuracy"}


def test_check_reports_a_case_that_is_accepted(runtime):
    clf = tfshare.DenseClassifier(INPUT_DIM, NUM_CLASSES, (8,), runtime=runtime, seed=0)
    good = bad_inputs.BadInput("good", "predict", lambda: ([[0.0] * INPUT_DIM],), TypeError, "x")
    assert bad_inputs.check(good, clf) == "good: predict accepted the input"
    wrong = bad_inputs.BadInput("wrong", "predict", lambda: (None,), tfshare.InputError, "x")
    assert "raised TypeError" in bad_inputs.check(wrong, clf)


def test_bad_input_drill_figures():
    figures = drills.bad_input_drill()
    assert figures.tried == len(BAD_INPUTS)
    assert figures.clear == figures.tried, figures.unclear
    assert figures.methods == ("evaluate", "fit", "predict", "predict_proba")
