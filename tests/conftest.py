"""Shared fixtures: a real mosquitto broker, skip markers (the launchers: edge.testkit).

Fixtures that start real components (mosquitto, sshd, simulators on ptys)
live here or in the package-level conftest files; nothing here mocks a
component that a user would have for real.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.testkit.launchers import Mosquitto, find_mosquitto, free_port, wait_port

__all__ = ["MOSQUITTO", "REPO", "Mosquitto", "free_port", "has_module", "wait_port"]

REPO = Path(__file__).resolve().parents[1]


def has_module(name: str) -> bool:
    """True when ``name`` can be imported in this environment."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


HAS_TFLITE = has_module("ai_edge_litert") or has_module("tflite_runtime")
HAS_TENSORFLOW = has_module("tensorflow")
MOSQUITTO = find_mosquitto()

requires_tflite = pytest.mark.skipif(not HAS_TFLITE, reason="no TFLite interpreter installed")
requires_tensorflow = pytest.mark.skipif(not HAS_TENSORFLOW, reason="TensorFlow not installed")
requires_mosquitto = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto not installed")


#: fixtures that start a real component, and the marker a test using them gets
#: (so ``make test-unit`` leaves it out without each test repeating the marker)
COMPONENT_FIXTURES = {
    "mosquitto": "broker",
    "persistent_broker": "broker",
    "subscriber_factory": "broker",
    "start_monitor": "broker",
    "sshd": "sshd",
}


def _needs_mosquitto(item: pytest.Item) -> bool:
    marker = item.get_closest_marker("broker")
    return marker is not None and not marker.kwargs.get("embedded", False)


@pytest.hookimpl(tryfirst=True)  # before ``-m`` selects on the markers added here
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests by the real components their fixtures start; skip tests whose marker
    names a component this environment lacks."""
    for item in items:
        for fixture in getattr(item, "fixturenames", ()):
            marker = COMPONENT_FIXTURES.get(fixture)
            if marker is not None and marker not in item.keywords:
                item.add_marker(getattr(pytest.mark, marker))
        if "tensorflow" in item.keywords and not HAS_TENSORFLOW:
            item.add_marker(pytest.mark.skip(reason="TensorFlow not installed"))
        if "tflite" in item.keywords and not HAS_TFLITE:
            item.add_marker(pytest.mark.skip(reason="no TFLite interpreter installed"))
        if _needs_mosquitto(item) and MOSQUITTO is None:
            item.add_marker(pytest.mark.skip(reason="mosquitto not installed"))


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
