"""Initial values: random keras initializers seeded per classifier, and fed, not built as graph ops.

A tf_keras ``GlorotUniform`` kernel initializer called in a graph builds nine
ops per kernel (a ``stateless_random_uniform`` subgraph). Building ops is
most of what constructing a classifier costs (TensorFlow's Python op
wrappers take ~0.2 ms per op), so a classifier builds its layers under
``creating(seed)``, a ``tf.compat.v1.variable_creator_scope`` that gives
every variable with a random keras initializer a ``FedInitializer``
instead: in the graph the initial value is one placeholder, and the values
come from the *same* keras initializer when the runtime initializes the
variable: run eagerly, or, for a seeded tf_keras initializer, from a private
graph built once per recipe (``tfshare._initial_value_graph``: bit for bit the
eager values, a classifier's kernels in one callable run). It works for any tf_keras layer (Dense, Conv,
BatchNormalization, a user's own), since every Keras weight is created
through ``tf.compat.v1.Variable`` with its initializer as a
``functools.partial``.

Seeding: with a classifier seed ``s``, the k-th randomly initialized
variable it creates (in creation order, counting from ``start``) gets an
initializer of the same class and configuration with seed ``s + k``, unless
the user's layer fixed a seed itself. Only initializers that can be remade
from their config count (one that cannot keeps its own values and takes no
k), so a head continues its body's count from the number of ``Created``
records with a spec, whether the body was built with it or as a trunk. The eager twin creates its variables
under the same rule, so a graph classifier and an ``EagerClassifier`` of the
same architecture and seed start from bit-identical weights.

Example:
  >>> session.run([v.initializer for v in variables], feed_dict=runtime.initial_value_feeds(variables))
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import threading
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from tfshare import _initial_value_graph
from tfshare._tf import eager_mode, keras, tf, tf1


_log = logging.getLogger(__name__)

#: The placeholder's name: says who feeds it.
PLACEHOLDER_NAME = "initial_value_fed_by_GraphSession_initialize"


def glorot_uniform(seed: int | None) -> Any:
    """A tf_keras Glorot-uniform initializer (a new instance: unseeded ones are not reused)."""
    return keras.initializers.GlorotUniform(seed=seed)


class FedInitializer:
    """A keras-style initializer whose graph value is a placeholder fed at initialization.

    Args:
      make: returns the keras initializer to run eagerly (e.g.
        ``lambda: glorot_uniform(seed)``); called once per value computed.

    Attributes:
      placeholder: the float placeholder of the variable's full shape, once
        the initializer was called in a graph (None before).
    """

    __slots__ = ("_make", "placeholder", "_shape", "_dtype")

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self.placeholder: Any = None
        self._shape: tuple[int, ...] = ()
        self._dtype: Any = tf.float32

    @classmethod
    def bound(cls, make: Callable[[], Any], placeholder: Any) -> "FedInitializer":
        """A FedInitializer for an existing placeholder (of a fully defined shape)."""
        init = cls(make)
        init.placeholder = placeholder
        init._shape = tuple(int(d) for d in placeholder.shape)
        init._dtype = placeholder.dtype
        return init

    def __call__(self, shape: Any, dtype: Any = None, **kwargs: Any) -> Any:
        """Builds the placeholder (one op) standing for the initial value.

        Args:
          shape: the variable's shape (fully defined).
          dtype: the variable's float dtype; default float32.

        Returns:
          A placeholder tensor of ``shape`` and ``dtype``.
        """
        if self.placeholder is not None:
            raise RuntimeError("a FedInitializer initializes one variable; make one per variable")
        self._shape = tuple(int(d) for d in shape)
        self._dtype = tf.as_dtype(dtype or tf.float32)
        # The name is the hint in TF's "You must feed a value for placeholder" error
        # when someone runs the initializer (e.g. global_variables_initializer) by hand.
        self.placeholder = tf1.placeholder(self._dtype, self._shape, name=PLACEHOLDER_NAME)
        return self.placeholder

    def value(self) -> np.ndarray:
        """Computes the initial value eagerly with the keras initializer.

        Returns:
          An array of the variable's shape and dtype (float32 by default).
        """
        with eager_mode():
            value = self._make()(self._shape, dtype=self._dtype)
        return value.numpy() if hasattr(value, "numpy") else np.asarray(value, self._dtype.as_numpy_dtype)

    def request(self) -> _initial_value_graph.Request:
        """This variable's initial value as a request to ``_initial_value_graph.values`` (recipe, if any)."""
        recipe = self._make if isinstance(self._make, _initial_value_graph.Recipe) else None
        return _initial_value_graph.Request(recipe, self._shape, self._dtype, self.value)

    def set_value(self, value: np.ndarray) -> None:
        """Feeds ``value`` (of the variable's shape) from now on, instead of the initializer's values.

        Raises:
          ValueError: the shape differs from the variable's.
        """
        value = np.asarray(value)
        if tuple(value.shape) != self._shape:
            raise ValueError(f"initial value of shape {value.shape} for a variable of shape {self._shape}")
        self._make = lambda: (lambda *_, **__: value)


