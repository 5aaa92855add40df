"""Memory: the process's resident set size (RSS), its peak, and what a step adds.

RSS comes from psutil (the ``bench`` extra). The peak comes from
``resource.getrusage`` (it never goes down).
"Memory added by a step" is the RSS growth across the step, measured after a
garbage collection on both sides (and, on glibc, after returning freed heap
pages to the OS before the step). It is a process-level number: the allocator
may reuse memory freed earlier or keep memory a step freed, so compare it
across modes measured the same way, and prefer exact counts (parameter bytes,
GraphDef bytes) where they exist.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import gc
import os
import pickle
import subprocess
import sys
import tempfile
from typing import Any, Callable, Iterator, TypeVar

import psutil

T = TypeVar("T")

try:
    import resource as _resource
except ImportError:  # pragma: no cover - Windows
    _resource = None


def rss_bytes(pid: int | None = None) -> int:
    """A process's current resident set size, in bytes.

    Args:
      pid: the process; None for this one.

    Raises:
      psutil.NoSuchProcess: there is no process ``pid``.
    """
    return int(psutil.Process(pid).memory_info().rss)


def peak_rss_bytes() -> int:
    """The process's peak resident set size so far, in bytes (0 if unknown)."""
    if _resource is None:  # pragma: no cover - Windows
        return rss_bytes()
    peak = _resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _trim() -> None:
    """Returns freed heap pages to the OS (glibc only), so a step's growth shows in RSS."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim = None


@dataclasses.dataclass
class MemoryDelta:
    """What ``track()`` saw: RSS before and after a step, and the peak after it."""

    before: int = 0
    after: int = 0
    peak: int = 0

    @property
    def added(self) -> int:
        """RSS growth across the step, in bytes (may be negative)."""
        return self.after - self.before

    def to_dict(self) -> dict[str, int]:
        return {"rss_before": self.before, "rss_after": self.after, "added": self.added, "peak_rss": self.peak}


@contextlib.contextmanager
def track() -> Iterator[MemoryDelta]:
    """Measures the RSS a block adds.

    Example:
      >>> with track() as mem:
      ...     models = build()
      >>> mem.added   # bytes; keep ``models`` alive until here

    Yields:
      A MemoryDelta, filled in when the block ends.
    """
    gc.collect()
    _trim()
    delta = MemoryDelta(before=rss_bytes())
    yield delta
    gc.collect()
    delta.after = rss_bytes()
    delta.peak = max(peak_rss_bytes(), delta.after)  # the kernel updates its peak lazily


_CHILD = """
import pickle, sys
with open(sys.argv[1], "rb") as f:
    fn, args = pickle.load(f)
result = fn(*args)
with open(sys.argv[2], "wb") as f:
    pickle.dump(result, f)
"""


def in_subprocess(fn: Callable[..., T], *args: Any, timeout: float | None = 600.0) -> T:
    """Runs ``fn(*args)`` in a fresh Python process and returns its result.

    For memory measurements that this process's allocator state would blur:
    the child starts clean, so the RSS a step adds there is the step's own.
    ``fn`` must be a module-level function, and its arguments and result must
    pickle. The child is a plain ``python -c`` (it does not re-import
    ``__main__``, unlike multiprocessing's spawn).

    Raises:
      RuntimeError: the child failed (its stderr's tail is in the message).
      subprocess.TimeoutExpired: it ran longer than ``timeout`` seconds (None: no limit).
    """
    with tempfile.TemporaryDirectory(prefix="tfshare-bench-") as tmp:
        task, out = os.path.join(tmp, "task.pkl"), os.path.join(tmp, "result.pkl")
        with open(task, "wb") as f:
            pickle.dump((fn, args), f)
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, task, out], capture_output=True, text=True, timeout=timeout
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"{getattr(fn, '__qualname__', fn)} failed in a subprocess (exit {proc.returncode}):\n"
                + proc.stderr[-2000:]
            )
        with open(out, "rb") as f:
            return pickle.load(f)


__all__ = ["MemoryDelta", "in_subprocess", "peak_rss_bytes", "rss_bytes", "track"]
