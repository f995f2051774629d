"""Shared fixtures: free ports, a real mosquitto broker, skip markers.

Fixtures that start real components (mosquitto, sshd, simulators on ptys)
live here or in the package-level conftest files; nothing here mocks a
component that a user would have for real.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def has_module(name: str) -> bool:
    """True when ``name`` can be imported in this environment."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


HAS_TFLITE = has_module("ai_edge_litert") or has_module("tflite_runtime")
HAS_TENSORFLOW = has_module("tensorflow")
MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None
)

requires_tflite = pytest.mark.skipif(not HAS_TFLITE, reason="no TFLite interpreter installed")
requires_tensorflow = pytest.mark.skipif(not HAS_TENSORFLOW, reason="TensorFlow not installed")
requires_mosquitto = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto not installed")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests whose marker names a component this environment lacks."""
    for item in items:
        if "tensorflow" in item.keywords and not HAS_TENSORFLOW:
            item.add_marker(pytest.mark.skip(reason="TensorFlow not installed"))
        if "tflite" in item.keywords and not HAS_TFLITE:
            item.add_marker(pytest.mark.skip(reason="no TFLite interpreter installed"))
        if "broker" in item.keywords and MOSQUITTO is None:
            item.add_marker(pytest.mark.skip(reason="mosquitto not installed"))


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Block until ``host:port`` accepts TCP connections."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{host}:{port} did not open within {timeout} s")


@dataclass
class Mosquitto:
    """A mosquitto process owned by a test. ``stop()``/``start()`` simulate an outage."""

    host: str
    port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def conf(self) -> Path:
        return self.workdir / "mosquitto.conf"

    def start(self) -> None:
        assert MOSQUITTO is not None
        self.conf.write_text(
            f"listener {self.port} {self.host}\n"
            "allow_anonymous true\n"
            "persistence false\n"
            "max_queued_messages 1000000\n"
            "max_inflight_messages 0\n"
            "log_dest stderr\n"
            "log_type error\n"
        )
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.host, self.port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A fresh real mosquitto broker on a free loopback port, for one test."""
    if MOSQUITTO is None:
        pytest.skip("mosquitto not installed")
    broker = Mosquitto(host="127.0.0.1", port=free_port(), workdir=tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
