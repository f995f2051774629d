"""MqttPublisher against a real mosquitto: order, outages, retained state."""

from __future__ import annotations

import json
import random
import time

import pytest

from edge.runtime.mqtt import BrokerSettings
from edge.runtime.outbox import Outbox
from edge.runtime.publisher import MqttPublisher
from tests.edge.conftest import distinct_in_order, persistent_subscriber

pytestmark = pytest.mark.broker

WILL = b'{"state":"offline"}'


def _put(box: Outbox, n: int, stream: str = "reading") -> None:
    for _ in range(n):
        box.put("mppt", stream, f"helio/s/mppt/{stream}", lambda s: json.dumps({"seq": s}).encode())


def _publisher(mosquitto, box: Outbox, **kw) -> MqttPublisher:
    broker = BrokerSettings(host=mosquitto.host, port=mosquitto.port, client_id="pub-test")
    return MqttPublisher(
        broker,
        box,
        will_topic="helio/s/gateway/status",
        will_payload=WILL,
        reconnect_min_s=0.1,
        reconnect_max_s=0.5,
        rng=random.Random(1),
        **kw,
    )


def test_publisher_drains_in_order_and_deletes_on_ack(mosquitto, subscriber_factory, tmp_path):
    sub = subscriber_factory(mosquitto.host, mosquitto.port, "helio/s/mppt/#")
    box = Outbox(tmp_path / "o.sqlite")
    _put(box, 500)
    pub = _publisher(mosquitto, box, max_inflight=10)
    pub.start()
    try:
        assert pub.wait_drained(20)
        sub.wait_for(lambda: len(sub.on("/reading")) >= 500, what="500 readings")
        seqs = [m.json()["seq"] for m in sub.on("/reading")]
        assert distinct_in_order(seqs) == list(range(1, 501))
        assert box.peek(1) == []
    finally:
        pub.stop()


def test_publisher_outage_loses_nothing(persistent_broker, tmp_path):
    mosquitto = persistent_broker
    box = Outbox(tmp_path / "o.sqlite")
    pub = _publisher(mosquitto, box, max_inflight=20)
    pub.start()
    sub = persistent_subscriber(mosquitto.port, "helio/s/mppt/#")
    try:
        _put(box, 100)
        assert pub.wait_drained(20)
        mosquitto.stop()
        _put(box, 300)  # queued while the broker is down
        time.sleep(0.5)
        assert pub.is_alive() and not pub.connected
        assert box.stats.queued == 300
        mosquitto.start()
        sub.wait_connected(15)
        assert pub.wait_drained(30)
        sub.wait_for(
            lambda: {m.json()["seq"] for m in sub.on("/reading")} >= set(range(101, 401)),
            what="backlog",
        )
        seqs = distinct_in_order([m.json()["seq"] for m in sub.on("/reading")])
        assert seqs[-300:] == list(range(101, 401))
        assert pub.stats.connects >= 2
    finally:
        pub.stop()
        sub.close()


def test_publisher_keeps_trying_when_broker_absent(mosquitto, subscriber_factory, tmp_path):
    mosquitto.stop()
    box = Outbox(tmp_path / "o.sqlite")
    _put(box, 5)
    pub = _publisher(mosquitto, box)
    pub.start()
    try:
        time.sleep(1.0)
        assert pub.is_alive()
        assert pub.stats.connect_failures >= 2
        assert box.stats.queued == 5
        mosquitto.start()
        assert pub.wait_drained(15)
    finally:
        pub.stop()


def test_publisher_retained_state_and_offline_on_stop(mosquitto, subscriber_factory, tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    pub = _publisher(mosquitto, box)
    pub.set_retained("helio/s/gateway/status", b'{"state":"online"}')
    pub.start()
    try:
        deadline = time.monotonic() + 10
        while not pub.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        sub = subscriber_factory(mosquitto.host, mosquitto.port, "helio/s/gateway/status")
        sub.wait_for(lambda: len(sub.on("/status")) >= 1, what="retained status")
        first = sub.on("/status")[0]
        assert first.retain and json.loads(first.payload)["state"] == "online"
    finally:
        pub.stop()
    sub.wait_for(
        lambda: sub.on("/status")[-1].payload == WILL, what="offline status on clean stop"
    )
    late = subscriber_factory(mosquitto.host, mosquitto.port, "helio/s/gateway/status")
    late.wait_for(lambda: bool(late.on("/status")), what="retained offline")
    assert late.on("/status")[-1].payload == WILL


def test_publisher_dispatches_subscriptions(mosquitto, subscriber_factory, tmp_path):
    got: list[tuple[str, bytes]] = []
    connects: list[int] = []
    box = Outbox(tmp_path / "o.sqlite")
    pub = _publisher(mosquitto, box)
    pub.subscribe("helio/s/gateway/cmd/#", lambda t, p: got.append((t, p)))
    pub.add_connect_listener(lambda: connects.append(1))
    pub.start()
    try:
        sub = subscriber_factory(mosquitto.host, mosquitto.port, "x/#")
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            if pub.connected:
                sub.client.publish("helio/s/gateway/cmd", b'{"command":"report_status"}', qos=1)
            time.sleep(0.2)
        assert got[0] == ("helio/s/gateway/cmd", b'{"command":"report_status"}')
        assert connects == [1]
    finally:
        pub.stop()
