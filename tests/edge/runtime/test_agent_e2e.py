"""End to end: simulators on pseudo-terminals -> agent (real serial code, real
int8 model) -> real mosquitto -> subscriber; broker outage, agent SIGKILL,
unplug/replug, Home Assistant discovery."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import paho.mqtt.publish as publish
import pytest

from edge.commands.run import build, load_holder
from edge.demo.runner import PlantClock, demo_config
from edge.forecasting.site import load_site
from edge.simulation import simulate_device
from edge.simulation.plant import Plant
from tests.edge.conftest import Subscriber, distinct_in_order, persistent_subscriber

REPO = Path(__file__).resolve().parents[3]
SITE = load_site(REPO / "configs/sites/abuja.toml")
pytestmark = [pytest.mark.broker, pytest.mark.pty, pytest.mark.tflite, pytest.mark.slow]


def _seqs(sub: Subscriber, suffix: str) -> list[int]:
    return [m.json()["seq"] for m in sub.on(suffix)]


@pytest.fixture
def site_sims() -> Iterator[tuple[Plant, dict[str, Any]]]:
    start = dt.datetime(2026, 6, 21, 8, 55, tzinfo=dt.UTC)
    plant = Plant(SITE, seed=3, start=start, speed=900.0)
    sims = {"mppt": simulate_device("vedirect", site=SITE, plant=plant, time_scale=0.2),
            "inverter": simulate_device("pi30", site=SITE, plant=plant, time_scale=0.2)}
    yield plant, sims
    for s in sims.values():
        s.stop()


def test_e2e_readings_forecasts_outage_unplug(
    persistent_broker, site_sims, shipped_bundle, tmp_path
):  # type: ignore[no-untyped-def]
    plant, sims = site_sims
    broker = persistent_broker
    sub = persistent_subscriber(broker.port)
    cfg = demo_config(tmp_path, broker.port, {k: s.url for k, s in sims.items()}, 900.0,
                      bundle=Path(shipped_bundle[0]), public_key=Path(shipped_bundle[1]))
    cfg = replace(cfg, agent=replace(cfg.agent, heartbeat_s=0.5),
                  devices=tuple(replace(d, poll_interval=0.2) for d in cfg.devices),
                  mqtt=replace(cfg.mqtt, reconnect_min_s=0.2, reconnect_max_s=1.0))
    rt = build(cfg, SITE, load_holder(cfg), clock=PlantClock(plant))
    stop = threading.Event()
    rt.publisher.start()
    agent = threading.Thread(target=rt.agent.run, args=(stop,), daemon=True)
    agent.start()
    try:
        sub.wait_for(lambda: len(sub.on("/forecast")) >= 2 and len(sub.on("/mppt/reading")) > 5,
                     timeout=60, what="readings and forecasts")
        fc = sub.on("/forecast")[-1].json()
        assert fc["model"]["sha256"] == rt.agent.holder.sha256
        assert len(fc["forecasts"]) == 5 and fc["inputs_stale"] is False
        assert fc["forecasts"][0]["pv_power"]["p50"] > 0  # morning in Abuja
        status = sub.on("/gateway/status")[-1]
        assert status.json()["state"] == "online"
        assert sub.on("/inverter/reading")
        # Home Assistant discovery arrives with the right classes
        configs = {m.topic: m.json() for m in sub.on("/config")}
        mppt = configs["homeassistant/device/helio_abuja-01_mppt_device/config"]["components"]
        pv = mppt["helio_abuja-01_mppt_pv_power"]
        assert (pv["device_class"], pv["state_class"]) == ("power", "measurement")
        gw = configs["homeassistant/device/helio_abuja-01_gateway_gateway/config"]["components"]
        assert "state_class" not in gw["helio_abuja-01_gateway_forecast_pv_power_15min"]
        n = len(configs)
        broker_publish(broker.port, "homeassistant/status", b"online")
        sub.wait_for(lambda: len(sub.on("/config")) >= 2 * n - 2, what="re-announcement")

        # broker outage: everything queued is delivered afterwards, in order
        broker.stop()
        time.sleep(3.0)
        assert rt.outbox.stats.queued > 0 and rt.publisher.is_alive()
        broker.start()
        sub.wait_connected(20)
        assert rt.publisher.wait_drained(60)
        last = rt.outbox.last_seq("mppt", "reading")
        sub.wait_for(lambda: set(_seqs(sub, "/mppt/reading")) >= set(range(1, last + 1)),
                     timeout=30, what="all mppt readings after the outage")
        got = distinct_in_order(_seqs(sub, "/mppt/reading"))
        assert got[:last] == list(range(1, last + 1))
        fseq = distinct_in_order(_seqs(sub, "/forecast"))
        assert fseq == list(range(1, len(fseq) + 1))

        # unplug the charger: a warning event, stale status, then recovery
        sims["mppt"].unplug()
        sub.wait_for(lambda: any(m.json()["code"] == "device_disconnected"
                                 for m in sub.on("/events")), timeout=30, what="disconnect")
        sims["mppt"].replug()
        sub.wait_for(lambda: any(m.json()["code"] == "device_connected"
                                 for m in sub.on("/events")), timeout=30, what="reconnect")
        n_read = len(sub.on("/mppt/reading"))
        sub.wait_for(lambda: len(sub.on("/mppt/reading")) > n_read + 3, what="readings resume")
    finally:
        stop.set()
        agent.join(15)
        rt.close()
        sub.close()
    assert sub.on("/gateway/status")[-1].json()["state"] == "offline"  # clean stop


def broker_publish(port: int, topic: str, payload: bytes) -> None:
    publish.single(topic, payload, hostname="127.0.0.1", port=port, qos=1)


def _agent_cmd(cfg: Path) -> list[str]:
    return [sys.executable, "-m", "edge", "run", "--config", str(cfg)]


def test_e2e_sigkill_keeps_outbox_and_seq(persistent_broker, shipped_bundle, tmp_path):  # type: ignore[no-untyped-def]
    """kill -9 mid-stream, during an outage: restart with the outbox intact and no gap."""
    broker = persistent_broker
    sims = {"mppt": simulate_device("vedirect", site=SITE, speed=1.0, time_scale=0.2),
            "inverter": simulate_device("pi30", site=SITE, speed=1.0, time_scale=0.2)}
    cfg = demo_config(tmp_path, broker.port, {k: s.url for k, s in sims.items()}, 1.0,
                      bundle=Path(shipped_bundle[0]), public_key=Path(shipped_bundle[1]))
    cfg_file = tmp_path / "agent.toml"
    cfg_file.write_text(_toml(cfg, poll=0.2))
    sub = persistent_subscriber(broker.port)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        a = subprocess.Popen(_agent_cmd(cfg_file), env=env, stderr=subprocess.DEVNULL)
        procs.append(a)
        sub.wait_for(lambda: len(sub.on("/mppt/reading")) >= 5, timeout=60, what="readings")
        # SIGKILL with the broker up: the broker publishes the retained Last Will
        a.send_signal(signal.SIGKILL)
        a.wait(10)
        sub.wait_for(lambda: sub.on("/gateway/status")[-1].json()["state"] == "offline",
                     timeout=30, what="last will")
        b = subprocess.Popen(_agent_cmd(cfg_file), env=env, stderr=subprocess.DEVNULL)
        procs.append(b)
        n = len(sub.on("/mppt/reading"))
        sub.wait_for(lambda: len(sub.on("/mppt/reading")) >= n + 5, timeout=60,
                     what="readings after restart")
        # outage, then SIGKILL while messages are queued on disk only
        broker.stop()
        time.sleep(3.0)
        b.send_signal(signal.SIGKILL)
        b.wait(10)
        broker.start()
        c = subprocess.Popen(_agent_cmd(cfg_file), env=env, stderr=subprocess.DEVNULL)
        procs.append(c)
        time.sleep(1.0)
        n = max(_seqs(sub, "/mppt/reading") or [0])
        sub.wait_for(lambda: max(_seqs(sub, "/mppt/reading")) >= n + 10, timeout=60,
                     what="readings after the second restart")
        c.send_signal(signal.SIGTERM)
        assert c.wait(30) == 0
        sub.wait_for(lambda: sub.on("/gateway/status")[-1].json()["state"] == "offline",
                     what="offline on clean stop")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for s in sims.values():
            s.stop()
        sub.close()
    seqs = distinct_in_order(_seqs(sub, "/mppt/reading"))
    assert seqs == list(range(1, len(seqs) + 1))  # every seq, in order, none lost
    # at-least-once: a message sent again after a kill is the same (epoch, seq)
    ev = {(m.json().get("epoch"), m.json()["seq"]): m.json() for m in sub.on("/events")}
    assert [e["code"] for e in ev.values()].count("agent_started") == 3
    # both kills are reported at the next start, with how long nothing was stored
    unclean = [e["data"] for e in ev.values() if e["code"] == "unclean_stop"]
    assert len(unclean) == 2 and all(u["down_s"] >= 0 and "mppt" in u["missing_readings"]
                                     for u in unclean)
    # nothing is published before it is committed, so a sequence number given again after a
    # kill never names two different delivered messages
    by_key: dict[tuple[str, int], set[bytes]] = {}
    for m in sub.on("/mppt/reading"):
        by_key.setdefault((m.json()["epoch"], m.json()["seq"]), set()).add(m.payload)
    assert all(len(p) == 1 for p in by_key.values())


def _toml(cfg: Any, poll: float) -> str:
    devices = "\n".join(
        f'[[devices]]\nid = "{d.id}"\nprotocol = "{d.protocol}"\nport = "{d.port}"\n'
        f"poll_interval = {poll}\n" for d in cfg.devices
    )
    return (
        f'[agent]\nsite = "{cfg.agent.site}"\nstate_dir = "{cfg.agent.state_dir}"\n'
        f'heartbeat_s = 1.0\npv_device = "mppt"\n'
        f'[model]\nbundle = "{cfg.model.bundle}"\npublic_key = "{cfg.model.public_key}"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {cfg.mqtt.port}\nkeepalive = 5\n'
        f"reconnect_min_s = 0.2\nreconnect_max_s = 1.0\n{devices}"
    )



def test_e2e_damaged_state_files_do_not_stop_the_agent(persistent_broker, shipped_bundle,
                                                       tmp_path):  # type: ignore[no-untyped-def]
    """Before: a corrupt rollout ledger raised at start, ``helio-edge run`` exited 1 and
    systemd restarted it every 5 s forever, so the site sent nothing."""
    broker = persistent_broker
    sims = {"mppt": simulate_device("vedirect", site=SITE, speed=1.0, time_scale=0.2),
            "inverter": simulate_device("pi30", site=SITE, speed=1.0, time_scale=0.2)}
    cfg = demo_config(tmp_path, broker.port, {k: s.url for k, s in sims.items()}, 1.0,
                      bundle=Path(shipped_bundle[0]), public_key=Path(shipped_bundle[1]))
    cfg_file = tmp_path / "agent.toml"
    cfg_file.write_text(_toml(cfg, poll=0.2))
    models = Path(cfg.agent.state_dir) / "models"
    models.mkdir(parents=True, exist_ok=True)
    for name in ("commands.json", "commands.json.bak"):
        (models / name).write_bytes(b"\x00\x00{\"accepted\": [")  # torn by a power cut
    (models / "rollout.json").write_text("[]")  # valid JSON, not a state
    sub = persistent_subscriber(broker.port)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    agent = subprocess.Popen(_agent_cmd(cfg_file), env=env, stderr=subprocess.DEVNULL)
    try:
        sub.wait_for(lambda: len(sub.on("/mppt/reading")) >= 5, timeout=60, what="readings")
        sub.wait_for(lambda: len([m for m in sub.on("/events")
                                  if m.json()["code"] == "state_recovered"]) >= 3,
                     timeout=30, what="state_recovered events")
        assert agent.poll() is None  # still running
        found = [m.json()["data"] for m in sub.on("/events")
                 if m.json()["code"] == "state_recovered"]
        assert {Path(d["file"]).name for d in found} == {"commands.json", "commands.json.bak",
                                                         "rollout.json"}
        assert all(Path(d["moved_to"]).exists() for d in found)  # kept for forensics
        ledger = json.loads((models / "commands.json").read_text())
        assert ledger["not_before"] > 0  # older commands (replays) are refused from now on
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(30) == 0
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        for s in sims.values():
            s.stop()
        sub.close()
