"""The durable outbox: every message is stored here before it is published.

Responsible for: a SQLite (WAL) queue of outgoing MQTT messages in insertion
order, per-(device, stream) sequence numbers assigned in the same
transaction as the insert, deletion only on acknowledgement, and a bounded
size with oldest-first eviction that is counted (and persisted) so it can
be reported, never silent.

Does NOT: talk to the network, build payloads, or log.

Group commit and SD-card wear
-----------------------------
With ``commit_window_s`` > 0 (the agent's default is :data:`COMMIT_WINDOW_S`,
8 s), :meth:`Outbox.put` assigns the sequence numbers at once but keeps the
rows in memory; they are committed together, in one transaction, when the
oldest has waited the window (a background thread, or the next put), on
:meth:`Outbox.flush` and on :meth:`Outbox.close`. The publisher only ever
sees committed rows, so a sequence number taken by a message lost before its
commit was never sent and is given again after a restart. The window is
therefore the most a power cut (or ``kill -9``) can lose; in exchange each
commit's fsync and page writes are shared by every message of the window.
The database uses ``auto_vacuum=INCREMENTAL``: once a drain has emptied the
queue, free pages beyond about 1 MiB are returned to the file system, so the
file shrinks back after an outage.

Writes to the card
------------------
What a commit costs the card: every page it changes is appended to the WAL
(the newest leaf of the queue, the leaf its deletes touch, the ``seq`` and
``sqlite_sequence`` rows, a pointer-map page), and at a checkpoint (every
``wal_autocheckpoint`` WAL pages) each changed page is written once more
into the database. So a longer window shares those pages among more
readings, and smaller pages (``page_size``, default 1 KiB: a reading is
about 0.5 KiB) rewrite fewer bytes around each. ``synchronous=FULL`` costs
one fsync per commit plus two per checkpoint; ``NORMAL`` only the
checkpoint's two. ``journal_size_limit`` does not change the writes: it
cuts the WAL file back after a checkpoint so a burst does not leave it
large. ``bench/bench_outbox_wear.py`` measures each setting (bytes and
fsyncs per reading at 1 Hz, 2 devices); docs/deploy.md has the table and
why the defaults are what they are (8 s at FULL with 1 KiB pages: 1.45 KiB
and 0.075 fsync per reading, against 6.1 KiB and 0.51 at 1 s with 4 KiB
pages). The page size applies to a new file, and to an existing one at
open while it is small (a drained queue, <= 8 MiB: rebuilt by ``VACUUM``);
a bigger one keeps its page size until a later start finds it drained.

Epoch and recovery
------------------
Each database gets a random *epoch* when it is created (``meta`` table);
every message carries it, so a receiver de-duplicates and counts loss per
(device, stream, epoch): when the file is lost (SD card replaced, reflash)
``seq`` restarts at 1 in a new epoch instead of looking like old copies. A
database SQLite cannot read (``sqlite3.DatabaseError`` on open: torn or
corrupted file) is moved aside as ``<name>.corrupt-<UTC time>`` (with its
``-wal``/``-shm``) and a new one with a new epoch is started;
:attr:`Outbox.recovered` says so, for the agent to report. Damage SQLite
does not notice when it opens a file (a torn pointer-map or b-tree page) is
looked for by ``PRAGMA quick_check`` at open, bounded in time
(``check_s``; an unfinished check is counted as passed and said so in
:attr:`Outbox.check`). A file that fails it is moved aside the same way, and
the queued messages that can still be read from it are copied into the new
file in their order (they keep the old epoch and ``seq`` inside their
payloads, so a receiver still de-duplicates them); the sequence counters are
not trusted and restart in the new epoch.

Clean stops, and what a crash loses
-----------------------------------
The ``meta`` row ``running`` is set when the database is opened and cleared
by :meth:`Outbox.close`. Found set at open, the previous process did not
stop cleanly (``kill -9``, power cut, OOM): :attr:`Outbox.unclean` holds the
time of its last commit (the modification time of the database and its WAL,
which every commit writes), so the agent can report how long nothing was
stored. Messages that were still inside the commit window are lost, and
their sequence numbers are given out again; because the publisher reads
only committed rows (:meth:`Outbox.peek` never sees the window), a reused
number never names two different delivered messages.

Parked messages
---------------
A message the broker refuses (an MQTT 5 reason code, or a broker that drops
the connection each time the message is sent) must not hold back the ones
behind it: :meth:`Outbox.park` moves it to the ``parked`` table, kept with
its reason and counted (:attr:`OutboxStats.parked`). :meth:`Outbox.requeue_parked`
puts parked messages back at the end of the queue (the publisher does so
after the queue is drained, at most once per retry period), so a message
refused by an ACL that is later fixed is still delivered.

Durability
----------
WAL mode with ``synchronous=FULL`` (the default) syncs the WAL on every
commit, so a message whose commit has happened (what :meth:`Outbox.put`
returns with no window; the window's end with one) survives ``kill -9`` and
power loss, and its sequence number is never reused or skipped after a
restart (counter and row are one transaction). ``synchronous=NORMAL`` in WAL
mode is still corruption-free and loses nothing more than the window on a
process crash (the committed WAL is in the kernel's page cache), but on
power loss it may roll back every commit since the last sync (the last
checkpoint, or the kernel's own write-back, typically within 30 s); the
numbers of those commits are given out again, which a receiver sees as the
same ``seq`` for different messages. It is therefore not the default. Acknowledged
rows are deleted in batches: a crash between the broker's acknowledgement
and the delete re-sends those few messages (at-least-once; receivers
de-duplicate on ``seq``).
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edge.runtime.outbox_health import (
    DEFAULT_CHECK_S,
    Recovery,
    UncleanStop,
    last_write,
    quick_check,
    salvage,
)
from edge.runtime.statefile import move_aside

__all__ = ["COMMIT_WINDOW_S", "Outbox", "OutboxRow", "OutboxStats", "Recovery", "UncleanStop",
           "new_epoch"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS seq (
    device_id TEXT NOT NULL,
    stream TEXT NOT NULL,
    last INTEGER NOT NULL,
    PRIMARY KEY (device_id, stream)
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS parked (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    reason TEXT NOT NULL,
    parked_at REAL NOT NULL
);
"""

