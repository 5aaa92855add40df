"""tfshare: cheap, correct sharing of TF1-compat graphs, Sessions and variables.

It answers "do TensorFlow graphs require separate instantiation for each
class?" by measuring what each way of building classifiers creates and costs,
and gives the patterns that are cheap and correct: one graph and one Session
shared by many classifiers, trunks whose variables are shared, fused
prediction and safe checkpoints.

Importing tfshare imports TensorFlow and tf_keras, but changes no global
TensorFlow state (no eager switch, nothing added to the default graph).
"""

from tfshare._tf import KERAS_VERSION, TF_VERSION
from tfshare.architectures import Architecture, conv_body, dense_body
from tfshare.audit import AuditReport, audit
from tfshare.bundles import restore_runtime, save_runtime
from tfshare.classifier import Classifier
from tfshare.classifiers import ConvClassifier, DenseClassifier
from tfshare.data import Dataset, load_npz, synthetic
from tfshare.datasets import load_digits, load_keras_dataset
from tfshare.eager import EagerClassifier, EagerConvClassifier, EagerDenseClassifier, EagerTrunk
from tfshare.export import export_saved_model
from tfshare.fused import predict_many
from tfshare.errors import (
    CheckpointError,
    ClosedError,
    ClusterError,
    DataError,
    ExportError,
    InputError,
    TfshareError,
    TrainingError,
)
from tfshare.devices import visible_gpus
from tfshare.runtime import GraphSession
from tfshare.trunks import SharedTrunk, TemplateTrunk

__version__ = "0.2.0"

__all__ = [
    "Architecture",
    "AuditReport",
    "CheckpointError",
    "Classifier",
    "ClosedError",
    "ClusterError",
    "ConvClassifier",
    "DataError",
    "Dataset",
    "DenseClassifier",
    "EagerClassifier",
    "EagerConvClassifier",
    "EagerDenseClassifier",
    "EagerTrunk",
    "ExportError",
    "GraphSession",
    "InputError",
    "KERAS_VERSION",
    "SharedTrunk",
    "TF_VERSION",
    "TemplateTrunk",
    "TfshareError",
    "TrainingError",
    "__version__",
    "audit",
    "conv_body",
    "dense_body",
    "export_saved_model",
    "load_digits",
    "load_keras_dataset",
    "load_npz",
    "predict_many",
    "restore_runtime",
    "save_runtime",
    "synthetic",
    "visible_gpus",
]
