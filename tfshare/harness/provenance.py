"""What produced a result file: tfshare's version, and its git commit when run from a checkout.

A wheel installed into an environment has a version and no commit. A
checkout (an editable install, or ``PYTHONPATH`` pointing at it) also has
the commit it runs and whether its tracked files differ from that commit
("dirty"). The commit is read only when the ``tfshare`` package sits at the
top of a git work tree, so that a virtualenv created inside some other
repository never reports that repository's commit.
"""

from __future__ import annotations

import os
import subprocess
from typing import Any

import tfshare

_GIT_TIMEOUT_S = 10.0


def _git(root: str, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", root, *args], capture_output=True, text=True, timeout=_GIT_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def checkout_root() -> str | None:
    """The git work tree ``tfshare`` is imported from, or None (an installed wheel, or no git)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(tfshare.__file__)))
    if not os.path.exists(os.path.join(root, ".git")):
        return None
    top = _git(root, "rev-parse", "--show-toplevel")
    return root if top and os.path.samefile(top, root) else None


def tfshare_info() -> dict[str, Any]:
    """{"version", "commit", "dirty"}: commit and dirty are None outside a git checkout."""
    root = checkout_root()
    commit = dirty = None
    if root is not None:
        commit = _git(root, "rev-parse", "HEAD")
        status = _git(root, "status", "--porcelain", "--untracked-files=no")
        dirty = None if status is None else bool(status)
    return {"version": tfshare.__version__, "commit": commit, "dirty": dirty}


__all__ = ["checkout_root", "tfshare_info"]
