"""Trunks: hidden layers whose variables several classifiers share.

Two mechanisms, one constructor:

* ``SharedTrunk`` keeps one set of tf_keras ``Dense`` layer objects. Calling
  a Keras layer object again reuses its variables: that is how Keras shares.
* ``TemplateTrunk`` wraps a function in ``tf.compat.v1.make_template``; inside,
  ``tf.compat.v1.get_variable`` creates variables on the first call and reuses
  them by name scope afterwards: the TF1-native mechanism (Sonnet 1's way).

Each trunk owns an input placeholder and a feature tensor built once. Every
classifier on the trunk reads those same tensors, so a fused prediction of N
heads computes the trunk once. ``trunk(x)`` applies the trunk to another
tensor, with new ops and the same variables.
"""

from __future__ import annotations

from typing import Any

from tfshare import validation
from tfshare._tf import keras, tf, tf1, v2_layers
from tfshare.runtime import GraphSession


class _Trunk:
    """Common state and validation of both trunk kinds."""

    _default_name = "trunk"

    def __init__(
        self,
        runtime: GraphSession,
        input_dim: int,
        hidden_units: tuple[int, ...] | list[int],
        name: str | None = None,
        seed: int | None = None,
    ) -> None:
        if not isinstance(runtime, GraphSession):
            raise TypeError(
                f"runtime must be a tfshare.GraphSession, got {type(runtime).__name__}; "
                "a trunk lives in one shared graph"
            )
        self._runtime = runtime
        self._input_dim = validation.positive_int(input_dim, "input_dim")
        self._hidden_units = validation.hidden_units(hidden_units)
        if not self._hidden_units:
            raise validation.InputError("hidden_units must name at least one layer for a trunk, got ()")
        self._seed = validation.seed(seed)
        self._name = runtime.reserve_name(name, self._default_name)
        with runtime.building(self._name + "/", shared=True) as graph:
            before = set(v.name for v in graph.get_collection(tf1.GraphKeys.GLOBAL_VARIABLES))
            self._input = tf1.placeholder(tf.float32, [None, self._input_dim], name="x")
            self._output = self._build(self._input)
            self._variables = [
                v for v in graph.get_collection(tf1.GraphKeys.GLOBAL_VARIABLES) if v.name not in before
            ]

    def _build(self, x: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _kernel_initializer(self, layer: int) -> Any:
        seed = None if self._seed is None else self._seed + layer
        return keras.initializers.GlorotUniform(seed=seed)

    @property
    def runtime(self) -> GraphSession:
        """The runtime whose graph holds the trunk."""
        return self._runtime

    @property
    def name(self) -> str:
        """The trunk's name scope in the graph."""
        return self._name

    @property
    def input_dim(self) -> int:
        """Features per input row."""
        return self._input_dim

    @property
    def hidden_units(self) -> tuple[int, ...]:
        """Units per hidden layer."""
        return self._hidden_units

    @property
    def output_dim(self) -> int:
        """Features per output row (the last hidden layer's units)."""
        return self._hidden_units[-1]

    @property
    def input(self) -> Any:
        """The trunk's float32 placeholder of shape [batch, input_dim]."""
        return self._input

    @property
    def output(self) -> Any:
        """float32 tensor of shape [batch, output_dim]: the trunk applied to ``input``."""
        return self._output

    @property
    def variables(self) -> list[Any]:
        """The trunk's variables (kernels and biases), shared by every classifier on it."""
        return list(self._variables)

    @property
    def num_params(self) -> int:
        """Number of scalar parameters in the trunk."""
        return int(sum(v.shape.num_elements() for v in self._variables))

    def named_variables(self) -> dict[str, Any]:
        """Maps architecture-level keys ("hidden_0/kernel", "hidden_0/bias", ...) to variables.

        The keys are the same for both trunk kinds and for a classifier's own
        hidden layers, so checkpoints move between sharing modes.
        """
        raise NotImplementedError  # pragma: no cover - abstract

    def __call__(self, x: Any) -> Any:
        """Applies the trunk to another float32 tensor, reusing its variables.

        Args:
          x: float32 tensor of shape [batch, input_dim] in the runtime's graph.

        Returns:
          float32 tensor of shape [batch, output_dim].
        """
        if getattr(x, "graph", None) is not self._runtime.graph:
            raise validation.InputError(
                f"x must be a tensor of {self._runtime!r}'s graph, got {x!r}"
            )
        with self._runtime.building(self._name + "/", shared=True):
            return self._build(x)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self._name!r}, input_dim={self._input_dim}, "
            f"hidden_units={self._hidden_units})"
        )


class SharedTrunk(_Trunk):
    """Hidden Dense(relu) layers as tf_keras layer objects, reused by every classifier.

    Args:
      runtime: the GraphSession to build into.
      input_dim: features per input row.
      hidden_units: units per hidden layer, e.g. (64,) or (256, 128).
      name: name scope in the graph (default "shared_trunk", made unique).
      seed: seed for the initial weights; None for random.
    """

    _default_name = "shared_trunk"

    def _build(self, x: Any) -> Any:
        if not hasattr(self, "_layers"):
            with v2_layers():  # see tfshare._tf.v2_layers: keeps eager layers working
                self._layers = [
                    keras.layers.Dense(
                        units,
                        activation="relu",
                        kernel_initializer=self._kernel_initializer(i),
                        name=f"hidden_{i}",
                    )
                    for i, units in enumerate(self._hidden_units)
                ]
        for layer in self._layers:
            x = layer(x)
        return x

    def named_variables(self) -> dict[str, Any]:
        named: dict[str, Any] = {}
        for i, layer in enumerate(self._layers):
            named[f"hidden_{i}/kernel"] = layer.kernel
            named[f"hidden_{i}/bias"] = layer.bias
        return named

    @property
    def layers(self) -> list[Any]:
        """The tf_keras Dense layer objects."""
        return list(self._layers)


class TemplateTrunk(_Trunk):
    """Hidden layers built with ``tf.compat.v1.make_template`` and ``get_variable``.

    Args:
      runtime: the GraphSession to build into.
      input_dim: features per input row.
      hidden_units: units per hidden layer.
      name: name scope in the graph (default "template_trunk", made unique).
      seed: seed for the initial weights; None for random.
    """

    _default_name = "template_trunk"

    def _build(self, x: Any) -> Any:
        if not hasattr(self, "_template"):
            self._template = tf1.make_template("layers", self._layers_fn)
        # Variable scopes ignore name scopes: enter the trunk's own one so the
        # variables are named "<trunk>/layers/hidden_i/kernel".
        with tf1.variable_scope(self._name, auxiliary_name_scope=False):
            return self._template(x)

    def _layers_fn(self, x: Any) -> Any:
        named: dict[str, Any] = {}
        width = self._input_dim
        for i, units in enumerate(self._hidden_units):
            with tf1.variable_scope(f"hidden_{i}"):
                kernel = tf1.get_variable(
                    "kernel", [width, units], tf.float32, initializer=self._kernel_initializer(i)
                )
                bias = tf1.get_variable("bias", [units], tf.float32, initializer=tf1.zeros_initializer())
            named[f"hidden_{i}/kernel"], named[f"hidden_{i}/bias"] = kernel, bias
            x = tf.nn.relu(tf.nn.bias_add(tf.matmul(x, kernel), bias))
            width = units
        if not hasattr(self, "_named"):
            self._named = named
        return x

    def named_variables(self) -> dict[str, Any]:
        return dict(self._named)

    @property
    def template(self) -> Any:
        """The ``make_template`` object."""
        return self._template
