"""PI30 setting writes against the simulator on a real pty: write, ACK/NAK, QPIRI read-back.

The simulator runs with AC input present (``grid=1``) so the priorities change
what it reports; its apply delay is scaled by the tests' time scale.
"""

from __future__ import annotations

import os
import select
import time
import tty

import pytest

from firmware_bridge.device import Device
from firmware_bridge.drivers import DeviceStats, Pi30Driver
from firmware_bridge.protocols import pi30
from firmware_bridge.readings import Value
from tests.firmware_bridge.helpers import DeviceFactory, SimFactory, first_reading, poll_until

pytestmark = pytest.mark.pty

#: read-back bound and interval the tests use (real units: minutes) [s]
BOUND, EVERY = 3.0, 0.1


def _connected(simulator: SimFactory, device: DeviceFactory, profile: str) -> Device:
    sim = simulator("pi30", profile=profile)
    dev = device("pi30", sim.url)
    first_reading(dev)
    return dev


@pytest.mark.parametrize(("name", "value"), [
    ("output_source_priority", "utility_first"),
    ("output_source_priority", "solar_first"),
    ("charger_source_priority", "solar_and_utility"),
    ("charger_source_priority", "utility_first"),
    ("battery_recharge_voltage", 47.0),
    ("battery_redischarge_voltage", 0.0),
    ("battery_redischarge_voltage", 54.0),
    ("max_ac_charge_current", 10),
    ("max_ac_charge_current", 60),  # allowed by this unit's QMUCHGCR, not by the fallback
])
def test_each_setter_is_written_and_read_back(
    simulator: SimFactory, device: DeviceFactory, name: str, value: Value
) -> None:
    dev = _connected(simulator, device, "pi30;grid=1;apply_delay=0")
    result = dev.write_setting(name, value, apply_timeout=BOUND, read_interval=EVERY)
    assert (result.status, result.read_back) == ("applied", value)
    assert result.command.startswith(pi30.SETTERS[name].prefix)
    # the setting stays: a new connection reads it in QPIRI
    dev.close()
    assert first_reading(dev, (name,)).values[name] == value


def test_a_delayed_setting_is_waited_for_within_the_bound(
    simulator: SimFactory, device: DeviceFactory
) -> None:
    dev = _connected(simulator, device, "pi30;grid=1;apply_delay=8")  # 0.8 s at time scale 0.1
    start = time.monotonic()
    result = dev.write_setting("output_source_priority", "utility_first",
                               apply_timeout=BOUND, read_interval=EVERY)
    waited = time.monotonic() - start
    assert result.status == "applied" and result.read_back == "utility_first"
    assert 0.8 <= waited < BOUND


def test_a_setting_that_never_shows_is_reported_not_applied(
    simulator: SimFactory, device: DeviceFactory
) -> None:
    dev = _connected(simulator, device, "pi30;grid=1;apply_delay=1000")  # 100 s
    start = time.monotonic()
    result = dev.write_setting("output_source_priority", "utility_first",
                               apply_timeout=0.6, read_interval=EVERY)
    assert result.status == "not_applied"
    assert result.read_back == "sbu_first"  # what QPIRI still says
    assert time.monotonic() - start < 0.6 + 1.5  # the bound holds (plus one QPIRI)


def test_a_nakd_setter_is_recorded_once_and_not_resent(
    simulator: SimFactory, device: DeviceFactory
) -> None:
    dev = _connected(simulator, device, "pi30;grid=1;apply_delay=0;nak=POP02,MUCHGC")
    dev.take_notices()
    frames = dev.stats.frames_good
    first = dev.write_setting("output_source_priority", "sbu_first",
                              apply_timeout=BOUND, read_interval=EVERY)
    assert (first.status, first.command) == ("refused", "POP02")
    assert first.read_back == "sbu_first"  # the value QPIRI showed before
    notices = dev.take_notices()
    assert [(n.code, n.subject) for n in notices] == [("device_command_unsupported", "POP02")]
    assert dev.stats.frames_good == frames  # a NAK is an answer, not a good frame or an error
    assert dev.stats.protocol_errors == 0
    again = dev.write_setting("output_source_priority", "sbu_first",
                              apply_timeout=BOUND, read_interval=EVERY)
    assert again.status == "unsupported"
    assert dev.stats.unsupported_commands.count("POP02") == 1
    assert dev.take_notices() == []
    # a prefix refuses every value; other setters and values still work
    assert dev.write_setting("max_ac_charge_current", 10, apply_timeout=BOUND,
                             read_interval=EVERY).status == "refused"
    assert dev.write_setting("output_source_priority", "utility_first", apply_timeout=BOUND,
                             read_interval=EVERY).status == "applied"


