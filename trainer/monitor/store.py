"""The monitor's SQLite store: readings, forecasts, status, events, scores, alerts.

Responsible for: the schema (and its migration), batched idempotent writes
of parsed and validated fleet messages, duplicate and sequence-gap
accounting, and the queries the status, scoring, drift, report and export
code need.

Does NOT: talk MQTT, parse topics or check payloads (see
:mod:`trainer.monitor.ingest` and :mod:`edge.runtime.contract`), or
compute scores (see :mod:`trainer.monitor.scoring`).

Delivery is at least once, so ``(site, device, stream, epoch, seq)`` is
unique: a second copy is dropped and counted, also when two monitor
processes share one database file (WAL mode; each batch is one ``BEGIN
IMMEDIATE`` transaction, so SQLite serialises the writers). The *epoch* is
the random id of the sending device's outbox database: a device whose
outbox was lost (SD card replaced, reflash) starts again at ``seq`` 1 in a
new epoch, and its new data is not taken for copies of the old. Messages
without an epoch (older agents) all belong to one legacy epoch ``""``.
Data loss of a stream is ``max_seq - first_seq + 1 - received`` per epoch:
a gap that a late (out-of-order) message fills later stops counting by
itself. ``first_seq`` is the lowest sequence number this store has seen,
so messages sent before monitoring began are not counted as lost.

Durability: ``synchronous=FULL`` in WAL mode, so a committed batch survives
a power cut; the monitor acknowledges a message only after its batch is
committed. Within a batch each message is written under its own savepoint:
a message the store cannot take (a bug the contract checks did not catch)
is rolled back alone and kept in ``rejected`` with the error, while
``sqlite3.OperationalError`` (locked, disk full, I/O error: not about one
message) aborts the whole batch for the caller to retry or give up.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.runtime.contract import LEGACY_EPOCH, SEQ_STREAMS, parse_time

__all__ = ["BatchResult", "FleetMessage", "Store", "parse_time"]

#: ``PRAGMA user_version`` of the current schema (1: the epoch column)
SCHEMA_VERSION = 1
#: Most bytes of a rejected payload kept in ``rejected``. [bytes]
MAX_REJECTED_BYTES = 64 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings(
    site TEXT, device TEXT, seq INTEGER, ts REAL, received REAL, body TEXT,
    epoch TEXT NOT NULL DEFAULT '',
    PRIMARY KEY(site, device, epoch, seq));
CREATE INDEX IF NOT EXISTS readings_ts ON readings(site, ts);
CREATE TABLE IF NOT EXISTS forecasts(
    site TEXT, device TEXT, seq INTEGER, ts REAL, issue REAL, model_version TEXT,
    model_sha TEXT, shadow INTEGER, inputs_stale INTEGER, received REAL,
    epoch TEXT NOT NULL DEFAULT '',
    PRIMARY KEY(site, device, epoch, seq));
CREATE TABLE IF NOT EXISTS forecast_points(
    site TEXT, device TEXT, target TEXT, horizon_min INTEGER, issue REAL, shadow INTEGER,
    model_sha TEXT, period_end REAL, period_s REAL, p10 REAL, p50 REAL, p90 REAL,
    scored INTEGER DEFAULT 0,
    PRIMARY KEY(site, device, target, horizon_min, issue, shadow, model_sha));
CREATE INDEX IF NOT EXISTS points_open ON forecast_points(site, scored, period_end);
CREATE TABLE IF NOT EXISTS events(
    site TEXT, device TEXT, seq INTEGER, ts REAL, level TEXT, code TEXT, message TEXT,
    data TEXT, received REAL, epoch TEXT NOT NULL DEFAULT '',
    PRIMARY KEY(site, device, epoch, seq));
CREATE TABLE IF NOT EXISTS status(
    site TEXT, device TEXT, state TEXT, ts REAL, received REAL, payload TEXT,
    epoch TEXT, seq INTEGER,
    PRIMARY KEY(site, device));
CREATE TABLE IF NOT EXISTS models(
    site TEXT, device TEXT, version TEXT, sha256 TEXT, blessed INTEGER, role TEXT,
    received REAL, payload TEXT, PRIMARY KEY(site, device, role));
CREATE TABLE IF NOT EXISTS manifests(sha256 TEXT PRIMARY KEY, version TEXT, manifest TEXT);
CREATE TABLE IF NOT EXISTS streams(
    site TEXT, device TEXT, stream TEXT, first_seq INTEGER, max_seq INTEGER,
    received INTEGER DEFAULT 0, duplicates INTEGER DEFAULT 0, last_seen REAL,
    epoch TEXT NOT NULL DEFAULT '',
    PRIMARY KEY(site, device, stream, epoch));
CREATE TABLE IF NOT EXISTS rejected(
    id INTEGER PRIMARY KEY, topic TEXT, payload BLOB, reason TEXT, received REAL);
CREATE TABLE IF NOT EXISTS scores(
    site TEXT, device TEXT, target TEXT, horizon_min INTEGER, issue REAL, shadow INTEGER,
    model_sha TEXT, period_end REAL, forecast REAL, persistence REAL, actual REAL,
    PRIMARY KEY(site, device, target, horizon_min, issue, shadow, model_sha));
CREATE INDEX IF NOT EXISTS scores_time ON scores(site, period_end);
CREATE TABLE IF NOT EXISTS alerts(
    id INTEGER PRIMARY KEY, site TEXT, device TEXT, code TEXT, key TEXT, level TEXT,
    raised REAL, cleared REAL, message TEXT, data TEXT);
CREATE INDEX IF NOT EXISTS alerts_open ON alerts(site, device, code, key, cleared);
"""

