"""The settings every benchmark's ``Config`` shares: device, model, threads, seed, traces.

Each benchmark body defines a frozen ``Config(RunConfig)`` with its own
fields on top of these. The apps fill them from the common flags
(``tfshare.bench.apps._common``); code can build them directly. A config
is data: it pickles (``variable_sharing`` measures memory in a subprocess)
and goes into the result file as JSON.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Sequence

from tfshare import validation
from tfshare._tf import tf, tf1
from tfshare.bench.models import MLP, Model
from tfshare.devices import apply_eager_threads as apply_threads
from tfshare.errors import InputError
from tfshare.harness.tracing import Tracer
from tfshare.runtime import GraphSession

_log = logging.getLogger(__name__)


def positive_ints(values: Sequence[int], name: str, what: str = "value") -> None:
    """Checks a config's tuple of sizes: not empty, every one an int >= 1.

    Raises:
      InputError: ``values`` is empty (the message names ``name`` and ``what`` it must name).
      TypeError, InputError: a value is not an int >= 1 (as ``validation.positive_int``).
    """
    if not values:
        raise InputError(f"{name} must name at least one {what}, got ()")
    for value in values:
        validation.positive_int(value, name)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """What every benchmark run is set to.

    Attributes:
      device: "cpu" or "gpu" (already resolved from "auto").
      tf_device: the TensorFlow device string eager modes run under.
      model: the classifiers' model and data (``tfshare.bench.models``).
      num_classes: the classifiers' classes (the data's).
      seed: seed of the weights and inputs.
      intra_op_threads: every runtime's threads inside one op (None: tfshare's default).
      inter_op_threads: every runtime's ops run in parallel (None: tfshare's default).
      trace_dir: where ``--trace_dir`` traces of one step per mode go (None: no traces).
    """

    device: str = "cpu"
    tf_device: str = "/device:CPU:0"
    model: Model = MLP
    num_classes: int = 10
    seed: int = 0
    intra_op_threads: int | None = None
    inter_op_threads: int | None = None
    trace_dir: str | None = None

    def __post_init__(self) -> None:
        validation.choice(self.device, "device", ("cpu", "gpu"))
        validation.positive_int(self.num_classes, "num_classes", minimum=2)
        for name in ("intra_op_threads", "inter_op_threads"):
            if getattr(self, name) is not None:
                validation.positive_int(getattr(self, name), name)

    def graph_session(self, **kwargs: Any) -> GraphSession:
        """A ``GraphSession`` on this run's device with its threads (``kwargs`` go to the constructor).

        The threads go to TensorFlow's eager context too (``GraphSession``
        gives them to it, see ``tfshare.devices.apply_eager_threads``), which
        sizes the process's intra-op pool before any Session does.
        """
        return GraphSession(device=self.device, intra_op_threads=self.intra_op_threads,
                            inter_op_threads=self.inter_op_threads, **kwargs)

    def session_config(self) -> Any:
        """TensorFlow's default Session options, with this run's threads if set (what plain TF1 code passes)."""
        config = tf1.ConfigProto()
        if self.intra_op_threads is not None:
            config.intra_op_parallelism_threads = self.intra_op_threads
        if self.inter_op_threads is not None:
            config.inter_op_parallelism_threads = self.inter_op_threads
        return config

    def tracer(self) -> Tracer:
        """The run's tracer (one that writes nothing when ``trace_dir`` is None)."""
        return Tracer(self.trace_dir)


__all__ = ["RunConfig", "apply_threads", "positive_ints"]
