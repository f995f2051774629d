"""The production broker config (TLS, per-site users, ACL) with the monitor,
``helio-train publish`` and gateways on it, for real."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from tests.fleet_broker import HAS_PASSWD, FleetBroker, start_fleet_broker
from tests.trainer.monitor.conftest import reading, status, wait_for
from tests.trainer.monitor.rollout_helpers import keypair, make_bundle
from tests.trainer.monitor.sql_helpers import sql
from trainer.cli import main as train_main
from trainer.monitor.ingest import Alert, Monitor, MonitorConfig
from trainer.monitor.store import Store

pytestmark = [pytest.mark.broker,
              pytest.mark.skipif(not HAS_PASSWD, reason="no mosquitto_passwd")]

REPO = Path(__file__).resolve().parents[3]
T0 = 1_780_000_000.0
USERS = {"abuja-01": "pw-abuja", "kano-02": "pw-kano", "helio-monitor": "pw-mon",
         "helio-publisher": "pw-pub"}


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[FleetBroker]:
    broker = start_fleet_broker(tmp_path / "broker", USERS)
    try:
        yield broker
    finally:
        broker.stop()


def _publish(client: mqtt.Client, topic: str, payload: bytes = b"{}") -> tuple[bool, str]:
    """(delivered, reason) of one QoS 1 publish, from the MQTT 5 PUBACK."""
    done = threading.Event()
    result: dict[str, Any] = {}

    def on_publish(_c: Any, _u: Any, mid: int, rc: Any, _p: Any) -> None:
        result["rc"] = rc
        done.set()

    client.on_publish = on_publish
    client.publish(topic, payload, qos=1)
    assert done.wait(10), f"no PUBACK for {topic}"
    return not result["rc"].is_failure, str(result["rc"])


def _connected(client: mqtt.Client) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not client.is_connected():
        time.sleep(0.05)
    return bool(client.is_connected())


def test_acl_confines_each_gateway_to_its_site(fleet: FleetBroker) -> None:
    anonymous = fleet.client(None)
    time.sleep(1.0)
    assert not anonymous.is_connected()
    gw = fleet.client("abuja-01")
    assert _connected(gw)
    assert _publish(gw, "helio/abuja-01/mppt/reading")[0]
    assert _publish(gw, "helio/abuja-01/gateway/forecast")[0]
    for topic in ("helio/kano-02/mppt/reading", "helio/abuja-01/gateway/cmd/model",
                  "helio/abuja-01/gateway/cmd", "helio/abuja-01/monitor/alerts",
                  "homeassistant/sensor/x/config"):
        ok, reason = _publish(gw, topic)
        assert not ok and reason == "Not authorized", topic
    # reads only its own site's commands
    got: list[str] = []
    gw.on_message = lambda _c, _u, m: got.append(m.topic)
    gw.subscribe([("helio/abuja-01/gateway/cmd/#", 1), ("helio/kano-02/gateway/cmd/#", 1)])
    time.sleep(0.5)
    pub = fleet.client("helio-publisher")
    assert _connected(pub)
    assert _publish(pub, "helio/abuja-01/gateway/cmd/model")[0]
    assert _publish(pub, "helio/kano-02/gateway/cmd/model")[0]
    assert not _publish(pub, "helio/abuja-01/mppt/reading")[0]  # no forged telemetry
    wait_for(lambda: got == ["helio/abuja-01/gateway/cmd/model"], timeout=5, what="own cmd")
    time.sleep(0.3)
    assert got == ["helio/abuja-01/gateway/cmd/model"]


@pytest.mark.slow
def test_monitor_and_publisher_use_tls_and_credentials(fleet: FleetBroker,
                                                       tmp_path: Path) -> None:
    db = tmp_path / "fleet.sqlite"
    mon = subprocess.Popen(
        [sys.executable, "-m", "trainer.monitor", "run", "--port", str(fleet.port),
         "--store", str(db), "--client-id", "mon-tls", "--duration", "25",
         "--ca-file", str(fleet.ca_file),
         "--credentials-file", str(fleet.credentials_file("helio-monitor"))],
        cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        gw = fleet.client("abuja-01")
        assert _connected(gw)
        inbox: list[tuple[str, dict[str, Any]]] = []
        gw.on_message = lambda _c, _u, m: inbox.append((m.topic, json.loads(m.payload)))
        gw.subscribe("helio/abuja-01/gateway/cmd/#", qos=1)
        assert _publish(gw, *status("abuja-01", "gateway", time.time()))[0]
        gw.publish(*status("abuja-01", "gateway", time.time()), qos=1, retain=True)

        def stored() -> int:
            try:
                return int(sql(db, "SELECT count(*) FROM readings")[0][0])
            except Exception:  # not created yet
                return 0
        wait_for(lambda: db.exists() and stored() >= 0, timeout=30, what="monitor up")
        time.sleep(2.0)
        for n in range(1, 6):
            assert _publish(gw, *reading("abuja-01", "mppt", n, T0 + n, pv_power=1.0))[0]
        # a gateway spoofing another site is refused by the broker, not filed by the monitor
        assert not _publish(gw, *reading("kano-02", "mppt", 1, T0, pv_power=1.0))[0]
        wait_for(lambda: stored() >= 5, timeout=30, what="readings over TLS")

        priv, _pub = keypair(tmp_path)
        bundle = make_bundle(tmp_path / "v2", priv, version="v2", kt=0.8)
        common = ["--site", "abuja-01", "--port", str(fleet.port), "--key", str(priv),
                  "--ca-file", str(fleet.ca_file), "--wait", "1.0"]
        cred = ["--credentials-file", str(fleet.credentials_file("helio-publisher"))]
        assert train_main(["publish", "--bundle", str(bundle), *common, *cred]) == 0
        wait_for(lambda: len(inbox) == 1, timeout=10, what="install delivered")
        assert inbox[0][0] == "helio/abuja-01/gateway/cmd/model"
        # a gateway's credentials cannot send commands: the PUBACK says not authorised
        gw_cred = ["--credentials-file", str(fleet.credentials_file("kano-02"))]
        assert train_main(["rollback", "--device", "gateway", *common, *gw_cred]) == 1
        # and without credentials nothing connects
        assert train_main(["rollback", "--device", "gateway", *common]) == 1
        time.sleep(0.5)
        assert len(inbox) == 1
    finally:
        mon.terminate()
        mon.wait(timeout=30)
    assert sql(db, "SELECT count(*) FROM rejected")[0][0] == 0


def test_monitor_counts_alerts_the_broker_refuses(tmp_path: Path) -> None:
    """Monitor side: an alert whose PUBACK says not authorised is counted, not
    taken as delivered."""
    acl = "user helio-monitor\ntopic read helio/#\n"  # no write on the alerts topic
    broker = start_fleet_broker(tmp_path / "broker", {"helio-monitor": "pw"}, acl_text=acl)
    s = broker.settings("helio-monitor")
    mon = Monitor(MonitorConfig(port=broker.port, client_id="mon-acl", tls=True,
                                ca_file=s.ca_file, username=s.username, password=s.password),
                  Store(tmp_path / "m.sqlite"))
    try:
        mon.start()
        mon.wait_connected()
        mon.publish_alert(Alert("abuja-01", "gateway", "offline", "warning", "x", T0))
        wait_for(lambda: mon.stats.alerts_refused == 1, timeout=10, what="refused PUBACK")
    finally:
        mon.stop()
        broker.stop()
