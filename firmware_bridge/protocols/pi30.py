"""Voltronic PI30 (Axpert, MPP Solar and rebrands), sans-IO.

Responsible for: request bytes (command + CRC-16/XMODEM + CR with the escape
quirk), the reply framer, the field tables of QPIGS (21 fields and the 24-field
MAX variant), QPIRI (25, 27 or 28 fields), QMOD, QPIWS, QPIGS2 (13 or 3 fields),
QPGSn (27 or 29 fields) and the energy counters QET/QEY/QEM/QED/QLT/QLY/QLM/QLD,
the tolerant decoders into canonical SI values (a field that does not decode, an
unknown enum code or a trailing field is left out and reported in
:attr:`Decoded.unknown`; the reply is never dropped for one field), and the
encoders the simulator uses (values -> payload text at the documented widths ->
reply bytes), built from the same tables.

Does NOT: open ports, sleep, log, or decide the polling schedule (see
:data:`POLL_COMMANDS`).

Sources: PI30 Communication Protocol 2015-09-24 §2.7-2.14, PI30MAX 2021-02-17
§2.7-2.11 and §2.23-2.30, HS/MS/MSX 2014-08-22 §2.15; facts and quirks in
``shared/reference/protocols.md`` B2.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType

from firmware_bridge.checksums import PI30_ESCAPED, crc16_xmodem
from firmware_bridge.errors import ProtocolError
from firmware_bridge.protocols.base import Values
from firmware_bridge.protocols.pi30_framer import (
    Pi30Framer,
    Pi30Reply,
    RequestFramer,
    build_request,
    parse_request,
)
from firmware_bridge.readings import Value

__all__ = [
    "ACK",
    "BAUDRATE",
    "DECODERS",
    "ENCODERS",
    "ENERGY_COUNTERS",
    "NAK",
    "NAK_NO_CRC",
    "OPTIONAL_COMMANDS",
    "POLL_COMMANDS",
    "QMOD_MODES",
    "QPGS_FIELDS",
    "QPGS_MAX_FIELDS",
    "QPIGS2_FIELDS",
    "QPIGS2_MAX_FIELDS",
    "QPIGS_FIELDS",
    "QPIGS_MAX_FIELDS",
    "QPIRI_FIELDS",
    "QPIWS_BITS",
    "REPORTERS",
    "Decoded",
    "Pi30Field",
    "Pi30Framer",
    "Pi30Reply",
    "RequestFramer",
    "build_request",
    "build_response",
    "command_family",
    "decode",
    "decode_qmod",
    "decode_qpigs",
    "decode_qpiri",
    "decode_qpiws",
    "decode_report",
    "encode_counter",
    "encode_payload",
    "encode_qmod",
    "encode_qpgs",
    "encode_qpigs",
    "encode_qpigs2",
    "encode_qpiri",
    "encode_qpiws",
    "energy_commands",
    "parse_request",
]

BAUDRATE = 2400
#: Replies to setting commands and refusals, as real firmware sends them.
ACK = b"(ACK9 \r"
NAK = b"(NAKss\r"
NAK_NO_CRC = b"(NAK\r"
#: What a device layer asks every poll (QPIRI, the ratings, once after connecting).
POLL_COMMANDS: tuple[str, ...] = ("QPIGS", "QMOD", "QPIWS")
#: Asked every poll too, until the firmware NAKs them (models without a second tracker).
OPTIONAL_COMMANDS: tuple[str, ...] = ("QPIGS2",)


@dataclass(frozen=True, slots=True)
class Pi30Field:
    """One space-separated field of a PI30 reply.

    Attributes
    ----------
    name : str or None
        Canonical name; None for fields not mapped (status bits are decoded by
        the command's decoder, EEPROM version and such are skipped).
    fmt : str
        Python format of the value as the device sends it (``05.1f`` is
        ``BBB.B``); a ``d`` field holding a '.' is read as a float.
    codes : Mapping[int, str]
        Enum code -> name (empty for numbers).
    filler : str
        Text the encoder writes when the field is not mapped.
    """

    name: str | None
    fmt: str
    codes: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))
    filler: str = ""

    def decode(self, text: str) -> Value:
        """The value of ``text`` (int for whole numbers, float, enum name, or text).

        Raises
        ------
        ValueError
            ``text`` is not a number, or not a code of the table.
        """
        if self.fmt == "s":
            return text
        number = float(text) if "." in text else int(text)
        if self.codes:
            name = self.codes.get(int(number))
            if name is None:
                raise ValueError(f"unknown code {text!r}")
            return name
        return number

    def encode(self, value: Value | None) -> str:
        """``value`` at the documented width (the filler or zero when None)."""
        if self.name is None:
            return self.filler
        if value is None:
            value = 0 if not self.codes else next(iter(self.codes.values()))
        if self.codes:
            value = next(code for code, name in self.codes.items() if name == value)
        if self.fmt == "s":
            return str(value)
        if self.fmt.endswith("d"):
            return format(round(float(value)), self.fmt)
        return format(float(value), self.fmt)


def _f(name: str | None, fmt: str, codes: Mapping[int, str] | None = None,
       filler: str = "") -> Pi30Field:
    return Pi30Field(name, fmt, MappingProxyType(dict(codes or {})), filler)


QPIGS_FIELDS: tuple[Pi30Field, ...] = (
    _f("grid_voltage", "05.1f"),
    _f("grid_frequency", "04.1f"),
    _f("ac_output_voltage", "05.1f"),
    _f("ac_output_frequency", "04.1f"),
    _f("ac_output_apparent_power", "04d"),
    _f("ac_output_power", "04d"),
    _f("load_percent", "03d"),
    _f("bus_voltage", "03d"),
    _f("battery_voltage", "05.2f"),
    _f("battery_charge_current", "03d"),
    _f("battery_soc", "03d"),
    _f("heatsink_temperature", "04d"),  # an NTC A/D value on 1-3 kVA models
    _f("pv_current", "04d"),
    _f("pv_voltage", "05.1f"),
    _f("scc_battery_voltage", "05.2f"),
    _f("battery_discharge_current", "05d"),
    _f(None, "8b", filler="00000000"),  # status bits b7..b0, see _decode_status
    _f(None, "02d", filler="00"),  # battery voltage offset for fans on [10 mV]
    _f(None, "02d", filler="00"),  # EEPROM version
    _f("pv_power", "05d"),
    _f(None, "3b", filler="000"),  # status bits b10..b8
)
#: PI30MAX: PV current as EE.E, plus feed-to-grid status, country code, feed power.
QPIGS_MAX_FIELDS: tuple[Pi30Field, ...] = (
    *QPIGS_FIELDS[:12],
    _f("pv_current", "04.1f"),
    *QPIGS_FIELDS[13:],
    _f("grid_feed_active", "1d"),
    _f(None, "02d", filler="00"),  # country regulation code
    _f("grid_feed_power", "04d"),
)
_STATUS1, _STATUS2 = 16, 20  # indexes of the two status-bit fields

_OUTPUT_MODES = {0: "single", 1: "parallel", 2: "phase_1_of_3", 3: "phase_2_of_3",
                 4: "phase_3_of_3", 5: "phase_1_of_2", 6: "phase_2_of_2_120",
                 7: "phase_2_of_2_180"}
_CHARGER_PRIORITIES = {0: "utility_first", 1: "solar_first", 2: "solar_and_utility",
                       3: "solar_only"}

#: QPIRI: 25 fields (PI30 §2.7); PI30MAX §2.7 adds max C.V. charging time, operation
#: logic and max discharging current (27 or 28 fields); battery types 3-9 from PI30MAX.
QPIRI_FIELDS: tuple[Pi30Field, ...] = (
    _f("rated_grid_voltage", "05.1f"),
    _f("rated_grid_current", "04.1f"),
    _f("rated_ac_output_voltage", "05.1f"),
    _f("rated_ac_output_frequency", "04.1f"),
    _f("rated_ac_output_current", "04.1f"),
    _f("rated_ac_output_apparent_power", "04d"),
    _f("rated_ac_output_power", "04d"),
    _f("rated_battery_voltage", "04.1f"),
    _f("battery_recharge_voltage", "04.1f"),
    _f("battery_under_voltage", "04.1f"),
    _f("battery_bulk_voltage", "04.1f"),
    _f("battery_float_voltage", "04.1f"),
    _f("battery_type", "1d", {0: "agm", 1: "flooded", 2: "user", 3: "pylon", 5: "weco",
                              6: "soltaro", 8: "lib", 9: "lic"}),
    _f("max_ac_charge_current", "02d"),
    _f("max_charge_current", "03d"),
    _f("input_voltage_range", "1d", {0: "appliance", 1: "ups"}),
    _f("output_source_priority", "1d", {0: "utility_first", 1: "solar_first", 2: "sbu_first"}),
    _f("charger_source_priority", "1d", _CHARGER_PRIORITIES),
    _f("parallel_max_num", "1d"),
    _f("machine_type", "02d", {0: "grid_tie", 1: "off_grid", 10: "hybrid",
                               11: "off_grid_2_trackers", 20: "off_grid_3_trackers"}),
    _f("topology", "1d", {0: "transformerless", 1: "transformer"}),
    _f("output_mode", "1d", _OUTPUT_MODES),
    _f("battery_redischarge_voltage", "04.1f"),
    _f("pv_ok_condition", "1d"),
    _f("pv_power_balance", "1d"),
    _f("max_cv_charge_time", "03d"),
    _f("operation_logic", "1d", {0: "automatic", 1: "online", 2: "eco"}),
    _f("max_discharge_current", "03d"),
)
_QPIRI_MIN = 25

#: QPIGS2 (PI30 §2.10, 2/3-tracker models): PV2, AC charging, PV3, total PV power.
QPIGS2_FIELDS: tuple[Pi30Field, ...] = (
    _f("pv2_current", "04d"),
    _f("pv2_voltage", "05.1f"),
    _f("scc2_battery_voltage", "05.2f"),
    _f("pv2_power", "05d"),
    _f(None, "8b", filler="00000000"),  # b24 SCC2 charging, b25 SCC3 charging
    _f("ac_charge_current", "04d"),
    _f("ac_charge_power", "04d"),
    _f("pv3_current", "04d"),
    _f("pv3_voltage", "05.1f"),
    _f("scc3_battery_voltage", "05.2f"),
    _f("pv3_power", "04d"),
    _f("pv_total_power", "05d"),
)
_QPIGS2_STATUS = 4
#: QPIGS2 on PI30MAX 48 V models (PI30MAX §2.10): PV2 current, voltage, power.
QPIGS2_MAX_FIELDS: tuple[Pi30Field, ...] = (
    _f("pv2_current", "04.1f"),
    _f("pv2_voltage", "05.1f"),
    _f("pv2_power", "05d"),
)

#: QPGSn (PI30 §2.11, HS/MS/MSX §2.15, PI30MAX §2.11): unit n of a parallel system.
QPGS_FIELDS: tuple[Pi30Field, ...] = (
    _f("parallel_unit_present", "1d"),
    _f("serial_number", "s"),
    _f(None, "s", filler="B"),  # work mode letter (as QMOD), decoded by report_qpgs
    _f("fault_code", "02d"),
    _f("grid_voltage", "05.1f"),
    _f("grid_frequency", "05.2f"),
    _f("ac_output_voltage", "05.1f"),
    _f("ac_output_frequency", "05.2f"),
    _f("ac_output_apparent_power", "04d"),
    _f("ac_output_power", "04d"),
    _f("load_percent", "03d"),
    _f("battery_voltage", "04.1f"),
    _f("battery_charge_current", "03d"),
    _f("battery_soc", "03d"),
    _f("pv_voltage", "05.1f"),
    _f("total_charge_current", "03d"),
    _f("total_ac_output_apparent_power", "05d"),
    _f("total_ac_output_power", "05d"),
    _f("total_load_percent", "03d"),
    _f(None, "8b", filler="00000000"),  # inverter status b7..b0, decoded by report_qpgs
    _f("output_mode", "1d", _OUTPUT_MODES),
    _f("charger_source_priority", "1d", _CHARGER_PRIORITIES),
    _f("max_charge_current", "03d"),
    _f("max_charge_current_limit", "03d"),
    _f("max_ac_charge_current", "02d"),
    _f("pv_current", "02d"),
    _f("battery_discharge_current", "03d"),
)
#: PI30MAX 48 V: PV2 input voltage and current follow.
QPGS_MAX_FIELDS: tuple[Pi30Field, ...] = (
    *QPGS_FIELDS,
    _f("pv2_voltage", "05.1f"),
    _f("pv2_current", "02d"),
)
_QPGS_MODE, _QPGS_STATUS = 2, 19
#: QPGS status b4b3 -> battery_status.
_QPGS_BATTERY: Mapping[int, str] = MappingProxyType(
    {0: "normal", 1: "under_voltage", 2: "open"})

#: Energy counters (PI30MAX §2.23-2.30): command family -> quantity; the reply is
#: NNNNNNNN Wh; QEY/QLY take yyyy, QEM/QLM yyyymm, QED/QLD yyyymmdd.
ENERGY_COUNTERS: Mapping[str, str] = MappingProxyType({
    "QET": "yield_total", "QEY": "yield_year", "QEM": "yield_month", "QED": "yield_today",
    "QLT": "consumed_total", "QLY": "consumed_year", "QLM": "consumed_month",
    "QLD": "consumed_today",
})


def energy_commands(
    day: date, families: tuple[str, ...] = tuple(ENERGY_COUNTERS)
) -> tuple[str, ...]:
    """The energy-counter commands for ``day`` (the device's local date).

    ``QEY2026``, ``QEM202603``, ``QED20260301``: the date is part of the
    command, so its CRC differs every day (:func:`build_request` adds it).
    """
    stamp = {"T": "", "Y": f"{day:%Y}", "M": f"{day:%Y%m}", "D": f"{day:%Y%m%d}"}
    return tuple(family + stamp[family[2]] for family in families)


#: QMOD letter -> inverter_mode (Y is sent by some firmware for bypass).
QMOD_MODES: Mapping[str, str] = MappingProxyType({
    "P": "power_on", "S": "standby", "L": "line", "B": "battery", "F": "fault",
    "H": "power_saving", "Y": "bypass",
})

# QPIWS bit (1-based, b1 first) -> (name, severity): 'fault', 'warning', or
# 'a1' = fault when b1 is set, else warning (PI30 §2.14).
QPIWS_BITS: Mapping[int, tuple[str, str]] = MappingProxyType({
    2: ("inverter_fault", "fault"), 3: ("bus_over", "fault"), 4: ("bus_under", "fault"),
    5: ("bus_soft_fail", "fault"), 6: ("line_fail", "warning"), 7: ("opv_short", "warning"),
    8: ("inverter_voltage_too_low", "fault"), 9: ("inverter_voltage_too_high", "fault"),
    10: ("over_temperature", "a1"), 11: ("fan_locked", "a1"),
    12: ("battery_voltage_high", "a1"), 13: ("battery_low_alarm", "warning"),
    14: ("overcharge", "warning"), 15: ("battery_under_shutdown", "warning"),
    16: ("battery_derating", "warning"), 17: ("overload", "a1"),
    18: ("eeprom_fault", "warning"), 19: ("inverter_over_current", "fault"),
    20: ("inverter_soft_fail", "fault"), 21: ("self_test_fail", "fault"),
    22: ("op_dc_voltage_over", "fault"), 23: ("battery_open", "fault"),
    24: ("current_sensor_fail", "fault"), 25: ("battery_short", "fault"),
    26: ("power_limit", "warning"),
    **{27 + 4 * k + i: (f"{name}_{k + 1}", "warning")
       for k in range(3)
       for i, name in enumerate(("pv_voltage_high", "mppt_overload_fault",
                                 "mppt_overload_warning", "battery_too_low_to_charge"))},
})
_QPIWS_MIN_BITS = 32


@dataclass(frozen=True, slots=True)
class Decoded:
    """What a tolerant decoder made of one reply.

    Attributes
    ----------
    values : dict
        Canonical name -> SI value of every field that decoded.
    unknown : tuple of str
        What was left out, one key each, for the device stats: an enum code the
        tables do not know (``"QPIRI battery_type=4"``), a field that does not
        parse (``"QPIGS battery_voltage='-'"``) or a trailing field beyond the
        table (``"QPIRI field 29"``).
    """

    values: Values
    unknown: tuple[str, ...] = ()


def _decode_fields(
    parts: list[str], table: tuple[Pi30Field, ...], command: str, unknown: list[str]
) -> Values:
    """Decode ``parts`` positionally; a field that does not decode is left out and noted."""
    out: Values = {}
    for spec, text in zip(table, parts, strict=False):
        if spec.name is None:
            continue
        try:
            out[spec.name] = spec.decode(text)
        except ValueError:
            unknown.append(f"{command} {spec.name}={text!r}" if not spec.codes or not
                           _is_number(text) else f"{command} {spec.name}={text}")
    unknown += [f"{command} field {i + 1}" for i in range(len(table), len(parts))]
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _bits(text: str, count: int) -> bool:
    return len(text) == count and not text.strip("01")


def _decode_status(bits8: str, bits3: str, unknown: list[str]) -> Values:
    """Device status b7..b0 and b10..b8 -> load, charging source, charging to float."""
    out: Values = {}
    if _bits(bits8, 8):
        b = bits8
        source = {("0", "0"): "none", ("1", "0"): "solar", ("0", "1"): "grid",
                  ("1", "1"): "solar_and_grid"}[(b[6], b[7])]
        out.update(load_output_on=int(b[3]), charging_source=source)
    else:
        unknown.append(f"QPIGS status bits b7..b0={bits8!r}")
    if _bits(bits3, 3):
        out["charging_to_float"] = int(bits3[0])
    else:
        unknown.append(f"QPIGS status bits b10..b8={bits3!r}")
    return out


def _net_current(out: Values) -> None:
    charge, discharge = out.get("battery_charge_current"), out.get("battery_discharge_current")
    if isinstance(charge, int | float) and isinstance(discharge, int | float):
        out["battery_current"] = charge - discharge


def report_qpigs(payload: str) -> Decoded:
    """Decode a QPIGS payload (21 fields, or 24 on MAX models), tolerantly.

    Adds ``battery_current`` = charge - discharge current [A], positive when
    charging, so every device reports the same net battery current. A field
    that does not parse is left out and noted; the status-bit fields likewise.

    Raises
    ------
    ProtocolError
        Fewer than 21 fields.
    """
    parts = payload.split()
    if len(parts) < len(QPIGS_FIELDS):
        raise ProtocolError(f"QPIGS: expected at least 21 fields, got {len(parts)}")
    table = QPIGS_MAX_FIELDS if len(parts) >= len(QPIGS_MAX_FIELDS) else QPIGS_FIELDS
    unknown: list[str] = []
    out = _decode_fields(parts, table, "QPIGS", unknown)
    out.update(_decode_status(parts[_STATUS1], parts[_STATUS2], unknown))
    _net_current(out)
    return Decoded(out, tuple(unknown))


def report_qpiri(payload: str) -> Decoded:
    """Decode a QPIRI payload: 25 fields, 27 or 28 on MAX models (tolerantly).

    Raises
    ------
    ProtocolError
        Fewer than 25 fields.
    """
    parts = payload.split()
    if len(parts) < _QPIRI_MIN:
        raise ProtocolError(f"QPIRI: expected at least 25 fields, got {len(parts)}")
    unknown: list[str] = []
    out = _decode_fields(parts, QPIRI_FIELDS, "QPIRI", unknown)
    return Decoded(out, tuple(unknown))


def report_qmod(payload: str) -> Decoded:
    """Decode a QMOD payload (one mode letter) into ``inverter_mode``."""
    mode = QMOD_MODES.get(payload.strip())
    if mode is None:
        return Decoded({}, (f"QMOD mode={payload.strip()!r}",))
    return Decoded({"inverter_mode": mode})


def report_qpiws(payload: str) -> Decoded:
    """Decode QPIWS warning bits into ``warnings``, ``faults`` and ``fault_active``.

    Bits 10, 11, 12 and 17 are faults when b1 is set, else warnings (PI30 §2.14).
    A set bit the table does not name, or a character other than 0/1, is noted.

    Raises
    ------
    ProtocolError
        Fewer than 32 bits.
    """
    bits = payload.replace(" ", "")
    if len(bits) < _QPIWS_MIN_BITS:
        raise ProtocolError(f"QPIWS: expected 32+ '0'/'1' characters, got {payload!r}")
    unknown = [f"QPIWS bit {i + 1}={c!r}" for i, c in enumerate(bits) if c not in "01"]
    unknown += [f"QPIWS bit {i + 1}" for i, c in enumerate(bits)
                if c == "1" and i > 0 and i + 1 not in QPIWS_BITS]
    a1 = bits[0] == "1"
    warnings: list[str] = []
    faults: list[str] = []
    for bit, (name, severity) in QPIWS_BITS.items():
        if bit <= len(bits) and bits[bit - 1] == "1":
            is_fault = severity == "fault" or (severity == "a1" and a1)
            (faults if is_fault else warnings).append(name)
    values: Values = {"warnings": ",".join(warnings), "faults": ",".join(faults),
                      "fault_active": int(bool(faults))}
    return Decoded(values, tuple(unknown))


def report_qpigs2(payload: str) -> Decoded:
    """Decode QPIGS2: 13 fields (PV2/PV3 trackers, PI30 §2.10) or 3 (MAX 48 V §2.10).

    Raises
    ------
    ProtocolError
        Fewer than 3 fields.
    """
    parts = payload.split()
    if len(parts) < len(QPIGS2_MAX_FIELDS):
        raise ProtocolError(f"QPIGS2: expected 3 or 13 fields, got {len(parts)}")
    table = QPIGS2_FIELDS if len(parts) >= len(QPIGS2_FIELDS) else QPIGS2_MAX_FIELDS
    unknown: list[str] = []
    out = _decode_fields(parts, table, "QPIGS2", unknown)
    if table is QPIGS2_FIELDS:
        status = parts[_QPIGS2_STATUS]
        if _bits(status, 8):
            out["scc2_charging"], out["scc3_charging"] = int(status[0]), int(status[1])
        else:
            unknown.append(f"QPIGS2 status bits={status!r}")
    return Decoded(out, tuple(unknown))


def report_qpgs(payload: str) -> Decoded:
    """Decode QPGSn (one unit of a parallel system): 27 fields, 29 on MAX 48 V models.

    The status byte gives ``charging_source``, ``battery_status``, ``grid_lost``,
    ``load_output_on`` and ``scc_ok``. A unit that is not present (first field 0)
    decodes to ``{"parallel_unit_present": 0}`` only.

    Raises
    ------
    ProtocolError
        Fewer than 27 fields.
    """
    parts = payload.split()
    if len(parts) < len(QPGS_FIELDS):
        raise ProtocolError(f"QPGS: expected 27 or 29 fields, got {len(parts)}")
    unknown: list[str] = []
    if parts[0] == "0":
        return Decoded({"parallel_unit_present": 0})
    table = QPGS_MAX_FIELDS if len(parts) >= len(QPGS_MAX_FIELDS) else QPGS_FIELDS
    out = _decode_fields(parts, table, "QPGS", unknown)
    mode = QMOD_MODES.get(parts[_QPGS_MODE])
    if mode is None:
        unknown.append(f"QPGS mode={parts[_QPGS_MODE]!r}")
    else:
        out["inverter_mode"] = mode
    status = parts[_QPGS_STATUS]
    if _bits(status, 8):
        b = [int(c) for c in status]  # b7 first
        out["scc_ok"] = b[0]
        out["charging_source"] = ("none", "solar", "grid", "solar_and_grid")[b[2] + 2 * b[1]]
        battery = b[3] * 2 + b[4]
        if battery in _QPGS_BATTERY:
            out["battery_status"] = _QPGS_BATTERY[battery]
        else:
            unknown.append(f"QPGS battery status={battery}")
        out["grid_lost"] = b[5]
        out["load_output_on"] = b[6]
    else:
        unknown.append(f"QPGS status bits={status!r}")
    _net_current(out)
    return Decoded(out, tuple(unknown))


def _report_counter(name: str, command: str) -> Callable[[str], Decoded]:
    def report(payload: str) -> Decoded:
        text = payload.strip()
        if not text.isdigit():
            raise ProtocolError(f"{command}: expected digits (Wh), got {payload!r}")
        return Decoded({name: int(text)})

    report.__doc__ = f"Decode a {command} reply (NNNNNNNN Wh) into ``{name}``."
    return report


#: Command family -> tolerant decoder (see :class:`Decoded`).
REPORTERS: Mapping[str, Callable[[str], Decoded]] = MappingProxyType({
    "QPIGS": report_qpigs, "QPIRI": report_qpiri, "QMOD": report_qmod, "QPIWS": report_qpiws,
    "QPIGS2": report_qpigs2, "QPGS": report_qpgs,
    **{family: _report_counter(name, family) for family, name in ENERGY_COUNTERS.items()},
})


def command_family(command: str) -> str:
    """The decoder key of ``command``: ``QPGS2`` -> ``QPGS``, ``QEY2026`` -> ``QEY``."""
    if command.startswith("QPGS") and command[4:].isdigit():
        return "QPGS"
    if command[:3] in ENERGY_COUNTERS and (command[3:].isdigit() or len(command) == 3):
        return command[:3]
    return command


def decode_report(command: str, reply: Pi30Reply | str) -> Decoded:
    """Decode ``reply`` to ``command``: what decodes, plus what was left out.

    Raises
    ------
    ProtocolError
        The device answered NAK, the command has no decoder, the reply has the
        wrong shape (too few fields), or nothing in it decodes.
    """
    payload = reply.payload if isinstance(reply, Pi30Reply) else reply
    if payload == "NAK":
        raise ProtocolError(f"{command}: device answered NAK")
    reporter = REPORTERS.get(command_family(command))
    if reporter is None:
        raise ProtocolError(f"no decoder for PI30 command {command!r}")
    decoded = reporter(payload)
    if not decoded.values:
        raise ProtocolError(f"{command}: nothing decodes in {payload!r} ({decoded.unknown})")
    return decoded


def decode(command: str, reply: Pi30Reply | str) -> Values:
    """``decode_report(command, reply).values``.

    Raises
    ------
    ProtocolError
        As :func:`decode_report`.
    """
    return decode_report(command, reply).values


def decode_qpigs(payload: str) -> Values:
    """Values of a QPIGS payload (see :func:`report_qpigs`)."""
    return report_qpigs(payload).values


def decode_qpiri(payload: str) -> Values:
    """Values of a QPIRI payload (see :func:`report_qpiri`)."""
    return report_qpiri(payload).values


def decode_qmod(payload: str) -> Values:
    """Values of a QMOD payload (see :func:`report_qmod`)."""
    return report_qmod(payload).values


def decode_qpiws(payload: str) -> Values:
    """Values of a QPIWS payload (see :func:`report_qpiws`)."""
    return report_qpiws(payload).values


#: Command family -> payload decoder (values only).
def _values_of(reporter: Callable[[str], Decoded]) -> Callable[[str], Values]:
    def decode_values(payload: str) -> Values:
        return reporter(payload).values

    decode_values.__doc__ = reporter.__doc__
    return decode_values


DECODERS: Mapping[str, Callable[[str], Values]] = MappingProxyType(
    {family: _values_of(reporter) for family, reporter in REPORTERS.items()}
)


# ---------------------------------------------------------------- encoders


def _encode_fields(values: Mapping[str, Value | None], table: tuple[Pi30Field, ...]) -> list[str]:
    return [spec.encode(values.get(spec.name) if spec.name else None) for spec in table]


def encode_qpigs(values: Mapping[str, Value | None], *, variant: str = "pi30") -> str:
    """QPIGS payload for ``values``: 21 fields, or 24 with ``variant='max'``.

    Status bits come from ``load_output_on``, ``charging_source`` and
    ``charging_to_float`` (b9 "switch on" is always set).
    """
    table = QPIGS_MAX_FIELDS if variant == "max" else QPIGS_FIELDS
    parts = _encode_fields(values, table)
    source = str(values.get("charging_source") or "none")
    scc = source in ("solar", "solar_and_grid")
    ac = source in ("grid", "solar_and_grid")
    load = bool(values.get("load_output_on"))
    parts[_STATUS1] = f"000{load:d}0{scc or ac:d}{scc:d}{ac:d}"
    parts[_STATUS2] = f"{bool(values.get('charging_to_float')):d}10"
    return " ".join(parts)


def encode_qpiri(values: Mapping[str, Value | None], *, fields: int = 25) -> str:
    """QPIRI payload for ``values``: 25 fields, or 27/28 as PI30MAX firmware sends."""
    return " ".join(_encode_fields(values, QPIRI_FIELDS[:fields]))


def encode_qpigs2(values: Mapping[str, Value | None], *, variant: str = "pi30") -> str:
    """QPIGS2 payload: 13 fields (``pi30``) or 3 (``max``)."""
    if variant == "max":
        return " ".join(_encode_fields(values, QPIGS2_MAX_FIELDS))
    parts = _encode_fields(values, QPIGS2_FIELDS)
    parts[_QPIGS2_STATUS] = (f"{bool(values.get('scc2_charging')):d}"
                             f"{bool(values.get('scc3_charging')):d}000000")
    return " ".join(parts)


def encode_qpgs(values: Mapping[str, Value | None], *, variant: str = "pi30") -> str:
    """QPGSn payload of one unit: 27 fields, or 29 with ``variant='max'``."""
    table = QPGS_MAX_FIELDS if variant == "max" else QPGS_FIELDS
    parts = _encode_fields(values, table)
    parts[_QPGS_MODE] = encode_qmod(values) if values.get("inverter_mode") else "B"
    source = str(values.get("charging_source") or "none")
    battery = {v: k for k, v in _QPGS_BATTERY.items()}.get(
        str(values.get("battery_status") or "normal"), 0)
    parts[_QPGS_STATUS] = (
        f"{bool(values.get('scc_ok', 1)):d}{source in ('grid', 'solar_and_grid'):d}"
        f"{source in ('solar', 'solar_and_grid'):d}{battery >> 1}{battery & 1}"
        f"{bool(values.get('grid_lost')):d}{bool(values.get('load_output_on')):d}0"
    )
    return " ".join(parts)


def encode_counter(command: str, values: Mapping[str, Value | None]) -> str:
    """Energy-counter payload (``NNNNNNNN`` Wh) for ``command`` (``QET``, ``QEY2026``...)."""
    value = values.get(ENERGY_COUNTERS[command_family(command)])
    return f"{round(float(value or 0)):08d}"


def encode_qmod(values: Mapping[str, Value | None]) -> str:
    """QMOD payload: the letter of ``values['inverter_mode']``."""
    mode = values.get("inverter_mode")
    for letter, name in QMOD_MODES.items():
        if name == mode:
            return letter
    raise ValueError(f"QMOD has no letter for inverter_mode {mode!r}")


def encode_qpiws(values: Mapping[str, Value | None], *, bits: int = 36) -> str:
    """QPIWS bit string for the names in ``values['warnings']`` and ``values['faults']``.

    A name listed in ``faults`` whose severity depends on b1 sets b1.
    """
    chars = ["0"] * bits
    by_name = {name: (bit, severity) for bit, (name, severity) in QPIWS_BITS.items()}
    for key in ("warnings", "faults"):
        for name in filter(None, str(values.get(key) or "").split(",")):
            bit, severity = by_name[name]
            chars[bit - 1] = "1"
            if key == "faults" and severity == "a1":
                chars[0] = "1"
    return "".join(chars)


#: Command -> payload encoder (for simulators).
ENCODERS: Mapping[str, Callable[[Mapping[str, Value | None]], str]] = MappingProxyType({
    "QPIGS": encode_qpigs, "QPIRI": encode_qpiri, "QMOD": encode_qmod, "QPIWS": encode_qpiws,
    "QPIGS2": encode_qpigs2, "QPGS": encode_qpgs,
})


def encode_payload(command: str, values: Mapping[str, Value | None]) -> str:
    """The payload a device sends for ``command`` (KeyError for commands without encoder)."""
    family = command_family(command)
    if family in ENERGY_COUNTERS:
        return encode_counter(command, values)
    return ENCODERS[family](values)


def build_response(payload: str, *, raw_zero_crc: bool = True, trailing_lf: bool = False) -> bytes:
    """Reply bytes ``(`` + payload + CRC + CR, as an inverter sends them.

    Parameters
    ----------
    payload : str
        ASCII payload (without ``(``).
    raw_zero_crc : bool
        Send a 0x00 CRC byte raw, as real inverters do (default); False bumps it
        to 0x01 as mpp-solar does. 0x28, 0x0D and 0x0A are always escaped (+1).
    trailing_lf : bool
        Append LF after CR (a quirk of some firmware).
    """
    body = b"(" + payload.encode("ascii")
    crc = crc16_xmodem(body)
    out = bytearray(body)
    for byte in (crc >> 8, crc & 0xFF):
        bump = byte in PI30_ESCAPED or (byte == 0 and not raw_zero_crc)
        out.append(byte + 1 if bump else byte)
    out += b"\r\n" if trailing_lf else b"\r"
    return bytes(out)
