"""helio-monitor ingestion: parsing, dedup, loss, status, LWT, shared groups."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from tests.trainer.monitor.conftest import Pub, offline, reading, status, wait_for
from tests.trainer.monitor.sql_helpers import sql
from trainer.monitor.fleet import fleet_table, format_table
from trainer.monitor.ingest import MessageError, Monitor, MonitorConfig, parse_message
from trainer.monitor.store import FleetMessage, Store

T0 = 1_780_000_000.0  # 2026-05-28, daytime in Abuja


def _msg(topic_payload: tuple[str, bytes], received: float = T0) -> FleetMessage:
    msg = parse_message(*topic_payload, received)
    assert msg is not None
    return msg


# ------------------------------------------------------------------ sans-IO


@pytest.mark.parametrize(
    ("topic", "payload", "match"),
    [
        ("other/s/d/reading", b"{}", "not helio"),
        ("helio/s/d", b"{}", "not helio"),
        ("helio/s/d/reading", b"\xff\xfe", "not JSON"),
        ("helio/s/d/reading", b"[1, 2]", "not a JSON object"),
        ("helio/s/d/reading", b'{"schema_version": 1, "site_id": "x", "seq": 1}',
         "contradicts"),
        ("helio/s/d/reading", b'{"schema_version": 1, "site_id": "s", "device_id": "d",'
         b' "seq": 0, "timestamp": "2026-01-01T00:00:00Z"}', "seq"),
        ("helio/s/d/reading", b'{"schema_version": 1, "site_id": "s", "device_id": "d",'
         b' "seq": true, "timestamp": "2026-01-01T00:00:00Z"}', "seq"),
        ("helio/s/d/events", b'{"schema_version": 1, "site_id": "s", "device_id": "d",'
         b' "seq": 3, "timestamp": "yesterday"}', "timestamp"),
    ],
    ids=["prefix", "short", "binary", "array", "site-mismatch", "seq-zero", "seq-bool", "bad-ts"],
)
def test_parse_message_rejects_contract_violations(topic: str, payload: bytes, match: str) -> None:
    with pytest.raises(MessageError, match=match):
        parse_message(topic, payload, T0)


def test_parse_message_reading_and_lwt() -> None:
    msg = _msg(reading("abuja-01", "mppt", 7, T0, pv_power=812.5))
    assert (msg.site, msg.device, msg.stream, msg.seq, msg.ts) == ("abuja-01", "mppt",
                                                                   "reading", 7, T0)
    lwt = parse_message("helio/abuja-01/gateway/status", offline("abuja-01", "gateway"), T0)
    assert lwt is not None and lwt.seq is None and lwt.ts is None
    assert lwt.body["state"] == "offline"
    assert parse_message("helio/abuja-01/monitor/alerts", b"{}", T0) is None


def test_status_heartbeat_timeout_makes_gateway_silent(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.sqlite")
    store.write_batch([_msg(status("s1", "gw", T0), received=T0)])
    (row,) = fleet_table(store, now=T0 + 60, offline_after_s=180)
    assert row.state == "online"
    (row,) = fleet_table(store, now=T0 + 600, offline_after_s=180)
    assert row.state == "silent"
    # an older heartbeat redelivered later does not overwrite the newer one (seq order)
    store.write_batch([_msg(status("s1", "gw", T0 + 100, version="v2", seq=5, epoch="e1"),
                            received=T0 + 100)])
    store.write_batch([_msg(status("s1", "gw", T0 + 50, version="v1", seq=4, epoch="e1"),
                            received=T0 + 101)])
    (row,) = fleet_table(store, now=T0 + 120)
    assert row.model_version == "v2"


def test_status_follows_receive_time_when_the_device_clock_steps_back(tmp_path: Path) -> None:
    """A device clock stepped back must not freeze the gateway as silent."""
    store = Store(tmp_path / "m.sqlite")
    # the gateway booted with a clock a year ahead, then NTP stepped it back
    store.write_batch([_msg(status("s1", "gw", T0 + 365 * 86400, seq=1, epoch="e1"),
                            received=T0)])
    for k in range(1, 6):  # heartbeats every 60 s, device timestamps now correct (earlier)
        store.write_batch([_msg(status("s1", "gw", T0 + 60 * k, seq=1 + k, epoch="e1"),
                                received=T0 + 60 * k)])
    (row,) = fleet_table(store, now=T0 + 330, offline_after_s=180)
    assert row.state == "online"
    assert sql(store, "SELECT received FROM status")[0][0] == T0 + 300
    # an agent without epoch/seq (older release): receive order, same result
    store2 = Store(tmp_path / "m2.sqlite")
    store2.write_batch([_msg(status("s1", "gw", T0 + 365 * 86400), received=T0)])
    store2.write_batch([_msg(status("s1", "gw", T0 + 60, version="v9"), received=T0 + 60)])
    (row,) = fleet_table(store2, now=T0 + 90, offline_after_s=180)
    assert (row.state, row.model_version) == ("online", "v9")


# ------------------------------------------------------------- real broker


@pytest.mark.broker
def test_fleet_status_online_then_offline_by_last_will(mosquitto, start_monitor) -> None:
    mon = start_monitor(mosquitto.port)
    agents = {}
    for site in ("abuja-01", "kano-02"):
        pub = Pub(mosquitto.port, client_id=f"agent-{site}",
                  will=(f"helio/{site}/gateway/status", offline(site, "gateway")))
        pub.send(*status(site, "gateway", time.time()), retain=True)
        for n in range(1, 21):
            pub.send(*reading(site, "mppt", n, T0 + n, pv_power=100.0 + n))
        pub.flush()
        agents[site] = pub
    wait_for(lambda: mon.stats.inserted >= 42, what="42 messages stored")
    rows = {r.site: r for r in fleet_table(mon.store)}
    assert set(rows) == {"abuja-01", "kano-02"}
    assert all(r.state == "online" and r.received == 20 and r.lost == 0 for r in rows.values())
    assert rows["abuja-01"].devices["mppt"]["connected"] is True
    table = format_table(list(rows.values()))
    assert "abuja-01" in table and "online" in table

    agents["kano-02"].crash()  # the broker publishes the Last Will
    wait_for(lambda: {r.site: r.state for r in fleet_table(mon.store)}["kano-02"] == "offline",
             what="kano-02 offline")
    assert {r.site: r.state for r in fleet_table(mon.store)}["abuja-01"] == "online"
    agents["abuja-01"].close()


@pytest.mark.broker
def test_gap_is_loss_and_duplicates_are_dropped(mosquitto, start_monitor) -> None:
    mon = start_monitor(mosquitto.port)
    pub = Pub(mosquitto.port)
    sent = [n for n in range(1, 31) if n not in (11, 12, 20)]
    for n in sent:
        pub.send(*reading("s1", "mppt", n, T0 + n, pv_power=1.0))
    for n in (5, 6, 7):  # at-least-once redelivery
        pub.send(*reading("s1", "mppt", n, T0 + n, pv_power=1.0))
    pub.close()
    wait_for(lambda: mon.stats.received >= len(sent) + 3, what="all delivered")
    (row,) = mon.store.stream_stats("s1")
    assert (row.received, row.lost, row.duplicates) == (27, 3, 3)


@pytest.mark.broker
def test_persistent_session_keeps_messages_while_monitor_is_down(mosquitto, start_monitor,
                                                                 tmp_path) -> None:
    db = tmp_path / "persist.sqlite"
    mon = start_monitor(mosquitto.port, db=db, client_id="mon-persist")
    mon.stop()
    pub = Pub(mosquitto.port)
    for n in range(1, 51):
        pub.send(*reading("s1", "mppt", n, T0 + n, pv_power=1.0))
    pub.close()
    mon2 = start_monitor(mosquitto.port, db=db, client_id="mon-persist")
    wait_for(lambda: mon2.stats.inserted >= 50, what="queued messages after restart")
    (row,) = mon2.store.stream_stats("s1")
    assert (row.received, row.lost) == (50, 0)


@pytest.mark.broker
def test_two_monitors_in_shared_group_store_every_message_once(mosquitto, start_monitor,
                                                               tmp_path) -> None:
    db = tmp_path / "shared.sqlite"
    a = start_monitor(mosquitto.port, db=db, client_id="mon-a", group="fleet")
    b = start_monitor(mosquitto.port, db=db, client_id="mon-b", group="fleet")
    pub = Pub(mosquitto.port)
    n_sites, n_msgs = 5, 200
    for site in range(n_sites):
        for n in range(1, n_msgs + 1):
            pub.send(*reading(f"site-{site}", "mppt", n, T0 + n, pv_power=float(n)))
    for n in range(1, 51):  # copies, likely handled by the other monitor than the original
        pub.send(*reading("site-0", "mppt", n, T0 + n, pv_power=float(n)))
    pub.close()
    total = n_sites * n_msgs + 50
    wait_for(lambda: a.stats.received + b.stats.received >= total, what="all delivered")
    assert a.stats.received > 0 and b.stats.received > 0  # the group split the traffic
    store = a.store
    assert sql(store, "SELECT count(*) FROM readings")[0][0] == n_sites * n_msgs
    stats = {r.site: r for r in store.stream_stats()}
    assert all(stats[f"site-{s}"].lost == 0 for s in range(n_sites))
    assert sum(r.duplicates for r in stats.values()) == 50
    assert a.stats.duplicates + b.stats.duplicates == 50
    assert json.loads(sql(store, "SELECT body FROM readings WHERE site='site-3'"
                                  " AND seq=77")[0][0])["values"] == {"pv_power": 77.0}


@pytest.mark.broker
def test_store_locked_by_another_writer_loses_nothing(mosquitto, tmp_path) -> None:
    db = tmp_path / "locked.sqlite"
    mon = Monitor(MonitorConfig(port=mosquitto.port, client_id="mon-lock", flush_s=0.02),
                  Store(db, timeout_s=0.2))
    mon.start()
    try:
        mon.wait_connected()
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        pub = Pub(mosquitto.port)
        for n in range(1, 21):
            pub.send(*reading("s1", "mppt", n, T0 + n, pv_power=1.0))
        pub.close()
        time.sleep(1.5)
        assert mon.stats.inserted == 0  # could not write, nothing acknowledged
        other.execute("COMMIT")
        other.close()
        wait_for(lambda: mon.stats.inserted >= 20, what="stored after the lock")
        (row,) = mon.store.stream_stats("s1")
        assert (row.received, row.lost, row.duplicates) == (20, 0, 0)
    finally:
        mon.stop()


def test_shadow_forecast_topic_is_stored_as_a_shadow_forecast(tmp_path: Path) -> None:
    """``forecast/shadow`` shares the forecast stream's seq and dedup."""
    from tests.trainer.monitor.conftest import forecast  # noqa: PLC0415

    topic, live = forecast("s1", "gw", 1, 1_800_000_000.0, {15: 100.0})
    _, shadow = forecast("s1", "gw", 2, 1_800_000_000.0, {15: 90.0}, shadow=True,
                                    sha="sha-b")
    received = 1_800_000_060.0
    msg = parse_message(topic + "/shadow", shadow, received)
    assert msg is not None and msg.stream == "forecast" and msg.seq == 2
    with pytest.raises(MessageError, match="without shadow: true"):
        parse_message(topic + "/shadow", live, received)
    store = Store(tmp_path / "m.sqlite")
    store.write_batch([parse_message(topic, live, received), msg])
    assert sql(store, "SELECT shadow, model_sha FROM forecast_points ORDER BY shadow") == [
        (0, "sha-a"), (0, "sha-a"), (0, "sha-a"), (0, "sha-a"),
        (1, "sha-b"), (1, "sha-b"), (1, "sha-b"), (1, "sha-b")]
    [stats] = [r for r in store.stream_stats() if r.stream == "forecast"]
    assert stats.received == 2 and stats.lost == 0 and stats.duplicates == 0
    store.close()


