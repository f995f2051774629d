"""The devices of issue 14 against their simulators: a BMV, an Axpert with energy counters
and on USB, a parallel pair/trio of Axperts, SRNE, Growatt SPF and Deye; and
``helio-bridge read`` against each (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from edge.simulation.plant import Plant
from firmware_bridge.device import Device
from firmware_bridge.readings import Reading, check_values
from firmware_bridge.simulators.pi30 import Pi30Session
from tests.firmware_bridge.helpers import (
    REPO,
    DeviceFactory,
    SimFactory,
    assert_close,
    first_reading,
)

pytestmark = pytest.mark.pty



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


def test_pi30_session_parallel_replies(frozen_plant: Plant) -> None:
    from firmware_bridge.protocols import pi30  # noqa: PLC0415
    from firmware_bridge.simulators.faults import Faults  # noqa: PLC0415

    session = Pi30Session(frozen_plant, Faults(), variant="parallel2", time_scale=0.0)
    assert pi30.decode("QPGS0", session.payload("QPGS0") or "").values["parallel_unit_present"] == 1
    absent = pi30.decode("QPGS5", session.payload("QPGS5") or "")
    assert absent.values == {"parallel_unit_present": 0}
    assert pi30.decode("QPIRI", session.payload("QPIRI") or "").values["output_mode"] == "parallel"
    assert session.payload("QET") is None  # NAKed: no energy counters on this firmware


READ = [sys.executable, "-m", "firmware_bridge", "read", "--interval", "0.2", "--timeout", "1",
        "--max-time", "20"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("protocol", "options", "extra", "expect"),
    [
        ("vedirect", {"profile": "bmv"}, [], {"battery_soc", "time_to_go", "deepest_discharge"}),
        ("pi30", {"usb": True}, [], {"battery_voltage", "inverter_mode"}),
        ("pi30", {"profile": "parallel2"}, ["--parallel", "2"], {"battery_voltage"}),
        ("srne", {}, [], {"battery_soc", "pv_power", "charge_state"}),
        ("growatt_spf", {}, [], {"battery_soc", "pv_power", "device_status"}),
        ("deye", {}, [], {"battery_soc", "battery_power", "yield_total"}),
    ],
    ids=["bmv", "axpert-usb", "axpert-parallel", "srne", "growatt-spf", "deye"],
)
def test_helio_bridge_read_against_each_simulator(
    simulator: SimFactory, protocol: str, options: dict[str, object], extra: list[str],
    expect: set[str],
) -> None:
    sim = simulator(protocol, **options)
    out = subprocess.run(
        [*READ, "--protocol", protocol, "--port", sim.url, "--count", "2", *extra],
        capture_output=True, text=True, timeout=60, cwd=REPO, check=False,
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    own = [line for line in lines if line["device_id"] == protocol]
    assert len(own) == 2
    seen = set().union(*(set(line["values"]) for line in own))
    assert expect - {"time_to_go"} <= seen  # TTG only while discharging
    if "--parallel" in extra:
        assert {line["device_id"] for line in lines} == {"pi30", "pi30_0", "pi30_1"}
    stats = json.loads(out.stderr.strip().splitlines()[-1])["stats"]
    assert stats["frames_good"] > 0 and stats["checksum_errors"] == 0
