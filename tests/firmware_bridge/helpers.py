"""Shared helpers of the bridge tests (imported by test modules; no test module imports another).

Holds: the repository and capture paths, the factory types of the ``simulator``
and ``device`` fixtures (:mod:`.conftest`), and polling helpers for a device
read against a simulator.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from firmware_bridge.device import Device
from firmware_bridge.readings import Reading
from firmware_bridge.simulators.runner import SimulatorHandle

REPO = Path(__file__).resolve().parents[2]
#: the captures, one folder per protocol (``tests/data/<protocol>/``)
DATA = REPO / "tests" / "data"

#: ``simulator(protocol, **kwargs)``: the fixture that starts a simulator
SimFactory = Callable[..., SimulatorHandle]
#: ``device(protocol, url, timeout=..., **settings)``: the fixture that opens a device
DeviceFactory = Callable[..., Device]


def poll_until(device: Device, ok: Callable[[Reading], bool], *, seconds: float = 5.0) -> Reading:
    """Poll ``device`` until a reading satisfies ``ok`` (AssertionError after ``seconds``)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        reading = device.poll()
        if reading is not None and ok(reading):
            return reading
        time.sleep(0.02)
    raise AssertionError(f"no matching reading within {seconds} s; stats {device.stats}")


def first_reading(device: Device, names: tuple[str, ...] = ("battery_voltage",)) -> Reading:
    """The first reading of ``device`` that carries all of ``names``."""
    return poll_until(device, lambda r: all(n in r.values for n in names))


def assert_close(
    values: dict[str, float | int | str], expected: dict[str, tuple[float, float]]
) -> None:
    """Each expected name decoded within its resolution of the plant's value."""
    for name, (want, resolution) in expected.items():
        got = values[name]
        assert isinstance(got, int | float), name
        assert abs(got - want) <= resolution, f"{name}: decoded {got}, plant {want}"


# ------------------------------------------- VE.Direct frames of real device families
# (annotated field by field; used by the protocol tests and the driver tests)

BMV_MAIN = bytes.fromhex(
    "0d0a" "504944" "09" "3078323034"  # PID 0x204: BMV-702
    "0d0a" "56" "09" "3132363530"  # V 12650: 12.65 V
    "0d0a" "5653" "09" "3132383130"  # VS 12810: starter 12.81 V
    "0d0a" "49" "09" "2d33323530"  # I -3250: -3.25 A (discharging)
    "0d0a" "50" "09" "2d3431"  # P -41: -41 W
    "0d0a" "4345" "09" "2d3132333435"  # CE -12345: -12.345 Ah consumed
    "0d0a" "534f43" "09" "383736"  # SOC 876: 87.6 %
    "0d0a" "545447" "09" "31323334"  # TTG 1234: 1234 min to go
    "0d0a" "416c61726d" "09" "4f4646"  # Alarm OFF: no alarm
    "0d0a" "52656c6179" "09" "4f4646"  # Relay OFF: relay open
    "0d0a" "4152" "09" "30"  # AR 0: no alarm reason
    "0d0a" "424d56" "09" "373032"  # BMV 702: model text
    "0d0a" "4657" "09" "333038"  # FW 308: fw 3.08
    "0d0a" "436865636b73756d" "09"  # Checksum \t
    "c7"  # checksum byte: all bytes sum to 0 mod 256
)

