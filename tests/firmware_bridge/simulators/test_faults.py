"""Simulator faults: parsing fault specs, the disappear cycle of the link."""

from __future__ import annotations

import os
import time

import pytest

from edge.simulation.plant import Plant
from firmware_bridge.simulators.faults import Faults, parse_faults
from firmware_bridge.simulators.pi30 import Pi30Session
from tests.firmware_bridge.helpers import SimFactory

pty = pytest.mark.pty


@pytest.fixture
def session(frozen_plant: Plant) -> Pi30Session:
    return Pi30Session(frozen_plant, Faults(), time_scale=0.0)


def test_parse_faults() -> None:
    assert parse_faults(["stall", "bad_checksum:0.5"]) == {"stall": 0.2, "bad_checksum": 0.5}
    with pytest.raises(ValueError, match="unknown fault"):
        parse_faults(["meteor_strike"])
    with pytest.raises(ValueError, match="within"):
        parse_faults(["stall:2"])


@pty
def test_disappear_fault_cycles_the_link(simulator: SimFactory) -> None:
    sim = simulator("vedirect", faults=["disappear"], time_scale=0.05)  # 1.5 s period, 0.25 s down
    present = []
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        present.append(os.path.exists(sim.url))
        time.sleep(0.02)
    assert any(present) and not all(present)
    assert True in present[present.index(False) :]  # gone, then back
