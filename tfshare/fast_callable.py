"""FastCallable: a cached TF_SessionRunCallable that close() can disarm."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from tfshare._tf import tf
from tfshare.errors import ClosedError

def _closed_callable(*_: Any, **__: Any) -> list:
    raise ClosedError("the GraphSession of this callable is closed")


class FastCallable:
    """A cached ``TF_SessionRunCallable`` bound to fixed feeds, fetches and targets.

    Calling it skips ``Session.run``'s per-call Python work (fetch mapping,
    feed conversion, graph extension checks). Feeds must be NumPy arrays of
    the placeholders' dtypes, in the order given at creation. Every variable
    the callable reads was initialized when it was created, so a call does
    nothing but run; closing the runtime disarms it (calls raise ClosedError).
    """

    __slots__ = ("_fn", "feeds", "fetches", "targets", "__weakref__")

    def __init__(self, fn: Callable[..., list], feeds, fetches, targets):
        self._fn = fn
        self.feeds = tuple(feeds)
        self.fetches = tuple(fetches)
        self.targets = tuple(targets)

    def __call__(self, *feed_values: np.ndarray) -> list[np.ndarray]:
        """Runs the callable.

        Args:
          *feed_values: one NumPy array per feed, of the feed's dtype and shape.

        Returns:
          One NumPy array per fetch, in order.

        Raises:
          ClosedError: the runtime was closed.
        """
        try:
            return self._fn(*feed_values)
        except tf.errors.CancelledError:
            if self._fn is _closed_callable:  # close() interrupted this call
                raise ClosedError("the GraphSession of this callable was closed during the call") from None
            raise

    def unwrap(self) -> Callable[..., list]:
        """The underlying TensorFlow callable, for hot paths that cannot afford a wrapper call.

        After the runtime closes it raises ``tf.errors.CancelledError``
        ("Session has been closed"); callers translate that to ClosedError.
        (Unwrapped after the close, it is the disarmed callable: ClosedError.)
        """
        return self._fn

    def _disarm(self) -> None:
        self._fn = _closed_callable


__all__ = ["FastCallable"]
