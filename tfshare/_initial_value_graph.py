"""Seeded keras initial values in one Session call each, from a small private graph built once per recipe.

``tfshare.initial_values`` feeds a classifier's random kernels with the
values of the *same* tf_keras initializer, seeded per classifier. Computed
eagerly, each value costs the eager dispatch of the four or five ops behind
``tf.random.stateless_uniform`` (about 0.1 ms each) plus the initializer's
Python, even for a 1x1 kernel: about 1 ms of the 784-64-10 MLP's
initialization. Here the initializer of each *recipe* (class, config without
seed, shape, dtype) is instead called once in a private ``tf.Graph`` with a
sentinel seed. Its ops read the seed as one constant, ``[seed, 0]``, which a
``Session`` callable feeds, so every later value of that recipe is one run of
a cached callable; the values of several recipes (a classifier's kernels) come
from one run.

The values are tf_keras's own: the ops are the ones the initializer runs
eagerly, with the same kernels, and Grappler is off in the private Session
(no rewrite of the arithmetic). Only tf_keras's stateless-seeded initializer
classes qualify (``CLASSES``: exact types, not subclasses, which may compute
otherwise), with an integer seed that fits int64; the first value of every
recipe is also computed eagerly and compared bit for bit, and a recipe whose
values differ stays eager (logged). Unseeded initializers (seed None: keras
draws a random seed) stay eager.

Bounds: the private graph holds at most ``MAX_RECIPES`` recipes (then a new
graph and Session replace it), and at most ``MAX_CALLABLES`` callables are
cached (least recently used dropped). Thread-safe: building and the caches
are under one lock; the callable runs outside it.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
from typing import Any, Callable, Hashable, Sequence

import numpy as np

from tfshare._tf import config_pb2, keras, tf, tf1

_log = logging.getLogger(__name__)

#: The seed the private graph's initializers are built with: only the constant it becomes matters.
SENTINEL_SEED = 0x5EED_0000_ABCD

#: tf_keras initializer classes whose values depend on the seed only through stateless random ops of seed
#: ``[seed, 0]`` (keras's ``RandomGenerator`` with ``rng_type="stateless"``).
CLASSES = tuple(getattr(keras.initializers, name) for name in (
    "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "LecunNormal", "LecunUniform", "Orthogonal",
    "RandomNormal", "RandomUniform", "TruncatedNormal", "VarianceScaling",
))

MAX_RECIPES = 256
MAX_CALLABLES = 64

_INT64 = np.iinfo(np.int64)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A keras initializer to make: its class, its config without "seed", and the seed.

    Calling it makes a new initializer (``cls.from_config``), as the eager path does.
    """

    cls: type
    config: tuple[tuple[str, Any], ...]
    seed: Any

    def __call__(self) -> Any:
        """A new initializer of this recipe (``cls.from_config`` with the seed)."""
        return self.cls.from_config({**dict(self.config), "seed": self.seed})


@dataclasses.dataclass(frozen=True)
class Request:
    """One initial value to compute.

    Attributes:
      recipe: the initializer, or None (then ``eager`` computes the value).
      shape: the variable's shape.
      dtype: the variable's float dtype (a ``tf.DType``).
      eager: computes the same value eagerly (the fallback, and the first value's check).
    """

    recipe: Recipe | None
    shape: tuple[int, ...]
    dtype: Any
    eager: Callable[[], np.ndarray]

    def key(self) -> Hashable | None:
        """The private graph's key of this value's ops, or None when it must be computed eagerly."""
        r = self.recipe
        if r is None or type(r.seed) is not int or not _INT64.min <= r.seed <= _INT64.max or r.cls not in CLASSES:
            return None
        key = (r.cls, r.config, self.shape, tf.as_dtype(self.dtype).name)
        try:
            hash(key)
        except TypeError:  # a config value that is a list: rare, eager
            return None
        return key


def _session_config() -> Any:
    config = config_pb2.ConfigProto(device_count={"GPU": 0})  # no GPU memory for a few random ops
    config.graph_options.rewrite_options.disable_meta_optimizer = True  # the ops as built, as eagerly
    # One inter-op thread of its own, never used (runs are in the calling thread): the process's pools
    # keep the sizes the eager context or a runtime's Session gave them.
    config.use_per_session_threads = True
    config.inter_op_parallelism_threads = 1
    return config


