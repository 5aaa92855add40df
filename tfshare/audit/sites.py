"""Where in the user's code something happened: the innermost frame outside the libraries.

Two records name a place: the Python stack when an event happens (a
Session, a trace, a layer), and, for graph ops, the traceback TensorFlow
records when it creates each op (``Operation.traceback``). Both are read the
same way: the innermost frame whose file is not TensorFlow, Keras, tfshare,
another installed package or the standard library is the user's line.
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig
from typing import Any, Iterable, NamedTuple

_TFSHARE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_STDLIB_DIRS = tuple(
    {os.path.abspath(p) + os.sep for p in (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]) if p}
)
_PACKAGE_DIRS = (os.sep + "site-packages" + os.sep, os.sep + "dist-packages" + os.sep)
# Keras 3's sources (``keras/src/...``); tf_keras lives in ``tf_keras/src/``.
_KERAS3 = re.compile(r"(^|[\\/])keras[\\/]src[\\/]")
_OPTIMIZER = re.compile(r"[\\/](optimizers?|slot_creator|adam|gradient_descent|momentum|rmsprop|adagrad|adadelta|ftrl)"
                        r"(_v\d)?[\\/.]")
_METRIC = re.compile(r"[\\/](metrics?|metrics_impl)[\\/.]")

_library_cache: dict[str, bool] = {}


class Site(NamedTuple):
    """A line of the user's code."""

    filename: str
    lineno: int
    function: str

    def __str__(self) -> str:
        name = self.filename
        try:
            rel = os.path.relpath(name)
            if not rel.startswith(".."):
                name = rel
        except ValueError:  # another drive on Windows
            pass
        return f"{name}:{self.lineno}"


def is_library(filename: str) -> bool:
    """Whether a frame in ``filename`` belongs to a library rather than to the user's code."""
    known = _library_cache.get(filename)
    if known is None:
        known = (
            filename.startswith("<")
            or "__autograph_generated_file" in filename
            or filename.startswith(_TFSHARE_DIR)
            or any(d in filename for d in _PACKAGE_DIRS)
            or os.path.abspath(filename).startswith(_STDLIB_DIRS)
        )
        _library_cache[filename] = known
    return known


def is_keras3(filename: str) -> bool:
    """Whether ``filename`` is part of Keras 3 (the ``keras`` package, which ``tf.keras`` is on TF >= 2.16)."""
    return bool(_KERAS3.search(filename)) and "tf_keras" not in filename


def caller(skip: int = 1) -> Site | None:
    """The user's innermost frame on the current Python stack, or None (all library code).

    Args:
      skip: frames to skip first (1: the caller of ``caller``).
    """
    frame = sys._getframe(skip)  # noqa: SLF001 - the cheap way to walk the stack
    while frame is not None:
        code = frame.f_code
        if not is_library(code.co_filename):
            return Site(code.co_filename, frame.f_lineno, code.co_name)
        frame = frame.f_back
    return None


class Creation(NamedTuple):
    """What the Python stack says about a variable being created."""

    site: Site | None
    role: str | None  # "optimizer" or "bookkeeping" when made inside such a module
    keras3: bool


def creation(skip: int = 1, depth: int = 120) -> Creation:
    """Walks the stack once: the user's line, and whether an optimizer, a metric or Keras 3 is creating."""
    frame = sys._getframe(skip)  # noqa: SLF001
    site = role = None
    keras3 = False
    while frame is not None and depth:
        filename = frame.f_code.co_filename
        if site is None and not is_library(filename):
            site = Site(filename, frame.f_lineno, frame.f_code.co_name)
            break  # frames outside the user's line cannot be the creator's modules
        if role is None and "site-packages" in filename:
            if _OPTIMIZER.search(filename):
                role = "optimizer"
            elif _METRIC.search(filename):
                role = "bookkeeping"
        if not keras3 and "keras" in filename and is_keras3(filename):
            keras3 = True
        frame = frame.f_back
        depth -= 1
    return Creation(site, role, keras3)


def from_traceback(frames: Iterable[Any]) -> Site | None:
    """The user's innermost frame in a traceback (outermost first, as ``Operation.traceback`` lists it)."""
    for frame in reversed(list(frames)):
        if not is_library(frame.filename):
            return Site(frame.filename, frame.lineno, frame.name)
    return None


def of_op(op: Any) -> Site | None:
    """The user's line that created a graph op, from the traceback TensorFlow recorded for it."""
    try:
        return from_traceback(op.traceback)
    except Exception:  # noqa: BLE001 - an op imported from a GraphDef may carry no traceback
        return None


__all__ = ["Creation", "Site", "caller", "creation", "from_traceback", "is_keras3", "is_library", "of_op"]
