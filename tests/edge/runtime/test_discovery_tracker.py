"""The discovery tracker alone: a device is announced when its readings bring a new name
or a changed identity value, not on every reading; everything again on request; nothing
when discovery is off."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from edge.runtime.contract import Topics
from edge.runtime.discovery import DiscoveryContext
from edge.runtime.discovery_tracker import DiscoveryTracker
from edge.testkit.fakes import RecordingPublisher
from firmware_bridge.readings import QUANTITIES, Reading

T0 = datetime(2026, 6, 21, 10, 0, tzinfo=UTC)
MPPT = "homeassistant/device/helio_abuja-01_mppt_device/config"
GATEWAY = "homeassistant/device/helio_abuja-01_gateway_gateway/config"


def tracker(enabled: bool = True) -> tuple[DiscoveryTracker, RecordingPublisher]:
    pub = RecordingPublisher()
    ctx = DiscoveryContext(Topics("abuja-01", "gateway"), "homeassistant", "1.0")
    return DiscoveryTracker(ctx, pub, enabled=enabled, horizons_min=lambda: (15, 30),
                            quantities=QUANTITIES, protocols={"mppt": "vedirect"}), pub


def test_a_device_is_announced_on_new_names_and_identity_changes_only() -> None:
    t, pub = tracker()
    t.on_reading(Reading("mppt", T0, {"pv_power": 800.0, "serial_number": "HQ1"}))
    t.on_reading(Reading("mppt", T0, {"pv_power": 810.0, "serial_number": "HQ1"}))
    assert [topic for topic, _ in pub.live] == [MPPT]  # the same names again: no news
    t.on_reading(Reading("mppt", T0, {"pv_power": 800.0, "battery_voltage": 52.0}))
    assert len(pub.live) == 2
    components = json.loads(pub.live[-1][1])["components"]
    assert {"helio_abuja-01_mppt_pv_power", "helio_abuja-01_mppt_battery_voltage"} \
        <= set(components)
    t.on_reading(Reading("mppt", T0, {"serial_number": "HQ2"}))  # another unit plugged in
    assert len(pub.live) == 3 and t.identity["mppt"]["serial_number"] == "HQ2"
    assert json.loads(pub.live[-1][1])["device"]["serial_number"] == "HQ2"


def test_announce_all_covers_every_device_and_the_forecast_entities() -> None:
    t, pub = tracker()
    t.on_reading(Reading("mppt", T0, {"pv_power": 800.0}))
    t.on_reading(Reading("inverter", T0, {"ac_output_power": 400.0}))
    pub.live.clear()
    t.announce_all()
    topics = [topic for topic, _ in pub.live]
    assert MPPT in topics and GATEWAY in topics
    assert "homeassistant/device/helio_abuja-01_inverter_device/config" in topics


def test_nothing_is_announced_when_discovery_is_off() -> None:
    t, pub = tracker(enabled=False)
    t.on_reading(Reading("mppt", T0, {"pv_power": 800.0, "serial_number": "HQ1"}))
    t.announce_all()
    assert pub.live == []
    assert t.identity["mppt"] == {"serial_number": "HQ1"}  # still known for later
