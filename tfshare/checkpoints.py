"""Checkpoints with shape and configuration checks, written atomically.

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
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from typing import Any, Mapping

from tfshare._tf import tf, tf1
from tfshare.errors import CheckpointError

FORMAT_VERSION = 1
_PREFIX = "ckpt"
_STEP_RE = re.compile(rf"{_PREFIX}-(\d+)$")
_MAX_TO_KEEP = 3


def make_saver(named_variables: Mapping[str, Any]) -> Any:
    """Builds a Saver over ``named_variables`` (call inside the graph, once)."""
    return tf1.train.Saver(
        var_list=dict(named_variables),
        max_to_keep=_MAX_TO_KEEP,
        save_relative_paths=True,
        allow_empty=False,
    )


def _metadata_path(prefix: str) -> str:
    return prefix + ".tfshare.json"


def _atomic_write_text(path: str, text: str) -> None:
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _latest_step(directory: str) -> int:
    state = tf1.train.get_checkpoint_state(directory)
    steps = [0]
    if state is not None:
        for p in list(state.all_model_checkpoint_paths) + [state.model_checkpoint_path]:
            match = _STEP_RE.search(p)
            if match:
                steps.append(int(match.group(1)))
    return max(steps)


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
    try:
        os.makedirs(directory, exist_ok=True)
        step = _latest_step(directory) + 1
        prefix = os.path.join(directory, f"{_PREFIX}-{step}")
        metadata = {
            "format": FORMAT_VERSION,
            "config": dict(config),
            "variables": {k: v.shape.as_list() for k, v in named_variables.items()},
        }
        _atomic_write_text(_metadata_path(prefix), json.dumps(metadata, indent=1, sort_keys=True))
        written = saver.save(
            session, os.path.join(directory, _PREFIX), global_step=step, write_meta_graph=False
        )
    except (OSError, tf.errors.OpError) as exc:
        raise CheckpointError(f"cannot write a checkpoint to {directory!r}: {exc}") from exc
    _remove_stale_metadata(directory)
    return written


def _remove_stale_metadata(directory: str) -> None:
    """Deletes sidecars of checkpoints the Saver has rotated away."""
    state = tf1.train.get_checkpoint_state(directory)
    if state is None:
        return
    live = {os.path.basename(p) for p in state.all_model_checkpoint_paths}
    for entry in os.listdir(directory):
        if entry.endswith(".tfshare.json") and entry[: -len(".tfshare.json")] not in live:
            try:
                os.unlink(os.path.join(directory, entry))
            except OSError:  # pragma: no cover - a concurrent saver removed it
                pass


def resolve(path: str) -> str:
    """Returns the checkpoint prefix for a directory or a prefix.

    Raises:
      CheckpointError: nothing restorable is at ``path``.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = os.fspath(path)
    if os.path.isdir(path):
        try:
            prefix = tf.train.latest_checkpoint(path)
        except (tf.errors.OpError, ValueError) as exc:
            raise CheckpointError(f"cannot read the checkpoint state in {path!r}: {exc}") from exc
        if prefix is None:
            raise CheckpointError(f"no checkpoint in directory {path!r} (no valid 'checkpoint' state file)")
        return prefix
    if os.path.exists(path + ".index"):
        return path
    raise CheckpointError(f"no checkpoint at {path!r}: it is neither a checkpoint directory nor a prefix")


def read_metadata(prefix: str) -> dict[str, Any]:
    """Reads the configuration sidecar of a checkpoint prefix.

    Raises:
      CheckpointError: the sidecar is missing, unreadable or of another format.
    """
    try:
        with open(_metadata_path(prefix), encoding="utf-8") as f:
            metadata = json.load(f)
    except FileNotFoundError:
        raise CheckpointError(
            f"checkpoint {prefix!r} has no {os.path.basename(_metadata_path(prefix))!r}; "
            "it was not written by tfshare"
        ) from None
    except (OSError, ValueError) as exc:
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
        stored = dict(tf.train.list_variables(prefix))
    except (tf.errors.OpError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {prefix!r} is corrupt or unreadable: {exc}") from exc
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
        raise CheckpointError(f"restoring {prefix!r} failed: {exc}") from exc
    return prefix
