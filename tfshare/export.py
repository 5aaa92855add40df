"""SavedModel export: serve what you trained, with TensorFlow Serving, a TF2 program or ``saved_model_cli``.

``export_saved_model(classifiers, path)`` rebuilds the classifiers'
inference paths (``training=False``: Dropout off, BatchNorm on its moving
statistics) in a fresh graph, reading one input "x", gives them the weights
they hold now (read from the live Session in one call, which writes nothing:
other threads keep predicting, and the live runtime is neither re-initialized
nor grown), and writes a TF1-format SavedModel with
``tf.compat.v1.saved_model.Builder``. Nothing of tfshare is needed to load it:
``tf.saved_model.load(path).signatures[...]`` in TF2, or
``tf.compat.v1.saved_model.load(session, ["serve"], path)``.

Signatures, each taking "x" (float32 [batch, *input_shape]):

* one classifier: "serving_default", returning "probabilities" (float32
  [batch, num_classes]) and "class_ids" (int64 [batch]);
* several: one signature per classifier, keyed by its name, with those
  outputs; and "all" (also "serving_default"), whose outputs are every
  classifier's probabilities keyed by name, computed in one call: a trunk is
  computed once, and the heads of one trunk with one number of classes as
  one matmul. Variables several classifiers share are stored once.

The SavedModel is written to a temporary folder beside ``path`` and moved
into place when complete (a rename on local disks), so a process killed
mid-export leaves either no ``path`` or a complete one. On other TensorFlow
filesystems (``gs://``, ``ram://``: no atomic folder rename) the files are
copied one by one, ``saved_model.pb`` last: until it is there, nothing loads
the folder. With ``overwrite``, the old folder is moved aside first, so a
kill between the two moves leaves no ``path`` (and the old export beside it).

A ``path`` that another writer creates while the export runs is left as it
is: on a local disk the rename then fails, and the ``ExportError`` says so
(and where the export it was to replace went, with ``overwrite``). An object
store cannot check and create a folder in one step: a folder that appears
there during the file-by-file copy ends up with the files of both writers.
Give each export its own path there (a version number), as TensorFlow
Serving expects anyway.
"""

from __future__ import annotations

import errno
import os
import uuid
from typing import Any, Sequence

from tfshare import conv_fusion, head_bank
from tfshare._tf import tf, tf1
from tfshare.checkpoints import is_local
from tfshare.errors import ExportError, InputError
from tfshare.fused import _check_classifiers
from tfshare.runtime import GraphSession

SERVING = "serving_default"
ALL = "all"
_PB = "saved_model.pb"


def _path(path: Any) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    given = os.fspath(path)
    path = given.rstrip("/")
    if not path:
        raise InputError(f"path must name a folder to create, got {given!r}")
    return path


def _check_target(path: str, overwrite: bool) -> None:
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be a bool, got {type(overwrite).__name__}")
    try:
        exists = tf.io.gfile.exists(path)
    except tf.errors.OpError as exc:
        raise ExportError(f"cannot export to {path!r}: {exc.message}") from exc
    if exists and not overwrite:
        raise ExportError(f"{path!r} already exists; pass overwrite=True to replace it")
    if exists and not tf.io.gfile.isdir(path):
        raise ExportError(f"{path!r} exists and is not a folder; a SavedModel is a folder")


