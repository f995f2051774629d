"""Each driver against a device: VE.Direct two-block updates and unknown labels on a pseudo-
terminal fed by hand; every protocol's driver against its simulator over real pseudo-
terminals (and TCP), with a frozen plant so decoded values can be compared to the plant's;
the PI30 driver's energy counters, refused commands and parallel units; a BMV and an Axpert
MAX as the simulators serve them.
"""

from __future__ import annotations

import os
import threading
import time
import tty
from collections.abc import Iterator

import pytest

from edge.simulation.plant import Plant
from firmware_bridge.config import DeviceConfig
from firmware_bridge.device import Device, DeviceSettings, open_device
from firmware_bridge.readings import Reading, check_values
from firmware_bridge.simulators.pi30 import Pi30Session
from tests.firmware_bridge.helpers import (
    BMV_HISTORY,
    BMV_HISTORY_VALUES,
    BMV_MAIN,
    BMV_MAIN_VALUES,
    SHUNT,
    DeviceFactory,
    SimFactory,
    assert_close,
    first_reading,
)

# ------------------------------------------------------------------ device layer

class PtyStream:
    """A pseudo-terminal whose master side writes ``frames`` in a loop, one list per update."""

    def __init__(self, updates: list[bytes], period: float = 0.25) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        self._slave = slave
        self.updates, self.period = updates, period
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            os.write(self.master, self.updates[i % len(self.updates)])
            i += 1
            self._stop.wait(self.period)

    def close(self) -> None:
        self._stop.set()
        self.thread.join(2)
        os.close(self.master)
        os.close(self._slave)


@pytest.fixture
def bmv_device() -> Iterator[tuple[PtyStream, Device]]:
    stream = PtyStream([BMV_MAIN + BMV_HISTORY])
    cfg = DeviceConfig(id="bmv", protocol="vedirect", port=stream.path, timeout=1.0,
                       poll_interval=0.25)
    dev = open_device(cfg, settings=DeviceSettings())
    yield stream, dev
    dev.close()
    stream.close()