@pytest.mark.broker
def test_alerts_keep_their_pace_when_the_monitor_clock_steps_back(mosquitto,
                                                                  tmp_path: Path) -> None:
    """Before: the task schedule compared wall-clock times, so after the monitor's own clock
    stepped back an hour no offline alert came for that hour (normally about 1 s)."""
    from tests.trainer.monitor.conftest import Sub  # noqa: PLC0415
    from trainer.monitor.fleet import OfflineWatch  # noqa: PLC0415

    step = [0.0]
    store = Store(tmp_path / "m.sqlite")
    mon = Monitor(MonitorConfig(port=mosquitto.port, client_id="mon-step", flush_s=0.02,
                                tasks_every_s=0.3), store,
                  tasks=[OfflineWatch(store, offline_after_s=60)],
                  clock=lambda: time.time() + step[0])
    mon.start()
    mon.wait_connected()
    alerts = Sub(mosquitto.port, "helio/+/monitor/alerts")
    pub = Pub(mosquitto.port)
    try:
        time.sleep(0.3)
        pub.send(*status("s1", "gw", time.time()), retain=True)
        pub.flush()
        wait_for(lambda: [r.state for r in fleet_table(store, now=time.time())] == ["online"],
                 what="gateway online")
        time.sleep(0.6)  # the tasks ran on the old clock
        step[0] = -3600.0  # NTP (or an operator) steps the monitor's clock back an hour
        pub.send("helio/s1/gw/status", offline("s1", "gw"), retain=True)  # the gateway died
        pub.flush()
        t0 = time.monotonic()
        wait_for(lambda: any(b.get("code") == "offline" and b.get("level") == "warning"
                             for _t, b in alerts.messages), timeout=10.0, what="offline alert")
        assert time.monotonic() - t0 < 5.0
    finally:
        alerts.close()
        pub.close()
        mon.stop()
        store.close()
