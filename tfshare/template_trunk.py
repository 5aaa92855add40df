"""TemplateTrunk: a body built with ``tf.compat.v1.make_template``, its variables shared by name.

Inside the template, variables are made with ``tf.compat.v1.get_variable`` on
the first call and found again by name scope afterwards: the TF1-native
mechanism (Sonnet 1's way). The function is the user's own
``fn(x, training)``, or a body of tf_keras layers made anew on each call,
whose Keras weights are routed through ``get_variable``.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, Iterator, Sequence

from tfshare import architectures, forward, validation
from tfshare._tf import tf, tf1
from tfshare.architectures import Architecture
from tfshare.errors import InputError
from tfshare.runtime import GraphSession
from tfshare.trunk_base import _Trunk, trunk_architecture


#: What ``make_template`` appends to the message of an error raised inside, before the stack where it was made.
_TEMPLATE_TRACE = "\n\noriginally defined at:\n"


@contextlib.contextmanager
def _through_get_variable(layers: Sequence[Any], named: bool) -> Iterator[None]:
    """Makes the Keras weights of ``layers`` with ``get_variable``, named by layer (or position) and weight.

    Inside ``make_template``, a second call's fresh layers then find the first
    call's variables by name: "<layer name or layer_i>/<weight>" for a
    top-level layer's own weights, "<...>/<k>/<weight>" for those of the k-th
    sublayer (in creation order) inside it, since sublayers' generated names
    differ from call to call. Enter it at the start of the template function.
    """
    graph = tf1.get_default_graph()
    base = graph.get_name_scope()
    scope_of = {layer.name: layer.name if named else f"layer_{i}" for i, layer in enumerate(layers)}
    nested: dict[tuple[str, ...], int] = {}  # (top scope, sublayer scopes...) -> rank within its top layer
    inside = [False]

    def creator(next_creator: Callable[..., Any], **kwargs: Any) -> Any:
        if inside[0]:
            return next_creator(**kwargs)
        parts = graph.get_name_scope()[len(base):].strip("/").split("/")
        parts[0] = scope_of.get(parts[0], parts[0])
        if len(parts) > 1:
            path = tuple(parts)
            if path not in nested:
                nested[path] = sum(1 for p in nested if p[0] == parts[0])
            parts = [parts[0], str(nested[path])]
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


def _function_key(fn: Callable[..., Any]) -> str:
    """Names a trunk function in the checkpoint config: "<module>.<qualname>".

    A ``functools.partial`` is named by the function it wraps
    ("functools.partial(<module>.<qualname>)"; not by its arguments, whose
    reprs may hold addresses that differ between processes), a callable
    instance by its class.
    """
    if isinstance(fn, functools.partial):
        return f"functools.partial({_function_key(fn.func)})"
    if not hasattr(fn, "__qualname__"):
        fn = type(fn)
    return f"{fn.__module__}.{fn.__qualname__}"


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
      layers: a zero-argument callable returning tf_keras layers (or an
        ``Architecture``), made anew on
        each template call, their weights made by ``get_variable``.
      input_shape: the shape of one example, with ``fn`` or ``layers``.
      name: name scope in the graph (default "template_trunk", made unique).
      seed: seed for the initial weights of keras initializers; None for random.
      input_tensor: as ``SharedTrunk``'s.

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
        input_tensor: Any = None,
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
            shape = validation.input_shape(input_shape)
            arch = Architecture(factory=None, input_shape=shape,
                                config={"input_shape": list(shape), "function": _function_key(fn)})
        else:
            arch = trunk_architecture(input_dim, hidden_units, layers, input_shape)
        super().__init__(runtime, arch, name, seed, input_tensor)

    def _build(self, x: Any, training: bool) -> Any:
        if not hasattr(self, "_template"):
            self._template = tf1.make_template("layers", self._template_fn)
        # Variable scopes ignore name scopes: enter the trunk's own one so the
        # variables are named "<trunk>/layers/...".
        with tf1.variable_scope(self._name, auxiliary_name_scope=False):
            try:
                return self._template(x, training=training)
            except InputError as exc:  # tfshare's own message: without the stack make_template appends to it
                exc.args = (str(exc.args[0]).split(_TEMPLATE_TRACE, 1)[0], *exc.args[1:])
                raise

    def _template_fn(self, x: Any, training: bool) -> Any:
        if self._fn is not None:
            return self._fn(x, training)
        layers = self._architecture.make_layers()
        names = [layer.name for layer in layers]
        twice = next((name for i, name in enumerate(names) if name in names[:i]), None)
        if twice is not None:  # the second one's scope would be renamed, and its variables not found again
            raise InputError(
                f"layers() of a TemplateTrunk must return layers of distinct names (their variables are found by "
                f"layer name scope), got {names.count(twice)} layers named {twice!r}"
            )
        self._first_layers = getattr(self, "_first_layers", layers)  # the layers holding the variables
        first = not hasattr(self, "_sensitive")
        if first:
            self._config = architectures.checkpoint_config(self._architecture, layers)  # unbuilt, as everywhere
        with _through_get_variable(layers, self._architecture.named), forward.collecting_updates() as updates:
            output = forward.apply(layers, x, training, fold_batch_norm=True)
        if first:  # built: sublayers made in build() (a Dropout, a BatchNorm) count too
            self._sensitive = forward.training_sensitive(layers)
        self._last_updates = updates
        return output

    def _build_training(self, x: Any) -> tuple[Any, list[Any]]:
        graph = self._runtime.graph
        before = len(graph.get_collection(tf1.GraphKeys.UPDATE_OPS))
        output = self._build(x, training=True)
        return output, graph.get_collection(tf1.GraphKeys.UPDATE_OPS)[before:] + self._last_updates

    def _name_variables(self, variables: list[Any]) -> dict[str, Any]:
        if self._fn is None:  # tf_keras layers: the same keys as a SharedTrunk's or a classifier's body
            return architectures.weight_keys(self._first_layers, self._architecture.named)
        prefix = f"{self._name}/layers/"
        return {v.name[len(prefix):].rsplit(":", 1)[0] if v.name.startswith(prefix) else v.name.rsplit(":", 1)[0]: v
                for v in variables}

    def _keras_layers(self) -> list[Any]:
        return getattr(self, "_first_layers", [])

    def _penalties(self) -> list[Any]:
        if self._fn is None:
            return super()._penalties()
        # A TF1 function's get_variable(regularizer=...) penalties, in the TF1 collection, of its scope.
        penalties = self._runtime.graph.get_collection(tf1.GraphKeys.REGULARIZATION_LOSSES, scope=self._name + "/")
        return [tf.cast(p, tf.float32) for p in penalties]  # the loss is float32

    def _rebuild(self, runtime: GraphSession, input_tensor: Any, name: str) -> "TemplateTrunk":
        if self._fn is not None:
            return TemplateTrunk(runtime, fn=self._fn, input_shape=self._input_shape, name=name, seed=self._seed,
                                 input_tensor=input_tensor)
        return TemplateTrunk(runtime, layers=self._architecture, name=name, seed=self._seed, input_tensor=input_tensor)

    def _layers_sensitive(self) -> bool:
        # A TF1 function may branch on training in any way: it gets its own training path.
        return True if self._fn is not None else self._sensitive

    def _copy_state(self, source: _Trunk) -> None:
        self._fn = source._fn
        self._last_updates = []

    @property
    def template(self) -> Any:
        """The ``make_template`` object (a copied mirror's is made, its variables bound, on first use)."""
        if self._copied:
            with self._runtime.building(self._name + "/", shared=True):
                self._bind_layers()
        return self._template


__all__ = ["TemplateTrunk"]
