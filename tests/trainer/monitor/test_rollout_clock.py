"""The shadow period is a duration on the monotonic clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.trainer.monitor.rollout_helpers import (
    START,
    Device,
    ManualClock,
    install,
    keypair,
    make_bundle,
)


class SteppedClock(ManualClock):
    """Wall and monotonic time apart: NTP can step the wall clock, not the monotonic one."""

    def __init__(self) -> None:
        super().__init__(START)
        self.mono = 1000.0

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        self.mono += seconds

    def step_wall(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


@pytest.fixture
def device(tmp_path: Path) -> Device:
    d = Device(tmp_path, *keypair(tmp_path))
    d.clock = SteppedClock()
    d.rollout = d.new_rollout()
    return d


def test_wall_clock_step_does_not_end_the_shadow(device: Device, tmp_path: Path) -> None:
    """Before: a wall clock stepped a year ahead (a Pi booting without RTC, then NTP) made
    the shadow look a year old: the candidate was dropped at once, unscored."""
    priv = next((tmp_path / "keys").glob("signing.key"))
    v2 = make_bundle(tmp_path / "v2", priv, version="v2", kt=0.8)
    device.rollout.handle_payload(install(v2, priv))
    device.clock.step_wall(365 * 86400)
    assert device.rollout.decide() is None
    assert device.rollout.candidate is not None
    assert device.rollout.status()["shadow_for_s"] == 0.0
    device.run(3)  # three hours of forecasts (a candidate needs 6 h)
    assert device.rollout.status()["shadow_for_s"] == 3 * 3600
    # a restart (monotonic clock starts again) keeps the time already served
    device.clock.mono = 5.0
    device.rollout = device.new_rollout()
    assert device.rollout.candidate is not None
    assert device.rollout.shadow_elapsed() == pytest.approx(3 * 3600 - 900)  # last save