#: Tables whose primary key gained ``epoch`` in schema 1 (rebuilt on migration).
_EPOCH_TABLES = ("readings", "forecasts", "events", "streams")


@dataclass(frozen=True, slots=True)
class FleetMessage:
    """One parsed message from ``helio/<site>/<device>/<stream>``.

    Attributes
    ----------
    site, device, stream : str
        From the topic (``stream`` may hold a slash: ``cmd/model``).
    seq : int or None
        Sequence number (None for the Last Will and commands).
    ts : float or None
        Message timestamp, UTC epoch. [s]
    received : float
        When the monitor received it, UTC epoch. [s]
    body : dict
        The decoded JSON payload.
    raw : bytes
        The payload as received (readings are stored verbatim, queried with
        ``json_extract(body, '$.values.<name>')``).
    epoch : str
        The sender's outbox epoch (``""`` when the message has none).
    topic : str
        The topic it came on (for ``rejected``).
    """

    site: str
    device: str
    stream: str
    seq: int | None
    ts: float | None
    received: float
    body: dict[str, Any] = field(default_factory=dict)
    raw: bytes = b""
    epoch: str = LEGACY_EPOCH
    topic: str = ""


@dataclass(slots=True)
class BatchResult:
    """Counts of one :meth:`Store.write_batch`."""

    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    other: int = 0


_iso_s = parse_time


