"""ManualClock: the one fake clock; time moves only when the test says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from edge.testkit.clocks import ManualClock
from firmware_bridge.clock import Clock

START = datetime(2026, 6, 21, 6, 0, tzinfo=UTC)


def test_is_a_clock_and_stands_still_until_told() -> None:
    clock: Clock = ManualClock(START, monotonic_start=100.0)
    assert clock.now_utc() == START
    assert clock.monotonic() == 100.0
    assert clock.now_utc() == START  # reading it moves nothing


def test_advance_and_sleep_move_both_clocks_together() -> None:
    clock = ManualClock(START)
    clock.advance(90.0)
    clock.sleep(30.0)
    clock.sleep(-5.0)  # a negative sleep returns at once, as time.sleep(max(s, 0)) would
    assert clock.now_utc() == START + timedelta(seconds=120)
    assert clock.monotonic() == 120.0
    assert clock.elapsed == 120.0


def test_wall_steps_alone_and_monotonic_never_goes_back() -> None:
    clock = ManualClock(START, monotonic_start=1000.0)
    clock.step_wall(-3600.0)  # NTP steps a wall clock back
    assert clock.now_utc() == START - timedelta(hours=1)
    assert clock.monotonic() == 1000.0
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(-1.0)


def test_start_is_kept_in_utc_and_must_be_aware() -> None:
    lagos = timezone(timedelta(hours=1))
    clock = ManualClock(datetime(2026, 6, 21, 7, 0, tzinfo=lagos))
    assert clock.now_utc() == START and clock.now_utc().tzinfo == UTC
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2026, 6, 21, 6, 0))
