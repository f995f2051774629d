"""Shared helpers of the bridge tests (imported by test modules; no test module imports another).

Holds: the repository and capture paths, the factory types of the ``simulator``
and ``device`` fixtures (:mod:`.conftest`), and polling helpers for a device
read against a simulator.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from firmware_bridge.device import Device
from firmware_bridge.readings import Reading
from firmware_bridge.simulators.runner import SimulatorHandle

REPO = Path(__file__).resolve().parents[2]
#: the captures, one folder per protocol (``tests/data/<protocol>/``)
DATA = REPO / "tests" / "data"

#: ``simulator(protocol, **kwargs)``: the fixture that starts a simulator
SimFactory = Callable[..., SimulatorHandle]
#: ``device(protocol, url, timeout=..., **settings)``: the fixture that opens a device
DeviceFactory = Callable[..., Device]


def poll_until(device: Device, ok: Callable[[Reading], bool], *, seconds: float = 5.0) -> Reading:
    """Poll ``device`` until a reading satisfies ``ok`` (AssertionError after ``seconds``)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        reading = device.poll()
        if reading is not None and ok(reading):
            return reading
        time.sleep(0.02)
    raise AssertionError(f"no matching reading within {seconds} s; stats {device.stats}")


def first_reading(device: Device, names: tuple[str, ...] = ("battery_voltage",)) -> Reading:
    """The first reading of ``device`` that carries all of ``names``."""
    return poll_until(device, lambda r: all(n in r.values for n in names))


def assert_close(
    values: dict[str, float | int | str], expected: dict[str, tuple[float, float]]
) -> None:
    """Each expected name decoded within its resolution of the plant's value."""
    for name, (want, resolution) in expected.items():
        got = values[name]
        assert isinstance(got, int | float), name
        assert abs(got - want) <= resolution, f"{name}: decoded {got}, plant {want}"
