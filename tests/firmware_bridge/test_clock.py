"""Clocks: real UTC, and a scaled clock whose wall time runs faster while sleep stays real."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from firmware_bridge.clock import ScaledClock, SystemClock


def test_system_clock_is_aware_utc_and_monotonic() -> None:
    clock = SystemClock()
    now = clock.now_utc()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert abs((now - datetime.now(UTC)).total_seconds()) < 1
    a = clock.monotonic()
    clock.sleep(-1)  # a negative sleep returns at once
    assert clock.monotonic() >= a


def test_scaled_clock_runs_speed_times_faster_from_start() -> None:
    start = datetime(2026, 1, 10, 6, 0, tzinfo=UTC)
    clock = ScaledClock(3600.0, start)
    t0 = time.monotonic()
    assert clock.now_utc() >= start
    time.sleep(0.05)
    elapsed = time.monotonic() - t0
    ahead = (clock.now_utc() - start).total_seconds()
    assert 3600 * 0.05 <= ahead <= 3600 * (elapsed + 0.05)


def test_scaled_clock_start_is_converted_to_utc() -> None:
    start = datetime(2026, 1, 10, 7, 0, tzinfo=timezone(timedelta(hours=1)))
    assert ScaledClock(1.0, start).start == datetime(2026, 1, 10, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize("speed", [0.0, -1.0])
def test_scaled_clock_rejects_non_positive_speed(speed: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        ScaledClock(speed)