def test_out_of_range_values_are_refused_before_anything_is_sent() -> None:
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    driver = Pi30Driver(os.ttyname(slave), baudrate=2400, timeout=0.3, monotonic=time.monotonic)
    stats = DeviceStats()
    try:
        driver.open()
        # a silent inverter and no QPIRI yet: no range to check, nothing sent, not raised
        result = driver.write_setting("output_source_priority", "utility_first", stats,
                                      apply_timeout=0.1, read_interval=0.05)
        assert result.status == "failed"
        assert os.read(master, 64) == pi30.build_request("QPIRI")
        driver.ratings = {"rated_battery_voltage": 48.0}
        for name, value in [("battery_recharge_voltage", 52.0), ("max_ac_charge_current", 25),
                            ("output_source_priority", "grid"), ("battery_type", "user")]:
            with pytest.raises(pi30.SettingError):
                driver.write_setting(name, value, stats, apply_timeout=0.1, read_interval=0.05)
        assert select.select([master], [], [], 0.3)[0] == []  # not one byte on the wire
        # and a silent inverter: the write fails without raising, counted as a timeout
        result = driver.write_setting("output_source_priority", "utility_first", stats,
                                      apply_timeout=0.1, read_interval=0.05)
        assert result.status == "failed" and stats.timeouts == 2
        assert os.read(master, 64) == pi30.build_request("POP00")
    finally:
        driver.close()
        os.close(master)
        os.close(slave)


def test_output_priority_moves_the_load_between_battery_and_utility(
    simulator: SimFactory, device: DeviceFactory
) -> None:
    dev = _connected(simulator, device, "pi30;grid=1;apply_delay=0")
    before = first_reading(dev).values
    assert before["inverter_mode"] == "battery" and before["grid_voltage"] > 200.0
    assert before["ac_output_power"] > 0
    draw = before["ac_output_power"] / before["battery_voltage"]  # the load's DC current [A]
    assert dev.write_setting("output_source_priority", "utility_first", apply_timeout=BOUND,
                             read_interval=EVERY).status == "applied"
    after = poll_until(dev, lambda r: r.values.get("inverter_mode") == "line").values
    # the load no longer comes out of the battery: only the charger's current remains
    # (the inverter's draw is the load's plus its losses; QPIGS currents are whole amperes)
    assert 0.6 * draw <= after["battery_current"] - before["battery_current"] <= 2 * draw
    assert "line_fail" not in str(after["warnings"])
    # charger priority and utility charge current: the battery charges from the grid
    assert dev.write_setting("charger_source_priority", "utility_first", apply_timeout=BOUND,
                             read_interval=EVERY).status == "applied"
    assert dev.write_setting("max_ac_charge_current", 40, apply_timeout=BOUND,
                             read_interval=EVERY).status == "applied"
    charging = poll_until(dev, lambda r: r.values.get("charging_source") == "grid").values
    assert charging["battery_current"] - after["battery_current"] == pytest.approx(40, abs=1)
    # back to SBU: the load is on the battery again
    assert dev.write_setting("output_source_priority", "sbu_first", apply_timeout=BOUND,
                             read_interval=EVERY).status == "applied"
    poll_until(dev, lambda r: r.values.get("inverter_mode") == "battery")


def test_without_ac_input_the_settings_are_stored_but_the_load_stays_on_battery(
    simulator: SimFactory, device: DeviceFactory
) -> None:
    dev = _connected(simulator, device, "pi30;apply_delay=0")
    assert dev.write_setting("output_source_priority", "utility_first", apply_timeout=BOUND,
                             read_interval=EVERY).status == "applied"
    values = first_reading(dev).values
    assert values["inverter_mode"] == "battery" and values["grid_voltage"] == 0.0


def test_identity_is_read_once_per_connection(
    simulator: SimFactory, device: DeviceFactory
) -> None:
    sim = simulator("pi30")
    dev = device("pi30", sim.url)
    reading = poll_until(dev, lambda r: "serial_number" in r.values)
    assert reading.values["serial_number"] == "92932004102453"
    assert reading.values["firmware_version"] == "00072.70"
    assert "serial_number" not in dev.stale_names()
