"""VE.Direct battery monitors (BMV, SmartShunt), Phoenix and BuckBoost blocks; two-block updates.

Every block is laid out by hand from VE.Direct Protocol 3.33 Table I (pp. 6-8),
the field descriptions (pp. 10-16) and the BMV-702's two-block update
(main block, then the history block H1..H18; protocols.md B1).
"""

from __future__ import annotations

import os
import threading
import time
import tty
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.config import DeviceConfig
from firmware_bridge.device import Device, DeviceSettings, open_device
from firmware_bridge.errors import BridgeError
from firmware_bridge.protocols import vedirect
from firmware_bridge.protocols.vedirect import VeDirectFramer
from firmware_bridge.readings import check_values

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
BUCKBOOST = bytes.fromhex(
    "0d0a" "504944" "09" "307841334630"  # PID 0xA3F0: Smart BuckBoost 12V/12V-50A
    "0d0a" "465745" "09" "303131354646"  # FWE 0115FF: fw 1.15 release
    "0d0a" "53455223" "09" "4851323232334142434445"  # SER# HQ2223ABCDE: serial
    "0d0a" "56" "09" "3133363530"  # V 13650: out 13.65 V
    "0d0a" "49" "09" "3230353030"  # I 20500: out 20.5 A
    "0d0a" "44435f494e5f56" "09" "31343230"  # DC_IN_V 1420: in 14.20 V
    "0d0a" "44435f494e5f49" "09" "323131"  # DC_IN_I 211: in 21.1 A
    "0d0a" "44435f494e5f50" "09" "333030"  # DC_IN_P 300: in 300 W
    "0d0a" "4d4f4445" "09" "31"  # MODE 1: charger
    "0d0a" "4353" "09" "33"  # CS 3: bulk
    "0d0a" "455252" "09" "30"  # ERR 0: no error
    "0d0a" "4f52" "09" "30783030303030303030"  # OR 0x00000000: not off
    "0d0a" "436865636b73756d" "09"  # Checksum \t
    "c4"  # checksum byte: all bytes sum to 0 mod 256
)
PHOENIX = bytes.fromhex(
    "0d0a" "504944" "09" "307841324532"  # PID 0xA2E2: Phoenix 12V 800VA
    "0d0a" "4657" "09" "30313136"  # FW 0116: fw 1.16
    "0d0a" "53455223" "09" "48513139323558595a3132"  # SER# HQ1925XYZ12: serial
    "0d0a" "4d4f4445" "09" "32"  # MODE 2: inverter
    "0d0a" "4353" "09" "39"  # CS 9: inverting
    "0d0a" "41435f4f55545f56" "09" "3233303031"  # AC_OUT_V 23001: 230.01 V
    "0d0a" "41435f4f55545f49" "09" "3237"  # AC_OUT_I 27: 2.7 A
    "0d0a" "41435f4f55545f53" "09" "363231"  # AC_OUT_S 621: 621 VA
    "0d0a" "56" "09" "3132333130"  # V 12310: 12.31 V
    "0d0a" "4152" "09" "30"  # AR 0: no alarm
    "0d0a" "5741524e" "09" "323537"  # WARN 257: low voltage + overload
    "0d0a" "4f52" "09" "30783030303030303030"  # OR 0x00000000: not off
    "0d0a" "436865636b73756d" "09"  # Checksum \t
    "07"  # checksum byte: all bytes sum to 0 mod 256
)

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


def _one(raw: bytes) -> vedirect.TextBlock:
    blocks = VeDirectFramer().feed(raw)
    assert len(blocks) == 1
    return blocks[0]


@pytest.mark.parametrize("raw", [BMV_MAIN, BMV_HISTORY, SHUNT, BUCKBOOST, PHOENIX],
                         ids=["bmv", "history", "shunt", "buckboost", "phoenix"])
def test_fixture_checksums_are_valid(raw: bytes) -> None:
    assert sum(raw) % 256 == 0


def test_bmv_main_block() -> None:
    block = _one(BMV_MAIN)
    assert vedirect.decode(block) == BMV_MAIN_VALUES
    assert vedirect.starts_update(block)
    assert vedirect.unknown_labels(block) == []


def test_bmv_history_block() -> None:
    block = _one(BMV_HISTORY)
    values = vedirect.decode(block)
    assert values == pytest.approx(BMV_HISTORY_VALUES)
    assert not vedirect.starts_update(block)
    check_values(values)


