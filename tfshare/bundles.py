"""Whole-runtime checkpoints: many classifiers in one file, restored by name.

``save_runtime`` writes the weights of several classifiers (typically all the
heads on a shared trunk) into one ``.npz`` file. Each classifier is stored
under its name; a trunk's variables are stored once, under the trunk's name,
however many classifiers use it. ``restore_runtime`` matches classifiers by
name, so the checkpoint restores into a runtime built in another order, with
other generated trunk names, with only some of the classifiers, or in another
sharing mode (a trunk's weights restore into a classifier's own hidden layers).

The file is written to a temporary file beside ``path``, fsynced and
renamed over ``path``: a crash at any moment leaves either the previous file
or the new one, never a mix. Reading checks the archive's CRC-32 checksums,
the configuration and every shape before assigning anything.

Neither function adds an op to any graph: values are fetched with the
variables' read ops and assigned by feeding their initializers, so both work
on finalized graphs and keep op counts fixed however often they run.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from typing import Any, Sequence

import numpy as np

from tfshare._tf import tf
from tfshare.checkpoints import atomic_write, is_local
from tfshare.errors import CheckpointError, InputError
from tfshare.fused import _check_classifiers
from tfshare.protocols import GraphClassifier
from tfshare.runtime import GraphSession

FORMAT_VERSION = 1
_METADATA_KEY = "__tfshare_runtime__"
_TMP_SUFFIX = ".tmp"


def _array_key(clf: GraphClassifier, key: str) -> str:
    """Where a classifier's variable ``key`` is stored: once per trunk, else per classifier."""
    if clf.trunk is not None and key in clf.trunk.named_variables():
        return f"trunks/{clf.trunk.name}/{key}"
    return f"classifiers/{clf.name}/{key}"


def _by_runtime(items: list[tuple[GraphSession, Any, Any]]) -> dict[GraphSession, list[tuple[Any, Any]]]:
    """Groups (runtime, variable, payload) triples by runtime, for one Session call each."""
    grouped: dict[GraphSession, list[tuple[Any, Any]]] = {}
    for runtime, variable, payload in items:
        grouped.setdefault(runtime, []).append((variable, payload))
    return grouped


def save_runtime(classifiers: Sequence[GraphClassifier], path: str | os.PathLike) -> str:
    """Saves several classifiers' weights, each under its name, into one file.

    Args:
      classifiers: graph classifiers with unique names, from one runtime or
        several. Trunk variables shared by several of them are stored once.
      path: the file to write (conventionally "*.npz"); its directory is
        created if missing. An existing file is replaced atomically.

    Returns:
      ``path`` as a str.

    Raises:
      TypeError: classifiers is not a sequence of graph classifiers, or path
        is not a str or os.PathLike.
      InputError: classifiers is empty, names repeat, or two different
        trunks have the same name.
      ClosedError: a classifier or its runtime is closed.
      CheckpointError: the file cannot be written.
    """
    classifiers = _check_classifiers(classifiers, same_input_shape=False)
    target = _check_path(path)
    entries: dict[str, Any] = {}
    owners: dict[str, tuple[GraphSession, Any]] = {}  # array key -> (runtime, variable)
    for clf in classifiers:
        keys = {}
        home = clf.trunk.named_variables() if clf.trunk is not None else {}
        for key, variable in clf.named_variables.items():
            array_key = _array_key(clf, key)
            # A trunk's value is read in its own shard (a head on a mirror of it holds an equal copy).
            owner = (clf.trunk.shard, home[key]) if key in home else (clf.shard, variable)
            if owners.setdefault(array_key, owner)[1] is not owner[1]:
                raise InputError(
                    f"two different trunks are named {clf.trunk.name!r} (in different runtimes); "
                    "give them distinct names to save them together"
                )
            keys[key] = array_key
        entries[clf.name] = {
            "config": clf.config,
            "trunk": None if clf.trunk is None else clf.trunk.name,
            "variables": keys,
        }
    arrays: dict[str, np.ndarray] = {}
    for runtime, pairs in _by_runtime([(rt, v, k) for k, (rt, v) in owners.items()]).items():
        values = runtime.run([v for v, _ in pairs])  # one Session call per runtime
        arrays.update((k, np.asarray(value)) for (_, k), value in zip(pairs, values))
    metadata = {"format": FORMAT_VERSION, "classifiers": entries}
    arrays[_METADATA_KEY] = np.array(json.dumps(metadata, sort_keys=True))
    _atomic_savez(target, arrays)
    return target


def _check_path(path: Any) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    return os.fspath(path)


def _atomic_savez(target: str, arrays: dict[str, np.ndarray]) -> None:
    try:
        if is_local(target):
            os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
            # Another machine's writers cannot be told dead or alive: orphans are removed on local disks only.
            _remove_orphans(target)
        else:
            tf.io.gfile.makedirs(target.rsplit("/", 1)[0])
        # The writer's process id in the temporary name lets a later save tell
        # the orphans of killed writers from the files of live ones.
        prefix = f".{target.rsplit('/', 1)[-1]}.{os.getpid()}."
        atomic_write(target, lambda f: np.savez(f, **arrays), prefix=prefix, suffix=_TMP_SUFFIX)
    except (OSError, tf.errors.OpError) as exc:
        raise CheckpointError(f"cannot write a runtime checkpoint to {target!r}: {exc}") from exc


