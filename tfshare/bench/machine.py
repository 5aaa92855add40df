"""Machine info for result files, device selection, and the environment report.

``machine_info`` is what every result file records next to its numbers: the
Python, TensorFlow, tf_keras and NumPy versions, the device used, the CPU
model and core counts, the GPU name if any, and the load when the run began
(a busy shared machine gives noisy numbers).
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import sys
from typing import Any

import numpy as np

from tfshare._tf import KERAS_VERSION, TF_VERSION, tf
from tfshare.bench import memory
from tfshare.runtime import resolve_device, visible_gpus


def select_device(device: str) -> str:
    """Resolves "cpu" / "gpu" / "auto" for a benchmark run, turning on GPU memory growth.

    Call it before anything touches a GPU: memory growth can only be set then.

    Args:
      device: "auto", "cpu" or "gpu".

    Returns:
      The TensorFlow device string, "/device:CPU:0" or "/device:GPU:0".

    Raises:
      InputError: device is unknown, or "gpu" while TensorFlow sees no GPU.
    """
    resolved = resolve_device(device)
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # pragma: no cover - the GPU was initialized already
            pass
    return resolved


def cpu_model() -> str:
    """The CPU's model name ("unknown" if it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover - not Linux
        pass
    return platform.processor() or platform.machine() or "unknown"


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, else os.cpu_count())."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _physical_cores() -> int | None:
    try:
        import psutil

        return psutil.cpu_count(logical=False)
    except (ImportError, Exception):  # noqa: BLE001 - best effort
        return None


def _total_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def gpu_details() -> list[dict[str, Any]]:
    """Name and compute capability of each visible GPU (empty without GPUs)."""
    details = []
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            info = tf.config.experimental.get_device_details(gpu)
        except Exception:  # noqa: BLE001 - best effort, depends on the driver
            info = {}
        details.append(
            {
                "device": gpu.name,
                "name": info.get("device_name", "unknown"),
                "compute_capability": list(info.get("compute_capability", ()) or ()),
            }
        )
    return details


def machine_info(device: str | None = None) -> dict[str, Any]:
    """What a result file records about where its numbers come from.

    Args:
      device: the resolved TensorFlow device the run used, if any.

    Returns:
      A JSON-ready dict.
    """
    try:
        load = list(os.getloadavg())
    except (AttributeError, OSError):  # pragma: no cover - not POSIX
        load = None
    gpus = gpu_details()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "tensorflow": TF_VERSION,
        "tf_keras": KERAS_VERSION,
        "numpy": np.__version__,
        "device": device,
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": _physical_cores(),
        "usable_cores": usable_cores(),
        "memory_total_bytes": _total_memory(),
        "gpus": gpus,
        "gpu_name": gpus[0]["name"] if gpus else None,
        "load_average": load,
        "peak_rss_bytes_at_start": memory.peak_rss_bytes(),
    }


def _package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment_report() -> dict[str, Any]:
    """Everything a CPU or GPU runner should check before running anything.

    Returns:
      A JSON-ready dict: versions, whether ``tf.keras`` resolves to Keras 3,
      visible devices, CUDA/cuDNN build info, and thread settings.
    """
    keras3_version = _package_version("keras")
    legacy = os.environ.get("TF_USE_LEGACY_KERAS", "")
    tf_keras_is_keras3 = bool(keras3_version and keras3_version.startswith("3") and legacy not in ("1", "true", "True"))
    build = {}
    try:
        build = dict(tf.sysconfig.get_build_info())
    except Exception:  # noqa: BLE001 - best effort
        pass
    thread_env = {
        name: os.environ.get(name)
        for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "CUDA_VISIBLE_DEVICES")
    }
    return {
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "tensorflow": TF_VERSION,
        "tf_keras": KERAS_VERSION,
        "keras_package": keras3_version,
        "tf_keras_is_keras3": tf_keras_is_keras3,
        "TF_USE_LEGACY_KERAS": legacy or None,
        "numpy": np.__version__,
        "devices": [d.name for d in tf.config.list_physical_devices()],
        "gpus": visible_gpus(),
        "gpu_details": gpu_details(),
        "built_with_cuda": tf.test.is_built_with_cuda(),
        "cuda_version": build.get("cuda_version"),
        "cudnn_version": build.get("cudnn_version"),
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "thread_env": thread_env,
    }


__all__ = ["cpu_model", "environment_report", "gpu_details", "machine_info", "select_device", "usable_cores"]
