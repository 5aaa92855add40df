"""Where the numbers come from: the machine, its threads and BLAS, TensorFlow's build, the device.

``machine_info`` is what every result file records next to its numbers: the
Python, TensorFlow, tf_keras and NumPy versions, the device used, the CPU
model and core counts, memory, the GPUs, the load when the run began (a busy
shared machine gives noisy numbers), the BLAS libraries NumPy and the others
loaded with their thread counts (threadpoolctl), TensorFlow's thread settings
and the thread variables of the environment, and TensorFlow's build (oneDNN
on or off, CUDA and cuDNN versions). ``gpu_memory`` is the GPU memory a run
used, read when it ends. ``environment_report`` is ``scripts/check_env.py``'s
list. Everything here is read, nothing is set (but ``select_device``, which
turns on GPU memory growth).
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import sys
from typing import Any

import numpy as np
import psutil
import threadpoolctl

from tfshare._tf import KERAS_VERSION, TF_VERSION, tf, util_port
from tfshare.devices import resolve_device, usable_cores, visible_gpus
from tfshare.harness import memory

#: Environment variables that set thread counts (TensorFlow's, OpenMP's, BLAS's) or hide GPUs.
THREAD_ENV = (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS", "TF_ENABLE_ONEDNN_OPTS", "CUDA_VISIBLE_DEVICES",
)


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
    """The CPU's model name, from /proc/cpuinfo on Linux (psutil does not report it)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover - not Linux
        pass
    return platform.processor() or platform.machine() or "unknown"


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


def gpu_memory(tf_device: str) -> dict[str, Any] | None:
    """The memory TensorFlow's allocator holds on a GPU now, and its peak (None for a CPU device).

    Args:
      tf_device: the run's device, e.g. "/device:GPU:0".

    Returns:
      {"device", "current_bytes", "peak_bytes"}, or None when ``tf_device`` is not a GPU.
    """
    if "GPU" not in tf_device.upper():
        return None
    name = "GPU:" + tf_device.rsplit(":", 1)[-1]
    info = tf.config.experimental.get_memory_info(name)
    return {"device": name, "current_bytes": int(info["current"]), "peak_bytes": int(info["peak"])}


def onednn_enabled() -> bool:
    """Whether TensorFlow's oneDNN rewrites are on in this process (``TF_ENABLE_ONEDNN_OPTS`` and the build)."""
    return bool(util_port.IsMklEnabled())


def tf_build() -> dict[str, Any]:
    """TensorFlow's build: ``tf.sysconfig.get_build_info()`` (CUDA, cuDNN, ...) and oneDNN on or off."""
    try:
        build = {k: v for k, v in tf.sysconfig.get_build_info().items() if k != "cpu_compiler"}
    except Exception:  # noqa: BLE001 - best effort
        build = {}
    return {
        "onednn_enabled": onednn_enabled(),
        "is_cuda_build": bool(build.get("is_cuda_build", tf.test.is_built_with_cuda())),
        "cuda_version": build.get("cuda_version"),
        "cudnn_version": build.get("cudnn_version"),
        **{k: v for k, v in build.items() if k not in ("is_cuda_build", "cuda_version", "cudnn_version")},
    }


def threads() -> dict[str, Any]:
    """TensorFlow's process-wide thread settings (0: its default) and the thread variables set."""
    return {
        "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "tf_inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "env": {name: os.environ[name] for name in THREAD_ENV if name in os.environ},
    }


def blas() -> list[dict[str, Any]]:
    """The BLAS and OpenMP libraries loaded in this process, with their versions and threads (threadpoolctl)."""
    keys = ("user_api", "internal_api", "version", "num_threads", "threading_layer", "architecture", "filepath")
    return [{k: lib.get(k) for k in keys} for lib in threadpoolctl.threadpool_info()]


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
        "hostname": platform.node(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "tensorflow": TF_VERSION,
        "tf_keras": KERAS_VERSION,
        "numpy": np.__version__,
        "device": device,
        "cpu_model": cpu_model(),
        "logical_cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "usable_cores": usable_cores(),
        "memory_total_bytes": psutil.virtual_memory().total,
        "gpus": gpus,
        "gpu_name": gpus[0]["name"] if gpus else None,
        "load_average": load,
        "peak_rss_bytes_at_start": memory.peak_rss_bytes(),
        "tf_build": tf_build(),
        "threads": threads(),
        "blas": blas(),
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
      visible devices, TensorFlow's build (oneDNN, CUDA/cuDNN), thread
      settings and BLAS libraries.
    """
    keras3_version = _package_version("keras")
    legacy = os.environ.get("TF_USE_LEGACY_KERAS", "")
    tf_keras_is_keras3 = bool(keras3_version and keras3_version.startswith("3") and legacy not in ("1", "true", "True"))
    build = tf_build()
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
        "built_with_cuda": build["is_cuda_build"],
        "cuda_version": build["cuda_version"],
        "cudnn_version": build["cudnn_version"],
        "onednn_enabled": build["onednn_enabled"],
        "cpu_model": cpu_model(),
        "logical_cores": psutil.cpu_count(logical=True),
        "usable_cores": usable_cores(),
        **threads(),
        "blas": blas(),
    }


__all__ = [
    "THREAD_ENV", "blas", "cpu_model", "environment_report", "gpu_details", "gpu_memory", "machine_info",
    "onednn_enabled", "select_device", "tf_build", "threads",
]