def _readings(dev: Device, n: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    deadline = time.monotonic() + 10
    while len(out) < n and time.monotonic() < deadline:
        reading = dev.poll()
        if reading is not None:
            out.append(dict(reading.values))
    return out


@pytest.mark.pty
def test_two_blocks_per_update_make_one_full_reading(
    bmv_device: tuple[PtyStream, Device],
) -> None:
    _, dev = bmv_device
    readings = _readings(dev, 5)[1:]  # the first may start mid-update
    assert len(readings) == 4
    for values in readings:
        assert values == pytest.approx({**BMV_MAIN_VALUES, **BMV_HISTORY_VALUES})


@pytest.mark.pty
def test_lost_second_block_still_gives_the_first() -> None:
    broken = bytearray(BMV_HISTORY)
    broken[10] ^= 0x01  # one flipped bit: the history block fails its checksum
    stream = PtyStream([BMV_MAIN + bytes(broken)])
    cfg = DeviceConfig(id="bmv", protocol="vedirect", port=stream.path, timeout=1.0,
                       poll_interval=0.25)
    dev = open_device(cfg, settings=DeviceSettings())
    try:
        readings = _readings(dev, 3)
        assert len(readings) == 3
        assert all(values == BMV_MAIN_VALUES for values in readings[1:])
        assert dev.stats.checksum_errors >= 2
    finally:
        dev.close()
        stream.close()


@pytest.mark.pty
def test_unknown_labels_counted_per_label_and_noticed_once() -> None:
    stream = PtyStream([SHUNT])
    cfg = DeviceConfig(id="shunt", protocol="vedirect", port=stream.path, timeout=1.0,
                       poll_interval=0.25)
    dev = open_device(cfg, settings=DeviceSettings())
    try:
        readings = _readings(dev, 3)
        assert len(readings) == 3
        assert dev.stats.unknown_fields["XYZ"] >= 3
        notices = dev.take_notices()
        assert [(n.code, n.subject) for n in notices] == [("device_unknown_field", "XYZ")]
        _readings(dev, 2)
        assert dev.take_notices() == []  # once only
        assert dev.stats.to_dict()["unknown_fields"]["XYZ"] >= 5
    finally:
        dev.close()
        stream.close()


pytestmark = pytest.mark.pty


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


def readings_all(dev: Device, *, want: int, seconds: float = 8.0) -> list[list[Reading]]:
    polls: list[list[Reading]] = []
    deadline = time.monotonic() + seconds
    while len(polls) < want and time.monotonic() < deadline:
        got = dev.poll_all()
        if got:
            polls.append(got)
    return polls


def test_bmv_monitor_values_from_the_plant_battery(
    simulator: SimFactory, device: DeviceFactory, frozen_plant: Plant
) -> None:
    sim = simulator("vedirect", profile="bmv")
    dev = device("vedirect", sim.url, timeout=1.0)
    reading = first_reading(dev, ("battery_soc", "deepest_discharge"))
    check_values(reading.values)
    state = frozen_plant.state()
    capacity = frozen_plant.ratings.battery_capacity
    values = dict(reading.values)
    assert values["product_id"] == "0x204" and values["monitor_model"] == "702"
    assert_close(values, {
        "battery_voltage": (state.battery_voltage, 0.0005),
        "battery_current": (state.battery_current, 0.0005),
        "battery_soc": (state.battery_soc, 0.05),
        "consumed_charge": (-(100 - state.battery_soc) / 100 * capacity, 0.0005),
        "battery_power": (state.battery_voltage * state.battery_current, 0.5),
        "min_battery_voltage": (state.battery_voltage, 0.0005),
    })
    if state.battery_current >= 0:
        assert "time_to_go" not in values  # charging: TTG is -1 on the wire, absent here
    assert values["alarm_on"] == int(state.battery_soc < 20)
    assert dev.stats.unknown_fields == {}


def test_bmv_every_poll_is_one_full_update(simulator: SimFactory, device: DeviceFactory) -> None:
    sim = simulator("vedirect", profile="bmv")
    dev = device("vedirect", sim.url, timeout=1.0)
    first_reading(dev, ("battery_soc", "deepest_discharge"))
    for _ in range(4):
        reading = dev.poll()
        assert reading is not None  # never an empty poll
        assert "battery_soc" in reading.values and "charged_energy_total" in reading.values


def test_axpert_max_energy_counters_and_refused_load_counters(
    simulator: SimFactory, device: DeviceFactory, frozen_plant: Plant
) -> None:
    sim = simulator("pi30", profile="max")
    dev = device("pi30", sim.url)
    reading = first_reading(dev, ("battery_voltage", "yield_total"))
    state = frozen_plant.state()
    assert reading.values["yield_total"] == round(state.yield_total)
    assert reading.values["yield_today"] == round(state.yield_today)
    assert {"yield_year", "yield_month", "pv2_power", "max_discharge_current"} <= set(
        reading.values)
    assert dev.stats.unsupported_commands == ["QLT", "QLY", "QLM", "QLD"]
    notices = dev.take_notices()
    assert sorted(n.subject for n in notices) == ["QLD", "QLM", "QLT", "QLY"]
    assert dev.stats.to_dict()["unsupported_commands"] == ["QLT", "QLY", "QLM", "QLD"]


def test_axpert_without_counters_is_asked_once(
    simulator: SimFactory, device: DeviceFactory
) -> None:
    sim = simulator("pi30")
    dev = device("pi30", sim.url)
    reading = first_reading(dev, ("battery_voltage",))
    assert "yield_total" not in reading.values
    first_reading(dev)
    session = sim._server.endpoint._session  # the pty's one reader
    assert isinstance(session, Pi30Session)
    asked = session.requests
    assert asked.count("QPIGS2") == 1 and asked.count("QET") == 1  # NAKed once, not again
    assert asked.count("QPIGS") >= 2
    assert "QPIGS2" in dev.stats.unsupported_commands


@pytest.mark.parametrize(("profile", "units"), [("parallel2", 2), ("parallel3", 3)])
def test_parallel_axperts_one_reading_per_unit(
    simulator: SimFactory, device: DeviceFactory, frozen_plant: Plant, profile: str, units: int
) -> None:
    sim = simulator("pi30", profile=profile)
    dev = device("pi30", sim.url, parallel_units=units)
    polls = readings_all(dev, want=2)
    assert polls, dev.stats
    ids = [r.device_id for r in polls[-1]]
    assert ids == ["pi30", *(f"pi30_{n}" for n in range(units))]
    state = frozen_plant.state()
    units_values = [dict(r.values) for r in polls[-1][1:]]
    for n, values in enumerate(units_values):
        check_values(values)
        assert values["serial_number"] == f"9293200410{2453 + n:04d}"
        assert values["output_mode"] == "parallel" and values["inverter_mode"] == "battery"
        assert values["total_ac_output_power"] == round(state.load_power)
    total = sum(float(v["ac_output_power"]) for v in units_values)
    assert abs(total - state.load_power) <= units  # whole watts per unit
    assert polls[-1][0].values.get("output_mode", "parallel") == "parallel"


def test_parallel_unit_that_is_not_there(simulator: SimFactory, device: DeviceFactory) -> None:
    sim = simulator("pi30", profile="parallel2")
    dev = device("pi30", sim.url, parallel_units=3)
    polls = readings_all(dev, want=1)
    third = [r for r in polls[-1] if r.device_id == "pi30_2"]
    assert [dict(r.values) for r in third] == [{"parallel_unit_present": 0}]
