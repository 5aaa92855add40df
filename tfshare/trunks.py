"""Trunks: a body whose variables several classifiers share, BatchNorm statistics included.

Two mechanisms, one constructor shape:

* ``SharedTrunk`` keeps one set of tf_keras layer objects. Calling a Keras
  layer object again reuses its variables: that is how Keras shares.
* ``TemplateTrunk`` wraps a function in ``tf.compat.v1.make_template``;
  inside, variables are made with ``tf.compat.v1.get_variable`` on the first
  call and found again by name scope afterwards: the TF1-native mechanism
  (Sonnet 1's way). The function is the user's own ``fn(x, training)``, or a
  body of tf_keras layers made anew on each call, whose variables are routed
  through ``get_variable``.

Each trunk owns an input placeholder and an inference features tensor
(``training=False``) built once; every classifier on the trunk reads them, so
a fused prediction of N heads computes the trunk once. The training path
(``training=True``) is built on the first ``fit`` of any head, once, and
shared by all heads, with the layers' state updates (BatchNorm's moving
statistics): training any head moves the statistics every head reads at
inference. That is interference, and ``tfshare.audit`` counts such shared
statistics.
"""

from __future__ import annotations

import contextlib
import functools
import math
from typing import Any, Callable, Iterator, Sequence

from tfshare import architectures, forward, initial_values, validation
from tfshare._tf import tf, tf1
from tfshare.architectures import Architecture
from tfshare.errors import InputError
from tfshare.runtime import GraphSession


def trunk_architecture(
    input_dim: Any, hidden_units: Any, layers: Any, input_shape: Any
) -> Architecture:
    """The body of a trunk from either constructor form.

    Raises:
      TypeError, InputError: both forms, neither, or bad values.
    """
    if layers is not None:
        if input_dim is not None or hidden_units is not None:
            raise InputError(
                "give either layers= with input_shape=, or input_dim and hidden_units, not both "
                f"(got input_dim={input_dim!r}, hidden_units={hidden_units!r})"
            )
        if input_shape is None:
            raise InputError("input_shape is required with layers=, e.g. input_shape=(28, 28, 1)")
        return architectures.from_factory(layers, input_shape)
    if input_dim is None or hidden_units is None:
        raise InputError(
            "a trunk needs layers= and input_shape=, or input_dim and hidden_units "
            f"(got input_dim={input_dim!r}, hidden_units={hidden_units!r})"
        )
    arch = architectures.dense(input_dim, hidden_units)
    if not arch.config["hidden_units"]:
        raise InputError("hidden_units must name at least one layer for a trunk, got ()")
    if input_shape is not None and validation.input_shape(input_shape) != arch.input_shape:
        raise InputError(f"input_shape must be ({arch.input_shape[0]},) with input_dim, got {input_shape!r}")
    return arch