class _Graph:
    """The private graph, its Session, the seed constants and output of each recipe, and the callables."""

    def __init__(self) -> None:
        self.graph = tf1.Graph()
        self.session = tf1.Session(graph=self.graph, config=_session_config())
        self.ops: dict[Hashable, tuple[list[Any], Any] | None] = {}  # key -> (seed tensors, output); None: eager
        self.callables: collections.OrderedDict[tuple, Callable[..., list]] = collections.OrderedDict()

    def build(self, key: Hashable, request: Request) -> bool:
        """Builds ``request``'s recipe with the sentinel seed; False if the seed is not one constant input."""
        recipe = request.recipe
        with self.graph.as_default():
            first = len(self.graph.get_operations())
            output = dataclasses.replace(recipe, seed=SENTINEL_SEED)()(request.shape, dtype=request.dtype)
            seeds = [op.outputs[0] for op in self.graph.get_operations()[first:] if _is_sentinel(op)]
        self.ops[key] = (seeds, output) if seeds else None
        return bool(seeds)

    def callable(self, keys: tuple) -> Callable[..., list]:
        """The cached callable feeding each recipe's seed constants (int64 ``[seed, 0]``) and fetching its values."""
        fn = self.callables.pop(keys, None)
        if fn is None:
            options = config_pb2.CallableOptions()
            for key in keys:
                seeds, output = self.ops[key]
                options.feed.extend(t.name for t in seeds)
                options.fetch.append(output.name)
            options.run_options.inter_op_thread_pool = -1  # in the calling thread
            fn = self.session._make_callable_from_options(options)
            while len(self.callables) >= MAX_CALLABLES:
                self.callables.popitem(last=False)
        self.callables[keys] = fn
        return fn


def _is_sentinel(op: Any) -> bool:
    if op.type != "Const" or op.outputs[0].dtype not in (tf.int32, tf.int64):
        return False
    value = tf.make_ndarray(op.get_attr("value"))
    return value.shape == (2,) and value.tolist() == [SENTINEL_SEED, 0]


_lock = threading.Lock()
_state: list[_Graph] = []  # the current private graph, made on first use
_busy = threading.local()


def busy() -> bool:
    """True in a thread while it builds or runs the private graph (``tfshare.audit`` does not count that work)."""
    return getattr(_busy, "depth", 0) > 0


def reset() -> None:
    """Drops the private graph, its Session and callables (calls under way finish on their own)."""
    with _lock:
        _state.clear()


def values(requests: Sequence[Request]) -> list[np.ndarray]:
    """The initial value of each request, in order: one callable run per round of distinct recipes.

    Requests of one recipe go to successive rounds (a callable feeds each recipe's seed once), so a
    classifier's kernels, or several classifiers' of different shapes, take one run together.

    Args:
      requests: the values to compute.

    Returns:
      One array per request, of its shape and dtype.
    """
    out: list[Any] = [None] * len(requests)
    rounds: list[dict[Hashable, int]] = []  # recipe key -> index of the request it computes
    for i, request in enumerate(requests):
        key = request.key()
        if key is None:
            out[i] = request.eager()
            continue
        for round_ in rounds:
            if key not in round_:
                round_[key] = i
                break
        else:
            rounds.append({key: i})
    for round_ in rounds:
        _run(round_, requests, out)
    return out


def _run(round_: dict[Hashable, int], requests: Sequence[Request], out: list[Any]) -> None:
    """Computes one round into ``out``: the recipes' values in one callable run, the rest eagerly."""
    _busy.depth = getattr(_busy, "depth", 0) + 1
    try:
        eager = _run_graph(round_, requests, out)
    finally:
        _busy.depth -= 1
    for i in eager:
        out[i] = requests[i].eager()


def _run_graph(round_: dict[Hashable, int], requests: Sequence[Request], out: list[Any]) -> list[int]:
    """The private graph's part of ``_run``; returns the indices left to compute eagerly."""
    with _lock:
        if not _state or len(_state[0].ops) + sum(key not in _state[0].ops for key in round_) > MAX_RECIPES:
            _state[:] = [_Graph()]
        state = _state[0]
        new = [key for key, i in round_.items() if key not in state.ops and state.build(key, requests[i])]
        keys = [key for key in round_ if state.ops[key] is not None]
        eager = [i for key, i in round_.items() if state.ops[key] is None]
        feeds = [np.array([requests[round_[key]].recipe.seed, 0], seed.dtype.as_numpy_dtype)
                 for key in keys for seed in state.ops[key][0]]
        fn = state.callable(tuple(keys)) if keys else None
        if fn is not None and new:  # a recipe's first values: checked against eager ones under the lock
            _store(keys, fn(*feeds), round_, requests, out, state, set(new))
            fn = None
    if fn is not None:
        _store(keys, fn(*feeds), round_, requests, out)
    return eager


def _store(keys: list, results: list, round_: dict[Hashable, int], requests: Sequence[Request], out: list[Any],
           state: _Graph | None = None, check: set | None = None) -> None:
    for key, value in zip(keys, results):
        i = round_[key]
        if check and key in check:
            expected = requests[i].eager()
            if value.dtype != expected.dtype or not np.array_equal(value, expected):
                _log.warning("initial values of %s differ in a graph from eager ones: computed eagerly", key)
                state.ops[key] = None
                state.callables = collections.OrderedDict(
                    (ks, fn) for ks, fn in state.callables.items() if key not in ks)
                value = expected
        out[i] = value


__all__ = ["CLASSES", "MAX_CALLABLES", "MAX_RECIPES", "Recipe", "Request", "SENTINEL_SEED", "busy", "reset", "values"]
