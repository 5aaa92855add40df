"""EagerTrunk, and how the eager classes run and build their layers.

``eagerly`` keeps eager code eager inside a caller's ``graph.as_default()``;
``build`` makes a body's variables eagerly under the graph classifier's
seeding rule, so the eager twin starts from the graph classifier's weights.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence, TypeVar

from tfshare import architectures, forward, initial_values, validation
from tfshare._tf import eager_mode, tf
from tfshare.architectures import Described
from tfshare.trunk_base import trunk_architecture

_F = TypeVar("_F", bound=Callable[..., Any])


def eagerly(method: _F) -> _F:
    """Runs ``method`` eagerly, even inside a caller's ``graph.as_default()`` block.

    Without it, variables and ops would be added to the caller's graph. Inside
    a ``tf.function`` being traced (this class's own), it runs as traced.
    Costs one ``tf.executing_eagerly()`` check when already eager.
    """

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if tf.executing_eagerly() or tf.inside_function():
            return method(*args, **kwargs)
        with eager_mode():
            return method(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def build(layers: Sequence[Any], input_shape: tuple[int, ...], seed: int | None, start: int = 0) -> tuple[Any, list[Any]]:
    """Builds ``layers`` eagerly on one zero example, under the graph classifier's seeding rule.

    Returns:
      (the output, float32 [1, features], checked for a Dense head; the Created records).
    """
    with initial_values.creating(seed, start=start, feed=False) as created:
        output = forward.check_features(forward.apply(layers, tf.zeros((1, *input_shape)), training=False))
    return output, created


class EagerTrunk(Described):
    """A body shared by several EagerClassifiers (the twin of ``SharedTrunk``).

    Args:
      input_dim, hidden_units: the Dense form, as ``SharedTrunk``.
      layers: a zero-argument callable returning tf_keras layers, or an
        ``Architecture``, instead.
      input_shape: the shape of one example, with ``layers``.
      name: a label for the trunk (default "eager_trunk").
      seed: seed for the initial weights; None for random.
    """

    @eagerly
    def __init__(
        self,
        input_dim: int | None = None,
        hidden_units: Sequence[int] | None = None,
        *,
        layers: Callable[[], Any] | None = None,
        input_shape: Sequence[int] | None = None,
        name: str | None = None,
        seed: int | None = None,
    ) -> None:
        self._architecture = trunk_architecture(input_dim, hidden_units, layers, input_shape)
        self._input_shape = self._architecture.input_shape
        self._name = validation.name(name) or "eager_trunk"
        self._layers = self._architecture.make_layers()
        # Before they are built, as SharedTrunk and the classifiers' own bodies compute it: a built
        # layer's config can differ, and checkpoints compare it.
        self._config = architectures.checkpoint_config(self._architecture, self._layers)
        output, created = build(self._layers, self._input_shape, validation.seed(seed))
        self._num_random = sum(c.spec is not None for c in created)
        self._output_dim = int(output.shape[-1])

    @property
    def output_dim(self) -> int:
        """Features per output row."""
        return self._output_dim

    @property
    def name(self) -> str:
        """The trunk's label."""
        return self._name

    @property
    def layers(self) -> list[Any]:
        """The tf_keras layer objects."""
        return list(self._layers)

    @property
    def training_sensitive(self) -> bool:
        """Whether a layer behaves differently in training."""
        return forward.training_sensitive(self._layers)

    @property
    def architecture(self) -> Any:
        """The trunk's body."""
        return self._architecture

    @property
    def num_params(self) -> int:
        """Number of scalar parameters in the trunk (BatchNorm statistics included)."""
        return int(sum(v.shape.num_elements() for v in self.variables))

    def named_variables(self) -> dict[str, Any]:
        """Maps architecture-level keys (as ``SharedTrunk.named_variables``) to the trunk's variables."""
        return architectures.weight_keys(self._layers, self._architecture.named)

    @property
    def variables(self) -> list[Any]:
        """The trunk's variables."""
        return list(self.named_variables().values())

    @eagerly
    def __call__(self, x: Any, training: bool = False) -> Any:
        """Applies the trunk: float32 [batch, *input_shape] -> float32 [batch, output_dim].

        Args:
          x: a tensor, or an array-like of shape [batch, *input_shape], checked
            as ``predict_proba`` checks its x.
          training: run the layers in training mode.

        Raises:
          TypeError, InputError: a bad array-like x (wrong shape, NaN/Inf...).
        """
        if not tf.is_tensor(x):
            x = tf.constant(validation.inputs(x, self._input_shape))
        return forward.apply(self._layers, x, training)

__all__ = ["EagerTrunk", "build", "eagerly"]
