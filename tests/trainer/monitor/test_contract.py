"""Issue 11 items 1, 3, 5, 9 (monitor side): bad messages, epochs, durability, store failure."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.trainer.monitor.conftest import Pub, forecast, reading, status, wait_for
from tests.trainer.monitor.sql_helpers import sql
from trainer.monitor.ingest import MessageError, parse_message
from trainer.monitor.store import FleetMessage, Store

REPO = Path(__file__).resolve().parents[3]
T0 = 1_780_000_000.0


def _edit(topic_payload: tuple[str, bytes], **changes: Any) -> tuple[str, bytes]:
    topic, payload = topic_payload
    body = json.loads(payload)
    for key, value in changes.items():
        if "." in key:
            head, tail = key.split(".", 1)
            body[head][tail] = value
        else:
            body[key] = value
    return topic, json.dumps(body).encode()


def _bad_messages() -> list[tuple[str, bytes, str]]:
    """The malformed messages of the review (each raised in the store before), with reasons."""
    fc = forecast("s1", "gateway", 1, T0, {15: 500.0})
    topic, good = reading("s1", "mppt", 3, T0, pv_power=1.0)
    return [
        (*reading("s1", "mppt", 2**63, T0, pv_power=1.0), "seq"),
        (*_edit(fc, forecasts=[1]), "forecasts[0] must be an object"),
        (*_edit(fc, model="x"), "model must be an object"),
        (*_edit(fc, step_minutes="15"), "step_minutes"),
        (topic, json.loads(good) and json.dumps(json.loads(good)).encode("utf-16"), "UTF-8"),
        (*reading("s1", "mppt", 4, T0, pv_power=[1, 2]), "values.pv_power"),
        (*_edit(fc, **{"forecasts": [{"horizon_min": 15, "period_end": "2026-05-28T20:00:00Z",
                                      "pv_power": {"p50": [3]}}]}), "pv_power.p50"),
        (*_edit(reading("s1", "mppt", 5, T0, pv_power=1.0), site_id="other"), "contradicts"),
        (*_edit(reading("s1", "mppt", 6, T0, pv_power=1.0), device_id="inverter"),
         "contradicts"),
        (*_edit(reading("s1", "mppt", 7, T0, pv_power=1.0), epoch="a/b"), "epoch"),
        ("helio/s1/mppt/reading", b'{"schema_version":1,"site_id":"s1","device_id":"mppt",'
         b'"seq":8,"timestamp":"2026-05-28T20:00:00Z","values":{"x":NaN}}', "NaN"),
    ]


@pytest.mark.parametrize("case", range(11))
def test_parse_message_names_the_violation(case: int) -> None:
    topic, payload, reason = _bad_messages()[case]
    with pytest.raises(MessageError, match=reason.replace("[", r"\[").replace(".", r"\.")):
        parse_message(topic, payload, T0)


def test_reading_body_must_name_the_topic_site_and_device() -> None:
    """Item 9: a reading without ids (or other ids) is refused, not filed under the topic."""
    topic, payload = reading("s1", "mppt", 1, T0, pv_power=1.0)
    body = json.loads(payload)
    del body["site_id"]
    with pytest.raises(MessageError, match="site_id"):
        parse_message(topic, json.dumps(body).encode(), T0)


@pytest.mark.broker
def test_bad_messages_are_rejected_acked_and_never_block_good_ones(mosquitto, start_monitor,
                                                                   tmp_path: Path) -> None:
    """Item 1: before, 6 bad messages stopped the writer and 0 of 5 good readings were stored."""
    db = tmp_path / "bad.sqlite"
    mon = start_monitor(mosquitto.port, db=db, client_id="mon-bad")
    pub = Pub(mosquitto.port)
    bad = _bad_messages()
    for topic, payload, _reason in bad:
        pub.send(topic, payload)
    for n in range(10, 15):
        pub.send(*reading("s1", "mppt", n, T0 + n, pv_power=float(n)))
    pub.close()
    wait_for(lambda: mon.stats.received >= len(bad) + 5, what="all handled")
    wait_for(lambda: mon.stats.inserted >= 5, what="good readings stored")
    assert mon.stats.rejected == len(bad)
    assert sql(mon.store, "SELECT count(*) FROM readings")[0][0] == 5
    reasons = [r[0] for r in sql(mon.store, "SELECT reason FROM rejected ORDER BY id")]
    assert len(reasons) == len(bad)
    for (_t, _p, expect), got in zip(bad, reasons, strict=True):
        assert expect in got, (expect, got)
    assert not mon.failed.is_set()
    # every message was acknowledged: a new session with the same id gets nothing again
    mon.stop()
    mon2 = start_monitor(mosquitto.port, db=db, client_id="mon-bad")
    time.sleep(1.0)
    assert mon2.stats.received == 0


def test_store_isolates_a_message_it_cannot_bind(tmp_path: Path) -> None:
    """A message the contract missed (here built by hand) is rolled back alone, kept in
    ``rejected``, and the rest of its batch is stored (before: ProgrammingError retried the
    batch forever)."""
    store = Store(tmp_path / "m.sqlite")
    good = [parse_message(*reading("s1", "mppt", n, T0 + n, pv_power=1.0), T0)
            for n in (1, 2, 3)]
    evil = FleetMessage("s1", "gateway", "events", 2**64, T0, T0,
                        {"level": "info", "code": "x", "data": {}},
                        topic="helio/s1/gateway/events")
    evil_reading = FleetMessage("s1", "mppt", "reading", 4, T0, T0, {}, b"\xff\xfe",
                                topic="helio/s1/mppt/reading")
    res = store.write_batch([*[m for m in good if m], evil, evil_reading])
    assert (res.inserted, res.rejected) == (3, 2)
    assert sql(store, "SELECT count(*) FROM readings")[0][0] == 3
    assert sql(store, "SELECT count(*) FROM events")[0][0] == 0
    reasons = sorted(r[0] for r in sql(store, "SELECT reason FROM rejected"))
    assert reasons[0].startswith("store: OverflowError")
    assert reasons[1].startswith("store: UnicodeDecodeError")


def test_store_commits_with_synchronous_full(tmp_path: Path) -> None:
    """Item 5: an acknowledged batch must survive a power cut (NORMAL in WAL does not)."""
    store = Store(tmp_path / "m.sqlite")
    assert sql(store, "PRAGMA synchronous")[0][0] == 2  # FULL
    assert sql(store, "PRAGMA journal_mode")[0][0] == "wal"


# ------------------------------------------------------------------ epochs


def test_new_outbox_epoch_is_new_data_not_duplicates(tmp_path: Path) -> None:
    """Item 3: after an outbox loss seq restarts at 1; before, all of it was dropped."""
    store = Store(tmp_path / "m.sqlite")

    def batch(seqs: range, epoch: str | None, base: float) -> list[FleetMessage]:
        out = []
        for n in seqs:
            m = parse_message(*reading("s1", "mppt", n, base + n, epoch=epoch, pv_power=1.0),
                              base + n)
            assert m is not None
            out.append(m)
        return out

    assert store.write_batch(batch(range(1, 101), None, T0)).inserted == 100  # legacy agent
    assert store.write_batch(batch(range(1, 51), "ep-a", T0 + 200)).inserted == 50  # upgraded
    res = store.write_batch(batch(range(1, 31), "ep-b", T0 + 300))  # SD card replaced
    assert (res.inserted, res.duplicates) == (30, 0)
    res = store.write_batch(batch(range(20, 36), "ep-b", T0 + 300))  # redelivery + new
    assert (res.inserted, res.duplicates) == (5, 11)
    rows = {r.epoch: r for r in store.stream_stats("s1")}
    assert set(rows) == {"", "ep-a", "ep-b"}
    assert [(rows[e].received, rows[e].lost) for e in ("", "ep-a", "ep-b")] == [
        (100, 0), (50, 0), (35, 0)]
    assert sql(store, "SELECT count(*) FROM readings")[0][0] == 185


def test_schema_0_store_is_migrated_with_its_data_in_the_legacy_epoch(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    con = sqlite3.connect(db)
    con.executescript("""
        CREATE TABLE readings(site TEXT, device TEXT, seq INTEGER, ts REAL, received REAL,
            body TEXT, PRIMARY KEY(site, device, seq));
        CREATE INDEX readings_ts ON readings(site, ts);
        CREATE TABLE streams(site TEXT, device TEXT, stream TEXT, first_seq INTEGER,
            max_seq INTEGER, received INTEGER DEFAULT 0, duplicates INTEGER DEFAULT 0,
            last_seen REAL, PRIMARY KEY(site, device, stream));
        CREATE TABLE status(site TEXT, device TEXT, state TEXT, ts REAL, received REAL,
            payload TEXT, PRIMARY KEY(site, device));
        INSERT INTO readings VALUES ('s1', 'mppt', 1, 1.0, 1.0, '{}'), ('s1', 'mppt', 2, 2.0,
            2.0, '{}');
        INSERT INTO streams VALUES ('s1', 'mppt', 'reading', 1, 2, 2, 0, 2.0);
    """)
    con.commit()
    con.close()
    store = Store(db)
    assert sql(store, "PRAGMA user_version")[0][0] == 1
    assert sql(store, "SELECT seq, epoch FROM readings ORDER BY seq") == [(1, ""), (2, "")]
    (row,) = store.stream_stats("s1")
    assert (row.epoch, row.received, row.lost) == ("", 2, 0)
    dup = parse_message(*reading("s1", "mppt", 2, T0, pv_power=1.0), T0)
    new = parse_message(*reading("s1", "mppt", 2, T0, epoch="e2", pv_power=1.0), T0)
    assert dup is not None and new is not None
    assert store.write_batch([dup, new]).duplicates == 1
    store.close()
    Store(db).close()  # reopening an up-to-date store changes nothing


# ------------------------------------------- writer failure exits the process


@pytest.mark.broker
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("prlimit") is None, reason="no prlimit (util-linux)")
def test_monitor_exits_nonzero_on_disk_full_and_loses_nothing(mosquitto, tmp_path: Path) -> None:
    """Item 1: a writer failure that is not about one message exits the process non-zero
    (before: the thread died, the process stayed up, nothing more was stored or acked)."""
    db = tmp_path / "full.sqlite"
    cmd = [sys.executable, "-m", "trainer.monitor", "run", "--port", str(mosquitto.port),
           "--store", str(db), "--client-id", "mon-full", "--tasks-every", "3600"]
    # the monitor's files may not grow past 600 KB: SQLite gets EFBIG, as on a full disk
    proc = subprocess.Popen(["prlimit", "--fsize=600000", *cmd], cwd=REPO,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for(db.exists, timeout=30, what="store created")
        pub = Pub(mosquitto.port)
        pub.send(*status("s1", "gateway", time.time()), retain=True)
        pub.flush()
        time.sleep(2.0)  # subscribed
        n = 4000
        filler = "x" * 200
        for k in range(1, n + 1):
            pub.send(*reading("s1", "mppt", k, T0 + k, pv_power=float(k), note=filler))
        pub.close()
        assert proc.wait(timeout=60) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read() if proc.stderr else ""
    assert "store writer failed" in err and ("I/O error" in err or "full" in err)
    # restarted without the limit (what systemd does), the same session gets the rest
    proc2 = subprocess.Popen([*cmd, "--duration", "20"], cwd=REPO, stderr=subprocess.PIPE,
                             text=True)
    try:
        def stored() -> int:
            try:
                return int(sql(db, "SELECT count(*) FROM readings")[0][0])
            except sqlite3.Error:
                return 0
        wait_for(lambda: stored() >= n, timeout=40, what="all readings after restart")
    finally:
        proc2.terminate()
        proc2.wait(timeout=30)
    (row,) = [r for r in Store(db).stream_stats("s1") if r.stream == "reading"]
    assert (row.received, row.lost) == (n, 0)
