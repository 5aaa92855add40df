"""The only module of tfshare that imports TensorFlow and tf_keras.

Everything else imports ``tf``, ``tf1`` and ``keras`` from here, so that the
version checks below run once, and the rule "never touch ``tf.keras``" (which
is Keras 3 on TF >= 2.16 and has no graph/Session support) is enforced in one
place. Importing this module changes no global TensorFlow state: no eager
switch, no default graph, no session.
"""

from __future__ import annotations

import contextlib
import os
import threading

# Quiet TensorFlow's C++ start-up banner unless the user asked for something.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

import tensorflow as tf  # noqa: E402

try:
    import tf_keras as keras  # noqa: E402
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "tfshare needs Keras 2, which ships as the 'tf_keras' package on "
        f"TensorFlow >= 2.16 (found TensorFlow {tf.__version__}). Install the "
        "matching minor version, e.g. `pip install 'tf-keras~="
        f"{'.'.join(tf.__version__.split('.')[:2])}.0'`. tf.keras is Keras 3 "
        "and cannot build tf.compat.v1 graphs."
    ) from exc

from tensorflow.core.protobuf import config_pb2  # noqa: E402
from tf_keras.src.engine import base_layer_utils  # noqa: E402  (Keras's call context: frozen layers)
from tf_keras import datasets as keras_datasets  # noqa: E402  (tf_keras's dataset loaders, never tf.keras's)
from tensorflow.python.eager import context as _context  # noqa: E402

# TensorFlow's internal modules whose functions tfshare.audit wraps while an
# audit is active (and restores afterwards). Importing them loads nothing new:
# ``import tensorflow`` already did.
from tensorflow.python.client import session as tf_session  # noqa: E402
from tensorflow.python.eager.polymorphic_function import tracing_compilation  # noqa: E402
from tensorflow.python.framework import func_graph  # noqa: E402
from tensorflow.python.framework import function as legacy_function  # noqa: E402  (function.Defun's _FuncGraph)
from tf_keras.src.utils import version_utils as keras_version_utils  # noqa: E402  (the base-class swap)
from tensorflow.python.ops import resource_variable_ops  # noqa: E402
# TensorFlow's op helper and registry: tfshare.conv_fusion builds the (internal) fused
# convolution op Grappler's remapper would, in the graphs Grappler skips.
from tensorflow.python.framework import op_def_library, op_def_registry  # noqa: E402
# TensorFlow's C API bindings and its importer's option helpers: tfshare.graph_template imports a
# template's GraphDef through them (what import_graph_def does, without its per-op Python pass).
from tensorflow.python.client import pywrap_tf_session as tf_c_api  # noqa: E402
from tensorflow.python.framework import c_api_util, importer as tf_importer  # noqa: E402

# Read by the measuring side (tfshare.harness): Chrome traces of a traced
# step's RunMetadata, and whether oneDNN's rewrites are on. Loaded by
# ``import tensorflow`` already.
from tensorflow.python.client import timeline  # noqa: E402
from tensorflow.python.util import _pywrap_util_port as util_port  # noqa: E402

tf1 = tf.compat.v1
#: tf_keras under its package name, for modules that spell it out (never ``tf.keras``, Keras 3).
tf_keras = keras

TF_VERSION: str = tf.__version__
KERAS_VERSION: str = keras.__version__


def _minor(version: str) -> tuple[int, int]:
    parts = version.split(".")
    return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)


def check_versions(tf_version: str = TF_VERSION, keras_version: str = KERAS_VERSION) -> None:
    """Raises ImportError unless tf_keras is Keras 2 of TensorFlow's minor version.

    Args:
      tf_version: TensorFlow's version string, e.g. "2.21.0".
      keras_version: tf_keras's version string, e.g. "2.21.0".

    Raises:
      ImportError: tf_keras is not Keras 2, or its minor version differs from
        TensorFlow's.
    """
    if _minor(keras_version)[0] != 2:
        raise ImportError(
            f"tfshare needs Keras 2 (tf_keras 2.x); found tf_keras {keras_version}. "
            "Keras 3 has no tf.compat.v1 graph/Session support."
        )
    if _minor(keras_version) != _minor(tf_version):
        raise ImportError(
            f"tf_keras {keras_version} does not match TensorFlow {tf_version}: "
            "their minor versions must be equal. Install "
            f"`tf-keras~={'.'.join(tf_version.split('.')[:2])}.0`."
        )


check_versions()


def v2_layers():
    """Context manager under which tf_keras layer *objects* are constructed.

    tf_keras picks a layer's base class when the object is constructed
    (``LayerVersionSelector.__new__``) and does so by rewriting the class's
    ``__bases__`` in place: constructing a ``Dense`` inside a legacy
    ``tf.Graph`` flips the ``Dense`` class to the v1 base, after which every
    ``Dense`` object made earlier in eager mode fails with "Your Layer or
    Model is in an invalid state". Constructing the objects in eager mode
    keeps the v2 base; v2 layers called on placeholders inside a
    ``tf.Graph`` build ordinary graph ops and graph variables (in the
    GLOBAL_VARIABLES collection), so graph and eager code share a process.
    """
    return eager_mode()


_v2_local = threading.local()
_v2_lock = threading.Lock()
_original_should_use_v2 = keras_version_utils.should_use_v2


def _should_use_v2() -> bool:
    return True if getattr(_v2_local, "depth", 0) else _original_should_use_v2()


@contextlib.contextmanager
def v2_classes():
    """Context manager: tf_keras layers *constructed* in this thread inside it get their TF2 base.

    ``v2_layers`` covers the layer objects tfshare makes, but a layer may
    construct sublayers in its ``build()`` or ``call()`` (tf_keras's
    ``MultiHeadAttention`` does), which run inside the graph: without this,
    their classes would be switched to the TF1 base, breaking the user's
    eager objects of those classes. tf_keras asks ``version_utils.
    should_use_v2()`` when it picks a base; that function is wrapped (once,
    on first use, and only answering differently in a thread inside this
    context) so that it says True here. tfshare builds every graph inside it
    (``GraphSession.building``).
    """
    if keras_version_utils.should_use_v2 is not _should_use_v2:
        with _v2_lock:
            if keras_version_utils.should_use_v2 is not _should_use_v2:
                keras_version_utils.should_use_v2 = _should_use_v2
    _v2_local.depth = getattr(_v2_local, "depth", 0) + 1
    try:
        yield
    finally:
        _v2_local.depth -= 1


def eager_mode():
    """Context manager that runs TensorFlow eagerly, even inside a caller's ``graph.as_default()``.

    Code that must never add to the caller's graph (the eager classes, the
    summary writer) runs under it.
    """
    return _context.eager_mode()


__all__ = [
    "KERAS_VERSION",
    "TF_VERSION",
    "base_layer_utils",
    "c_api_util",
    "check_versions",
    "config_pb2",
    "eager_mode",
    "func_graph",
    "keras",
    "keras_datasets",
    "keras_version_utils",
    "legacy_function",
    "op_def_library",
    "op_def_registry",
    "resource_variable_ops",
    "tf",
    "tf1",
    "tf_c_api",
    "tf_importer",
    "tf_keras",
    "tf_session",
    "timeline",
    "tracing_compilation",
    "util_port",
    "v2_classes",
    "v2_layers",
]
