"""Edge test helpers: a real MQTT subscriber that records what arrives."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.testkit.fakes import (  # noqa: F401 - agent tests use them through fixtures' module
    ConstPredictor,
    CountingNotifier,
    RecordingPublisher,
    ScriptedDevice,
    stub_bundle,
)
from edge.testkit.launchers import Mosquitto, free_port, persistent_options
from tests.conftest import MOSQUITTO


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
    client_id: str = ""
    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # a client id means a persistent session (clean_session=False)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                                  clean_session=not self.client_id)
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


# --------------------------------------------------------------------------
# agent seams: a bundle stub + constant predictor (the real model is tested
# under the tflite marker with the shipped bundle), scripted devices, a
# recording publisher
# --------------------------------------------------------------------------


REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def shipped_bundle() -> tuple[str, str]:
    """The shipped Abuja bundle and its public key (``HELIO_TEST_BUNDLE`` /
    ``HELIO_TEST_PUBKEY`` point elsewhere); skips when absent."""
    bundle = os.environ.get("HELIO_TEST_BUNDLE") or str(REPO / "edge/data/bundles/abuja")
    key = os.environ.get("HELIO_TEST_PUBKEY") or str(REPO / "configs/keys/helio-default.pub")
    if not (os.path.isdir(bundle) and os.path.isfile(key)):
        pytest.skip("no shipped bundle (make model)")
    return bundle, key


@pytest.fixture
def persistent_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    if MOSQUITTO is None:
        pytest.skip("mosquitto not installed")
    workdir = tmp_path / "broker"
    workdir.mkdir()
    b = Mosquitto("127.0.0.1", free_port(), workdir, persistent_options(workdir))
    b.start()
    yield b
    b.stop()


def persistent_subscriber(port: int, topic: str = "#") -> Subscriber:
    """A persistent-session subscriber: what is queued while it is away is kept."""
    s = Subscriber("127.0.0.1", port, topic, client_id=f"test-sub-{port}")
    s.wait_connected()
    return s
