"""Checkpoints with shape and configuration checks, written atomically, on any TensorFlow filesystem.

The format is TensorFlow's own: a ``tf.compat.v1.train.Saver`` V2 checkpoint
("ckpt-N.index" + "ckpt-N.data-*") plus TensorFlow's "checkpoint" state file,
which TF rewrites atomically. Beside each checkpoint lies "ckpt-N.tfshare.json"
with the classifier's configuration and variable shapes, written (atomically)
before the state file points at the new checkpoint. A crash at any moment
therefore leaves the state file naming a complete, earlier checkpoint.

Variables are keyed by architecture ("hidden_0/kernel", "head/bias"), not by
graph names, so a checkpoint restores into any sharing mode, any runtime,
any creation order, and into the eager twin.

Restoring checks every shape before assigning anything: with resource
variables TF's Saver can succeed silently when shapes differ.

Every file operation goes through ``tf.io.gfile``, so "gs://..." and other
filesystem plugins work as local paths do (``os.makedirs("gs://b/x")`` would
make a local folder named "gs:"). Local files are also fsynced before they
are renamed into place.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
import threading
import uuid
from typing import Any, BinaryIO, Callable, Mapping

from tfshare._tf import tf, tf1
from tfshare.errors import CheckpointError

FORMAT_VERSION = 1
_PREFIX = "ckpt"
_STEP_RE = re.compile(rf"{_PREFIX}-(\d+)")  # a checkpoint's file name, fully
_MAX_TO_KEEP = 3
_TMP_SUFFIX = ".tfshare.tmp"  # of a sidecar's temporary, ".tmp-<random>.tfshare.tmp"
# The temporary files a save writes: its sidecar's, TensorFlow's of the state
# file ("checkpoint.tmp<hex>") and of the checkpoint's files ("ckpt-N.index.tempstate<n>").
_TEMPORARY_RE = re.compile(
    rf"\.tmp-[A-Za-z0-9_]+{re.escape(_TMP_SUFFIX)}|checkpoint\.tmp[0-9a-f]+|{_PREFIX}-\d+\.[^/]*\.tempstate\d+"
)
_SAVE_LOCK = threading.Lock()  # one save at a time in this process


def make_saver(named_variables: Mapping[str, Any]) -> Any:
    """Builds a Saver over ``named_variables`` (call inside the graph, once)."""
    return tf1.train.Saver(
        var_list=dict(named_variables),
        max_to_keep=_MAX_TO_KEEP,
        save_relative_paths=True,
        allow_empty=False,
    )


def _reason(exc: BaseException) -> str:
    """The core of an error's message, without the Python stack trace TF adds to Session errors."""
    text = getattr(exc, "message", None) or str(exc)
    if "\nNode: " in text:  # "Graph execution error: <trace> Node: 'n'\n<message>\n\t [[...]] <trace>"
        text = text.split("\nNode: ", 1)[1].split("\n", 1)[-1]
    return text.split("\n\t [[", 1)[0].split("\n\nOriginal stack trace", 1)[0].strip()


def _metadata_path(prefix: str) -> str:
    return prefix + ".tfshare.json"


def is_local(path: str) -> bool:
    """Whether ``path`` is on the local filesystem (no "scheme://" prefix, or "file://")."""
    return "://" not in path or path.startswith("file://")


def atomic_write(
    path: str, write: Callable[[BinaryIO], Any], prefix: str = ".tmp-", suffix: str = ""
) -> None:
    """Writes ``path`` all at once: a crash leaves the old file or the new one.

    ``write`` fills a temporary file in the same directory (named
    ``prefix``...``suffix``), which is renamed over ``path``: on a local disk
    after an fsync, elsewhere through ``tf.io.gfile``.

    Raises:
      OSError, tf.errors.OpError: the file cannot be written; the temporary file is removed.
    """
    if not is_local(path):
        directory = path.rsplit("/", 1)[0]
        tmp = f"{directory}/{prefix}{uuid.uuid4().hex[:12]}{suffix}"
        try:
            buffer = io.BytesIO()  # TF's filesystems need not support tell(), which zipfile uses
            write(buffer)
            with tf.io.gfile.GFile(tmp, "wb") as f:
                f.write(buffer.getvalue())
            tf.io.gfile.rename(tmp, path, overwrite=True)
        except BaseException:
            if tf.io.gfile.exists(tmp):
                tf.io.gfile.remove(tmp)
            raise
        return
    path = path[len("file://"):] if path.startswith("file://") else path
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _step(path: str) -> int | None:
    """N of a tfshare checkpoint prefix ".../ckpt-N"; None for another name (another program's checkpoint)."""
    match = _STEP_RE.fullmatch(path.rsplit("/", 1)[-1])
    return int(match.group(1)) if match else None


