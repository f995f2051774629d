"""Edge test helpers: a real MQTT subscriber that records what arrives."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
import pytest


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass
class Subscriber:
    """A paho client (own network thread) that keeps every message it receives."""

    host: str
    port: int
    topic: str = "#"
    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="")
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe(self.topic, qos=1)
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect_async(self.host, self.port, keepalive=10)
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain)))

    def on(self, suffix: str) -> list[Received]:
        with self.lock:
            return [m for m in self.messages if m.topic.endswith(suffix)]

    def wait_for(
        self, pred: Callable[[], bool], timeout: float = 20.0, what: str = "condition"
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def wait_connected(self, timeout: float = 10.0) -> None:
        self.wait_for(self.client.is_connected, timeout, "subscriber connection")
        time.sleep(0.1)  # let SUBACK arrive

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def subscriber_factory() -> Iterator[Callable[..., Subscriber]]:
    subs: list[Subscriber] = []

    def make(host: str, port: int, topic: str = "#") -> Subscriber:
        s = Subscriber(host, port, topic)
        subs.append(s)
        s.wait_connected()
        return s

    yield make
    for s in subs:
        s.close()


def distinct_in_order(seqs: list[int]) -> list[int]:
    """First arrival of each sequence number, in arrival order (QoS 1 may repeat)."""
    seen: set[int] = set()
    out = []
    for s in seqs:
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out
