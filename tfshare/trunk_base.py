"""The trunk base: a body whose variables several classifiers share, in both modes.

A trunk owns an input placeholder and an inference features tensor
(``training=False``) built once; every classifier on the trunk reads them, so
a fused prediction of N heads computes the trunk once. The training path
(``training=True``) is built on the first ``fit`` of any head, once, and
shared by all heads, with the layers' state updates (BatchNorm's moving
statistics). ``SharedTrunk`` (``tfshare.trunks``) and ``TemplateTrunk``
(``tfshare.template_trunk``) differ in how the body's variables are shared.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator

from tfshare import architectures, forward, initial_values, validation
from tfshare._tf import tf, tf1
from tfshare.architectures import Architecture, Described
from tfshare.errors import InputError
from tfshare.runtime import GraphSession


def trunk_architecture(
    input_dim: Any, hidden_units: Any, layers: Any, input_shape: Any
) -> Architecture:
    """The body of a trunk from either constructor form.

    Raises:
      TypeError, InputError: both forms, neither, or bad values.
    """
    architectures.check_float32_policy()
    if layers is not None:
        if input_dim is not None or hidden_units is not None:
            raise InputError(
                "give either layers= with input_shape=, or input_dim and hidden_units, not both "
                f"(got input_dim={input_dim!r}, hidden_units={hidden_units!r})"
            )
        if input_shape is None and not isinstance(layers, Architecture):
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


class _Trunk(Described):
    """Common state of both trunk kinds: the input, the features in both modes, the variables."""

    _default_name = "trunk"

    def __init__(
        self,
        runtime: GraphSession,
        architecture: Architecture,
        name: str | None,
        seed: int | None,
        input_tensor: Any = None,
    ) -> None:
        if not isinstance(runtime, GraphSession):
            raise TypeError(
                f"runtime must be a tfshare.GraphSession, got {type(runtime).__name__}; "
                "a trunk lives in one shared graph"
            )
        self._public_runtime = runtime.root
        placer = None
        if input_tensor is not None:
            runtime = runtime._shard_holding(input_tensor)
            validation.input_tensor(input_tensor, runtime.graph, architecture.input_shape)
        else:
            placer, runtime = runtime, runtime.place()  # the shard it and its heads live in (tfshare.shards)
        placed = placer is not None and placer.sharded
        if not placed:  # built into a shard directly: counted before the build (see Classifier)
            runtime.root.hold(runtime)
        # A trunk has no close(): its shard may be reclaimed once it is garbage-collected (its heads hold it).
        self._release_slot = None if placed else runtime.root.own(runtime, self)
        try:
            self._construct(runtime, architecture, name, seed, input_tensor)
        except BaseException:
            if placed:
                placer.unplace(runtime)  # the slot goes back to the next classifier or trunk
            else:
                self._release_slot()
            raise
        if placed:
            placer.built(runtime)  # its ops are in the graph: the next placement may count them
            self._release_slot = runtime.root.own(runtime, self)

    def _construct(
        self, runtime: GraphSession, architecture: Architecture, name: str | None, seed: int | None, input_tensor: Any
    ) -> None:
        """Builds the trunk into ``runtime`` (its shard): name, input, inference features, variables."""
        self._runtime = runtime
        self._architecture = architecture
        self._input_shape = architecture.input_shape
        self._seed = validation.seed(seed)
        self._name = runtime.reserve_name(name, self._default_name)
        self._training: tuple[Any, list[Any]] | None = None
        self._config = dict(architecture.config)
        self._own_input = input_tensor is None  # a mirror in another shard can then take the input instead
        self._mirrors: list[Any] = []  # its mirrors in other shards (tfshare.mirrors), in the order made
        self._mirrors_made = 0  # every mirror it had, reclaimed ones included: the next one's name
        self._mirror_lock = threading.Lock()
        self._home_sync: Any = None  # its ops that mirrors read and write it through (tfshare.mirrors)
        self._mirror_of: Any = None  # a mirror's: a weak reference to the trunk it copies (tfshare.mirrors)
        self._copied = False  # a copy of another trunk's ops without layer objects yet (tfshare.trunk_copy)
        self._copied_sensitive: bool | None = None  # a copy's: whether its original's built layers were mode-dependent
        self._copied_losses = False  # a copy's: whether its original's layers declared regularizers
        with runtime.building(self._name + "/", shared=True) as graph:
            first_op = len(graph.get_operations())
            self._input = (
                input_tensor if input_tensor is not None
                else tf1.placeholder(tf.float32, [None, *self._input_shape], name="x")
            )
            with initial_values.creating(self._seed) as created:
                output = self._build(self._input, training=False)
            self._output = forward.check_features(output, "layers" if architecture.factory is not None else "fn")
            runtime.add_initial_values([(c.variable, c.fed) for c in created if c.fed is not None])
            # What a mirror copies (tfshare.trunk_copy): only a trunk of its own input can have mirrors.
            self._built = (graph.get_operations()[first_op:], created) if self._own_input else None
        self._variables = [c.variable for c in created]
        self._num_random = sum(c.spec is not None for c in created)
        self._named = self._name_variables(self._variables)
        self._frozen_keys = architectures.frozen_keys(self._named, self._keras_layers())

    @classmethod
    def _copy_of(cls, source: "_Trunk", runtime: GraphSession, name: str, template: Any) -> "_Trunk":
        """A trunk of ``source``'s kind whose ops are ``template`` copied into ``runtime`` (see ``tfshare.trunk_copy``).

        Args:
          source: the trunk copied (its own input).
          runtime: a shard to build into (a mirror's dedicated shard).
          name: the copy's name there.
          template: ``source``'s ops, a ``graph_template.Template`` whose
            tensors are "x" and "output" and whose variables are keyed as
            ``source.named_variables()``, in creation order.

        Raises:
          InputError: ``name`` is already used in ``runtime``.
        """
        self = cls.__new__(cls)
        self._public_runtime = runtime.root
        self._runtime = runtime
        self._architecture = source._architecture
        self._input_shape = source._input_shape
        self._seed = source._seed
        self._name = runtime.reserve_name(name, self._default_name)
        self._training = None
        self._config = dict(source._config)
        self._own_input = True
        self._mirrors = []
        self._mirror_lock = threading.Lock()
        self._home_sync = self._mirror_of = None
        self._copied, self._copied_sensitive = True, source.training_sensitive
        self._copied_losses = forward.losses_declared(source._keras_layers())
        self._copy_state(source)
        runtime.root.hold(runtime)  # counted before the build, as a trunk built into a shard (see __init__)
        self._release_slot = runtime.root.own(runtime, self)
        try:
            with runtime.building(self._name + "/", shared=True) as graph:
                tensors, variables, fed, self._frozen_keys = template.copy(graph, self._name + "/", self._seed)
                runtime.add_initial_values(fed)
        except BaseException:
            self._release_slot()
            raise
        self._input, self._output = tensors["x"], tensors["output"]
        self._built = None  # a copy is not copied again: a mirror of a mirror copies its trunk (tfshare.mirrors.origin)
        self._variables = list(variables.values())  # the template's order: creation order, as the layers will take them
        self._num_random = source._num_random
        self._named = {key: variables[key] for key in source._named}
        return self

    def _copy_state(self, source: "_Trunk") -> None:
        """Sets a copy's state of its kind (``_copy_of``): what its ``__init__`` sets before building."""

    # ------------------------------------------------------------ building
    def _build(self, x: Any, training: bool) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _build_training(self, x: Any) -> tuple[Any, list[Any]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _name_variables(self, variables: list[Any]) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _keras_layers(self) -> list[Any]:
        """The tf_keras layers holding the trunk's variables (none for a TF1 function)."""
        return []

    @property
    def regularization_losses(self) -> list[Any]:
        """The body's weight regularization losses (float32 scalars), built once; every head's fit adds them."""
        if not hasattr(self, "_regularization"):
            with self._runtime.building(self._name + "/", shared=True):
                if not hasattr(self, "_regularization"):
                    if self._copied_losses:  # a copy without them has no layers to ask, and needs none
                        self._bind_layers()
                    self._regularization = self._penalties()
        return list(self._regularization)

    def _penalties(self) -> list[Any]:
        return forward.weight_penalties(self._keras_layers())

    @property
    def frozen_keys(self) -> set[str]:
        """Keys of variables of layers made with ``trainable=False``: no head's fit updates them."""
        return set(self._frozen_keys)

    @property
    def training_sensitive(self) -> bool:
        """Whether a layer behaves differently in training (Dropout, BatchNorm): then training has its own path."""
        return self._copied_sensitive if self._copied_sensitive is not None else self._layers_sensitive()

    def _layers_sensitive(self) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def _training_path(self) -> tuple[Any, list[Any]]:
        if self._training is None:
            with self._runtime.building(self._name + "/", shared=True):
                if self._training is None and not self.training_sensitive:
                    self._training = (self._output, [])
                elif self._training is None:
                    with self._binding():
                        output, updates = self._build_training(self._input)
                    self._training = (tf.cast(output, tf.float32), updates)  # as ``output``: see forward.check_features
        return self._training

    @contextlib.contextmanager
    def _binding(self) -> Iterator[None]:
        """Around a build through layer objects: a copy's first layers take its copied variables, in creation order.

        A copy (``tfshare.trunk_copy``) has ops and variables but no layer
        objects; the first build that needs them (its training path, its
        penalties, ``__call__``) makes fresh ones, bound to its variables by
        ``initial_values.reusing``. Call under the build lock.
        """
        if not self._copied:
            yield
            return
        try:
            with initial_values.reusing(self._variables):
                yield
        except BaseException:
            for attr in ("_layers", "_template", "_first_layers"):  # half-built: the next build makes fresh ones
                self.__dict__.pop(attr, None)
            raise
        self._copied = False

    def _bind_layers(self) -> None:
        """Gives a copy its layer objects now (an unused inference path binds them); else nothing. Build lock held."""
        if self._copied:
            with self._binding():
                self._build(self._input, training=False)

    # ---------------------------------------------------------- properties
    @property
    def runtime(self) -> GraphSession:
        """The runtime the trunk was built into."""
        return self._public_runtime if self._public_runtime is not None else self._runtime.root

    @property
    def shard(self) -> GraphSession:
        """The shard of ``runtime`` whose graph holds the trunk and its heads."""
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
    def output_dim(self) -> int:
        """Features per output row."""
        return int(self._output.shape[-1])

    @property
    def input(self) -> Any:
        """The trunk's float32 input [batch, *input_shape]: its own placeholder, or the ``input_tensor`` it was given."""
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

    def rebuild(self, runtime: GraphSession, *, input_tensor: Any = None, name: str | None = None) -> "_Trunk":
        """The same kind of trunk, body and seed, built into another runtime (initial weights).

        Args:
          runtime: the GraphSession to build into.
          input_tensor: a float32 tensor of ``runtime``'s graph to read.
          name: its name there; None: this trunk's.
        """
        return self._rebuild(runtime, input_tensor, self._name if name is None else name)

    def _rebuild(self, runtime: GraphSession, input_tensor: Any, name: str) -> "_Trunk":  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, x: Any) -> Any:
        """Applies the trunk, in inference mode, to another float32 tensor, reusing its variables.

        Args:
          x: float32 tensor of shape [batch, *input_shape] in the runtime's graph.

        Returns:
          float32 tensor of shape [batch, output_dim].
        """
        if getattr(x, "graph", None) is not self._runtime.graph:
            raise InputError(f"x must be a tensor of {self._runtime!r}'s graph, got {x!r}")
        with self._runtime.building(self._name + "/", shared=True), self._binding():
            return self._build(x, training=False)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self._name!r}, input_shape={self._input_shape}, config={self._config})"


__all__ = ["trunk_architecture"]
