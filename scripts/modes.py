#!/usr/bin/env python3
"""Trains classifiers in every sharing mode on the embedded data and prints what each created and cost.

    python scripts/modes.py --instances=4 --epochs=2
    python scripts/modes.py --model=cnn                       # the embedded set as 28x28x1 images
    python scripts/modes.py --model=cnn --data=digits --epochs=5

--model=mlp trains the MLP of tfshare.bench.models (Dense-ReLU hidden layers)
on flat rows; --model=cnn its CNN (Conv-BN-ReLU-MaxPool,
Conv-BN-ReLU-GlobalAvgPool, Dropout, Dense) on channels-last images.
--data takes the benchmark apps' values: synthetic is the embedded
MNIST-shaped set (--num_train/--num_test rows of 784 features or 28x28x1);
digits is scikit-learn's 8x8 digits (64 features or 8x8x1), on which the CNN
learns in a few epochs what it barely starts to learn on the embedded set;
mnist and a .npz path work too.
"""

from __future__ import annotations

import logging
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

from absl import app, flags  # noqa: E402

import tfshare  # noqa: E402
from tfshare.architectures import Architecture  # noqa: E402
from tfshare.bench.models import MODELS, load_data, model as get_model  # noqa: E402
from tfshare.errors import DataError, InputError  # noqa: E402

_MODEL = flags.DEFINE_enum("model", "mlp", list(MODELS), "The model every mode trains: mlp or cnn.")
_DATA = flags.DEFINE_string(
    "data", "synthetic",
    "synthetic (the embedded MNIST-shaped set, --num_train/--num_test rows), digits (scikit-learn's 8x8 digits), "
    "mnist, or a .npz path.",
)
_INSTANCES = flags.DEFINE_integer("instances", 4, "Classifiers per mode.", lower_bound=1)
_EPOCHS = flags.DEFINE_integer("epochs", 2, "Training epochs per classifier.", lower_bound=1)
_TRAIN = flags.DEFINE_integer("num_train", 3000, "Training rows of the embedded data.", lower_bound=10)
_TEST = flags.DEFINE_integer("num_test", 1000, "Test rows of the embedded data.", lower_bound=1)
_DEVICE = flags.DEFINE_enum("device", "cpu", ["auto", "cpu", "gpu"], "Where the graphs run.")

MODES = ("isolated", "shared_runtime", "shared_trunk", "template_trunk", "eager", "tf_function")


def build(arch: Architecture, mode: str, n: int, device: str, num_classes: int = 10) -> list:
    """Builds n classifiers of ``arch`` in ``mode``; returns them."""
    if mode == "isolated":
        return [tfshare.Classifier(architecture=arch, num_classes=num_classes,
                                   runtime=tfshare.GraphSession(device=device), seed=i) for i in range(n)]
    if mode in ("eager", "tf_function"):
        return [tfshare.EagerClassifier(architecture=arch, num_classes=num_classes, seed=i,
                                        use_tf_function=mode == "tf_function") for i in range(n)]
    gs = tfshare.GraphSession(device=device)
    if mode == "shared_runtime":
        return [tfshare.Classifier(architecture=arch, num_classes=num_classes, runtime=gs, seed=i) for i in range(n)]
    trunk_class = tfshare.SharedTrunk if mode == "shared_trunk" else tfshare.TemplateTrunk
    trunk = trunk_class(gs, layers=arch.factory, input_shape=arch.input_shape, seed=0)
    return [tfshare.Classifier(trunk=trunk, num_classes=num_classes, seed=i) for i in range(n)]


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    # tf_keras BatchNorm's one-time _colocate_with deprecation warning is noise here.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        model = get_model(_MODEL.value, data=_DATA.value)
        arch = model.architecture  # the data's shape: rows for the MLP, images for the CNN
        data = (model.dataset(_TRAIN.value, _TEST.value) if _DATA.value == "synthetic"
                else load_data(_DATA.value, model.name == "mlp"))
    except (InputError, DataError, OSError) as exc:
        raise app.UsageError(f"--data={_DATA.value}: {exc}") from None
    header = f"| {'mode':<15}| graphs | sessions |   ops | variables |  params | build s | fit s | test accuracy |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for mode in MODES:
        start = time.perf_counter()
        classifiers = build(arch, mode, _INSTANCES.value, _DEVICE.value)
        built = time.perf_counter() - start
        start = time.perf_counter()
        accuracy = []
        for clf in classifiers:
            clf.fit(data.x_train, data.y_train, epochs=_EPOCHS.value)
            accuracy.append(clf.evaluate(data.x_test, data.y_test)["accuracy"])
        fitted = time.perf_counter() - start
        runtimes = {id(c.runtime): c.runtime for c in classifiers if c.runtime is not None}
        graphs = len(runtimes)
        sessions = sum(r.has_session for r in runtimes.values())
        ops = sum(len(r.graph.get_operations()) for r in runtimes.values())
        variables = {id(v): v for c in classifiers for v in c.variables}
        params = sum(v.shape.num_elements() for v in variables.values())
        print(
            f"| {mode:<15}| {graphs:>6} | {sessions:>8} | {ops:>5} | {len(variables):>9} | {params:>7} "
            f"| {built:>7.2f} | {fitted:>5.2f} | {min(accuracy):.3f}-{max(accuracy):.3f}   |",
            flush=True,
        )
        for clf in classifiers:
            clf.close()
        for rt in runtimes.values():
            rt.close()
    print(
        f"\n{_INSTANCES.value} {model.name} classifiers per mode ({dict(arch.config)}), {_EPOCHS.value} epochs on "
        f"{data.name} ({len(data.y_train)} training rows of shape {data.input_shape}, accuracy on "
        f"{len(data.y_test)} test rows); ops count every op in the mode's graphs (model, loss, Adam, "
        "initializers); variables and params include BatchNorm's moving statistics, if any; eager modes build no graph."
    )


if __name__ == "__main__":
    app.run(main)
