"""Device layer: backoff, staleness, reopen after timeouts, counters, logging.

The device gets an injected clock that runs with real time (the serial reads
need it) plus a manual offset, so backoff and staleness are tested by
jumping ahead instead of sleeping.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest

from firmware_bridge.config import DeviceConfig
from firmware_bridge.device import Device, DeviceSettings, open_device
from tests.firmware_bridge.helpers import SimFactory, first_reading

pytestmark = pytest.mark.pty


class JumpClock:
    """Real monotonic time plus jumps."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.base = datetime(2025, 1, 10, 11, 30, tzinfo=UTC)
        self.t0 = time.monotonic()

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def now_utc(self) -> datetime:
        return self.base + timedelta(seconds=self.monotonic() - self.t0)

    def sleep(self, seconds: float) -> None:
        self.offset += seconds

    advance = sleep


def make(url: str, clock: JumpClock, protocol: str = "vedirect", **settings: float) -> Device:
    cfg = DeviceConfig(id="mppt", protocol=protocol, port=url, timeout=0.3, poll_interval=1.0)
    return open_device(cfg, clock=clock, settings=DeviceSettings(**settings))  # type: ignore[arg-type]


def test_reconnect_waits_for_exponential_backoff(simulator: SimFactory) -> None:
    sim = simulator("vedirect")
    sim.unplug()
    clock = JumpClock()
    dev = make(sim.url, clock, backoff_initial=5.0, backoff_max=60.0)  # first try fails now
    assert dev.poll() is None and not dev.stats.connected
    clock.advance(5.1)
    assert dev.poll() is None  # second try fails: the next waits 10 s
    sim.replug()
    clock.advance(9.0)
    assert dev.poll() is None and not dev.stats.connected  # still backing off
    clock.advance(1.1)
    first_reading(dev)
    assert dev.stats.connected and dev.stats.reconnects == 0  # first connection ever
    dev.close()


def test_values_go_stale_when_time_passes(simulator: SimFactory) -> None:
    sim = simulator("vedirect")
    clock = JumpClock()
    dev = make(sim.url, clock, stale_after=30.0)
    reading = first_reading(dev)
    stamp = dev.stats.last_reading_utc
    assert stamp == reading.timestamp and not dev.stats.stale and dev.stale_names() == []
    clock.advance(31.0)
    assert dev.stats.stale
    assert dev.stale_names() == sorted(reading.values)
    assert dev.stats.last_reading_utc == stamp
    assert dev.values["battery_voltage"] == reading.values["battery_voltage"]  # last known kept
    dev.close()


def test_default_stale_after_follows_poll_interval(simulator: SimFactory) -> None:
    sim = simulator("vedirect")
    cfg = DeviceConfig(id="m", protocol="vedirect", port=sim.url, poll_interval=4.0)
    dev = open_device(cfg, connect=False)
    assert dev.stale_after == 20.0
    assert not dev.stats.connected  # connect=False: nothing opened yet
    dev.close()


def test_reopen_after_consecutive_timeouts(
    simulator: SimFactory, caplog: pytest.LogCaptureFixture
) -> None:
    sim = simulator("pi30")
    clock = JumpClock()
    dev = make(sim.url, clock, "pi30", reopen_after_timeouts=2, backoff_initial=0.01)
    first_reading(dev)
    sim.set_faults(["silent"])
    time.sleep(0.1)
    with caplog.at_level(logging.INFO, logger="firmware_bridge.device"):
        assert dev.poll() is None and dev.stats.connected
        assert dev.poll() is None and not dev.stats.connected  # reopened on the next poll
        sim.set_faults([])
        first_reading(dev)
    stats = dev.stats
    assert stats.timeouts == 2 and stats.reconnects == 1 and stats.connected
    messages = " | ".join(r.getMessage() for r in caplog.records)
    assert "reopening the port" in messages and "connected to" in messages
    dev.close()


def test_stats_dict_matches_the_status_contract(simulator: SimFactory) -> None:
    sim = simulator("vedirect")
    dev = make(sim.url, JumpClock())
    first_reading(dev)
    stats = dev.stats.to_dict()
    for key in (
        "connected",
        "frames_good",
        "checksum_errors",
        "timeouts",
        "reconnects",
        "last_reading",
        "stale",
    ):
        assert key in stats
    assert stats["last_reading"].endswith("Z") and stats["frames_good"] >= 1
    dev.close()


def test_unknown_protocol_is_a_key_error() -> None:
    cfg = DeviceConfig(id="x", protocol="modbus-tcp", port="loop://")
    with pytest.raises(KeyError):
        open_device(cfg)


def test_poll_never_raises_on_a_missing_port(caplog: pytest.LogCaptureFixture) -> None:
    clock = JumpClock()
    with caplog.at_level(logging.WARNING, logger="firmware_bridge.device"):
        dev = make("/dev/ttyHELIO-nothing", clock, backoff_initial=0.5)
        for _ in range(5):
            assert dev.poll() is None
            clock.advance(1.0)
    assert not dev.stats.connected and dev.stats.stale
    warnings = [r for r in caplog.records if "cannot open" in r.getMessage()]
    assert len(warnings) == 1  # the transition is logged once, not every retry
