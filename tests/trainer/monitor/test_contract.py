"""The message contract, monitor side: bad messages are refused without blocking good ones,
and a store failure not about one message exits the process."""

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
from trainer.monitor.store import Store

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
        (*_edit(reading("s1", "mppt", 9, T0, pv_power=1.0), timestamp="2026-05-28T20:00:00"),
         "timestamp must be an ISO 8601 time with Z or an offset"),
        # sizes: a reading of tens of values is about 1 KiB (before, 1 MB of text was stored)
        (*reading("s1", "mppt", 15, T0, serial_number="x" * 1_000_000), "bytes is over"),
        (*reading("s1", "mppt", 16, T0, serial_number="x" * 5000), "values.serial_number"),
        (*reading("s1", "mppt", 17, T0, **{"k" * 1000: 1.0}), "key of 1000 characters"),
    ]


@pytest.mark.parametrize("case", range(15))
def test_parse_message_names_the_violation(case: int) -> None:
    topic, payload, reason = _bad_messages()[case]
    with pytest.raises(MessageError, match=reason.replace("[", r"\[").replace(".", r"\.")):
        parse_message(topic, payload, T0)


def test_reading_body_must_name_the_topic_site_and_device() -> None:
    """A reading without ids (or other ids) is refused, not filed under the topic."""
    topic, payload = reading("s1", "mppt", 1, T0, pv_power=1.0)
    body = json.loads(payload)
    del body["site_id"]
    with pytest.raises(MessageError, match="site_id"):
        parse_message(topic, json.dumps(body).encode(), T0)


@pytest.mark.broker
def test_bad_messages_are_rejected_acked_and_never_block_good_ones(mosquitto, start_monitor,
                                                                   tmp_path: Path) -> None:
    """Bad messages must not stop the writer: all good readings around them are stored."""
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


# ------------------------------------------------------------------ epochs


# ------------------------------------------- writer failure exits the process


@pytest.mark.broker
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("prlimit") is None, reason="no prlimit (util-linux)")
def test_monitor_exits_nonzero_on_disk_full_and_loses_nothing(mosquitto, tmp_path: Path) -> None:
    """A writer failure that is not about one message exits the process non-zero
    (a dead writer thread in a live process would store and acknowledge nothing more)."""
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
