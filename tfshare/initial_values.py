"""Fed initial values: a kernel's random initializer computed eagerly, not built as graph ops.

A tf_keras ``GlorotUniform`` kernel initializer called in a graph builds nine
ops per kernel (a ``stateless_random_uniform`` subgraph). Building ops is
most of what constructing a classifier costs (TensorFlow's Python op
wrappers take ~0.2 ms per op), so ``DenseClassifier`` gives its kernels a
``FedInitializer`` instead: in the graph the initial value is one float32
placeholder, and the values come from the *same* keras initializer run
eagerly when the runtime initializes the variable. A seeded classifier
therefore starts from bit-identical weights (the same ``EagerDenseClassifier``
with the same seed starts from), and ``variable.initializer`` is still the
variable's own assign op; running it needs ``feeds(...)`` in its feed_dict.

Example:
  >>> session.run([v.initializer for v in variables], feed_dict=runtime.initial_value_feeds(variables))
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterable

import numpy as np

from tfshare._tf import eager_mode, keras, tf, tf1


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
            return self._make()(self._shape, dtype=self._dtype).numpy()


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

        Values are computed afresh (eagerly) on every call; variables with an
        ordinary initializer are skipped.
        """
        with self._lock:
            fed = [self._by_name.get(v.name) for v in variables]
        return {init.placeholder: init.value() for init in fed if init is not None}


__all__ = ["PLACEHOLDER_NAME", "FedInitializer", "InitialValues", "glorot_uniform"]