#: Parked messages kept; beyond it the oldest parked are dropped (counted as evicted).
MAX_PARKED = 10_000



#: The agent's group commit window [s]: see "Writes to the card" above.
COMMIT_WINDOW_S = 8.0
#: SQLite page size of a new database [bytes].
DEFAULT_PAGE_SIZE = 1024
#: WAL pages after which a commit checkpoints them into the database [-].
DEFAULT_WAL_AUTOCHECKPOINT = 1000
#: Bytes the WAL file is truncated to after a checkpoint (it is reused from its start) [bytes].
DEFAULT_JOURNAL_SIZE_LIMIT = 4 * 1024 * 1024
_PAGE_SIZES = frozenset(1 << k for k in range(9, 17))
#: Files up to this size are rebuilt at open when their page size is not the configured one.
_CONVERT_MAX = 8 * 1024 * 1024

#: Free space kept after a drain so the next burst need not grow the file again [bytes].
_KEEP_FREE_BYTES = 1024 * 1024


def new_epoch() -> str:
    """A random outbox epoch: 16 characters of ``[A-Za-z0-9_-]``."""
    return secrets.token_urlsafe(12)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One queued message."""

    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """Queue figures for the status message.

    Attributes
    ----------
    queued : int
        Messages waiting for an acknowledgement.
    evicted : int
        Messages dropped because the queue was full, since the database was
        created.
    parked : int
        Messages the broker refused, kept apart (see :meth:`Outbox.park`).
    """

    queued: int
    evicted: int
    parked: int = 0


class Outbox:
    """A bounded, durable FIFO of MQTT messages in one SQLite file.

    Thread-safe: the agent puts from its loop while the publisher reads and
    acknowledges from its own thread.

    Parameters
    ----------
    path : str or Path
        Database file (created with its directory when missing).
        ``":memory:"`` for tests that need no durability.
    max_messages : int
        Bound on queued messages; beyond it the oldest are evicted.
    synchronous : {"full", "normal"}
        SQLite durability level (see module docstring).
    commit_window_s : float
        Group commit window (0: every put commits at once). The most a power
        cut can lose. [s]
    clock : callable
        Monotonic seconds for the window (injectable for benchmarks). [s]
    check_s : float
        Time bound of the integrity check at open (0: no check). [s]
    wall : callable
        UTC epoch seconds, for :attr:`OutboxRow`-independent bookkeeping
        (parking times). [s]
    """

    def __init__(
        self,
        path: str | Path,
        *,
        max_messages: int = 600_000,
        synchronous: Literal["full", "normal"] = "full",
        commit_window_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        check_s: float = DEFAULT_CHECK_S,
        wall: Callable[[], float] = time.time,
        page_size: int = DEFAULT_PAGE_SIZE,
        wal_autocheckpoint: int = DEFAULT_WAL_AUTOCHECKPOINT,
        journal_size_limit: int = DEFAULT_JOURNAL_SIZE_LIMIT,
    ) -> None:
        if max_messages < 1:
            raise ValueError("max_messages must be positive")
        if commit_window_s < 0:
            raise ValueError("commit_window_s must be >= 0")
        if page_size not in _PAGE_SIZES:
            raise ValueError(f"page_size must be one of {sorted(_PAGE_SIZES)}")
        if wal_autocheckpoint < 1:
            raise ValueError("wal_autocheckpoint must be positive")
        self.page_size = page_size
        self.wal_autocheckpoint = wal_autocheckpoint
        self.journal_size_limit = journal_size_limit
        self.commit_window_s = commit_window_s
        self._clock = clock
        self._pending: list[tuple[str, bytes, int, int]] = []
        self._pending_seq: dict[tuple[str, str], int] = {}
        self._pending_acks: set[int] = set()
        self._pending_since: float | None = None
        self._closed = False
        self._flusher: threading.Thread | None = None
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path)
        self.max_messages = max_messages
        self._lock = threading.Lock()
        self._due = threading.Condition(self._lock)
        self._listeners: list[Callable[[], None]] = []
        self._wall = wall
        self.check_s = check_s
        #: set when a corrupt database was moved aside at open
        self.recovered: Recovery | None = None
        #: set when the previous process did not close this database
        self.unclean: UncleanStop | None = None
        #: the integrity check at open: "ok", "failed" (moved aside), "skipped", "incomplete"
        self.check = "skipped"
        last_commit = last_write(self.path)
        try:
            self._open(synchronous)
            self._integrity_check()
            self._convert_page_size()
        except sqlite3.DatabaseError as exc:
            if self.path == ":memory:":
                raise
            self._db.close()
            moved = move_aside(self.path, ("", "-wal", "-shm"))
            rows = salvage(moved)
            self._open(synchronous)
            self._insert_salvaged(rows)
            self.recovered = Recovery(moved, str(exc).splitlines()[0][:300], len(rows))
            self.check = "failed"
        self._mark_running(last_commit)

    def _open(self, synchronous: str) -> None:
        self._db = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=30.0
        )
        if self._db.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
            # must precede the first table (or be followed by VACUUM, once, on older files)
            self._db.execute(f"PRAGMA page_size={self.page_size}")  # before auto_vacuum
            self._db.execute("PRAGMA auto_vacuum=INCREMENTAL")
            if self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                self._db.execute("PRAGMA journal_mode=DELETE")  # VACUUM keeps a WAL's page size
                self._db.execute("VACUUM")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self._db.execute(f"PRAGMA wal_autocheckpoint={self.wal_autocheckpoint}")
        self._db.execute(f"PRAGMA journal_size_limit={self.journal_size_limit}")
        self._db.executescript(_SCHEMA)
        self._count = int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        row = self._db.execute("SELECT value FROM counters WHERE name='evicted'").fetchone()
        self._evicted = int(row[0]) if row else 0
        self._db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?)",
                         (new_epoch(),))
        self.epoch = str(self._db.execute("SELECT value FROM meta WHERE key='epoch'")
                         .fetchone()[0])
        self._parked = int(self._db.execute("SELECT COUNT(*) FROM parked").fetchone()[0])

    def _integrity_check(self) -> None:
        """``PRAGMA quick_check`` within ``check_s``; raises ``DatabaseError`` on damage."""
        if self.check_s > 0 and self.path != ":memory:":
            self.check = quick_check(self._db, self.check_s)

    def _convert_page_size(self) -> None:
        """Rebuild a small file (a drained queue) with the configured page size.

        A big one (an outage's backlog) keeps its own until a start finds it
        drained: ``VACUUM`` rewrites the whole file. Runs after the integrity check.
        """
        if (self.path == ":memory:"
                or int(self._db.execute("PRAGMA page_size").fetchone()[0]) == self.page_size
                or Path(self.path).stat().st_size > _CONVERT_MAX):
            return
        self._db.execute("PRAGMA journal_mode=DELETE")  # VACUUM keeps a WAL's page size
        self._db.execute(f"PRAGMA page_size={self.page_size}")
        self._db.execute("VACUUM")
        self._db.execute("PRAGMA journal_mode=WAL")

    def _insert_salvaged(self, rows: list[tuple[str, bytes, int, int]]) -> None:
        if not rows:
            return
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO outbox (topic, payload, qos, retain) VALUES (?, ?, ?, ?)", rows)
        self._count = int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def _mark_running(self, last_commit: float | None) -> None:
        """Record that a process has this database open; notice one that never closed it."""
        if self.path == ":memory:":
            return
        row = self._db.execute("SELECT value FROM meta WHERE key='running'").fetchone()
        if row is not None and row[0] == "1" and self.recovered is None:
            self.unclean = UncleanStop(last_commit if last_commit is not None else self._wall())
        self._db.execute("INSERT INTO meta (key, value) VALUES ('running', '1') "
                         "ON CONFLICT(key) DO UPDATE SET value=excluded.value")

    # ------------------------------------------------------------------ write
    def put(
        self,
        device_id: str,
        stream: str,
        topic: str,
        encode: Callable[[int], bytes],
        *,
        qos: int = 1,
        retain: bool = False,
    ) -> int:
        """Assign the next sequence number and store the message, atomically.

        Parameters
        ----------
        device_id, stream : str
            Sequence key.
        topic : str
            MQTT topic.
        encode : callable
            ``encode(seq) -> bytes``: the payload carrying ``seq``.
        qos : int
            MQTT QoS to publish with.
        retain : bool
            MQTT retain flag.

        Returns
        -------
        int
            The sequence number given to the message (1 for the first).
        """
        return self.put_many(device_id, stream, [(topic, encode)], qos=qos, retain=retain)[0]

    def put_many(
        self,
        device_id: str,
        stream: str,
        items: Sequence[tuple[str, Callable[[int], bytes]]],
        *,
        qos: int = 1,
        retain: bool = False,
    ) -> list[int]:
        """:meth:`put` for several messages of one stream in one transaction."""
        if not items:
            return []
        with self._lock:
            key = (device_id, stream)
            last = self._pending_seq.get(key)
            if last is None:
                row = self._db.execute(
                    "SELECT last FROM seq WHERE device_id=? AND stream=?", key).fetchone()
                last = int(row[0]) if row else 0
            seqs = list(range(last + 1, last + 1 + len(items)))
            rows = [(t, enc(s), qos, int(retain)) for (t, enc), s in zip(items, seqs, strict=True)]
            self._pending.extend(rows)
            self._pending_seq[key] = seqs[-1]
            now = self._clock()
            if self._pending_since is None:
                self._pending_since = now
            committed = False
            if self.commit_window_s <= 0:
                self._flush_now()
                committed = True
            elif now - self._pending_since >= self.commit_window_s or len(self._pending) >= 10_000:
                self._flush_locked()
                committed = True
            else:
                self._start_flusher()
                self._due.notify()
        if committed:
            self._notify()
        return seqs

    def _flush_locked(self) -> None:
        """Commit pending rows and deletes in one transaction (caller holds the lock)."""
        if not self._pending and not self._pending_acks:
            return
        cur = self._db.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            deleted = 0
            if self._pending_acks:
                cur.executemany("DELETE FROM outbox WHERE id=?",
                                [(i,) for i in self._pending_acks])
                deleted = max(cur.rowcount, 0)
            cur.executemany(
                "INSERT INTO outbox (topic, payload, qos, retain) VALUES (?, ?, ?, ?)",
                self._pending)
            cur.executemany(
                "INSERT INTO seq (device_id, stream, last) VALUES (?, ?, ?) "
                "ON CONFLICT(device_id, stream) DO UPDATE SET last=excluded.last",
                [(d, st, last) for (d, st), last in self._pending_seq.items()])
            evicted = self._evict(
                cur, self._count - deleted + len(self._pending) - self.max_messages)
            cur.execute("COMMIT")
        except BaseException:
            self._rollback(cur)
            raise
        self._count += len(self._pending) - evicted - deleted
        self._evicted += evicted
        self._pending.clear()
        self._pending_seq.clear()
        self._pending_acks.clear()
        self._pending_since = None
        if self._count == 0 and deleted:
            self._shrink()

    def _flush_now(self) -> None:
        """Without a window: commit this call's rows, or forget them if that fails."""
        try:
            self._flush_locked()
        except BaseException:
            self._pending.clear()
            self._pending_seq.clear()
            self._pending_acks.clear()
            self._pending_since = None
            raise

    def flush(self) -> None:
        """Commit what :meth:`put` and :meth:`ack` hold in memory now (no-op without a window)."""
        with self._lock:
            had = bool(self._pending)
            self._flush_locked()
        if had:
            self._notify()

    def _start_flusher(self) -> None:
        if self._flusher is None:
            self._flusher = threading.Thread(target=self._flush_loop, name="outbox-commit",
                                              daemon=True)
            self._flusher.start()

    def _flush_loop(self) -> None:
        """Commit the pending rows once the oldest has waited the window."""
        while True:
            with self._lock:
                while not self._closed and self._pending_since is None:
                    self._due.wait()
                if self._closed:
                    return
                since = self._pending_since
                wait = (since if since is not None else 0.0) + self.commit_window_s - self._clock()
                if wait > 0:
                    self._due.wait(min(wait, self.commit_window_s))
                    continue
                try:
                    self._flush_locked()
                except sqlite3.Error:  # kept pending; put() or the next round retries
                    self._due.wait(self.commit_window_s)
                    continue
            self._notify()

    def next_seq(self, device_id: str, stream: str) -> int:
        """Take the next sequence number of a stream without queueing a message.

        For retained state (status, model) that is published directly.
        """
        with self._lock:
            self._flush_locked()  # one transaction at a time on this connection
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                cur.execute(
                    "INSERT INTO seq (device_id, stream, last) VALUES (?, ?, 1) "
                    "ON CONFLICT(device_id, stream) DO UPDATE SET last=last+1",
                    (device_id, stream),
                )
                row = cur.execute(
                    "SELECT last FROM seq WHERE device_id=? AND stream=?", (device_id, stream)
                ).fetchone()
                cur.execute("COMMIT")
            except BaseException:
                self._rollback(cur)
                raise
            return int(row[0])

    def _evict(self, cur: sqlite3.Cursor, excess: int) -> int:
        if excess <= 0:
            return 0
        cur.execute(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)",
            (excess,),
        )
        n = cur.rowcount
        cur.execute(
            "INSERT INTO counters (name, value) VALUES ('evicted', ?) "
            "ON CONFLICT(name) DO UPDATE SET value=value+excluded.value",
            (n,),
        )
        return n

    def last_id(self) -> int:
        """Id of the newest committed message (0 when none was ever queued)."""
        with self._lock:
            row = self._db.execute("SELECT max(id) FROM outbox").fetchone()
        return int(row[0] or 0)

    def first_queued_id(self) -> int | None:
        """Id of the oldest committed message not yet acknowledged, if any."""
        with self._lock:
            rows = self._db.execute("SELECT id FROM outbox ORDER BY id LIMIT ?",
                                    (len(self._pending_acks) + 1,)).fetchall()
            return next((int(r[0]) for r in rows if r[0] not in self._pending_acks), None)

    def _rollback(self, cur: sqlite3.Cursor) -> None:
        """End a failed transaction so the next one can begin (SQLite may have ended it)."""
        if self._db.in_transaction:
            cur.execute("ROLLBACK")

    # ------------------------------------------------------------------- read
    def peek(self, limit: int, after_id: int = 0) -> list[OutboxRow]:
        """The oldest ``limit`` messages with ``id > after_id``, in order."""
        with self._lock:
            acked = self._pending_acks
            rows = self._db.execute(
                "SELECT id, topic, payload, qos, retain FROM outbox WHERE id > ? "
                "ORDER BY id LIMIT ?",
                (after_id, limit + len(acked)),
            ).fetchall()
            out = [OutboxRow(int(i), str(t), bytes(p), int(q), bool(r))
                   for i, t, p, q, r in rows if i not in acked]
        return out[:limit]

    def ack(self, ids: Iterable[int]) -> int:
        """Delete acknowledged messages; returns how many were still queued.

        With a commit window the deletes join the next group commit (a crash
        before it sends those messages again: at-least-once); :meth:`peek`
        no longer returns them meanwhile.
        """
        new = [i for i in dict.fromkeys(ids) if i not in self._pending_acks]
        if not new:
            return 0
        with self._lock:
            if self.commit_window_s <= 0:
                before = self._count
                self._pending_acks.update(new)
                self._flush_now()
                return before - self._count
            self._pending_acks.update(new)
            if self._pending_since is None:
                self._pending_since = self._clock()
            self._start_flusher()
            self._due.notify()
        return len(new)

    def _shrink(self) -> None:
        """After a drain, give free pages beyond a small reserve back to the file system."""
        free = int(self._db.execute("PRAGMA freelist_count").fetchone()[0])
        keep = _KEEP_FREE_BYTES // int(self._db.execute("PRAGMA page_size").fetchone()[0])
        if free > keep:
            # sqlite3.execute steps once (one page); executescript runs it to the end
            self._db.executescript(f"PRAGMA incremental_vacuum({free - keep});")

    def last_seq(self, device_id: str, stream: str) -> int:
        """The last sequence number given out for a stream (0 when none)."""
        with self._lock:
            if (device_id, stream) in self._pending_seq:
                return self._pending_seq[(device_id, stream)]
            row = self._db.execute(
                "SELECT last FROM seq WHERE device_id=? AND stream=?", (device_id, stream)
            ).fetchone()
        return int(row[0]) if row else 0

    @property
    def stats(self) -> OutboxStats:
        """Queued and evicted counts."""
        with self._lock:
            return OutboxStats(
                queued=self._count + len(self._pending) - len(self._pending_acks),
                evicted=self._evicted, parked=self._parked)

    # ---------------------------------------------------------------- parked
    def park(self, row_id: int, reason: str) -> bool:
        """Move a queued message to ``parked`` (kept with ``reason``); False if it is gone.

        What the group commit holds is committed first, in the same transaction.
        """
        with self._lock:
            self._pending_acks.discard(row_id)
            self._flush_locked()
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                cur.execute(
                    "INSERT INTO parked (id, topic, payload, qos, retain, reason, parked_at) "
                    "SELECT id, topic, payload, qos, retain, ?, ? FROM outbox WHERE id=?",
                    (reason[:500], self._wall(), row_id))
                moved = cur.rowcount > 0
                cur.execute("DELETE FROM outbox WHERE id=?", (row_id,))
                excess = self._parked + int(moved) - MAX_PARKED
                dropped = 0
                if excess > 0:
                    cur.execute("DELETE FROM parked WHERE id IN "
                                "(SELECT id FROM parked ORDER BY id LIMIT ?)", (excess,))
                    dropped = cur.rowcount
                    cur.execute(
                        "INSERT INTO counters (name, value) VALUES ('evicted', ?) "
                        "ON CONFLICT(name) DO UPDATE SET value=value+excluded.value", (dropped,))
                cur.execute("COMMIT")
            except BaseException:
                self._rollback(cur)
                raise
            if moved:
                self._count -= 1
                self._parked += 1 - dropped
                self._evicted += dropped
            return moved

    def parked(self, limit: int = 100) -> list[tuple[OutboxRow, str, float]]:
        """The oldest parked messages with their reason and UTC parking time [s]."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, payload, qos, retain, reason, parked_at FROM parked "
                "ORDER BY id LIMIT ?", (limit,)).fetchall()
        return [(OutboxRow(int(i), str(t), bytes(p), int(q), bool(r)), str(why), float(at))
                for i, t, p, q, r, why, at in rows]

    def requeue_parked(self, older_than_s: float = 0.0) -> int:
        """Put messages parked at least ``older_than_s`` ago back at the end of the queue. [s]"""
        cutoff = self._wall() - older_than_s
        with self._lock:
            self._flush_locked()
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                cur.execute(
                    "INSERT INTO outbox (topic, payload, qos, retain) SELECT topic, payload, "
                    "qos, retain FROM parked WHERE parked_at <= ? ORDER BY id", (cutoff,))
                n = max(cur.rowcount, 0)
                cur.execute("DELETE FROM parked WHERE parked_at <= ?", (cutoff,))
                cur.execute("COMMIT")
            except BaseException:
                self._rollback(cur)
                raise
            self._count += n
            self._parked -= n
        if n:
            self._notify()
        return n

    # ---------------------------------------------------------------- control
    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` (no arguments, must not block) after each put."""
        self._listeners.append(callback)

    def _notify(self) -> None:
        for cb in self._listeners:
            cb()

    def close(self) -> None:
        """Commit pending rows and close the database (queued messages stay on disk)."""
        with self._lock:
            if self._closed:
                return
            try:
                self._flush_locked()
                if self.path != ":memory:":
                    self._db.execute("UPDATE meta SET value='0' WHERE key='running'")
            finally:
                self._closed = True
                self._due.notify_all()
                self._db.close()
        if self._flusher is not None:
            self._flusher.join(5.0)

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
