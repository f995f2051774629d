"""EPEver / EPSolar Tracer (AN, BN, LS-B) over Modbus RTU: the register table.

Responsible for: the input-register table (address, width, scale, sign,
canonical name), the blocks a poller reads, :func:`decode` of a register
snapshot into canonical SI values (status words into ``charge_state``,
``battery_status``, ``faults``), and :func:`encode` of values into registers
for the simulator, from the same table.

Does NOT: frame Modbus (pymodbus does RTU, CRC and exceptions), open ports or
retry. The device layer reads :data:`READ_BLOCKS` with pymodbus's
``read_input_registers(address, count=..., device_id=1)`` and passes the words
to :func:`decode` as ``{address: word}``.

Conventions (EPEver protocol V2.3 and the LS-B sheet): 32-bit values are two
registers, low word at the lower address; most values are x100; temperatures
and the net battery current (0x331B) are signed; SOC (0x311A) is an unscaled
integer percent on real devices; energy registers are in 0.01 kWh.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from firmware_bridge.protocols.base import Values, from_raw, to_raw
from firmware_bridge.readings import Value

__all__ = [
    "BAUDRATE",
    "READ_BLOCKS",
    "REGISTERS",
    "SLAVE_ID",
    "Register",
    "decode",
    "encode",
]

BAUDRATE = 115200
SLAVE_ID = 1
STATUS_BATTERY, STATUS_CHARGER, STATUS_LOAD = 0x3200, 0x3201, 0x3202


@dataclass(frozen=True, slots=True)
class Register:
    """One input register (or low/high pair).

    Attributes
    ----------
    address : int
        Register address (the low word for 32-bit values).
    name : str
        Canonical name (status words use the ``status_*`` pseudo names, which
        :func:`decode` expands).
    words : int
        1, or 2 for a 32-bit value with the LOW word first.
    exp : int
        SI value = raw * 10**exp (x100 registers: -2; 0.01 kWh -> Wh: 1).
    signed : bool
        Two's complement (temperatures, net battery current).
    """

    address: int
    name: str
    words: int = 1
    exp: int = -2
    signed: bool = False


def _r(address: int, name: str, words: int = 1, exp: int = -2, signed: bool = False) -> Register:
    return Register(address, name, words, exp, signed)


REGISTERS: tuple[Register, ...] = (
    _r(0x3000, "rated_pv_voltage"),
    _r(0x3001, "rated_pv_current"),
    _r(0x3002, "rated_pv_power", 2),
    _r(0x3004, "rated_battery_voltage"),
    _r(0x3005, "rated_charge_current"),
    _r(0x3006, "rated_charge_power", 2),
    _r(0x3008, "charging_mode", exp=0),
    _r(0x300E, "rated_load_current"),
    _r(0x3100, "pv_voltage"),
    _r(0x3101, "pv_current"),
    _r(0x3102, "pv_power", 2),
    _r(0x3104, "battery_voltage"),
    _r(0x3105, "battery_charge_current"),
    _r(0x3106, "battery_charge_power", 2),
    _r(0x310C, "load_voltage"),
    _r(0x310D, "load_current"),
    _r(0x310E, "load_power", 2),
    _r(0x3110, "battery_temperature", signed=True),
    _r(0x3111, "device_temperature", signed=True),
    _r(0x3112, "heatsink_temperature", signed=True),
    _r(0x311A, "battery_soc", exp=0),
    _r(0x311B, "remote_battery_temperature", signed=True),
    _r(0x311D, "battery_system_voltage"),
    _r(STATUS_BATTERY, "status_battery", exp=0),
    _r(STATUS_CHARGER, "status_charger", exp=0),
    _r(STATUS_LOAD, "status_load", exp=0),
    _r(0x3300, "pv_voltage_max_today"),
    _r(0x3301, "pv_voltage_min_today"),
    _r(0x3302, "battery_voltage_max_today"),
    _r(0x3303, "battery_voltage_min_today"),
    _r(0x3304, "consumed_today", 2, exp=1),
    _r(0x3306, "consumed_month", 2, exp=1),
    _r(0x3308, "consumed_year", 2, exp=1),
    _r(0x330A, "consumed_total", 2, exp=1),
    _r(0x330C, "yield_today", 2, exp=1),
    _r(0x330E, "yield_month", 2, exp=1),
    _r(0x3310, "yield_year", 2, exp=1),
    _r(0x3312, "yield_total", 2, exp=1),
    _r(0x331A, "battery_voltage"),
    _r(0x331B, "battery_current", 2, signed=True),
    _r(0x331D, "battery_temperature", signed=True),
    _r(0x331E, "ambient_temperature", signed=True),
)

#: (first address, count) of the input-register blocks to read each poll. Gaps
#: that real controllers reject (0x3009-0x300D, 0x3113-0x3119, 0x3316-0x3319)
#: are left out, except 0x311C which sits inside 0x311A-0x311D.
READ_BLOCKS: tuple[tuple[int, int], ...] = (
    (0x3000, 0x09), (0x300E, 0x01), (0x3100, 0x13), (0x311A, 0x04), (0x3200, 0x03),
    (0x3300, 0x14), (0x331A, 0x05),
)

_CHARGING_MODES = ("on_off", "pwm", "mppt")
_CHARGE_STATES = ("off", "float", "bulk", "equalize")  # D3-D2: none, float, boost, equalization
_BATTERY_STATUS = ("normal", "over_voltage", "under_voltage", "low_voltage_disconnect", "fault")
_INPUT_STATUS = ("normal", "no_power", "high", "error")
_CHARGER_FAULT_BITS: Mapping[int, str] = MappingProxyType({
    13: "charging_mosfet_short", 12: "charging_or_anti_reverse_mosfet_short",
    11: "anti_reverse_mosfet_short", 10: "input_over_current", 9: "load_over_current",
    8: "load_short", 7: "load_mosfet_short", 4: "pv_input_short",
})
_LOAD_FAULT_BITS: Mapping[int, str] = MappingProxyType({
    11: "output_short_circuit", 10: "unable_to_discharge", 9: "unable_to_stop_discharging",
    8: "output_voltage_abnormal", 7: "input_over_voltage", 6: "high_voltage_side_short",
    5: "boost_over_voltage", 4: "output_over_voltage",
})
_TEMP_FAULTS = {1: "battery_over_temperature", 2: "battery_low_temperature"}


def _word_value(reg: Register, registers: Mapping[int, int]) -> int | None:
    try:
        raw = registers[reg.address]
        if reg.words == 2:
            raw |= registers[reg.address + 1] << 16
    except KeyError:
        return None
    bits = 16 * reg.words
    if reg.signed and raw >> (bits - 1):
        raw -= 1 << bits
    return raw


def _decode_status(battery: int | None, charger: int | None, load: int | None) -> Values:
    out: Values = {}
    faults: list[str] = []
    if battery is not None:
        code = battery & 0xF
        out["battery_status"] = _BATTERY_STATUS[code] if code < 5 else "fault"
        if code:
            faults.append(f"battery_{out['battery_status']}")
        if temp := _TEMP_FAULTS.get(battery >> 4 & 0xF):
            faults.append(temp)
        if battery >> 8 & 1:
            faults.append("battery_internal_resistance_abnormal")
        if battery >> 15 & 1:
            faults.append("wrong_rated_voltage")
    if charger is not None:
        out["charge_state"] = _CHARGE_STATES[charger >> 2 & 3]
        out["input_voltage_status"] = _INPUT_STATUS[charger >> 14 & 3]
        faults += [name for bit, name in _CHARGER_FAULT_BITS.items() if charger >> bit & 1]
        if charger >> 1 & 1 and not faults:
            faults.append("charger_fault")
    if load is not None:
        out["load_output_on"] = load & 1
        faults += [name for bit, name in _LOAD_FAULT_BITS.items() if load >> bit & 1]
    if battery is not None or charger is not None or load is not None:
        out["faults"] = ",".join(faults)
        out["fault_active"] = int(bool(faults) or bool(charger and charger >> 1 & 1))
    return out


def decode(registers: Mapping[int, int]) -> Values:
    """Canonical SI values from a snapshot ``{address: 16-bit word}``.

    Registers missing from the snapshot are skipped, so a partial read decodes
    what it has. Where two registers carry one quantity (battery voltage at
    0x3104 and 0x331A, battery temperature at 0x3110 and 0x331D) the later
    address wins.
    """
    out: Values = {}
    for reg in REGISTERS:
        raw = _word_value(reg, registers)
        if raw is None or reg.name.startswith("status_"):
            continue
        if reg.name == "charging_mode":
            if 0 <= raw < len(_CHARGING_MODES):
                out["charging_mode"] = _CHARGING_MODES[raw]
            continue
        out[reg.name] = from_raw(raw, reg.exp)
    out.update(_decode_status(registers.get(STATUS_BATTERY), registers.get(STATUS_CHARGER),
                              registers.get(STATUS_LOAD)))
    return out


def _status_words(values: Mapping[str, Value | None]) -> dict[int, int]:
    faults = set(filter(None, str(values.get("faults") or "").split(",")))
    battery = _BATTERY_STATUS.index(str(values.get("battery_status") or "normal"))
    battery |= next((code << 4 for code, n in _TEMP_FAULTS.items() if n in faults), 0)
    state = str(values.get("charge_state") or "off")
    charging = {"float": 1, "bulk": 2, "absorption": 2, "equalize": 3}.get(state, 0)
    inputs = _INPUT_STATUS.index(str(values.get("input_voltage_status") or "normal"))
    charger = inputs << 14 | charging << 2 | 1
    charger |= sum(1 << bit for bit, n in _CHARGER_FAULT_BITS.items() if n in faults)
    if values.get("fault_active"):
        charger |= 1 << 1
    load = int(bool(values.get("load_output_on")))
    load |= sum(1 << bit for bit, n in _LOAD_FAULT_BITS.items() if n in faults)
    return {STATUS_BATTERY: battery, STATUS_CHARGER: charger, STATUS_LOAD: load}


def encode(values: Mapping[str, Value | None]) -> dict[int, int]:
    """Register words a controller would hold for ``values`` (for the simulator).

    Every register whose quantity is in ``values`` (and not None) is written, low
    word first; status words are always written (defaults: normal, not charging).
    """
    out: dict[int, int] = {}
    for reg in REGISTERS:
        value = values.get(reg.name)
        if value is None:
            continue
        if reg.name == "charging_mode":
            raw = _CHARGING_MODES.index(str(value))
        else:
            raw = to_raw(float(value), reg.exp)
        raw &= (1 << 16 * reg.words) - 1  # two's complement for negative values
        out[reg.address] = raw & 0xFFFF
        if reg.words == 2:
            out[reg.address + 1] = raw >> 16
    out.update(_status_words(values))
    return out