class _Trunk:
    """Common state of both trunk kinds: the input, the features in both modes, the variables."""

    _default_name = "trunk"

    def __init__(self, runtime: GraphSession, architecture: Architecture, name: str | None, seed: int | None) -> None:
        if not isinstance(runtime, GraphSession):
            raise TypeError(
                f"runtime must be a tfshare.GraphSession, got {type(runtime).__name__}; "
                "a trunk lives in one shared graph"
            )
        self._runtime = runtime
        self._architecture = architecture
        self._input_shape = architecture.input_shape
        self._seed = validation.seed(seed)
        self._name = runtime.reserve_name(name, self._default_name)
        self._training: tuple[Any, list[Any]] | None = None
        self._config = dict(architecture.config)
        with runtime.building(self._name + "/", shared=True):
            self._input = tf1.placeholder(tf.float32, [None, *self._input_shape], name="x")
            with initial_values.creating(self._seed) as created:
                output = self._build(self._input, training=False)
            self._output = forward.check_features(output)
            runtime.add_initial_values([(c.variable, c.fed) for c in created if c.fed is not None])
        self._variables = [c.variable for c in created]
        self._num_random = sum(c.spec is not None for c in created)
        self._named = self._name_variables(self._variables)

    # ------------------------------------------------------------ building
    def _build(self, x: Any, training: bool) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _build_training(self, x: Any) -> tuple[Any, list[Any]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _name_variables(self, variables: list[Any]) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def training_sensitive(self) -> bool:
        """Whether a layer behaves differently in training (Dropout, BatchNorm): then training has its own path."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _training_path(self) -> tuple[Any, list[Any]]:
        if self._training is None:
            with self._runtime.building(self._name + "/", shared=True):
                if self._training is None:
                    self._training = self._build_training(self._input) if self.training_sensitive else (self._output, [])
        return self._training

    # ---------------------------------------------------------- properties
    @property
    def runtime(self) -> GraphSession:
        """The runtime whose graph holds the trunk."""
        return self._runtime

    @property
    def name(self) -> str:
        """The trunk's name scope in the graph."""
        return self._name

    @property
    def architecture(self) -> Architecture:
        """The trunk's body."""
        return self._architecture

    @property
    def config(self) -> dict[str, Any]:
        """What checkpoints of classifiers on this trunk store about the body (see ``Classifier.config``)."""
        return dict(self._config)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input example, e.g. (784,) or (28, 28, 1)."""
        return self._input_shape

    @property
    def input_dim(self) -> int:
        """Features per flattened input example (the product of ``input_shape``)."""
        return math.prod(self._input_shape)

    @property
    def hidden_units(self) -> tuple[int, ...] | None:
        """Units per hidden layer of a Dense trunk (``input_dim``/``hidden_units`` form); None otherwise."""
        units = self._architecture.config.get("hidden_units")
        return None if units is None else tuple(units)

    @property
    def output_dim(self) -> int:
        """Features per output row."""
        return int(self._output.shape[-1])

    @property
    def input(self) -> Any:
        """The trunk's float32 placeholder of shape [batch, *input_shape]."""
        return self._input

    @property
    def output(self) -> Any:
        """float32 tensor [batch, output_dim]: the trunk on ``input`` in inference mode."""
        return self._output

    @property
    def training_output(self) -> Any:
        """float32 tensor [batch, output_dim]: the trunk on ``input`` in training mode.

        Built on first use (a head's first ``fit``); ``output`` itself when no
        layer depends on the mode.
        """
        return self._training_path()[0]

    @property
    def training_updates(self) -> list[Any]:
        """The state updates of the training path (see ``tfshare.forward``); every head's train step runs them."""
        return list(self._training_path()[1])

    @property
    def variables(self) -> list[Any]:
        """The trunk's variables (BatchNorm statistics included), shared by every classifier on it."""
        return list(self._variables)

    @property
    def num_params(self) -> int:
        """Number of scalar parameters in the trunk."""
        return int(sum(v.shape.num_elements() for v in self._variables))

    def named_variables(self) -> dict[str, Any]:
        """Maps architecture-level keys ("hidden_0/kernel", "layer_1/moving_mean", ...) to variables.

        The keys are the same for a classifier's own body, so checkpoints move
        between sharing modes.
        """
        return dict(self._named)

    def __call__(self, x: Any) -> Any:
        """Applies the trunk, in inference mode, to another float32 tensor, reusing its variables.

        Args:
          x: float32 tensor of shape [batch, *input_shape] in the runtime's graph.

        Returns:
          float32 tensor of shape [batch, output_dim].
        """
        if getattr(x, "graph", None) is not self._runtime.graph:
            raise InputError(f"x must be a tensor of {self._runtime!r}'s graph, got {x!r}")
        with self._runtime.building(self._name + "/", shared=True):
            return self._build(x, training=False)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self._name!r}, input_shape={self._input_shape}, config={self._config})"


