"""Devices: which TensorFlow device a runtime uses, and how many cores it may use."""

from __future__ import annotations

import logging
import os

from tfshare import validation
from tfshare._tf import tf
from tfshare.errors import InputError

DEVICES = ("auto", "cpu", "gpu")

_log = logging.getLogger(__name__)


def visible_gpus() -> list[str]:
    """Returns the names of the physical GPUs TensorFlow can see (may be empty)."""
    return [d.name for d in tf.config.list_physical_devices("GPU")]


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def resolve_device(device: str) -> str:
    """Maps "auto" / "cpu" / "gpu" to a TensorFlow device string.

    Args:
      device: "auto" (GPU:0 when a GPU is visible, else CPU), "cpu" or "gpu".

    Returns:
      "/device:GPU:0" or "/device:CPU:0".

    Raises:
      InputError: device is not one of the three, or is "gpu" with no visible GPU.
    """
    validation.choice(device, "device", DEVICES)
    if device == "cpu":
        return "/device:CPU:0"
    gpus = visible_gpus()
    if gpus:
        return "/device:GPU:0"
    if device == "gpu":
        raise InputError(
            "device='gpu' needs a visible GPU, but TensorFlow sees none "
            f"(TensorFlow {tf.__version__}, built with CUDA: {tf.test.is_built_with_cuda()}); "
            "use device='cpu' or 'auto', or check CUDA_VISIBLE_DEVICES and the driver"
        )
    return "/device:CPU:0"


def apply_eager_threads(intra_op_threads: int | None, inter_op_threads: int | None, warn: bool = True) -> bool:
    """Gives TensorFlow's eager context these thread counts, if it has not started yet.

    TensorFlow sizes one intra-op pool per process, when its CPU device is
    first made: by the eager context when it starts before any Session, and
    in a tfshare process it does (layers are made and the kernels' initial
    values computed eagerly before the first Session). A Session's
    ``intra_op_parallelism_threads`` then never applies: the pool has the
    eager context's count (by default one per core). ``GraphSession`` calls
    this with its counts, so they become the pool's when it comes first.

    Args:
      intra_op_threads: threads inside one op (None: leave TensorFlow's).
      inter_op_threads: the eager context's ops run in parallel (None: leave TensorFlow's).
      warn: log a warning when a count does not apply.

    Returns:
      True if every count given applies; False if the context had already
      started with another (logged as a warning when ``warn``).
    """
    applied = True
    for name, value, setter in (
        ("intra_op_threads", intra_op_threads, tf.config.threading.set_intra_op_parallelism_threads),
        ("inter_op_threads", inter_op_threads, tf.config.threading.set_inter_op_parallelism_threads),
    ):
        if value is None:
            continue
        try:
            setter(value)  # a no-op when the context already has this count
        except RuntimeError:
            applied = False
            if warn:
                _log.warning("%s=%d does not apply: TensorFlow's eager context (and its thread pools) started "
                             "earlier in this process with other counts; set them before any TensorFlow op runs, "
                             "or run this setting in a fresh process", name, value)
    return applied


__all__ = ["DEVICES", "apply_eager_threads", "resolve_device", "usable_cores", "visible_gpus"]
