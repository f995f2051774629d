"""Fixtures of the bridge tests: the Abuja site, a frozen plant, simulators.

Simulators are real: byte-exact protocol on a real pseudo-terminal (or TCP),
served in a thread. ``time_scale`` shortens protocol timings so tests run in
seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from edge.forecasting.site import Site, load_site
from edge.simulation.plant import Plant
from firmware_bridge.config import DeviceConfig
from firmware_bridge.device import Device, DeviceSettings, open_device
from firmware_bridge.simulators.runner import SimulatorHandle, start_simulator
from tests.firmware_bridge.helpers import REPO, DeviceFactory, SimFactory

#: a clear Harmattan noon in Abuja: the charger is in bulk, PV well above zero
NOON = datetime(2025, 1, 10, 11, 30, tzinfo=UTC)
TIME_SCALE = 0.1  # VE.Direct blocks every 0.1 s, PI30 replies after 45 ms


@pytest.fixture(scope="session")
def abuja() -> Site:
    return load_site(REPO / "configs/sites/abuja.toml")


@pytest.fixture
def frozen_plant(abuja: Site) -> Plant:
    """A plant at NOON whose clock does not move (values stay put while read)."""
    return Plant(abuja, seed=3, start=NOON, speed=0.0, soc=0.5)


@pytest.fixture
def simulator(abuja: Site, frozen_plant: Plant) -> Iterator[SimFactory]:
    """``simulator(protocol, **kwargs)`` starts a simulator on the frozen plant; stopped after."""
    handles: list[SimulatorHandle] = []

    def make(protocol: str, **kwargs: Any) -> SimulatorHandle:
        kwargs.setdefault("plant", frozen_plant)
        kwargs.setdefault("time_scale", TIME_SCALE)
        handle = start_simulator(protocol, **kwargs)
        handles.append(handle)
        return handle

    yield make
    for handle in handles:
        handle.stop()


@pytest.fixture
def device() -> Iterator[DeviceFactory]:
    """``device(protocol, url, timeout=..., **settings)`` opens a device; closed after."""
    devices: list[Device] = []

    def make(protocol: str, url: str, *, timeout: float = 0.6, **settings: Any) -> Device:
        settings.setdefault("backoff_initial", 0.05)
        settings.setdefault("backoff_max", 0.2)
        cfg = DeviceConfig(
            id=protocol, protocol=protocol, port=url, timeout=timeout, poll_interval=0.2
        )
        dev = open_device(cfg, settings=DeviceSettings(**settings))
        devices.append(dev)
        return dev

    yield make
    for dev in devices:
        dev.close()
