"""The batched writer of the SQLite store: messages, stream accounting, manifests, scores.

Responsible for: :meth:`SqliteWriter.write_batch` (one ``BEGIN IMMEDIATE``
transaction per batch, each message under its own savepoint), the one
stream-accounting upsert every stream goes through, and the score writes.

Does NOT: read message bodies (see :mod:`trainer.monitor.store.bodies`).

Two monitor processes may share one file: each batch is one ``BEGIN
IMMEDIATE`` transaction, so SQLite serialises the writers, and the
``(site, device, epoch, seq)`` keys drop the copies. Durability comes from
``synchronous=FULL`` in WAL mode: a committed batch survives a power cut.
A message that raises anything but ``sqlite3.OperationalError`` while being
written is rolled back alone and kept in ``rejected``; an
``OperationalError`` (locked, disk full, I/O error: not about one message)
aborts the batch: :class:`~trainer.monitor.store.records.StoreBusy` when
another writer holds the lock, the error itself otherwise.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from trainer.monitor.store import bodies
from trainer.monitor.store.records import (
    BatchResult,
    FleetMessage,
    PlanOutcome,
    PlanScoreRow,
    Reject,
    ScoreRow,
    StoreBusy,
)
from trainer.monitor.store.sqlite.connection import SqliteConnection

__all__ = ["MAX_REJECTED_BYTES", "SqliteWriter"]

#: Most bytes of a rejected payload kept in ``rejected``. [bytes]
MAX_REJECTED_BYTES = 64 * 1024

_ACCOUNT = (
    "INSERT INTO streams(site, device, stream, epoch, first_seq, max_seq, received,"
    " duplicates, last_seen) VALUES (?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT(site, device, stream, epoch) DO UPDATE SET"
    " first_seq=coalesce(min(first_seq, excluded.first_seq), first_seq, excluded.first_seq),"
    " max_seq=coalesce(max(max_seq, excluded.max_seq), max_seq, excluded.max_seq),"
    " received=received+excluded.received, duplicates=duplicates+excluded.duplicates,"
    " last_seen=max(last_seen, excluded.last_seen)"
)


class SqliteWriter(SqliteConnection):
    """The write half of :class:`~trainer.monitor.store.sqlite.SqliteStore`."""

    def write_batch(self, messages: Sequence[FleetMessage],
                    rejects: Sequence[Reject] = ()) -> BatchResult:
        """Store ``messages`` and ``rejects`` (topic, payload, reason, received) at once.

        Returns the counts; a duplicate is a message whose ``(site, device,
        stream, epoch, seq)`` is already stored.

        Raises
        ------
        StoreBusy
            Another connection holds the write lock; nothing is stored.
        sqlite3.OperationalError
            Nothing of the batch is stored (disk full, I/O error).
        """
        try:
            return self._write_batch(messages, rejects)
        except sqlite3.OperationalError as exc:
            if _transient(exc):
                raise StoreBusy(str(exc)) from exc
            raise

    def _write_batch(self, messages: Sequence[FleetMessage],
                     rejects: Sequence[Reject]) -> BatchResult:
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
            for group in readings.values():
                failed = _isolated(db, partial(self._readings, db, group, res))
                if failed is not None:  # one bad reading spoils the group: one at a time
                    for m in group:
                        err = _isolated(db, partial(self._readings, db, [m], res))
                        if err is not None:
                            rejected.append(_store_reject(m, err))
            for msg in rest:
                err = _isolated(db, partial(self._write_one, db, msg, res))
                if err is not None:
                    rejected.append(_store_reject(msg, err))
            db.executemany(
                "INSERT INTO rejected(topic, payload, reason, received) VALUES (?,?,?,?)",
                [(t, bytes(p[:MAX_REJECTED_BYTES]), r, rec) for t, p, r, rec in rejected])
        res.rejected = len(rejected)
        return res

    @staticmethod
    def _account(db: sqlite3.Connection, msg: FleetMessage, *, epoch: str,
                 new_seqs: Sequence[int], received: int, duplicates: int,
                 last_seen: float) -> None:
        """The stream-accounting upsert of every stream (``new_seqs``: stored sequence numbers)."""
        db.execute(_ACCOUNT, (msg.site, msg.device, msg.stream, epoch,
                              min(new_seqs) if new_seqs else None,
                              max(new_seqs) if new_seqs else None,
                              received, duplicates, last_seen))

    def _readings(self, db: sqlite3.Connection, group: list[FleetMessage],
                  res: BatchResult) -> None:
        """Readings of one (site, device, epoch): one existence query, one insert, one
        accounting upsert."""
        first = group[0]
        seqs = [m.seq for m in group if m.seq is not None]
        have = {r[0] for r in db.execute(
            "SELECT seq FROM readings WHERE site=? AND device=? AND epoch=?"
            " AND seq BETWEEN ? AND ?", (first.site, first.device, first.epoch,
                                         min(seqs), max(seqs)))}
        rows = []
        for m in group:
            if m.seq in have:
                continue
            have.add(m.seq)
            rows.append(bodies.reading_record(m))
        db.executemany("INSERT INTO readings(site, device, seq, ts, received, body, epoch)"
                       " VALUES (?,?,?,?,?,?,?)", rows)
        new = [int(r.seq) for r in rows if r.seq is not None]
        dup = len(group) - len(rows)
        self._account(db, first, epoch=first.epoch, new_seqs=new, received=len(new),
                      duplicates=dup, last_seen=max(m.received for m in group))
        res.inserted += len(rows)
        res.duplicates += dup

    def _write_one(self, db: sqlite3.Connection, msg: FleetMessage, res: BatchResult) -> None:
        writer = {"forecast": _forecast, "events": _event, "plan": _plan}.get(msg.stream)
        if writer is not None and msg.seq is not None:
            new = writer(db, msg)
            self._account(db, msg, epoch=msg.epoch, new_seqs=[msg.seq] if new else [],
                          received=int(new), duplicates=int(not new), last_seen=msg.received)
            if new:
                res.inserted += 1
            else:
                res.duplicates += 1
            return
        if msg.stream == "status":
            _status(db, msg)
        elif msg.stream == "model":
            db.execute(
                "INSERT INTO models(site, device, version, sha256, blessed, role, received,"
                " payload) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(site, device, role) DO UPDATE"
                " SET version=excluded.version, sha256=excluded.sha256,"
                " blessed=excluded.blessed, received=excluded.received,"
                " payload=excluded.payload", bodies.model_record(msg))
        elif msg.stream == "cmd/model":
            record = bodies.command_manifest(msg)
            if record is not None:
                _manifest(db, record)
        else:
            res.other += 1
        # unsequenced streams are counted in the legacy epoch, whatever they carry
        self._account(db, msg, epoch="", new_seqs=[], received=1, duplicates=0,
                      last_seen=msg.received)
        res.inserted += 1

    def add_manifest(self, manifest: dict[str, Any]) -> None:
        """Remember a bundle manifest (validation metrics) by its model SHA-256."""
        record = bodies.manifest_record(manifest)
        if record is None:
            return
        with self.transaction() as db:
            _manifest(db, record)

    def write_scores(self, scores: Sequence[ScoreRow], scored: Sequence[int]) -> None:
        """Store ``scores`` and mark the points ``scored`` (their ``rowid``) scored, at once."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO scores(site, device, target, horizon_min, issue, shadow, model_sha,"
                " period_end, forecast, persistence, actual) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT DO NOTHING", scores)
            db.executemany("UPDATE forecast_points SET scored=1 WHERE rowid=?",
                           [(int(r),) for r in scored])

    def write_plan_scores(self, scores: Sequence[PlanScoreRow],
                          outcomes: Sequence[PlanOutcome]) -> None:
        """Store plan-horizon ``scores`` and each plan's outcome (marking it scored), at once."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO plan_scores(site, device, issued, horizon_min, target_time,"
                " soc_p10, soc_p50, soc_p90, soc_actual, load_p50, load_actual,"
                " load_persistence) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                scores)
            db.executemany("UPDATE plans SET scored=?, reserve_measured=? WHERE rowid=?",
                           [(int(o.scored), o.reserve_measured, int(o.id)) for o in outcomes])


def _isolated(db: sqlite3.Connection, write: Callable[[], None]) -> Exception | None:
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


def _forecast(db: sqlite3.Connection, msg: FleetMessage) -> bool:
    head, points = bodies.forecast_records(msg)
    cur = db.execute(
        "INSERT INTO forecasts(site, device, seq, ts, issue, model_version, model_sha, shadow,"
        " inputs_stale, received, epoch) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT DO NOTHING", head)
    if cur.rowcount != 1:
        return False
    db.executemany(
        "INSERT INTO forecast_points(site, device, target, horizon_min, issue, shadow,"
        " model_sha, period_end, period_s, p10, p50, p90) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT DO NOTHING", points)
    return True


def _plan(db: sqlite3.Connection, msg: FleetMessage) -> bool:
    cur = db.execute(
        "INSERT INTO plans(site, device, seq, ts, issued, horizon_end, reserve_soc, reserve_at,"
        " reserve_at_p50, received, body, epoch) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT DO NOTHING", bodies.plan_record(msg))
    return cur.rowcount == 1


def _event(db: sqlite3.Connection, msg: FleetMessage) -> bool:
    cur = db.execute(
        "INSERT INTO events(site, device, seq, ts, level, code, message, data, received, epoch)"
        " VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING", bodies.event_record(msg))
    return cur.rowcount == 1


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
        bodies.status_record(msg))


def _manifest(db: sqlite3.Connection, record: bodies.ManifestRecord) -> None:
    db.execute("INSERT INTO manifests(sha256, version, manifest) VALUES (?,?,?)"
               " ON CONFLICT(sha256) DO UPDATE SET version=excluded.version,"
               " manifest=excluded.manifest", record)


def _store_reject(msg: FleetMessage, exc: Exception) -> Reject:
    """A ``rejected`` row for a message the store could not take."""
    payload = msg.raw or json.dumps(msg.body, default=repr).encode()
    return (msg.topic or f"?/{msg.site}/{msg.device}/{msg.stream}", payload,
            f"store: {type(exc).__name__}: {exc}", msg.received)


def _transient(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED: another connection holds the lock (worth a retry)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return int(code) & 0xFF in (5, 6)
    return "locked" in str(exc) or "busy" in str(exc)
