"""Devices: which TensorFlow device a runtime uses, and how many cores it may use."""

from __future__ import annotations

import os

from tfshare import validation
from tfshare._tf import tf
from tfshare.errors import InputError

DEVICES = ("auto", "cpu", "gpu")


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


__all__ = ["DEVICES", "resolve_device", "usable_cores", "visible_gpus"]