def test_smartshunt_block_infinite_ttg_no_sensor_and_unknown_label() -> None:
    block = _one(SHUNT)
    values = vedirect.decode(block)
    assert values == {
        "product_id": "0xA389", "battery_voltage": 26.4, "midpoint_voltage": 13.19,
        "midpoint_deviation": -1.2, "battery_current": 15.0, "battery_power": 396,
        "consumed_charge": 0.0, "battery_soc": 100.0, "alarm_on": 1, "relay_on": 0,
        "alarm_reason": "low_voltage,low_soc", "dc_monitor_mode": "battery_monitor",
        "ble_capabilities": "ble_off_supported",
    }
    assert "time_to_go" not in values  # -1 is "infinite": absent, not -1
    assert "battery_temperature" not in values  # '---'
    assert vedirect.unknown_labels(block) == ["XYZ"]
    check_values(values)


def test_buckboost_block() -> None:
    values = vedirect.decode(_one(BUCKBOOST))
    assert values == {
        "product_id": "0xA3F0", "firmware_version": "0115FF", "serial_number": "HQ2223ABCDE",
        "battery_voltage": 13.65, "battery_current": 20.5, "dc_input_voltage": 14.2,
        "dc_input_current": 21.1, "dc_input_power": 300, "inverter_mode": "charger",
        "charge_state": "bulk", "error_code": 0, "off_reason": "",
    }
    check_values(values)


def test_phoenix_block() -> None:
    values = vedirect.decode(_one(PHOENIX))
    assert values["ac_output_voltage"] == 230.01
    assert values["ac_output_current"] == 2.7
    assert values["ac_output_apparent_power"] == 621
    assert values["inverter_mode"] == "inverter" and values["charge_state"] == "inverting"
    assert values["warnings"] == "low_voltage,overload" and values["alarm_reason"] == ""
    check_values(values)


@pytest.mark.parametrize(
    "labels", [vedirect.BMV_LABELS, vedirect.SMARTSHUNT_LABELS, vedirect.BMV_HISTORY_LABELS,
               vedirect.BUCKBOOST_LABELS, vedirect.PHOENIX_LABELS],
    ids=["bmv", "shunt", "history", "buckboost", "phoenix"],
)
def test_encoder_round_trips_every_new_field(labels: tuple[str, ...]) -> None:
    """The simulator's encoder and the decoder are built from the same table."""
    values = {**BMV_MAIN_VALUES, **BMV_HISTORY_VALUES, "midpoint_voltage": 13.19,
              "midpoint_deviation": -1.2, "dc_monitor_mode": "fridge", "dc_input_voltage": 14.2,
              "dc_input_current": 21.1, "dc_input_power": 300, "inverter_mode": "charger",
              "charge_state": "bulk", "error_code": 0, "off_reason": "bms",
              "serial_number": "HQ1", "ac_output_voltage": 230.0, "ac_output_current": 2.7,
              "ac_output_apparent_power": 621, "warnings": "overload"}
    block = _one(vedirect.encode_block(values, labels))
    decoded = vedirect.decode(block)
    expected = {vedirect.LABELS[label].name for label in labels}
    assert set(decoded) == expected
    for name in expected:
        assert decoded[name] == (pytest.approx(values[name])
                                 if isinstance(values[name], float) else values[name])


def test_ttg_none_encodes_as_minus_one() -> None:
    block = _one(vedirect.encode_block({"time_to_go": None, "battery_soc": 100.0},
                                       vedirect.BMV_LABELS))
    assert "TTG\t-1" in block.lines
    assert vedirect.decode(block) == {"battery_soc": 100.0}


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


# ------------------------------------------------------------------ random bytes

NEW_LABELS = st.sampled_from(["P", "CE", "TTG", "Alarm", "VS", "VM", "DM", "MON", "BMV", "H1",
                              "H9", "H17", "DC_IN_V", "DC_IN_P", "CAP_BLE", "AR", "XYZ"])
FIELD_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)


@settings(max_examples=300)
@given(st.binary(max_size=600), st.lists(st.tuples(NEW_LABELS, FIELD_TEXT), max_size=10,
                                         unique_by=lambda f: f[0]))
def test_random_bytes_and_fields_raise_only_bridge_errors(
    noise: bytes, fields: list[tuple[str, str]]
) -> None:
    """Garbage and valid blocks of random battery-monitor fields: only BridgeError escapes."""
    data = noise + vedirect.build_block(fields) + noise
    for block in VeDirectFramer().feed(data):
        vedirect.unknown_labels(block)
        vedirect.starts_update(block)
        try:
            values = vedirect.decode(block)
        except BridgeError:
            continue
        check_values(values)
