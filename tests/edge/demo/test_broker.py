"""The demo's fallback broker (amqtt) carries what the publisher and paho send."""

from __future__ import annotations

import json
import random
import socket
import time
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.demo.broker import EmbeddedBroker

pytest.importorskip("amqtt", reason="amqtt (the demo's fallback broker) is not installed")
from edge.runtime.mqtt import BrokerSettings
from edge.runtime.outbox import Outbox
from edge.runtime.publisher import MqttPublisher
from tests.edge.conftest import distinct_in_order

pytestmark = pytest.mark.broker(embedded=True)  # a real broker, in-process: no mosquitto needed


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    b = EmbeddedBroker()
    b.start()
    yield b
    b.stop()


def test_embedded_broker_binds_loopback(broker: EmbeddedBroker) -> None:
    assert broker.host == "127.0.0.1" and broker.port > 0
    with socket.create_connection(("127.0.0.1", broker.port), timeout=2):
        pass


def test_embedded_broker_carries_outbox_and_retained(broker, subscriber_factory, tmp_path):
    sub = subscriber_factory("127.0.0.1", broker.port, "helio/#")
    box = Outbox(tmp_path / "o.sqlite")
    for _ in range(300):
        box.put("mppt", "reading", "helio/s/mppt/reading",
                lambda s: json.dumps({"seq": s}).encode())
    pub = MqttPublisher(
        BrokerSettings("127.0.0.1", broker.port, "gw"), box,
        will_topic="helio/s/gw/status", will_payload=b"offline", rng=random.Random(0),
        mqtt5=False,  # amqtt speaks MQTT 3.1.1 only
    )
    pub.set_retained("helio/s/gw/status", b"online")
    pub.start()
    try:
        assert pub.wait_drained(20)
        sub.wait_for(lambda: len(sub.on("/reading")) >= 300, what="readings")
        seqs = distinct_in_order([m.json()["seq"] for m in sub.on("/reading")])
        assert seqs == list(range(1, 301))
        late = subscriber_factory("127.0.0.1", broker.port, "helio/s/gw/status")
        late.wait_for(lambda: bool(late.on("/status")), what="retained status")
        assert late.on("/status")[0].payload == b"online" and late.on("/status")[0].retain
    finally:
        pub.stop()


def test_embedded_broker_sends_will_on_unclean_disconnect(broker, subscriber_factory):
    sub = subscriber_factory("127.0.0.1", broker.port, "w/#")
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="dying")
    c.will_set("w/status", b"offline", qos=1, retain=True)
    c.connect("127.0.0.1", broker.port)
    c.loop(0.2)
    c.socket().close()  # no DISCONNECT packet
    sub.wait_for(lambda: bool(sub.on("w/status")), what="will")
    assert sub.on("w/status")[0].payload == b"offline"
    time.sleep(0.1)
