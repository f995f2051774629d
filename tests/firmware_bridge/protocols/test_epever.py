"""EPEver register table, decode and encode (the RTU framing is pymodbus's)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU
from pymodbus.pdu.register_message import ReadInputRegistersResponse

from firmware_bridge.protocols import epever
from firmware_bridge.readings import check_values


def test_register_table_has_no_overlaps() -> None:
    used: dict[int, str] = {}
    for reg in epever.REGISTERS:
        for address in range(reg.address, reg.address + reg.words):
            assert address not in used, (hex(address), used.get(address), reg.name)
            used[address] = reg.name


def test_read_blocks_cover_every_register() -> None:
    covered = {a for start, count in epever.READ_BLOCKS for a in range(start, start + count)}
    for reg in epever.REGISTERS:
        assert set(range(reg.address, reg.address + reg.words)) <= covered, reg
    assert all(count <= 125 for _, count in epever.READ_BLOCKS)  # Modbus read limit


def test_decode_vendor_examples() -> None:
    values = epever.decode({
        0x3104: 0x04CE,  # EPEVER V2.3 p. 12: 0x04CE = 1230 -> 12.30 V
        0x3102: 0x93E0, 0x3103: 0x0004,  # LS-B: 3000 W x 100 = 300000, low word first
        0x311A: 87,  # SOC: an unscaled integer percent on real devices
        0x3110: 0xFBE6,  # -1050 -> -10.5 degC (signed)
        0x331B: 0xFB2E, 0x331C: 0xFFFF,  # -1234 -> -12.34 A (signed 32-bit)
        0x330C: 0x0C35, 0x330D: 0x0000,  # 3125 x 0.01 kWh -> 31250 Wh
        0x3008: 2,  # MPPT
    })
    assert values["battery_voltage"] == 12.3
    assert values["pv_power"] == 3000.0
    assert values["battery_soc"] == 87
    assert values["battery_temperature"] == -10.5
    assert values["battery_current"] == -12.34
    assert values["yield_today"] == 31250
    assert values["charging_mode"] == "mppt"
    assert "faults" not in values  # no status word in the snapshot


@pytest.mark.parametrize(
    ("charger", "state"), [(0x0001, "off"), (0x0005, "float"), (0x0009, "bulk"),
                           (0x000D, "equalize")],
    ids=["none", "float", "boost", "equalization"],
)
def test_decode_charging_status(charger: int, state: str) -> None:
    values = epever.decode({0x3200: 0, 0x3201: charger, 0x3202: 1})
    assert values["charge_state"] == state
    assert values["fault_active"] == 0 and values["faults"] == ""
    assert values["load_output_on"] == 1 and values["battery_status"] == "normal"


def test_decode_status_faults() -> None:
    values = epever.decode({
        0x3200: 0x0011,  # D3-D0 01 over-voltage, D7-D4 01 over-temperature
        0x3201: 0x4000 | 0x0010 | 0x0002 | 0x0001,  # no PV power, PV short, fault, running
        0x3202: 0x0800,  # output short circuit, load off
    })
    assert values["battery_status"] == "over_voltage"
    assert values["input_voltage_status"] == "no_power"
    assert values["faults"] == ("battery_over_voltage,battery_over_temperature,pv_input_short,"
                                "output_short_circuit")
    assert values["fault_active"] == 1 and values["load_output_on"] == 0


def test_decode_charger_fault_bit_alone() -> None:
    values = epever.decode({0x3201: 0x0003})
    assert values["faults"] == "charger_fault" and values["fault_active"] == 1


def test_decode_partial_snapshot_skips_missing_words() -> None:
    values = epever.decode({0x3102: 0x93E0, 0x3100: 2500})  # high word of PV power missing
    assert values == {"pv_voltage": 25.0}


SIM = {
    "rated_pv_voltage": 150.0, "rated_pv_current": 40.0, "rated_pv_power": 2080.0,
    "rated_battery_voltage": 48.0, "rated_charge_current": 40.0, "rated_charge_power": 2080.0,
    "charging_mode": "mppt", "rated_load_current": 20.0, "pv_voltage": 96.31,
    "pv_current": 12.4, "pv_power": 1194.24, "battery_voltage": 54.12,
    "battery_charge_current": 21.5, "battery_charge_power": 1163.58, "load_voltage": 54.1,
    "load_current": 1.2, "load_power": 64.92, "battery_temperature": -3.25,
    "device_temperature": 31.5, "heatsink_temperature": 40.02, "battery_soc": 93,
    "remote_battery_temperature": 25.0, "battery_system_voltage": 48.0,
    "pv_voltage_max_today": 110.2, "pv_voltage_min_today": 0.0,
    "battery_voltage_max_today": 57.6, "battery_voltage_min_today": 49.9,
    "consumed_today": 1230, "consumed_month": 36410, "consumed_year": 512000,
    "consumed_total": 1280450, "yield_today": 8840, "yield_month": 190000,
    "yield_year": 2400000, "yield_total": 6100000, "battery_current": -7.5,
    "ambient_temperature": 29.0, "charge_state": "bulk", "battery_status": "normal",
    "input_voltage_status": "normal", "load_output_on": 1, "faults": "", "fault_active": 0,
}


def test_encode_decode_round_trip() -> None:
    registers = epever.encode(SIM)
    assert all(0 <= word <= 0xFFFF for word in registers.values())
    decoded = epever.decode(registers)
    check_values(decoded)
    assert decoded == SIM


def test_encode_low_word_first() -> None:
    registers = epever.encode({"pv_power": 3000.0})
    assert (registers[0x3102], registers[0x3103]) == (0x93E0, 0x0004)


@given(
    st.integers(-(2**31), 2**31 - 1), st.integers(-32768, 32767), st.integers(0, 2**32 - 1),
    st.sampled_from(["off", "float", "bulk", "equalize"]),
)
def test_encode_decode_property(current: int, temperature: int, energy: int, state: str) -> None:
    values = {"battery_current": current / 100, "battery_temperature": temperature / 100,
              "yield_total": energy * 10, "charge_state": state}
    decoded = epever.decode(epever.encode(values))
    assert {k: decoded[k] for k in values} == values


def _rtu_client_framer() -> FramerRTU:
    return FramerRTU(DecodePDU(is_server=False))


# EPEVER V2.3 p. 12 worked example: the reply to "read input register 0x3104, count 1".
EXAMPLE_REPLY = bytes.fromhex(
    "01"  # slave id 1
    "04"  # function 0x04 read input registers
    "02"  # byte count 2
    "04ce"  # 0x04CE = 1230 -> 12.30 V
    "3a64"  # CRC-16/MODBUS, low byte first
)


def test_pymodbus_rtu_reply_through_the_table() -> None:
    """pymodbus frames RTU; the table turns its words into SI values."""
    framer = _rtu_client_framer()
    used, pdu = framer.handleFrame(EXAMPLE_REPLY, 1, 0)
    assert used == len(EXAMPLE_REPLY) and pdu.registers == [0x04CE]
    assert epever.decode({0x3104: pdu.registers[0]}) == {"battery_voltage": 12.3}


def test_pymodbus_read_blocks_round_trip() -> None:
    """Every READ_BLOCK of a simulated controller survives pymodbus RTU framing."""
    registers = epever.encode(SIM)
    framer = _rtu_client_framer()
    snapshot: dict[int, int] = {}
    for start, count in epever.READ_BLOCKS:
        words = [registers.get(a, 0) for a in range(start, start + count)]
        wire = framer.buildFrame(
            ReadInputRegistersResponse(registers=words, dev_id=epever.SLAVE_ID))
        _, pdu = framer.handleFrame(wire, epever.SLAVE_ID, 0)
        snapshot.update(zip(range(start, start + count), pdu.registers, strict=True))
    assert epever.decode(snapshot) == SIM