def _remove_orphans(target: str) -> None:
    """Deletes temporary files that killed writers of ``target`` left behind.

    A temporary file's name holds its writer's process id; files of live
    processes (a concurrent writer) are left alone.
    """
    directory = os.path.dirname(os.path.abspath(target))
    head = f".{os.path.basename(target)}."
    for entry in os.listdir(directory):
        if not (entry.startswith(head) and entry.endswith(_TMP_SUFFIX)):
            continue
        pid = entry[len(head) :].split(".", 1)[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            try:
                os.unlink(os.path.join(directory, entry))
            except OSError:  # pragma: no cover - removed concurrently
                pass


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - alive, owned by someone else
        return True
    return True


def _read(source: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Reads the metadata and every array, verifying the archive's checksums."""
    if tf.io.gfile.isdir(source):
        raise CheckpointError(
            f"no runtime checkpoint at {source!r}: it is a directory (save_runtime writes a file; "
            "a directory written by Classifier.save restores with Classifier.restore)"
        )
    try:
        with tf.io.gfile.GFile(source, "rb") as f:
            data = f.read()
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}  # reading checks CRC-32
    except tf.errors.NotFoundError:
        raise CheckpointError(f"no runtime checkpoint at {source!r}: the file does not exist") from None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error, tf.errors.OpError) as exc:
        raise CheckpointError(f"runtime checkpoint {source!r} is corrupt or unreadable: {exc}") from exc
    raw = arrays.pop(_METADATA_KEY, None)
    try:
        metadata = json.loads(str(raw)) if raw is not None else None
    except ValueError as exc:
        raise CheckpointError(f"runtime checkpoint {source!r} has corrupt metadata: {exc}") from exc
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_VERSION:
        raise CheckpointError(
            f"{source!r} is not a tfshare runtime checkpoint of format {FORMAT_VERSION} "
            "(written by tfshare.save_runtime)"
        )
    return metadata, arrays


def restore_runtime(classifiers: Sequence[GraphClassifier], path: str | os.PathLike) -> list[str]:
    """Restores classifiers, matched by name, from a file written by ``save_runtime``.

    Everything is checked before anything is assigned: every classifier's
    name must be in the file, its configuration (``config``: the architecture
    and num_classes) must match, and every variable's shape must match. Creation
    order, trunk names and sharing mode do not matter, and the file may hold
    more classifiers than are restored.

    Args:
      classifiers: graph classifiers with unique names, from one runtime or several.
      path: a file written by ``save_runtime``.

    Returns:
      The names restored, in the order given.

    Raises:
      TypeError, InputError: as ``save_runtime``.
      ClosedError: a classifier or its runtime is closed.
      CheckpointError: the file is missing or corrupt, a name is not in it,
        a configuration or a shape differs (the message names the variable
        and both shapes), or classifiers that share a variable here were
        saved with separate copies of it.
    """
    classifiers = _check_classifiers(classifiers, same_input_shape=False)
    source = _check_path(path)
    metadata, arrays = _read(source)
    saved = metadata.get("classifiers", {})
    # variable.ref() -> (runtime, variable, array key, value); variables are unhashable.
    plan: dict[Any, tuple[GraphSession, Any, str, np.ndarray]] = {}
    for clf in classifiers:
        entry = saved.get(clf.name)
        if entry is None:
            raise CheckpointError(
                f"runtime checkpoint {source!r} has no classifier named {clf.name!r}; "
                f"it holds {sorted(saved)}"
            )
        for key, expected in clf.config.items():
            if entry["config"].get(key) != expected:
                raise CheckpointError(
                    f"classifier {clf.name!r}: runtime checkpoint {source!r} was saved with "
                    f"{key}={entry['config'].get(key)!r}, but this classifier has {key}={expected!r}"
                )
        home = clf.trunk.named_variables() if clf.trunk is not None else {}
        for key, variable in clf.named_variables.items():
            # A trunk's value goes to the trunk in its own shard; its mirrors copy it from there.
            shard, variable = (clf.trunk.shard, home[key]) if key in home else (clf.shard, variable)
            array_key = entry["variables"].get(key)
            value = arrays.get(array_key) if array_key is not None else None
            expected = variable.shape.as_list()
            dtype = np.dtype(variable.dtype.base_dtype.as_numpy_dtype)
            if value is None:
                raise CheckpointError(
                    f"classifier {clf.name!r}: runtime checkpoint {source!r} has no variable {key!r} "
                    f"(shape {expected})"
                )
            if list(value.shape) != expected or value.dtype != dtype:
                raise CheckpointError(
                    f"classifier {clf.name!r}, variable {key!r}: runtime checkpoint {source!r} holds "
                    f"shape {list(value.shape)} ({value.dtype}), the classifier expects shape "
                    f"{expected} ({dtype})"
                )
            previous = plan.setdefault(variable.ref(), (shard, variable, array_key, value))
            if previous[2] != array_key:
                raise CheckpointError(
                    f"classifier {clf.name!r}, variable {key!r}: it is shared here with another "
                    f"classifier, but {source!r} stores separate copies ({previous[2]!r} and "
                    f"{array_key!r}); restore them into classifiers that do not share it"
                )
    for runtime, pairs in _by_runtime([(rt, v, value) for rt, v, _, value in plan.values()]).items():
        # Feeding an initializer's value input assigns the variable without
        # adding ops: it works on a finalized graph and keeps op counts fixed.
        # runtime.run first initializes pending variables, so no later
        # initialization (from another thread's first call) can overwrite these.
        runtime.run(
            [v.initializer for v, _ in pairs],
            feed_dict={v.initializer.inputs[1]: value for v, value in pairs},
        )
    return [clf.name for clf in classifiers]


__all__ = ["FORMAT_VERSION", "restore_runtime", "save_runtime"]