def _live_checkpoints(directory: str) -> list[str]:
    """Returns the tfshare checkpoint prefixes the directory's state file lists, oldest first.

    Others it lists ("model.ckpt-100" of a user's own Saver) are left out, so
    they neither number nor rotate (are deleted with) tfshare's.
    """
    state = tf1.train.get_checkpoint_state(directory)
    if state is None:
        return []
    paths = list(state.all_model_checkpoint_paths)
    if state.model_checkpoint_path and state.model_checkpoint_path not in paths:
        paths.append(state.model_checkpoint_path)
    return [p for p in paths if _step(p) is not None]


def _next_step(live: list[str]) -> int:
    return max((step for step in map(_step, live) if step is not None), default=0) + 1


def save(
    path: str,
    saver: Any,
    session: Any,
    config: Mapping[str, Any],
    named_variables: Mapping[str, Any],
) -> str:
    """Writes a new checkpoint into the directory ``path``.

    Args:
      path: the checkpoint directory (created if missing).
      saver: the Saver from ``make_saver``.
      session: the Session holding the values (None in eager mode).
      config: the classifier's configuration, stored for restore-time checks.
      named_variables: key -> variable, as given to ``make_saver``.

    Returns:
      The checkpoint prefix written, "path/ckpt-N".

    Raises:
      CheckpointError: the directory cannot be written.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    directory = os.fspath(path)
    with _SAVE_LOCK:
        try:
            tf.io.gfile.makedirs(directory)
            live = _live_checkpoints(directory)
            # The Saver rotates (deletes) the oldest of the checkpoints it
            # remembers. Make it remember this directory's, and only these:
            # otherwise saving to another directory would delete checkpoints
            # here, and a new process would never delete those an earlier one wrote.
            saver.recover_last_checkpoints(live)
            step = _next_step(live)
            prefix = os.path.join(directory, f"{_PREFIX}-{step}")
            metadata = {
                "format": FORMAT_VERSION,
                "config": dict(config),
                "variables": {k: v.shape.as_list() for k, v in named_variables.items()},
            }
            text = json.dumps(metadata, indent=1, sort_keys=True)
            atomic_write(_metadata_path(prefix), lambda f: f.write(text.encode("utf-8")), suffix=_TMP_SUFFIX)
            written = saver.save(
                session, os.path.join(directory, _PREFIX), global_step=step, write_meta_graph=False
            )
        except (OSError, tf.errors.OpError) as exc:
            raise CheckpointError(f"cannot write a checkpoint to {directory!r}: {_reason(exc)}") from exc
        _remove_leftovers(directory)
    return written


def _is_temporary(name: str) -> bool:
    """Whether ``name`` is a temporary file a checkpoint write of tfshare's makes.

    TensorFlow writes "checkpoint.tmp<hex>" and "ckpt-N.<part>.tempstate<n>",
    the sidecar's ``atomic_write`` ".tmp-<random>.tfshare.tmp"; each is
    renamed when complete. Other names (another program's ".tmp-*") are not.
    """
    return _TEMPORARY_RE.fullmatch(name) is not None


def _remove_leftovers(directory: str) -> None:
    """Deletes sidecars of rotated checkpoints, and temporary files of killed writers.

    A directory has one writer at a time (saves in this process hold
    ``_SAVE_LOCK``), so once a save is complete any temporary file left is
    an orphan of a writer that was killed mid-save. Only files of names a
    save writes are removed, never folders; this runs after a save
    succeeded, so a file that cannot be removed is left, silently.
    """
    try:
        state = tf1.train.get_checkpoint_state(directory)
        entries = tf.io.gfile.listdir(directory)
    except (OSError, tf.errors.OpError):  # pragma: no cover - the save just read and wrote both
        return
    if state is None:  # pragma: no cover - a save just wrote it
        return
    live = {p.rsplit("/", 1)[-1] for p in state.all_model_checkpoint_paths}
    for entry in entries:
        stale_sidecar = entry.endswith(".tfshare.json") and entry[: -len(".tfshare.json")] not in live
        if not (stale_sidecar or _is_temporary(entry)):
            continue
        path = f"{directory.rstrip('/')}/{entry}"
        try:
            if not tf.io.gfile.isdir(path):
                tf.io.gfile.remove(path)
        except (OSError, tf.errors.OpError):  # removed concurrently, or not ours to remove
            pass


def resolve(path: str) -> str:
    """Returns the checkpoint prefix for a directory or a prefix.

    Raises:
      CheckpointError: nothing restorable is at ``path``.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = os.fspath(path)
    # A prefix first: ram:// calls "x/ckpt-3" a directory when "x/ckpt-3.index" exists.
    if tf.io.gfile.exists(path + ".index"):
        return path
    if tf.io.gfile.isdir(path):
        try:
            prefix = tf.train.latest_checkpoint(path)
        except (tf.errors.OpError, ValueError) as exc:
            raise CheckpointError(f"cannot read the checkpoint state in {path!r}: {_reason(exc)}") from exc
        if prefix is None:
            newest = _newest_listed(path)
            if newest is not None:
                raise CheckpointError(
                    f"the newest checkpoint in directory {path!r}, {newest!r} (its 'checkpoint' state file "
                    f"names it), has no files: {newest}.index and {newest}.data-* are missing"
                )
            raise CheckpointError(f"no checkpoint in directory {path!r} (no valid 'checkpoint' state file)")
        return prefix
    raise CheckpointError(f"no checkpoint at {path!r}: it is neither a checkpoint directory nor a prefix")


def _newest_listed(directory: str) -> str | None:
    """The prefix the directory's state file names as newest, or None if it names none or cannot be read."""
    try:
        state = tf1.train.get_checkpoint_state(directory)
    except (tf.errors.OpError, ValueError):
        return None
    return state.model_checkpoint_path if state is not None and state.model_checkpoint_path else None


def read_metadata(prefix: str) -> dict[str, Any]:
    """Reads the configuration sidecar of a checkpoint prefix.

    Raises:
      CheckpointError: the sidecar is missing, unreadable or of another format.
    """
    try:
        with tf.io.gfile.GFile(_metadata_path(prefix), "r") as f:
            metadata = json.loads(f.read())
    except tf.errors.NotFoundError:
        raise CheckpointError(
            f"checkpoint {prefix!r} has no {os.path.basename(_metadata_path(prefix))!r}; "
            "it was not written by tfshare"
        ) from None
    except (OSError, ValueError, tf.errors.OpError) as exc:
        raise CheckpointError(f"checkpoint metadata of {prefix!r} is corrupt: {exc}") from exc
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {prefix!r} has metadata format {metadata.get('format') if isinstance(metadata, dict) else None!r}, "
            f"expected {FORMAT_VERSION}"
        )
    return metadata


