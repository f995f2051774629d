"""The agent's small persisted state files: written atomically, read without trusting them.

Responsible for: writing a state file so that a power cut leaves either the
old or the new content (:func:`write_private`: a temporary file, fsync, an
atomic rename, fsync of the directory; never through a symbolic link; mode
0600), reading a JSON-object state file (:func:`read_state`), and moving a
file that cannot be read aside as ``<name>.corrupt-<UTC time>``
(:func:`move_aside`), kept for forensics, so the agent starts with a fresh
state and reports what it found instead of failing on every start.

Does NOT: decide what a lost state means (the rollout ledger, for one,
refuses commands issued before the loss: :mod:`edge.runtime.signed`), or log.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["CorruptStateError", "move_aside", "read_state", "write_private"]


class CorruptStateError(Exception):
    """A state file could not be read; it was moved aside.

    Attributes
    ----------
    path : str
        The file as it was named.
    moved_to : str
        Where it is now.
    error : str
        Why it could not be read.
    """

    def __init__(self, path: str, moved_to: str, error: str) -> None:
        super().__init__(f"{path} unreadable ({error}); moved to {moved_to}")
        self.path, self.moved_to, self.error = path, moved_to, error


def move_aside(path: str | Path, suffixes: Sequence[str] = ("",)) -> str:
    """Rename ``path`` (and ``path + suffix`` for each suffix) to ``<path>.corrupt-<UTC time>``.

    Returns the new name of ``path``. An existing target gets a counter, so
    nothing moved aside earlier is overwritten.
    """
    base = f"{path}.corrupt-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    target, n = base, 1
    while any(os.path.lexists(target + s) for s in suffixes):
        n += 1
        target = f"{base}.{n}"
    for suffix in suffixes:
        if os.path.lexists(f"{path}{suffix}"):
            os.replace(f"{path}{suffix}", target + suffix)
    return target


def read_state(path: str | Path) -> dict[str, Any] | None:
    """The JSON object stored in ``path``; None when there is no such file.

    Raises
    ------
    CorruptStateError
        The file exists but is not a readable JSON object (torn write, bad
        sectors, edited by hand): it has been moved aside.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:  # EIO on a dying card: keep it, start afresh
        raise CorruptStateError(str(p), move_aside(p), str(exc)) from None
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise CorruptStateError(str(p), move_aside(p), f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        what = f"a JSON {type(data).__name__}, not an object"
        raise CorruptStateError(str(p), move_aside(p), what)
    return data


def write_private(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably (mode 0600, never through a link)."""
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, p)
    dirfd = os.open(p.parent, os.O_RDONLY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)
