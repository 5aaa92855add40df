"""Seeded keras initial values from the private graph: bit for bit the eager ones, one run per round of recipes."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest

import tfshare
from tfshare import _initial_value_graph as ivg
from tfshare import initial_values
from tfshare._tf import keras, tf

SEEDS = (0, 1, 7, 2**31 - 1, 2**31, 2**40, -1, -(2**40), 123456789)
RECIPES = (
    (keras.initializers.GlorotUniform, {}),
    (keras.initializers.GlorotNormal, {}),
    (keras.initializers.HeNormal, {}),
    (keras.initializers.HeUniform, {}),
    (keras.initializers.LecunNormal, {}),
    (keras.initializers.LecunUniform, {}),
    (keras.initializers.VarianceScaling, {"scale": 2.5, "mode": "fan_out", "distribution": "untruncated_normal"}),
    (keras.initializers.RandomUniform, {"minval": -0.3, "maxval": 0.7}),
    (keras.initializers.RandomNormal, {"mean": 0.5, "stddev": 2.0}),
    (keras.initializers.TruncatedNormal, {"mean": 0.0, "stddev": 0.1}),
    (keras.initializers.Orthogonal, {"gain": 1.5}),
)


def request(cls, config, seed, shape=(5, 3), dtype=tf.float32):
    recipe = ivg.Recipe(cls, tuple(sorted(config.items())), seed)
    return ivg.Request(recipe, shape, dtype, lambda: recipe()(shape, dtype=dtype).numpy())


def eager(cls, config, seed, shape=(5, 3), dtype=tf.float32):
    return cls(**config, seed=seed)(shape, dtype=dtype).numpy()


@pytest.fixture(autouse=True)
def fresh_graph():
    ivg.reset()
    yield
    ivg.reset()


@pytest.mark.parametrize("cls, config", RECIPES, ids=[c.__name__ for c, _ in RECIPES])
def test_values_are_the_eager_initializers_bit_for_bit(cls, config):
    shapes = ((784, 64), (64, 10), (1, 1), (3, 3, 2, 8)) if cls is not keras.initializers.Orthogonal else (
        (784, 64), (10, 64), (3, 3, 2, 8))
    requests = [request(cls, config, seed, shape) for seed in SEEDS for shape in shapes]
    for req, value in zip(requests, ivg.values(requests)):
        expected = eager(cls, config, req.recipe.seed, req.shape)
        assert value.dtype == expected.dtype and value.shape == expected.shape
        assert np.array_equal(value, expected), (req.recipe.seed, req.shape)
    assert ivg._state[0].ops  # computed in the graph, not eagerly
    assert all(ops is not None for ops in ivg._state[0].ops.values())


@pytest.mark.parametrize("dtype", [tf.float64, tf.float16, tf.bfloat16], ids=["float64", "float16", "bfloat16"])
def test_other_float_dtypes_are_their_own_recipes(dtype):
    reqs = [request(keras.initializers.GlorotUniform, {}, 3, (6, 4), d) for d in (tf.float32, dtype)]
    values = ivg.values(reqs)
    for value, d in zip(values, (tf.float32, dtype)):
        assert value.dtype == d.as_numpy_dtype
        np.testing.assert_array_equal(value, eager(keras.initializers.GlorotUniform, {}, 3, (6, 4), d))
    assert len(ivg._state[0].ops) == 2


def test_one_run_computes_a_round_of_recipes_and_repeats_go_to_later_rounds(monkeypatch):
    runs = []
    original = ivg._Graph.callable

    def counting(self, keys):
        fn = original(self, keys)
        return lambda *feeds: runs.append(len(keys)) or fn(*feeds)

    monkeypatch.setattr(ivg._Graph, "callable", counting)
    glorot = keras.initializers.GlorotUniform
    # Two classifiers' kernels: (784, 64) and (64, 10) each, seeds 0, 1 and 10, 11.
    reqs = [request(glorot, {}, s, shape) for s, shape in ((0, (784, 64)), (1, (64, 10)), (10, (784, 64)),
                                                           (11, (64, 10)))]
    values = ivg.values(reqs)
    assert runs == [2, 2]  # one run per classifier's pair, not one per kernel
    for req, value in zip(reqs, values):
        np.testing.assert_array_equal(value, eager(glorot, {}, req.recipe.seed, req.shape))
    assert not np.array_equal(values[0], values[2])  # same recipe, other seed: no cross-talk
    assert len(ivg._state[0].callables) == 1


def test_what_the_graph_cannot_compute_exactly_is_computed_eagerly():
    class Mine(keras.initializers.GlorotUniform):  # a subclass may compute otherwise: not taken
        pass

    cases = [
        request(keras.initializers.GlorotUniform, {}, None),  # unseeded: keras draws a seed
        request(keras.initializers.GlorotUniform, {}, np.int64(3)),  # not a Python int
        request(keras.initializers.GlorotUniform, {}, 2**64),  # beyond int64
        request(Mine, {}, 3),
        request(keras.initializers.RandomUniform, {"minval": [0.0], "maxval": 1.0}, 3),  # unhashable config
        ivg.Request(None, (2, 2), tf.float32, lambda: np.full((2, 2), 4.0, np.float32)),  # a value set by hand
    ]
    assert [r.key() for r in cases] == [None] * len(cases)
    values = ivg.values(cases[3:4] + cases[5:])
    np.testing.assert_array_equal(values[0], eager(keras.initializers.GlorotUniform, {}, 3))
    np.testing.assert_array_equal(values[1], np.full((2, 2), 4.0))
    assert not ivg._state  # nothing built
    a, b = ivg.values(cases[:1] * 2)
    assert not np.array_equal(a, b)


def test_a_recipe_whose_graph_values_differ_from_eager_ones_stays_eager(caplog):
    glorot = keras.initializers.GlorotUniform
    wrong = np.zeros((5, 3), np.float32)
    checked = ivg.Request(ivg.Recipe(glorot, (), 3), (5, 3), tf.float32, lambda: wrong)  # "eager" disagrees
    with caplog.at_level(logging.WARNING, logger=ivg.__name__):
        (value,) = ivg.values([checked])
    np.testing.assert_array_equal(value, wrong)
    assert "differ in a graph from eager ones" in caplog.text
    state = ivg._state[0]
    assert list(state.ops.values()) == [None] and not state.callables
    (again,) = ivg.values([checked])  # eager from now on
    np.testing.assert_array_equal(again, wrong)


def test_the_graph_and_the_callables_are_bounded(monkeypatch):
    monkeypatch.setattr(ivg, "MAX_RECIPES", 3)
    monkeypatch.setattr(ivg, "MAX_CALLABLES", 2)
    glorot = keras.initializers.GlorotUniform
    first = None
    for n in range(1, 6):
        reqs = [request(glorot, {}, 5, (n, 2))]
        np.testing.assert_array_equal(ivg.values(reqs)[0], eager(glorot, {}, 5, (n, 2)))
        first = first or ivg._state[0]
        assert len(ivg._state[0].ops) <= 3 and len(ivg._state[0].callables) <= 2
    assert ivg._state[0] is not first  # replaced once full
    full = ivg._state[0]
    while len(full.ops) < 3:
        ivg.values([request(glorot, {}, 5, (len(full.ops) + 10, 2))])
    for n in (4, 5, 12):  # recipes it holds: no new graph
        np.testing.assert_array_equal(ivg.values([request(glorot, {}, 6, (n, 2))])[0], eager(glorot, {}, 6, (n, 2)))
    assert ivg._state[0] is full


def test_threads_get_their_own_values():
    glorot = keras.initializers.GlorotUniform
    results: dict[int, list[np.ndarray]] = {}
    errors = []

    def work(t):
        try:
            reqs = [request(glorot, {}, 100 * t + k, shape) for k in range(10) for shape in ((20, 8), (8, 3))]
            results[t] = list(zip(reqs, ivg.values(reqs)))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    for pairs in results.values():
        for req, value in pairs:
            np.testing.assert_array_equal(value, eager(glorot, {}, req.recipe.seed, req.shape))


def test_initialize_takes_seeded_kernels_from_the_graph_and_one_run_per_classifier(runtime, monkeypatch):
    warm = tfshare.DenseClassifier(runtime=runtime, seed=0)  # the recipes' first values are checked eagerly
    runtime.initialize()
    runs = []
    original = ivg._Graph.callable
    monkeypatch.setattr(ivg._Graph, "callable",
                        lambda self, keys: (lambda fn: lambda *f: runs.append(keys) or fn(*f))(original(self, keys)))

    def no_eager(self):
        raise AssertionError("computed eagerly")

    monkeypatch.setattr(initial_values.FedInitializer, "value", no_eager)
    clf = tfshare.DenseClassifier(runtime=runtime, seed=5)
    runtime.initialize()
    assert len(runs) == 1
    twin = tfshare.EagerDenseClassifier(seed=5)
    for value, var in zip(runtime.run(clf.variables), twin.variables):
        np.testing.assert_array_equal(value, var.numpy())
    assert not np.array_equal(*runtime.run([warm.variables[0], clf.variables[0]]))


def test_an_audit_does_not_count_the_private_graph_or_its_session():
    from tfshare.audit import audit

    with audit() as report:
        gs = tfshare.GraphSession(device="cpu")
        clf = tfshare.DenseClassifier(runtime=gs, seed=0)
        gs.initialize()
        clf.predict_proba(np.zeros((1, 784), np.float32))
        ops = len(gs.graph.get_operations())
        gs.close()
    assert ivg._state and ivg._state[0].ops  # the private graph was made, and built, inside the audit
    assert (report.graphs_created, report.sessions_created) == (1, 1)
    assert report.ops_added == ops