BMV_HISTORY = bytes.fromhex(
    "0d0a" "4831" "09" "2d3535303030"  # H1 -55000: deepest -55 Ah
    "0d0a" "4832" "09" "2d3132303030"  # H2 -12000: last -12 Ah
    "0d0a" "4833" "09" "2d3230353030"  # H3 -20500: average -20.5 Ah
    "0d0a" "4834" "09" "3433"  # H4 43: 43 cycles
    "0d0a" "4835" "09" "32"  # H5 2: 2 full discharges
    "0d0a" "4836" "09" "2d33343536373839"  # H6 -3456789: -3456.789 Ah drawn
    "0d0a" "4837" "09" "3130333530"  # H7 10350: min 10.35 V
    "0d0a" "4838" "09" "3134383030"  # H8 14800: max 14.8 V
    "0d0a" "4839" "09" "3836343030"  # H9 86400: 1 day since full
    "0d0a" "483130" "09" "3337"  # H10 37: 37 syncs
    "0d0a" "483131" "09" "33"  # H11 3: 3 low-V alarms
    "0d0a" "483132" "09" "30"  # H12 0: 0 high-V alarms
    "0d0a" "483135" "09" "3131323030"  # H15 11200: starter min 11.2 V
    "0d0a" "483136" "09" "3134313030"  # H16 14100: starter max 14.1 V
    "0d0a" "483137" "09" "3132333435"  # H17 12345: 123.45 kWh discharged
    "0d0a" "483138" "09" "3134353030"  # H18 14500: 145 kWh charged
    "0d0a" "436865636b73756d" "09"  # Checksum \t
    "39"  # checksum byte: all bytes sum to 0 mod 256
)

SHUNT = bytes.fromhex(
    "0d0a" "504944" "09" "307841333839"  # PID 0xA389: SmartShunt 500A/50mV
    "0d0a" "56" "09" "3236343030"  # V 26400: 26.4 V
    "0d0a" "564d" "09" "3133313930"  # VM 13190: mid-point 13.19 V
    "0d0a" "444d" "09" "2d3132"  # DM -12: mid-point deviation -1.2 %
    "0d0a" "49" "09" "3135303030"  # I 15000: +15 A charging
    "0d0a" "50" "09" "333936"  # P 396: 396 W
    "0d0a" "4345" "09" "30"  # CE 0: 0 Ah
    "0d0a" "534f43" "09" "31303030"  # SOC 1000: 100 %
    "0d0a" "545447" "09" "2d31"  # TTG -1: -1 = infinite: absent
    "0d0a" "416c61726d" "09" "4f4e"  # Alarm ON: alarm on
    "0d0a" "52656c6179" "09" "4f4646"  # Relay OFF: relay open
    "0d0a" "4152" "09" "35"  # AR 5: low SOC (4) + low voltage (1)
    "0d0a" "4d4f4e" "09" "30"  # MON 0: battery monitor
    "0d0a" "54" "09" "2d2d2d"  # T ---: no temperature sensor
    "0d0a" "4341505f424c45" "09" "30783030303030303031"  # CAP_BLE 0x00000001: BLE off supported
    "0d0a" "58595a" "09" "37"  # XYZ 7: a label the table does not know
    "0d0a" "436865636b73756d" "09"  # Checksum \t
    "c3"  # checksum byte: all bytes sum to 0 mod 256
)


# what those frames decode to

BMV_MAIN_VALUES = {
    "product_id": "0x204", "battery_voltage": 12.65, "starter_battery_voltage": 12.81,
    "battery_current": -3.25, "battery_power": -41, "consumed_charge": -12.345,
    "battery_soc": 87.6, "time_to_go": 1234, "alarm_on": 0, "relay_on": 0, "alarm_reason": "",
    "monitor_model": "702", "firmware_version": "308",
}

BMV_HISTORY_VALUES = {
    "deepest_discharge": -55.0, "last_discharge": -12.0, "average_discharge": -20.5,
    "charge_cycles": 43, "full_discharges": 2, "cumulative_charge_drawn": -3456.789,
    "min_battery_voltage": 10.35, "max_battery_voltage": 14.8,
    "seconds_since_full_charge": 86400, "automatic_syncs": 37, "low_voltage_alarms": 3,
    "high_voltage_alarms": 0, "min_starter_battery_voltage": 11.2,
    "max_starter_battery_voltage": 14.1, "discharged_energy_total": 123450,
    "charged_energy_total": 145000,
}
