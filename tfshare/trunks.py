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

from typing import Any, Callable, Sequence

from tfshare import architectures, forward
from tfshare.runtime import GraphSession
from tfshare.template_trunk import TemplateTrunk
from tfshare.trunk_base import _Trunk, trunk_architecture


class SharedTrunk(_Trunk):
    """A body of tf_keras layer objects, reused by every classifier on it.

    Example:
      >>> trunk = SharedTrunk(gs, layers=lambda: [tf_keras.layers.Conv2D(32, 3), ...], input_shape=(28, 28, 1))
      >>> trunk = SharedTrunk(gs, 784, (64,))            # Dense(relu) layers

    Args:
      runtime: the GraphSession to build into.
      input_dim, hidden_units: the Dense form: features per row and units per
        hidden layer, e.g. 784 and (64,).
      layers: a zero-argument callable returning tf_keras layers, or an
        ``Architecture`` such as ``architectures.conv()`` (whose output
        is [batch, features]), instead of input_dim/hidden_units.
      input_shape: the shape of one example, with ``layers``.
      name: name scope in the graph (default "shared_trunk", made unique).
      seed: seed for the initial weights; None for random.
      input_tensor: a float32 tensor [batch, *input_shape] of the runtime's
        graph to read instead of a placeholder of its own (several trunks and
        classifiers can then take one input; ``export_saved_model`` does).

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
        input_tensor: Any = None,
    ) -> None:
        super().__init__(runtime, trunk_architecture(input_dim, hidden_units, layers, input_shape), name, seed, input_tensor)

    def _make_layers(self) -> list[Any]:
        """The layer objects, made on the first build (a copy's on its first build through layers)."""
        if not hasattr(self, "_layers"):
            self._layers = self._architecture.make_layers()
            # Before they are built: a built layer's config can differ (as a classifier's own body computes it).
            self._config = architectures.checkpoint_config(self._architecture, self._layers)
        return self._layers

    def _build(self, x: Any, training: bool) -> Any:
        return forward.apply(self._make_layers(), x, training, fold_batch_norm=True)

    def _build_training(self, x: Any) -> tuple[Any, list[Any]]:
        with forward.collecting_updates() as updates:
            output = forward.apply(self._make_layers(), x, training=True)
        return output, updates

    def _name_variables(self, variables: list[Any]) -> dict[str, Any]:
        return architectures.weight_keys(self._layers, self._architecture.named)

    def _keras_layers(self) -> list[Any]:
        return getattr(self, "_layers", [])  # a copy has none before its first build through layers

    def _rebuild(self, runtime: GraphSession, input_tensor: Any, name: str) -> "SharedTrunk":
        return SharedTrunk(runtime, layers=self._architecture, name=name, seed=self._seed, input_tensor=input_tensor)

    def _layers_sensitive(self) -> bool:
        return forward.training_sensitive(self._layers)

    @property
    def layers(self) -> list[Any]:
        """The tf_keras layer objects (a copied mirror's are made and bound on first use)."""
        if self._copied:
            with self._runtime.building(self._name + "/", shared=True):
                self._bind_layers()
        return list(self._layers)


__all__ = ["SharedTrunk", "TemplateTrunk", "_Trunk", "trunk_architecture"]
