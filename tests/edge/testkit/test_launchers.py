"""The launchers: a free port is free, and mosquitto comes up, carries a message, and
comes back on the same port after an outage."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.testkit.launchers import (
    Mosquitto,
    find_mosquitto,
    free_port,
    running_mosquitto,
    wait_port,
)


def test_free_port_can_be_bound_and_wait_port_times_out_on_it() -> None:
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # nobody holds it
    with pytest.raises(TimeoutError, match=str(port)):
        wait_port("127.0.0.1", port, timeout=0.3)


def _round_trip(port: int) -> bytes:
    got = threading.Event()
    out: list[bytes] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.on_message = lambda _c, _u, m: (out.append(bytes(m.payload)), got.set())
    client.connect("127.0.0.1", port)
    client.subscribe("t", qos=1)
    client.loop_start()
    try:
        client.publish("t", b"hello", qos=1).wait_for_publish(5)
        assert got.wait(5)
    finally:
        client.loop_stop()
        client.disconnect()
    return out[0]


@pytest.mark.broker
def test_mosquitto_carries_a_message_and_survives_a_restart(tmp_path: Path) -> None:
    if find_mosquitto() is None:
        pytest.skip("mosquitto not installed")
    with running_mosquitto(tmp_path) as broker:
        assert "max_queued_messages 1000000" in broker.conf.read_text()
        assert _round_trip(broker.port) == b"hello"
        broker.stop()
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", broker.port), timeout=0.5).close()
        broker.start()
        assert _round_trip(broker.port) == b"hello"
        proc = broker.proc
    assert proc is not None and proc.poll() is not None  # stopped on exit


def test_a_wrong_binary_path_fails_at_start(tmp_path: Path) -> None:
    broker = Mosquitto("127.0.0.1", free_port(), tmp_path, binary=None)
    broker.binary = str(tmp_path / "no-such-mosquitto")
    with pytest.raises(FileNotFoundError):
        broker.start()
