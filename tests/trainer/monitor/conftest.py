"""Helpers for the monitor tests: contract-conforming publishers and monitors on a real broker."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from trainer.monitor.ingest import Monitor, MonitorConfig
from trainer.monitor.store import Store


def iso(t: float) -> str:
    """Epoch seconds -> ISO 8601 UTC with Z."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def reading(site: str, dev: str, seq: int, t: float, *, epoch: str | None = None,
            **values: Any) -> tuple[str, bytes]:
    """A schema-1 reading message (topic, payload); no ``epoch`` key when None."""
    body = {"schema_version": 1, "site_id": site, "device_id": dev, "stream": "reading",
            "seq": seq, "timestamp": iso(t), "values": values,
            "units": {k: "" for k in values}, "stale": []}
    if epoch is not None:
        body["epoch"] = epoch
    return f"helio/{site}/{dev}/reading", json.dumps(body).encode()


def status(site: str, gw: str, t: float, state: str = "online",
           devices: dict[str, Any] | None = None, version: str = "v1",
           seq: int | None = None, epoch: str | None = None) -> tuple[str, bytes]:
    """A schema-1 retained status (heartbeat)."""
    body: dict[str, Any] = {
            "schema_version": 1, "site_id": site, "device_id": gw, "stream": "status",
            "timestamp": iso(t), "state": state,
            "devices": devices or {"mppt": {"connected": True, "frames_good": 10,
                                            "checksum_errors": 0, "timeouts": 0,
                                            "reconnects": 0, "last_reading": iso(t),
                                            "stale": False}},
            "outbox": {"queued": 0, "evicted": 0}, "model": {"version": version, "sha256": "ab"},
            "uptime_s": 5.0}
    if seq is not None:
        body["seq"] = seq
    if epoch is not None:
        body["epoch"] = epoch
    return f"helio/{site}/{gw}/status", json.dumps(body).encode()


def envelope(site: str, device: str, stream: str, t: float | None = None,
             seq: int | None = None, **fields: Any) -> dict[str, Any]:
    """A schema-1 body of ``stream`` with its envelope (ids, stream, seq, timestamp)."""
    body: dict[str, Any] = {"schema_version": 1, "site_id": site, "device_id": device,
                            "stream": stream}
    if seq is not None:
        body["seq"] = seq
    if t is not None:
        body["timestamp"] = iso(t)
    return {**body, **fields}


def offline(site: str, gw: str) -> bytes:
    """The Last Will payload."""
    return json.dumps({"schema_version": 1, "site_id": site, "device_id": gw,
                       "stream": "status", "state": "offline"}).encode()


def forecast(site: str, gw: str, seq: int, issue: float, p50: dict[int, float],
             *, sha: str = "sha-a", version: str = "v1", shadow: bool = False,
             step: int = 15) -> tuple[str, bytes]:
    """A schema-1 forecast with pv_power and ghi P50 per horizon [min]."""
    entries = []
    for h, v in sorted(p50.items()):
        q = {"p10": v * 0.8, "p50": v, "p90": v * 1.2}
        entries.append({"horizon_min": h, "period_end": iso(issue + 60 * h),
                        "period": f"PT{step}M", "ghi": dict(q), "dni": dict(q), "dhi": dict(q),
                        "pv_power": dict(q)})
    body = {"schema_version": 1, "site_id": site, "device_id": gw, "stream": "forecast",
            "seq": seq, "timestamp": iso(issue), "issue_time": iso(issue),
            "model": {"version": version, "sha256": sha}, "shadow": shadow,
            "inputs_stale": False, "step_minutes": step,
            "units": {"ghi": "W/m2", "dni": "W/m2", "dhi": "W/m2", "pv_power": "W"},
            "forecasts": entries}
    return f"helio/{site}/{gw}/forecast", json.dumps(body).encode()


class Pub:
    """A paho MQTT 5 client that publishes and waits for the PUBACKs."""

    def __init__(self, port: int, client_id: str = "", will: tuple[str, bytes] | None = None):
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        if will:
            self.client.will_set(will[0], will[1], qos=1, retain=True)
        self.client.connect("127.0.0.1", port, keepalive=5)
        self.client.loop_start()
        self.pending: list[mqtt.MQTTMessageInfo] = []

    def send(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.pending.append(self.client.publish(topic, payload, qos=1, retain=retain))

    def flush(self, timeout: float = 30.0) -> None:
        for info in self.pending:
            info.wait_for_publish(timeout)
        self.pending.clear()

    def close(self) -> None:
        self.flush()
        self.client.disconnect()
        self.client.loop_stop()

    def crash(self) -> None:
        """Drop the TCP connection without DISCONNECT, so the broker sends the Will."""
        self.flush()
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            sock.close()


def wait_for(pred: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll ``pred`` until true."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def start_monitor(tmp_path: Path) -> Iterator[Callable[..., Monitor]]:
    """Factory: a running Monitor on the test broker (stopped at teardown)."""
    running: list[Monitor] = []

    def make(port: int, *, db: Path | None = None, client_id: str = "mon-1",
             group: str | None = None, tasks: Any = (), **kw: Any) -> Monitor:
        store = Store(db or tmp_path / "monitor.sqlite")
        mon = Monitor(MonitorConfig(port=port, client_id=client_id, shared_group=group,
                                    flush_s=0.02, **kw), store, tasks=tasks)
        mon.start()
        mon.wait_connected()
        time.sleep(0.2)  # SUBACK
        running.append(mon)
        return mon

    yield make
    for mon in running:
        mon.stop()
        mon.store.close()


class Sub:
    """A paho client collecting (topic, JSON body) of everything on ``topic_filter``."""

    def __init__(self, port: int, topic_filter: str) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = lambda _c, _u, m: self.messages.append(
            (m.topic, json.loads(m.payload)))
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(topic_filter, qos=1)
        self.client.loop_start()
        time.sleep(0.3)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
