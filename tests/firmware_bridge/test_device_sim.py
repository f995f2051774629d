"""Driver against simulator over real pseudo-terminals (and TCP), all three protocols.

Each simulator is driven by a frozen plant, so the values a device decodes
must equal the plant's values within the protocol's resolution.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from edge.simulation.plant import Plant
from firmware_bridge.readings import check_values
from tests.firmware_bridge.helpers import (
    DeviceFactory,
    SimFactory,
    assert_close,
    first_reading,
)

pytestmark = pytest.mark.pty

#: canonical name -> (plant value of the state, protocol resolution)
Expect = dict[str, tuple[Callable[[dict[str, float | int | str]], float], float]]


@pytest.mark.parametrize("listen", [None, "127.0.0.1:0"], ids=["pty", "tcp"])
def test_vedirect_values_equal_plant(
    simulator: SimFactory, device: DeviceFactory, frozen_plant: Plant, listen: str | None
) -> None:
    sim = simulator("vedirect", listen=listen)
    reading = first_reading(device("vedirect", sim.url))
    state = frozen_plant.state()
    assert state.pv_power > 500 and state.charge_state == "bulk"
    check_values(reading.values)
    values = dict(reading.values)
    assert values["charge_state"] == state.charge_state
    assert values["tracker_mode"] == "mppt"
    assert_close(
        values,
        {
            "battery_voltage": (state.battery_voltage, 0.0005),  # mV
            "battery_current": (state.charger_current, 0.0005),  # mA, charger output
            "pv_voltage": (state.pv_voltage, 0.0005),
            "pv_power": (state.pv_power, 0.5),  # W
            "yield_today": (state.yield_today, 5.0),  # 0.01 kWh
            "yield_total": (state.yield_total, 5.0),
            "max_power_today": (state.max_power_today, 0.5),
        },
    )


@pytest.mark.parametrize("listen", [None, "127.0.0.1:0"], ids=["pty", "tcp"])
def test_pi30_values_equal_plant(
    simulator: SimFactory, device: DeviceFactory, frozen_plant: Plant, listen: str | None
) -> None:
    sim = simulator("pi30", listen=listen)
    dev = device("pi30", sim.url)
    reading = first_reading(dev, ("battery_voltage", "inverter_mode", "warnings"))
    check_values(reading.values)
    state = frozen_plant.state()
    values = dict(reading.values)
    assert values["inverter_mode"] == "battery"
    assert values["warnings"] == "line_fail"
    assert values["rated_ac_output_apparent_power"] == 5000  # QPIRI, once per connection
    assert_close(
        values,
        {
            "battery_voltage": (state.battery_voltage, 0.005),
            "ac_output_voltage": (state.ac_output_voltage, 0.05),
            "ac_output_power": (state.load_power, 0.5),
            "ac_output_apparent_power": (state.ac_output_apparent_power, 0.5),
            "load_percent": (state.load_percent, 0.5),
            "battery_soc": (state.battery_soc, 0.5),
            "battery_current": (state.battery_current, 1.0),  # whole amps, charge - discharge
            "heatsink_temperature": (state.heatsink_temperature, 0.5),
        },
    )
    second = first_reading(dev)
    assert "rated_ac_output_power" not in second.values  # QPIRI is not asked again


@pytest.mark.parametrize("listen", [None, "127.0.0.1:0"], ids=["pty", "tcp"])
def test_epever_values_equal_plant(
    simulator: SimFactory, device: DeviceFactory, frozen_plant: Plant, listen: str | None
) -> None:
    sim = simulator("epever", listen=listen)
    reading = first_reading(device("epever", sim.url), ("battery_voltage", "yield_total"))
    check_values(reading.values)
    state = frozen_plant.state()
    values = dict(reading.values)
    assert values["charge_state"] == "bulk"  # EPEver "boost"
    assert values["charging_mode"] == "mppt"
    assert_close(
        values,
        {
            "pv_voltage": (state.pv_voltage, 0.005),  # x100 registers
            "pv_current": (state.pv_current, 0.005),
            "pv_power": (state.pv_power, 0.005),
            "battery_voltage": (state.battery_voltage, 0.005),
            "battery_current": (state.charger_current, 0.005),  # signed 32-bit, low word first
            "battery_soc": (state.battery_soc, 0.5),  # unscaled percent
            "ambient_temperature": (state.temp_air, 0.005),  # signed
            "yield_today": (state.yield_today, 5.0),  # 0.01 kWh
        },
    )


@pytest.mark.parametrize("protocol", ["vedirect", "pi30", "epever"])
@pytest.mark.parametrize("listen", [None, "127.0.0.1:0"], ids=["pty", "tcp"])
def test_device_reconnects_after_unplug(
    simulator: SimFactory, device: DeviceFactory, protocol: str, listen: str | None
) -> None:
    sim = simulator(protocol, listen=listen)
    dev = device(protocol, sim.url, timeout=0.3)
    first_reading(dev)
    assert dev.stats.connected and dev.stats.reconnects == 0
    sim.unplug()
    deadline = time.monotonic() + 5.0
    while dev.stats.connected and time.monotonic() < deadline:
        assert dev.poll() is None or dev.stats.connected  # never raises
    assert not dev.stats.connected
    for _ in range(5):  # unplugged: polls return None quickly, no exception
        assert dev.poll() is None
    sim.replug()
    first_reading(dev)
    stats = dev.stats
    assert stats.connected and stats.reconnects == 1
    assert not stats.stale


@pytest.mark.parametrize("protocol", ["vedirect", "pi30", "epever"])
def test_device_that_stops_answering_goes_stale(
    simulator: SimFactory, device: DeviceFactory, protocol: str
) -> None:
    sim = simulator(protocol)
    dev = device(protocol, sim.url, timeout=0.15, stale_after=0.4, reopen_after_timeouts=0)
    first_reading(dev)
    sim.set_faults(["silent"])
    time.sleep(0.2)  # let replies in flight arrive
    dev.poll()  # and drain them: a block sent just before the silence may be waiting
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        assert dev.poll() is None
    stats = dev.stats
    assert stats.timeouts >= 3
    assert stats.stale and stats.connected
    assert "battery_voltage" in dev.stale_names()
    sim.set_faults([])
    if protocol == "epever":
        sim.unplug()  # a silent Tracer needs a power cycle
        sim.replug()
    first_reading(dev)
    assert not dev.stats.stale and dev.stale_names() == []


@pytest.mark.parametrize(
    ("protocol", "faults"),
    [
        ("vedirect", ["bad_checksum:0.4", "corrupt_bytes:0.3"]),
        ("vedirect", ["truncated:0.3", "stall:0.3"]),
        ("pi30", ["bad_checksum:0.3", "corrupt_bytes:0.3"]),
        ("epever", ["bad_checksum:0.1", "corrupt_bytes:0.1"]),
    ],
    ids=["vedirect-checksum", "vedirect-truncated-stall", "pi30-checksum", "epever-crc"],
)
def test_garbage_is_counted_and_never_applied(
    simulator: SimFactory,
    device: DeviceFactory,
    frozen_plant: Plant,
    protocol: str,
    faults: list[str],
) -> None:
    sim = simulator(protocol, faults=faults, seed=11)
    dev = device(protocol, sim.url, timeout=0.15, reopen_after_timeouts=0)
    state = frozen_plant.state()
    good = 0
    deadline = time.monotonic() + 20.0
    while (good < 5 or dev.stats.checksum_errors < 2) and time.monotonic() < deadline:
        reading = dev.poll()
        if reading is None or "battery_voltage" not in reading.values:
            continue
        good += 1
        # a damaged frame is dropped whole: what arrives is exactly the plant's value
        assert float(reading.values["battery_voltage"]) == pytest.approx(
            state.battery_voltage, abs=0.005
        )
    assert good >= 5
    assert dev.stats.checksum_errors >= 2


def test_vedirect_hex_after_checksum_is_harmless(
    simulator: SimFactory, device: DeviceFactory
) -> None:
    sim = simulator("vedirect", faults=["hex_after_checksum:1.0"])
    dev = device("vedirect", sim.url)
    for _ in range(3):
        first_reading(dev)
    assert dev.stats.checksum_errors == 0


@pytest.mark.parametrize("faults", [["raw_zero_crc"], ["trailing_lf"], ["concatenated:1.0"]])
def test_pi30_quirks_decode(
    simulator: SimFactory, device: DeviceFactory, frozen_plant: Plant, faults: list[str]
) -> None:
    sim = simulator("pi30", faults=faults)
    dev = device("pi30", sim.url)
    for _ in range(2):
        reading = first_reading(dev, ("battery_voltage", "inverter_mode", "warnings"))
        assert reading.values["inverter_mode"] == "battery"
        assert reading.values["battery_voltage"] == pytest.approx(
            frozen_plant.state().battery_voltage, abs=0.005
        )
    assert dev.stats.checksum_errors == 0 and dev.stats.timeouts == 0


def test_bluesolar_profile_omits_fields(simulator: SimFactory, device: DeviceFactory) -> None:
    sim = simulator("vedirect", profile="bluesolar")
    reading = first_reading(device("vedirect", sim.url))
    assert "tracker_mode" not in reading.values and "load_current" not in reading.values
    assert reading.values["product_id"] == "0xA042"


def test_pi30_max_profile_sends_24_fields(simulator: SimFactory, device: DeviceFactory) -> None:
    sim = simulator("pi30", profile="max")
    reading = first_reading(device("pi30", sim.url), ("battery_voltage", "grid_feed_power"))
    assert reading.values["grid_feed_active"] == 0 and reading.values["grid_feed_power"] == 0


def test_silent_epever_stays_silent_until_power_cycled(
    simulator: SimFactory, device: DeviceFactory
) -> None:
    sim = simulator("epever")
    dev = device("epever", sim.url, timeout=0.15, reopen_after_timeouts=0)
    first_reading(dev)
    sim.set_faults(["silent"])
    assert dev.poll() is None
    sim.set_faults([])  # the fault is gone, but the controller is latched up
    for _ in range(3):
        assert dev.poll() is None
    assert dev.stats.timeouts >= 4
    sim.unplug()
    sim.replug()
    first_reading(dev)
    assert dev.stats.reconnects == 1
