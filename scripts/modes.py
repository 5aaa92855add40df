"""Trains classifiers in every sharing mode on the embedded data and prints what each created and cost.

    python scripts/modes.py --instances=4 --epochs=2
"""

from __future__ import annotations

import time

from absl import app, flags

import tfshare

_INSTANCES = flags.DEFINE_integer("instances", 4, "Classifiers per mode.", lower_bound=1)
_EPOCHS = flags.DEFINE_integer("epochs", 2, "Training epochs per classifier.", lower_bound=1)
_TRAIN = flags.DEFINE_integer("num_train", 3000, "Training rows of the embedded data.", lower_bound=10)
_DEVICE = flags.DEFINE_enum("device", "cpu", ["auto", "cpu", "gpu"], "Where the graphs run.")

MODES = ("isolated", "shared_runtime", "shared_trunk", "template_trunk", "eager", "tf_function")


def build(mode: str, n: int, device: str) -> list:
    """Builds n classifiers in ``mode``; returns them."""
    if mode == "isolated":
        return [tfshare.DenseClassifier(runtime=tfshare.GraphSession(device=device), seed=i) for i in range(n)]
    if mode in ("eager", "tf_function"):
        return [tfshare.EagerDenseClassifier(seed=i, use_tf_function=mode == "tf_function") for i in range(n)]
    gs = tfshare.GraphSession(device=device)
    if mode == "shared_runtime":
        return [tfshare.DenseClassifier(runtime=gs, seed=i) for i in range(n)]
    trunk_cls = tfshare.SharedTrunk if mode == "shared_trunk" else tfshare.TemplateTrunk
    trunk = trunk_cls(gs, 784, (64,), seed=0)
    return [tfshare.DenseClassifier(trunk=trunk, seed=i) for i in range(n)]


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    data = tfshare.synthetic(num_train=_TRAIN.value, num_test=1000)
    header = f"| {'mode':<15}| graphs | sessions | ops | variables | params | build s | fit s | test acc |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for mode in MODES:
        start = time.perf_counter()
        classifiers = build(mode, _INSTANCES.value, _DEVICE.value)
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
            f"| {mode:<15}| {graphs:>6} | {sessions:>8} | {ops:>3} | {len(variables):>9} | {params:>6} "
            f"| {built:>7.2f} | {fitted:>5.2f} | {min(accuracy):.3f}-{max(accuracy):.3f} |"
        )
        for rt in runtimes.values():
            rt.close()
    print(
        f"\n{_INSTANCES.value} classifiers per mode, {_EPOCHS.value} epochs on {data.name}; "
        "ops count every op in the mode's graphs (model, loss, Adam, initializers); eager modes build no graph."
    )


if __name__ == "__main__":
    app.run(main)