def _snapshot(classifiers: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """Every classifier's weights, read in one Session call per shard (a consistent moment in each)."""
    by_shard: dict[int, tuple[Any, dict[int, Any]]] = {}
    for clf in classifiers:
        _, unique = by_shard.setdefault(id(clf.shard), (clf.shard, {}))
        for variable in clf.named_variables.values():
            unique.setdefault(id(variable), variable)
    values: dict[int, Any] = {}
    for shard, unique in by_shard.values():
        values.update(zip(unique, shard.run(list(unique.values()))))
    return {clf.name: {k: values[id(v)] for k, v in clf.named_variables.items()} for clf in classifiers}


def _input_name(classifiers: Sequence[Any]) -> str:
    """The name of the export's input placeholder: "x", or "x_1", ... when a twin (or its trunk) is named so.

    The twins keep their classifiers' names and reserve them after the
    placeholder is built, so it must take a name none of them will claim.
    """
    taken = {c.name for c in classifiers} | {c.trunk.name for c in classifiers if c.trunk is not None}
    name, i = "x", 0
    while name in taken:
        i += 1
        name = f"x_{i}"
    return name


def _rebuild(classifiers: Sequence[Any], export: GraphSession, x: Any) -> list[Any]:
    """The classifiers' twins in ``export``, all reading ``x``; a trunk is rebuilt once."""
    trunks: dict[int, Any] = {}
    twins = []
    for clf in classifiers:
        if clf.trunk is None:
            twins.append(clf.rebuild(export, input_tensor=x))
            continue
        if id(clf.trunk) not in trunks:
            trunks[id(clf.trunk)] = clf.trunk.rebuild(export, input_tensor=x)
        twins.append(clf.rebuild(export, trunk=trunks[id(clf.trunk)]))
    return twins


def _all_outputs(export: GraphSession, twins: Sequence[Any]) -> dict[str, Any]:
    """{name: probabilities} of every twin, heads of one trunk (and one width) as one matmul."""
    groups: dict[tuple[int, int], list[Any]] = {}
    for twin in twins:
        if twin.trunk is not None:
            groups.setdefault((id(twin.trunk), twin.num_classes), []).append(twin)
    outputs = {twin.name: twin.probabilities_tensor for twin in twins}
    with export.building(), tf.name_scope("all"):
        for heads in groups.values():
            if len(heads) < 2:
                continue
            kernels, biases = head_bank.class_major_weights(heads)
            block = head_bank.fused_probabilities(heads[0].trunk.output, kernels, biases, len(heads), heads[0].num_classes)
            for i, head in enumerate(heads):
                outputs[head.name] = tf.identity(block[:, :, i], name=head.name)
    return outputs


def _signatures(twins: Sequence[Any], x: Any, export: GraphSession) -> dict[str, Any]:
    predict = tf1.saved_model.signature_def_utils.predict_signature_def
    if len(twins) == 1:
        (twin,) = twins
        return {SERVING: predict({"x": x}, {"probabilities": twin.probabilities_tensor, "class_ids": twin.class_ids_tensor})}
    signatures = {
        twin.name: predict({"x": x}, {"probabilities": twin.probabilities_tensor, "class_ids": twin.class_ids_tensor})
        for twin in twins
    }
    reserved = sorted({SERVING, ALL} & set(signatures))
    if reserved:
        raise InputError(f"classifier names {reserved} are signature names of the export; rename those classifiers")
    signatures[ALL] = signatures[SERVING] = predict({"x": x}, _all_outputs(export, twins))
    return signatures


def _write(export: GraphSession, signatures: dict[str, Any], folder: str) -> None:
    builder = tf1.saved_model.Builder(folder)
    with export.graph.as_default():
        builder.add_meta_graph_and_variables(
            export.session, [tf1.saved_model.tag_constants.SERVING], signature_def_map=signatures,
            clear_devices=True,  # the server places the ops (CPU or GPU), not this machine
            strip_default_attrs=True,
        )
    builder.save()


def _files(folder: str) -> list[str]:
    found = []
    for directory, _, names in tf.io.gfile.walk(folder):
        found += [f"{directory.rstrip('/')}/{name}" for name in names]
    return found


def _move(source: str, target: str) -> None:
    """Moves the folder ``source`` to ``target`` (absent): one rename on a local disk.

    Elsewhere, files are copied one by one, saved_model.pb last, so that
    nothing loads ``target`` before it is complete: TensorFlow's filesystems
    need not rename folders (object stores cannot; ram:// "renames" a folder
    without its files).
    """
    if is_local(source):
        try:
            os.rename(_local(source), _local(target))
        except OSError as exc:  # a folder with files at ``target`` (an empty one is replaced)
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            raise ExportError(
                f"{target!r} appeared while the export ran (another writer made it after this export checked); "
                "it was left as it is: export again, to another path or with overwrite=True"
            ) from exc
        return
    for name in sorted(_files(source), key=lambda f: f.endswith(_PB)):
        copied = target + name[len(source):]
        tf.io.gfile.makedirs(copied.rsplit("/", 1)[0])
        tf.io.gfile.copy(name, copied, overwrite=True)
    tf.io.gfile.rmtree(source)


def _discard(folder: str) -> None:
    try:
        if tf.io.gfile.exists(folder):
            tf.io.gfile.rmtree(folder)
    except tf.errors.OpError:  # pragma: no cover - left for a later export's error to name
        pass


def _beside(path: str, kind: str) -> str:
    """A fresh name in ``path``'s folder that ``path`` is no prefix of (ram:// finds files by prefix)."""
    parent, _, base = path.rpartition("/")
    return f"{parent}/.{kind}-{uuid.uuid4().hex[:8]}-{base}" if parent else f".{kind}-{uuid.uuid4().hex[:8]}-{base}"


def _local(path: str) -> str:
    return path[len("file://"):] if path.startswith("file://") else path


def _publish(staging: str, path: str, overwrite: bool) -> None:
    """Puts the complete SavedModel in ``staging`` at ``path``, moving an existing one aside first.

    A ``path`` that is a symbolic link is replaced by the new folder; the folder it pointed to stays.
    Without ``overwrite``, a ``path`` that appeared while the export ran (another process's
    export, say) is an ``ExportError`` and is left as it is.
    """
    old = None
    if tf.io.gfile.exists(path):
        if not overwrite:
            raise ExportError(f"{path!r} appeared while the export ran; pass overwrite=True to replace it")
        old = _beside(path, "old")
        _move(path, old)
    try:
        _move(staging, path)
    except ExportError as exc:
        if old is None:
            raise
        raise ExportError(f"{exc}; the export it was to replace is kept at {old!r}") from exc.__cause__
    if old is not None:
        if is_local(old) and os.path.islink(_local(old)):
            os.unlink(_local(old))  # path was a symbolic link: replaced, and what it pointed to left alone
        else:
            tf.io.gfile.rmtree(old)


def export_saved_model(classifiers: Sequence[Any], path: str | os.PathLike, overwrite: bool = False) -> str:
    """Writes one SavedModel serving several classifiers of one runtime (see the module docstring).

    Args:
      classifiers: graph classifiers of one runtime, with unique names and one
        input_shape (isolated, shared-runtime, on trunks, copies, model_fn).
      path: the folder to create, on any TensorFlow filesystem ("gs://...").
      overwrite: replace an existing folder.

    Returns:
      ``path`` as a str.

    Raises:
      TypeError, InputError: bad classifiers (several runtimes, other input
        shapes, a classifier named "all" or "serving_default") or arguments.
      ExportError: ``path`` exists without ``overwrite``, or cannot be written.
      ClosedError: a classifier or its runtime is closed.
    """
    classifiers = _check_classifiers(classifiers)
    runtimes = {id(c.runtime) for c in classifiers}
    if len(runtimes) > 1:
        raise InputError(
            f"classifiers must share one runtime to be exported together, got {len(runtimes)} runtimes; "
            "export each runtime's classifiers separately"
        )
    target = _path(path)
    _check_target(target, overwrite)
    staging = _beside(target, f"tmp-{os.getpid()}")
    try:
        # The staging folder exists from the start: a kill at any moment leaves it, never a partial ``path``.
        tf.io.gfile.makedirs(staging)
        weights = _snapshot(classifiers)
        with GraphSession(device="cpu", shard_size=None) as export:  # one graph: every twin reads one x
            with export.building():
                # The signatures' input key is "x" whatever the placeholder's own name.
                x = tf1.placeholder(tf.float32, [None, *classifiers[0].input_shape], name=_input_name(classifiers))
            with conv_fusion.portable():  # the server places the ops: no CPU-only fused convolution
                twins = _rebuild(classifiers, export, x)
            for twin in twins:
                twin.set_weights(weights[twin.name])
            with export.graph.as_default():  # building signature protos needs graph mode
                signatures = _signatures(twins, x, export)
            export.initialize()
            _write(export, signatures, staging)
        _publish(staging, target, overwrite)
    except (tf.errors.OpError, OSError) as exc:
        _discard(staging)
        message = getattr(exc, "message", None) or str(exc)
        raise ExportError(f"cannot export to {target!r}: {message}") from exc
    except BaseException:
        _discard(staging)
        raise
    return target


__all__ = ["ALL", "SERVING", "export_saved_model"]
