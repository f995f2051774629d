"""The outbox file's health at open: damage SQLite does not see, a crash, what can be saved.

Responsible for: a time-bounded ``PRAGMA quick_check`` (:func:`quick_check`:
a scrambled pointer-map or b-tree page opens without complaint and surfaces
later, inside a commit), reading the queued messages back from a damaged
file (:func:`salvage`), and the time of the last commit of a process that
never closed the file (:func:`last_write`: the newest modification time of
the database and its WAL); the findings :class:`Recovery` and
:class:`UncleanStop` that :class:`edge.runtime.outbox.Outbox` exposes.

Does NOT: move files (:mod:`edge.runtime.statefile`), decide what happens
next (the outbox does), or log.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass

__all__ = ["DEFAULT_CHECK_S", "Recovery", "UncleanStop", "last_write", "quick_check", "salvage"]

#: Longest ``PRAGMA quick_check`` at open before it is given up (counted as passed). [s]
DEFAULT_CHECK_S = 2.0


@dataclass(frozen=True, slots=True)
class Recovery:
    """A corrupt outbox database that was moved aside at open.

    Attributes
    ----------
    moved_to : str
        Where the unreadable file now is.
    error : str
        What SQLite said.
    salvaged : int
        Queued messages read back from the damaged file into the new one.
    """

    moved_to: str
    error: str
    salvaged: int = 0


@dataclass(frozen=True, slots=True)
class UncleanStop:
    """The previous process did not close the outbox (crash, ``kill -9``, power cut).

    Attributes
    ----------
    last_commit_utc : float
        When the previous process last committed (file modification time),
        UTC epoch. [s]
    """

    last_commit_utc: float


def quick_check(db: sqlite3.Connection, seconds: float) -> str:
    """Run ``PRAGMA quick_check`` for at most ``seconds``: "ok" or "incomplete".

    Raises
    ------
    sqlite3.DatabaseError
        The check found damage (its first findings in the message).
    """
    deadline = time.monotonic() + seconds
    gave_up = False

    def progress() -> int:
        nonlocal gave_up
        gave_up = time.monotonic() > deadline
        return 1 if gave_up else 0

    db.set_progress_handler(progress, 10_000)
    try:
        result = db.execute("PRAGMA quick_check(20)").fetchall()
    except sqlite3.OperationalError:
        if not gave_up:
            raise
        result = []
    finally:
        db.set_progress_handler(None, 0)
    if gave_up:
        return "incomplete"
    if [r[0] for r in result] != ["ok"]:
        raise sqlite3.DatabaseError("quick_check: " + "; ".join(str(r[0]) for r in result))
    return "ok"


def last_write(path: str) -> float | None:
    """Newest modification time of the database and its WAL (the last commit), if any. [s]"""
    times = [os.path.getmtime(path + sfx) for sfx in ("", "-wal") if os.path.exists(path + sfx)]
    return max(times) if times else None


def salvage(path: str) -> list[tuple[str, bytes, int, int]]:
    """Queued messages still readable from a damaged outbox, in order (empty if none)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return []
    try:
        rows = db.execute("SELECT topic, payload, qos, retain FROM outbox ORDER BY id").fetchall()
        return [(str(t), bytes(p), int(q), int(r)) for t, p, q, r in rows]
    except sqlite3.Error:
        return []
    finally:
        db.close()
