"""Exceptions raised by tfshare.

Every error tfshare raises on purpose is one of these (or a built-in
``TypeError`` for arguments of the wrong kind), so callers can catch them
without catching TensorFlow's own errors by accident.
"""

from __future__ import annotations


class TfshareError(Exception):
    """Base class of every tfshare-specific error."""


class InputError(TfshareError, ValueError):
    """An argument has the wrong shape, range, or value.

    It is a ``ValueError``, so code written against NumPy-style APIs that
    catches ``ValueError`` keeps working.
    """


class CheckpointError(TfshareError):
    """A checkpoint is missing, corrupt, or does not match the classifier."""


class ClosedError(TfshareError, RuntimeError):
    """A closed runtime or classifier was used."""


class TrainingError(TfshareError, RuntimeError):
    """Training diverged (the loss became NaN or Inf)."""


class ClusterError(TfshareError, RuntimeError):
    """A task of a TensorFlow cluster did not answer in time, or could not be started.

    Raised instead of a hang: every Session call in a cluster is bounded by
    ``GraphSession(timeout=...)``, and gRPC's DeadlineExceeded / Unavailable
    errors become this error, naming the task and what to check.
    """


class DataError(TfshareError):
    """A data set cannot be loaded: not cached and not downloadable, or its cached file is unreadable.

    The message names the exact cache path to fill and the URL tried.
    """


class ExportError(TfshareError):
    """A SavedModel cannot be exported: the path exists (without overwrite) or cannot be written."""