def check(prefix: str, config: Mapping[str, Any], named_variables: Mapping[str, Any]) -> None:
    """Checks configuration and every variable's shape against a checkpoint.

    Raises:
      CheckpointError: the configuration differs, a variable is missing, or a
        shape differs; the message names the variable and both shapes.
    """
    metadata = read_metadata(prefix)
    saved_config = metadata.get("config", {})
    for key, expected in config.items():
        if saved_config.get(key) != expected:
            raise CheckpointError(
                f"checkpoint {prefix!r} was saved with {key}={saved_config.get(key)!r}, "
                f"but this classifier has {key}={expected!r}"
            )
    try:
        # The reader itself: tf.train.list_variables asks isdir(prefix) first (see resolve).
        stored = tf1.train.NewCheckpointReader(prefix).get_variable_to_shape_map()
    except (tf.errors.OpError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {prefix!r} is corrupt or unreadable: {_reason(exc)}") from exc
    for key, variable in named_variables.items():
        expected = variable.shape.as_list()
        if key not in stored:
            raise CheckpointError(f"checkpoint {prefix!r} has no variable {key!r} (shape {expected})")
        if list(stored[key]) != expected:
            raise CheckpointError(
                f"variable {key!r}: checkpoint {prefix!r} holds shape {list(stored[key])}, "
                f"the classifier expects shape {expected}"
            )


def restore(
    path: str,
    saver: Any,
    session: Any,
    config: Mapping[str, Any],
    named_variables: Mapping[str, Any],
) -> str:
    """Checks, then restores, a checkpoint into ``named_variables``.

    Args:
      path: a checkpoint directory or prefix.
      saver: the Saver from ``make_saver``.
      session: the Session to restore into (None in eager mode).
      config: the classifier's configuration.
      named_variables: key -> variable, as given to ``make_saver``.

    Returns:
      The checkpoint prefix restored.

    Raises:
      CheckpointError: the path is missing or corrupt, or it does not match.
    """
    prefix = resolve(path)
    check(prefix, config, named_variables)
    try:
        saver.restore(session, prefix)
    except (tf.errors.OpError, ValueError) as exc:
        raise CheckpointError(f"restoring {prefix!r} failed: {_reason(exc)}") from exc
    return prefix