class InitialValues:
    """A runtime's record of which variables take a fed initial value. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, FedInitializer] = {}

    def add(self, variable: Any, initializer: FedInitializer) -> None:
        """Records that ``variable.initializer`` reads ``initializer.placeholder``.

        Raises:
          ValueError: the variable's initializer does not read that placeholder.
        """
        if initializer.placeholder is None or variable.initializer.inputs[1].name != initializer.placeholder.name:
            raise ValueError(
                f"variable {variable.name!r} was not initialized from this FedInitializer's placeholder"
            )
        with self._lock:
            self._by_name[variable.name] = initializer

    def feeds(self, variables: Iterable[Any]) -> dict[Any, np.ndarray]:
        """Returns {placeholder: initial value} for the variables that take a fed value.

        Values are computed afresh on every call, all in one go: seeded tf_keras
        initializers' by ``_initial_value_graph`` (bit for bit the eager values),
        the others eagerly; variables with an ordinary initializer are skipped.
        """
        with self._lock:
            fed = [init for init in (self._by_name.get(v.name) for v in variables) if init is not None]
        return dict(zip((init.placeholder for init in fed), _initial_value_graph.values([i.request() for i in fed])))


@dataclasses.dataclass(frozen=True)
class InitSpec:
    """A random keras initializer, as a recipe that another classifier's seed can remake.

    Attributes:
      cls: the keras initializer class (e.g. ``GlorotUniform``).
      config: its ``get_config()`` without "seed".
      offset: the variable's rank among the random variables of its classifier
        (its seed is the classifier's seed + offset).
      fixed_seed: the seed the user's layer gave the initializer, which wins; or None.
    """

    cls: type
    config: tuple[tuple[str, Any], ...]
    offset: int
    fixed_seed: int | None

    @classmethod
    def of(cls, initializer: Any, offset: int) -> "InitSpec":
        config = dict(initializer.get_config())
        fixed = config.pop("seed", None)
        return cls(type(initializer), tuple(sorted(config.items())), offset, fixed)

    def maker(self, seed: int | None) -> _initial_value_graph.Recipe:
        """A function making a new initializer of this recipe for a classifier seeded ``seed``."""
        if self.fixed_seed is not None:
            seed = self.fixed_seed
        elif seed is not None:
            seed = seed + self.offset
        return _initial_value_graph.Recipe(self.cls, self.config, seed)


def random_keras_initializer(initial_value: Any) -> Any:
    """The seeded-able keras initializer behind a Keras weight's ``initial_value``, or None.

    Keras passes ``functools.partial(initializer, shape, dtype=dtype)``;
    ``get_variable`` does the same with the initializer it was given.
    """
    if not isinstance(initial_value, functools.partial):
        return None
    init = initial_value.func
    if isinstance(init, keras.initializers.Initializer) and hasattr(init, "seed"):
        return init
    return None


def _recipe(init: Any, offset: int) -> InitSpec | None:
    """``InitSpec.of(init)``, or None when the initializer cannot be remade from its config.

    A user's initializer whose ``get_config`` leaves out a constructor
    argument cannot be reseeded (nor fed: its values would not be the ones it
    computes); it then initializes its variable itself, unseeded by tfshare,
    as a graph op.
    """
    try:
        spec = InitSpec.of(init, offset)
        spec.maker(None)()
    except (TypeError, ValueError, NotImplementedError) as exc:
        _log.info("initializer %r keeps its own values: it cannot be remade from its config (%s)", init, exc)
        return None
    return spec


@dataclasses.dataclass
class Created:
    """One variable made under ``creating``: the variable, its fed initializer and its recipe (or None)."""

    variable: Any
    fed: FedInitializer | None
    spec: InitSpec | None


@contextlib.contextmanager
def creating(
    seed: int | None, start: int = 0, feed: bool = True, feed_all: bool = False
) -> Iterator[list[Created]]:
    """Seeds, and in a graph feeds, the random initializers of the variables made inside.

    Enter it where the variables are made: inside the graph's ``as_default()``
    for graph variables, in eager mode for eager ones. With ``feed``, variables
    made eagerly inside (by layer objects constructed there) are neither
    seeded nor recorded.

    Args:
      seed: the classifier's seed, or None (initializers keep their own seeds).
      start: the offset of the first reseeded variable (a head continues its body's count:
        ``sum(c.spec is not None for c in created)``).
      feed: give each random variable a ``FedInitializer`` (graph mode); False
        for eager variables, whose initial values TF computes at once.
      feed_all: in a graph, feed every Keras weight, random or not (so that
        ``FedInitializer.set_value`` can give each one a value of its own).

    Yields:
      The list of ``Created`` records, filled in creation order.
    """
    created: list[Created] = []
    counter = [start]

    def creator(next_creator: Callable[..., Any], **kwargs: Any) -> Any:
        if feed and tf.executing_eagerly():
            # Not a graph variable: one a layer object makes as it is constructed, in eager mode
            # (a keras.Model's step counters), which the graph's creator scopes see too.
            return next_creator(**kwargs)
        initial_value = kwargs.get("initial_value")
        init = random_keras_initializer(initial_value)
        fed = spec = None
        if init is not None:
            spec = _recipe(init, counter[0])
        if spec is not None:  # only reseeded ones count: a head's start is its body's records with a spec
            counter[0] += 1
            make = spec.maker(seed)
            target = fed = FedInitializer(make) if feed else make()
            kwargs["initial_value"] = functools.partial(target, *initial_value.args, **initial_value.keywords)
        elif feed and feed_all and isinstance(initial_value, functools.partial):
            keras_init = initial_value.func
            fed = FedInitializer(lambda: keras_init)
            kwargs["initial_value"] = functools.partial(fed, *initial_value.args, **initial_value.keywords)
        variable = next_creator(**kwargs)
        _remember_creation_name(variable, kwargs.get("name"))
        created.append(Created(variable, fed, spec))
        return variable

    with tf1.variable_creator_scope(creator):
        yield created


#: The attribute of a variable made under ``creating`` that holds the name its layer gave it.
_CREATION_NAME = "_tfshare_creation_name"


def _remember_creation_name(variable: Any, name: str | None) -> None:
    """Records on ``variable`` the name its maker asked for ("w"), before a graph made it unique ("d/w_1_1").

    Args:
      variable: the variable just made.
      name: the ``name`` its creator was given; None is TensorFlow's default, "Variable".
    """
    try:
        setattr(variable, _CREATION_NAME, name or "Variable")
    except AttributeError:  # a variable type that takes no attributes: creation_name falls back to its name
        pass


def creation_name(variable: Any) -> str:
    """The last part of the name ``variable`` was made with: "w" for a graph's "scope/d/w_1_1:0".

    A graph makes names unique by numbering them ("d/w" twice gives "d/w" and
    "d/w_1"), eager mode does not; the name given at creation is the same in
    both. Variables made outside ``creating`` (an eager ``model_fn`` model's)
    fall back to their own name, which eagerly is the name given.

    Args:
      variable: a ``tf.Variable``.

    Returns:
      The name without scopes and without the ":0" output suffix, e.g. "kernel".
    """
    name = getattr(variable, _CREATION_NAME, None) or variable.name.split(":")[0]
    return name.rsplit("/", 1)[-1]


@contextlib.contextmanager
def reusing(variables: Sequence[Any]) -> Iterator[None]:
    """Hands out ``variables``, in order, instead of making new ones.

    Layer objects built inside take existing variables (of the same shapes,
    made in the same order): how a copied classifier, which has no layer
    objects, gets ones for its training path.

    Raises:
      RuntimeError: a layer asks for more variables, or another shape, than given.
    """
    queue = list(variables)

    def creator(next_creator: Callable[..., Any], **kwargs: Any) -> Any:
        if tf.executing_eagerly():  # a nested tf_keras Model's step counters, made eagerly in its constructor
            return next_creator(**kwargs)
        if not queue:
            raise RuntimeError(f"layers made more variables than the {len(variables)} to reuse")
        variable = queue.pop(0)
        shape = kwargs.get("shape")
        if shape is not None and tf.TensorShape(shape) != variable.shape:
            raise RuntimeError(f"variable {variable.name!r} has shape {variable.shape}, the layer asked for {shape}")
        return variable

    with tf1.variable_creator_scope(creator):
        yield


__all__ = [
    "PLACEHOLDER_NAME", "Created", "FedInitializer", "InitSpec", "InitialValues", "creating", "creation_name",
    "glorot_uniform", "random_keras_initializer", "reusing",
]