class Store:
    """The SQLite database of one monitor (or several sharing the file).

    Parameters
    ----------
    path : str or Path
        Database file; created with its schema when missing (an older
        schema is migrated). ``":memory:"`` works for tests.
    timeout_s : float
        How long a writer waits for another process's transaction. [s]
    """

    def __init__(self, path: str | Path, *, timeout_s: float = 30.0) -> None:
        self.path = str(path)
        self.db = sqlite3.connect(
            self.path, timeout=timeout_s, isolation_level=None, check_same_thread=False
        )
        self.db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on the disk (WAL fsynced) before it returns, so an
        # acknowledged message survives a power cut (NORMAL only survives a crash)
        self.db.execute("PRAGMA synchronous=FULL")
        with self.transaction():
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version < SCHEMA_VERSION and self._has_table("readings"):
                self._migrate_epoch()
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    self.db.execute(stmt)
            self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _has_table(self, name: str) -> bool:
        return self.db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                               (name,)).fetchone() is not None

    def _migrate_epoch(self) -> None:
        """Schema 0 -> 1: rebuild the sequenced tables with ``epoch`` in their key."""
        for table in _EPOCH_TABLES:
            if not self._has_table(table):
                continue
            cols = [r[1] for r in self.db.execute(f"PRAGMA table_info({table})")]
            if "epoch" in cols:
                continue
            self.db.execute(f"ALTER TABLE {table} RENAME TO {table}_v0")
        self.db.execute("DROP INDEX IF EXISTS readings_ts")
        for stmt in _SCHEMA.split(";"):
            if stmt.strip():
                self.db.execute(stmt)
        for table in _EPOCH_TABLES:
            if self._has_table(f"{table}_v0"):
                names = ", ".join(r[1] for r in self.db.execute(f"PRAGMA table_info({table}_v0)"))
                self.db.execute(f"INSERT INTO {table}({names}) SELECT {names} FROM {table}_v0")
                self.db.execute(f"DROP TABLE {table}_v0")
        cols = [r[1] for r in self.db.execute("PRAGMA table_info(status)")]
        for col, kind in (("epoch", "TEXT"), ("seq", "INTEGER")):
            if col not in cols:
                self.db.execute(f"ALTER TABLE status ADD COLUMN {col} {kind}")

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on an exception)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # ------------------------------------------------------------------ writes

    def write_batch(
        self,
        messages: Sequence[FleetMessage],
        rejects: Sequence[tuple[str, bytes, str, float]] = (),
    ) -> BatchResult:
        """Store ``messages`` and ``rejects`` (topic, payload, reason, received) at once.

        Returns the counts; a duplicate is a message whose ``(site, device,
        stream, epoch, seq)`` is already stored. A message that raises
        anything but ``sqlite3.OperationalError`` while being written is
        rolled back alone and stored in ``rejected`` with the error instead.

        Raises
        ------
        sqlite3.OperationalError
            Nothing of the batch is stored (database locked, disk full,
            I/O error).
        """
        res = BatchResult()
        readings: dict[tuple[str, str, str], list[FleetMessage]] = {}
        rest = []
        for msg in messages:
            if msg.stream == "reading" and msg.seq is not None:
                readings.setdefault((msg.site, msg.device, msg.epoch), []).append(msg)
            else:
                rest.append(msg)
        rejected = list(rejects)
        with self.transaction() as db:
            for (site, device, epoch), group in readings.items():
                failed = self._isolated(db, lambda g=group, k=(site, device, epoch):
                                        self._readings(db, k, g, res))
                if failed is not None:  # one bad reading spoils the group: one at a time
                    for m in group:
                        err = self._isolated(db, lambda m=m: self._readings(
                            db, (m.site, m.device, m.epoch), [m], res))
                        if err is not None:
                            rejected.append(_store_reject(m, err))
            for msg in rest:
                err = self._isolated(db, lambda m=msg: self._write_one(db, m, res))
                if err is not None:
                    rejected.append(_store_reject(msg, err))
            db.executemany(
                "INSERT INTO rejected(topic, payload, reason, received) VALUES (?,?,?,?)",
                [(t, bytes(p[:MAX_REJECTED_BYTES]), r, rec) for t, p, r, rec in rejected])
        res.rejected = len(rejected)
        return res

    @staticmethod
    def _isolated(db: sqlite3.Connection, write: Any) -> Exception | None:
        """Run ``write()`` under a savepoint; its exception (rolled back) or None."""
        db.execute("SAVEPOINT one")
        try:
            write()
        except sqlite3.OperationalError:
            raise
        except Exception as exc:  # kept in `rejected`, never blocks the batch
            db.execute("ROLLBACK TO one")
            db.execute("RELEASE one")
            return exc
        db.execute("RELEASE one")
        return None

    @staticmethod
    def _readings(db: sqlite3.Connection, key: tuple[str, str, str],
                  group: list[FleetMessage], res: BatchResult) -> None:
        """Readings of one (site, device, epoch): one existence query, one insert, one
        counter update."""
        site, device, epoch = key
        seqs = [m.seq for m in group if m.seq is not None]
        have = {r[0] for r in db.execute(
            "SELECT seq FROM readings WHERE site=? AND device=? AND epoch=?"
            " AND seq BETWEEN ? AND ?", (site, device, epoch, min(seqs), max(seqs)))}
        rows = []
        for m in group:
            if m.seq in have:
                continue
            have.add(m.seq)
            rows.append((site, device, m.seq, m.ts, m.received,
                         m.raw.decode() if m.raw else json.dumps(m.body), epoch))
        db.executemany("INSERT INTO readings(site, device, seq, ts, received, body, epoch)"
                       " VALUES (?,?,?,?,?,?,?)", rows)
        new = [int(r[2]) for r in rows if r[2] is not None]
        dup = len(group) - len(rows)
        db.execute(
            "INSERT INTO streams(site, device, stream, epoch, first_seq, max_seq, received,"
            " duplicates, last_seen) VALUES (?,?,'reading',?,?,?,?,?,?)"
            " ON CONFLICT(site, device, stream, epoch) DO UPDATE SET"
            " first_seq=coalesce(min(first_seq, excluded.first_seq), first_seq,"
            " excluded.first_seq),"
            " max_seq=coalesce(max(max_seq, excluded.max_seq), max_seq, excluded.max_seq),"
            " received=received+excluded.received, duplicates=duplicates+excluded.duplicates,"
            " last_seen=max(last_seen, excluded.last_seen)",
            (site, device, epoch, min(new) if new else None, max(new) if new else None,
             len(new), dup, max(m.received for m in group)),
        )
        res.inserted += len(rows)
        res.duplicates += dup

    def _write_one(self, db: sqlite3.Connection, msg: FleetMessage, res: BatchResult) -> None:
        writer = {
            "forecast": self._forecast,
            "events": self._event,
        }.get(msg.stream)
        if writer is not None and msg.seq is not None:
            new = writer(db, msg)
            self._account(db, msg, new)
            if new:
                res.inserted += 1
            else:
                res.duplicates += 1
            return
        if msg.stream == "status":
            self._status(db, msg)
        elif msg.stream == "model":
            self._model(db, msg)
        elif msg.stream == "cmd/model":
            self._manifest(msg.body)
        else:
            res.other += 1
        self._touch(db, msg)
        res.inserted += 1

    def _account(self, db: sqlite3.Connection, msg: FleetMessage, new: bool) -> None:
        db.execute(
            "INSERT INTO streams(site, device, stream, epoch, first_seq, max_seq, received,"
            " duplicates, last_seen) VALUES (?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT(site, device, stream, epoch) DO UPDATE SET"
            " first_seq=coalesce(min(first_seq, excluded.first_seq), first_seq,"
            " excluded.first_seq),"
            " max_seq=coalesce(max(max_seq, excluded.max_seq), max_seq, excluded.max_seq),"
            " received=received+excluded.received, duplicates=duplicates+excluded.duplicates,"
            " last_seen=max(last_seen, excluded.last_seen)",
            (msg.site, msg.device, msg.stream, msg.epoch, msg.seq if new else None,
             msg.seq if new else None, int(new), int(not new), msg.received),
        )

    def _touch(self, db: sqlite3.Connection, msg: FleetMessage) -> None:
        db.execute(
            "INSERT INTO streams(site, device, stream, epoch, last_seen, received)"
            " VALUES (?,?,?,'',?,1)"
            " ON CONFLICT(site, device, stream, epoch) DO UPDATE SET received=received+1,"
            " last_seen=max(last_seen, excluded.last_seen)",
            (msg.site, msg.device, msg.stream, msg.received),
        )

    @staticmethod
    def _forecast(db: sqlite3.Connection, msg: FleetMessage) -> bool:
        body = msg.body
        model = body.get("model") or {}
        issue = _iso_s(body.get("issue_time")) or msg.ts
        shadow = int(bool(body.get("shadow", False)))
        sha = str(model.get("sha256", ""))
        cur = db.execute(
            "INSERT OR IGNORE INTO forecasts(site, device, seq, ts, issue, model_version,"
            " model_sha, shadow, inputs_stale, received, epoch) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (msg.site, msg.device, msg.seq, msg.ts, issue, str(model.get("version", "")), sha,
             shadow, int(bool(body.get("inputs_stale", False))), msg.received, msg.epoch),
        )
        if cur.rowcount != 1:
            return False
        period_s = 60.0 * float(body.get("step_minutes", 15))
        rows = []
        for entry in body.get("forecasts", []):
            end = _iso_s(entry.get("period_end"))
            for target in ("ghi", "dni", "dhi", "pv_power"):
                q = entry.get(target)
                if end is None or not isinstance(q, dict):
                    continue
                rows.append((msg.site, msg.device, target, int(entry["horizon_min"]), issue,
                             shadow, sha, end, period_s, q.get("p10"), q.get("p50"), q.get("p90")))
        db.executemany(
            "INSERT OR IGNORE INTO forecast_points(site, device, target, horizon_min, issue,"
            " shadow, model_sha, period_end, period_s, p10, p50, p90)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        return True

    @staticmethod
    def _event(db: sqlite3.Connection, msg: FleetMessage) -> bool:
        b = msg.body
        cur = db.execute(
            "INSERT OR IGNORE INTO events(site, device, seq, ts, level, code, message, data,"
            " received, epoch) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (msg.site, msg.device, msg.seq, msg.ts, str(b.get("level", "")),
             str(b.get("code", "")), str(b.get("message", "")),
             json.dumps(b.get("data", {})), msg.received, msg.epoch),
        )
        return cur.rowcount == 1

    @staticmethod
    def _status(db: sqlite3.Connection, msg: FleetMessage) -> None:
        # Ordered by what the device's clock cannot spoil: within one outbox
        # epoch by seq (a redelivered older heartbeat does not win), else by
        # receive time (a device clock stepped back or forth changes nothing).
        # The Last Will has no seq and always wins.
        db.execute(
            "INSERT INTO status(site, device, state, ts, received, payload, epoch, seq)"
            " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(site, device) DO UPDATE SET"
            " state=excluded.state, ts=excluded.ts, received=excluded.received,"
            " payload=excluded.payload, epoch=excluded.epoch, seq=excluded.seq"
            " WHERE excluded.seq IS NULL OR status.seq IS NULL"
            " OR (excluded.epoch IS status.epoch AND excluded.seq >= status.seq)"
            " OR (excluded.epoch IS NOT status.epoch AND excluded.received >= status.received)",
            (msg.site, msg.device, str(msg.body.get("state", "")), msg.ts, msg.received,
             json.dumps(msg.body), msg.epoch, msg.seq),
        )

    @staticmethod
    def _model(db: sqlite3.Connection, msg: FleetMessage) -> None:
        b = msg.body
        db.execute(
            "INSERT OR REPLACE INTO models VALUES (?,?,?,?,?,?,?,?)",
            (msg.site, msg.device, str(b.get("version", "")), str(b.get("sha256", "")),
             int(bool(b.get("blessed", False))), str(b.get("role", "active")), msg.received,
             json.dumps(b)),
        )

    def _manifest(self, body: dict[str, Any]) -> None:
        manifest = body.get("manifest")
        if isinstance(manifest, dict):
            self.add_manifest(manifest, in_transaction=True)

    def add_manifest(self, manifest: dict[str, Any], *, in_transaction: bool = False) -> None:
        """Remember a bundle manifest (validation metrics) by its model SHA-256."""
        model = manifest.get("model")
        sha = str(model.get("sha256", "")) if isinstance(model, dict) else ""
        if not sha:
            return
        row = (sha, str(manifest.get("model_version", "")), json.dumps(manifest))
        sql = "INSERT OR REPLACE INTO manifests VALUES (?,?,?)"
        if in_transaction:
            self.db.execute(sql, row)
        else:
            with self.transaction() as db:
                db.execute(sql, row)

    # ----------------------------------------------------------------- queries

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only query."""
        return list(self.db.execute(sql, tuple(params)))

    def stream_stats(self, site: str | None = None) -> list[dict[str, Any]]:
        """Per stream and epoch: received, duplicates, lost (sequence gaps), last_seen."""
        sql = (
            "SELECT site, device, stream, epoch, first_seq, max_seq, received, duplicates,"
            " last_seen FROM streams" + (" WHERE site=?" if site else "")
            + " ORDER BY site, device, stream, last_seen"
        )
        out = []
        for s, d, st, ep, first, last, rec, dup, seen in self.query(sql, [site] if site else []):
            lost = (last - first + 1 - rec) if first is not None and st in SEQ_STREAMS else 0
            out.append({"site": s, "device": d, "stream": st, "epoch": ep, "received": rec,
                        "duplicates": dup, "lost": max(lost, 0), "last_seen": seen})
        return out

    def manifest(self, sha256: str) -> dict[str, Any] | None:
        """The stored manifest of the model with ``sha256``, if any."""
        rows = self.query("SELECT manifest FROM manifests WHERE sha256=?", [sha256])
        return json.loads(rows[0][0]) if rows else None

    # ------------------------------------------------------------------ alerts

    def raise_alert(
        self, *, site: str, device: str, code: str, key: str, level: str, ts: float,
        message: str, data: dict[str, Any],
    ) -> bool:
        """Record an alarm unless the same one (site, device, code, key) is open.

        Returns True when it is new (and should be published).
        """
        with self.transaction() as db:
            open_ = db.execute(
                "SELECT 1 FROM alerts WHERE site=? AND device=? AND code=? AND key=?"
                " AND cleared IS NULL", (site, device, code, key)).fetchone()
            if open_:
                return False
            db.execute(
                "INSERT INTO alerts(site, device, code, key, level, raised, message, data)"
                " VALUES (?,?,?,?,?,?,?,?)",
                (site, device, code, key, level, ts, message, json.dumps(data)))
        return True

    def clear_alert(self, *, site: str, device: str, code: str, key: str, ts: float) -> bool:
        """Close the open alarm (site, device, code, key); True if there was one."""
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE alerts SET cleared=? WHERE site=? AND device=? AND code=? AND key=?"
                " AND cleared IS NULL", (ts, site, device, code, key))
        return cur.rowcount > 0

    def alerts(self, site: str | None = None, *, open_only: bool = False) -> list[dict[str, Any]]:
        """Stored alarms, newest first."""
        where = []
        params: list[Any] = []
        if site:
            where.append("site=?")
            params.append(site)
        if open_only:
            where.append("cleared IS NULL")
        sql = ("SELECT site, device, code, key, level, raised, cleared, message, data FROM alerts"
               + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY raised DESC, id DESC")
        keys = ("site", "device", "code", "key", "level", "raised", "cleared", "message", "data")
        out = []
        for row in self.query(sql, params):
            item = dict(zip(keys, row, strict=False))
            item["data"] = json.loads(item["data"] or "{}")
            out.append(item)
        return out


def _store_reject(msg: FleetMessage, exc: Exception) -> tuple[str, bytes, str, float]:
    """A ``rejected`` row for a message the store could not take."""
    payload = msg.raw or json.dumps(msg.body, default=repr).encode()
    return (msg.topic or f"?/{msg.site}/{msg.device}/{msg.stream}", payload,
            f"store: {type(exc).__name__}: {exc}", msg.received)