class SharedTrunk(_Trunk):
    """A body of tf_keras layer objects, reused by every classifier on it.

    Example:
      >>> trunk = SharedTrunk(gs, layers=lambda: [tf_keras.layers.Conv2D(32, 3), ...], input_shape=(28, 28, 1))
      >>> trunk = SharedTrunk(gs, 784, (64,))            # Dense(relu) layers

    Args:
      runtime: the GraphSession to build into.
      input_dim, hidden_units: the Dense form: features per row and units per
        hidden layer, e.g. 784 and (64,).
      layers: a zero-argument callable returning tf_keras layers (whose output
        is [batch, features]), instead of input_dim/hidden_units.
      input_shape: the shape of one example, with ``layers``.
      name: name scope in the graph (default "shared_trunk", made unique).
      seed: seed for the initial weights; None for random.

    Raises:
      TypeError, InputError: bad or conflicting arguments, or a body whose
        output is not [batch, features].
    """

    _default_name = "shared_trunk"

    def __init__(
        self,
        runtime: GraphSession,
        input_dim: int | None = None,
        hidden_units: Sequence[int] | None = None,
        *,
        layers: Callable[[], Any] | None = None,
        input_shape: Sequence[int] | None = None,
        name: str | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(runtime, trunk_architecture(input_dim, hidden_units, layers, input_shape), name, seed)

    def _build(self, x: Any, training: bool) -> Any:
        if not hasattr(self, "_layers"):
            self._layers = self._architecture.make_layers()
            # Before they are built: a built layer's config can differ (as a classifier's own body computes it).
            self._config = architectures.checkpoint_config(self._architecture, self._layers)
        return forward.apply(self._layers, x, training)

    def _build_training(self, x: Any) -> tuple[Any, list[Any]]:
        with forward.collecting_updates(self._layers) as updates:
            output = forward.apply(self._layers, x, training=True)
        return output, updates

    def _name_variables(self, variables: list[Any]) -> dict[str, Any]:
        return architectures.weight_keys(self._layers, self._architecture.named)

    @property
    def training_sensitive(self) -> bool:
        return forward.training_sensitive(self._layers)

    @property
    def layers(self) -> list[Any]:
        """The tf_keras layer objects."""
        return list(self._layers)


@contextlib.contextmanager
def _through_get_variable(layers: Sequence[Any], named: bool) -> Iterator[None]:
    """Makes the Keras weights of ``layers`` with ``get_variable``, named by layer (or position) and weight.

    Inside ``make_template``, a second call's fresh layers then find the first
    call's variables by name. Enter it at the start of the template function.
    """
    graph = tf1.get_default_graph()
    base = graph.get_name_scope()
    scope_of = {layer.name: layer.name if named else f"layer_{i}" for i, layer in enumerate(layers)}
    inside = [False]

    def creator(next_creator: Callable[..., Any], **kwargs: Any) -> Any:
        if inside[0]:
            return next_creator(**kwargs)
        parts = graph.get_name_scope()[len(base):].strip("/").split("/")
        parts[0] = scope_of.get(parts[0], parts[0])
        init = kwargs.get("initial_value")
        if isinstance(init, functools.partial):
            initializer = init.func
        else:
            initializer = lambda *_, **__: init() if callable(init) else init  # noqa: E731
        inside[0] = True
        try:
            with tf1.variable_scope("/".join(p for p in parts if p), auxiliary_name_scope=False):
                return tf1.get_variable(
                    kwargs["name"].rsplit("/", 1)[-1],
                    shape=kwargs.get("shape"),
                    dtype=kwargs.get("dtype"),
                    initializer=initializer,
                    trainable=kwargs.get("trainable"),
                    constraint=kwargs.get("constraint"),
                    synchronization=kwargs.get("synchronization") or tf.VariableSynchronization.AUTO,
                    aggregation=kwargs.get("aggregation") or tf.VariableAggregation.NONE,
                    use_resource=True,
                )
        finally:
            inside[0] = False

    with tf1.variable_creator_scope(creator):
        yield


class TemplateTrunk(_Trunk):
    """A body built with ``tf.compat.v1.make_template``, its variables shared by name.

    Example:
      >>> def my_fn(x, training):   # TF1 style: get_variable, tf.nn ops
      ...     w = tf.compat.v1.get_variable("w", [3, 3, 1, 16])
      ...     return tf.reduce_mean(tf.nn.relu(tf.nn.conv2d(x, w, 1, "SAME")), axis=[1, 2])
      >>> trunk = TemplateTrunk(gs, fn=my_fn, input_shape=(28, 28, 1))
      >>> trunk = TemplateTrunk(gs, 784, (64,))          # Dense(relu) layers through get_variable

    Args:
      runtime: the GraphSession to build into.
      input_dim, hidden_units: the Dense form, as ``SharedTrunk``.
      fn: ``fn(x, training) -> features``: x is float32 [batch, *input_shape],
        training a Python bool; it makes its variables with
        ``tf.compat.v1.get_variable`` and returns float32 [batch, features].
        State updates it puts in ``tf.compat.v1.GraphKeys.UPDATE_OPS`` in
        training mode run with every train step (the TF1 recipe).
      layers: a zero-argument callable returning tf_keras layers, made anew on
        each template call, their weights made by ``get_variable``.
      input_shape: the shape of one example, with ``fn`` or ``layers``.
      name: name scope in the graph (default "template_trunk", made unique).
      seed: seed for the initial weights of keras initializers; None for random.

    Raises:
      TypeError, InputError: bad or conflicting arguments.
    """

    _default_name = "template_trunk"

    def __init__(
        self,
        runtime: GraphSession,
        input_dim: int | None = None,
        hidden_units: Sequence[int] | None = None,
        *,
        fn: Callable[[Any, bool], Any] | None = None,
        layers: Callable[[], Any] | None = None,
        input_shape: Sequence[int] | None = None,
        name: str | None = None,
        seed: int | None = None,
    ) -> None:
        self._fn = fn
        self._last_updates: list[Any] = []
        if fn is not None:
            if not callable(fn):
                raise TypeError(f"fn must be a callable fn(x, training), got {validation.describe(fn)}")
            if layers is not None or input_dim is not None or hidden_units is not None:
                raise InputError("fn= takes input_shape= only, not layers=, input_dim or hidden_units")
            if input_shape is None:
                raise InputError("input_shape is required with fn=, e.g. input_shape=(28, 28, 1)")
            qualname = f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', type(fn).__name__)}"
            shape = validation.input_shape(input_shape)
            arch = Architecture(factory=None, input_shape=shape, config={"input_shape": list(shape), "function": qualname})
        else:
            arch = trunk_architecture(input_dim, hidden_units, layers, input_shape)
        super().__init__(runtime, arch, name, seed)

    def _build(self, x: Any, training: bool) -> Any:
        if not hasattr(self, "_template"):
            self._template = tf1.make_template("layers", self._template_fn)
        # Variable scopes ignore name scopes: enter the trunk's own one so the
        # variables are named "<trunk>/layers/...".
        with tf1.variable_scope(self._name, auxiliary_name_scope=False):
            return self._template(x, training=training)

    def _template_fn(self, x: Any, training: bool) -> Any:
        if self._fn is not None:
            return self._fn(x, training)
        layers = self._architecture.make_layers()
        if not hasattr(self, "_sensitive"):
            self._sensitive = forward.training_sensitive(layers)
            self._config = architectures.checkpoint_config(self._architecture, layers)  # unbuilt, as everywhere
        with _through_get_variable(layers, self._architecture.named), forward.collecting_updates(layers) as updates:
            output = forward.apply(layers, x, training)
        self._last_updates = updates
        return output

    def _build_training(self, x: Any) -> tuple[Any, list[Any]]:
        graph = self._runtime.graph
        before = len(graph.get_collection(tf1.GraphKeys.UPDATE_OPS))
        output = self._build(x, training=True)
        return output, graph.get_collection(tf1.GraphKeys.UPDATE_OPS)[before:] + self._last_updates

    def _name_variables(self, variables: list[Any]) -> dict[str, Any]:
        prefix = f"{self._name}/layers/"
        return {v.name[len(prefix):].rsplit(":", 1)[0] if v.name.startswith(prefix) else v.name.rsplit(":", 1)[0]: v
                for v in variables}

    @property
    def training_sensitive(self) -> bool:
        # A TF1 function may branch on training in any way: it gets its own training path.
        return True if self._fn is not None else self._sensitive

    @property
    def template(self) -> Any:
        """The ``make_template`` object."""
        return self._template


__all__ = ["SharedTrunk", "TemplateTrunk", "trunk_architecture"]
