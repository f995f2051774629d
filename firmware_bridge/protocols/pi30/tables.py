"""PI30 field tables and status-bit tables, shared by the decoder and the encoder.

Responsible for: the positional field tables of QPIGS (21 fields, 24 on MAX),
QPIRI (25, 27 or 28), QPIGS2 (13 or 3) and QPGSn (27 or 29), the status-bit
layouts inside them (:class:`BitTable`: QPIGS b7..b0 and b10..b8, QPIGS2 and
QPGSn status bytes), the QMOD letters, the QPIWS warning bits, the energy
counters and the command names (:func:`command_family`). Each entry decodes
the device's text and encodes a value back at the documented width, so
:mod:`.decoder` and :mod:`.encoder` read the same table.

Does NOT: split replies (:mod:`.framer`) or decide what a reply means as a
whole (:mod:`.decoder`).

Sources: see :mod:`firmware_bridge.protocols.pi30`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType

from firmware_bridge.protocols.base import Values
from firmware_bridge.readings import Value

__all__ = [
    "ACK",
    "BAUDRATE",
    "CHARGING_SOURCES",
    "ENERGY_COUNTERS",
    "IDENTITY_COMMANDS",
    "NAK",
    "NAK_NO_CRC",
    "OPTIONAL_COMMANDS",
    "POLL_COMMANDS",
    "QMOD_MODES",
    "QPGS_BATTERY",
    "QPGS_FIELDS",
    "QPGS_MAX_FIELDS",
    "QPGS_MODE",
    "QPGS_STATUS",
    "QPIGS2_FIELDS",
    "QPIGS2_MAX_FIELDS",
    "QPIGS2_STATUS",
    "QPIGS_FIELDS",
    "QPIGS_MAX_FIELDS",
    "QPIGS_STATUS",
    "QPIGS_STATUS_HIGH",
    "QPIRI_FIELDS",
    "QPIRI_MIN",
    "QPIWS_BITS",
    "QPIWS_MIN_BITS",
    "BitTable",
    "Pi30Field",
    "StatusBits",
    "command_family",
    "energy_commands",
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
#: Asked once per connection: serial number and main CPU firmware (PI30 §2.2, §2.3).
IDENTITY_COMMANDS: tuple[str, ...] = ("QID", "QVFW")



@dataclass(frozen=True, slots=True)
class StatusBits:
    """One quantity held by one or more characters of a status-bit field.

    Attributes
    ----------
    name : str
        Canonical name.
    at : tuple of int
        Character indexes in the field (0 is the first character the device
        sends), most significant first; the bits read as one binary number.
    codes : Mapping[int, str]
        Number -> name; empty: the number itself (0 or 1).
    default : Value
        What the encoder assumes when ``values`` lacks :attr:`name`.
    derived : Mapping[str, int] or None
        Set for a bit the device derives from a reported quantity (QPIGS b2
        "charging on" from ``charging_source``): the encoder writes
        ``derived[value]`` (0 for a value not listed) and the decoder skips it.
    label : str
        Key noted in :attr:`.decoder.Decoded.unknown` for a number not in
        :attr:`codes` (``"QPGS battery status"``).
    """

    name: str
    at: tuple[int, ...]
    codes: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))
    default: Value = 0
    derived: Mapping[str, int] | None = None
    label: str = ""

    def encode_number(self, values: Mapping[str, Value | None]) -> int:
        """The number the encoder writes for ``values``."""
        if self.derived is not None:
            return self.derived.get(str(values.get(self.name) or self.default), 0)
        if self.codes:
            wanted = str(values.get(self.name) or self.default)
            return next((code for code, name in self.codes.items() if name == wanted), 0)
        return int(bool(values.get(self.name, self.default)))


@dataclass(frozen=True, slots=True)
class BitTable:
    """The layout of one status-bit field (``'0'``/``'1'`` characters).

    Attributes
    ----------
    width : int
        Characters in the field.
    bits : tuple of StatusBits
        The quantities, in the order the decoder reports them.
    fixed : Mapping[int, str]
        Character index -> character the encoder always writes (QPIGS b9
        "switch on" is ``'1'``); the rest not covered by :attr:`bits` is ``'0'``.
    label : str
        Key noted in :attr:`.decoder.Decoded.unknown` when the field is not
        ``width`` characters of 0/1 (``"QPIGS status bits b7..b0"``).
    """

    width: int
    bits: tuple[StatusBits, ...]
    label: str
    fixed: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))

    def decode(self, text: str, unknown: list[str]) -> Values:
        """The quantities in ``text``; a malformed field or an unknown code is noted."""
        if len(text) != self.width or text.strip("01"):
            unknown.append(f"{self.label}={text!r}")
            return {}
        out: Values = {}
        for bit in self.bits:
            if bit.derived is not None:
                continue
            number = int("".join(text[i] for i in bit.at), 2)
            if not bit.codes:
                out[bit.name] = number
            elif number in bit.codes:
                out[bit.name] = bit.codes[number]
            else:
                unknown.append(f"{bit.label}={number}")
        return out

    def encode(self, values: Mapping[str, Value | None]) -> str:
        """The field for ``values``, as the device sends it."""
        chars = ["0"] * self.width
        for index, char in self.fixed.items():
            chars[index] = char
        for bit in self.bits:
            number = bit.encode_number(values)
            for k, index in enumerate(bit.at):
                chars[index] = str(number >> (len(bit.at) - 1 - k) & 1)
        return "".join(chars)

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
    bits : BitTable or None
        The layout of a status-bit field (its quantities are reported by
        :meth:`BitTable.decode`, after the plain fields).
    """

    name: str | None
    fmt: str
    codes: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))
    filler: str = ""
    bits: BitTable | None = None

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
        """``value`` at the documented width (the filler or zero when None).

        A status-bit field is encoded from all the values by :meth:`BitTable.encode`.
        """
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
       filler: str = "", bits: BitTable | None = None) -> Pi30Field:
    return Pi30Field(name, fmt, MappingProxyType(dict(codes or {})), filler, bits)


#: Charging source as two bits (AC charging, SCC charging): QPIGS b0 b1, QPGSn b6 b5.
CHARGING_SOURCES: Mapping[int, str] = MappingProxyType(
    {0: "none", 1: "solar", 2: "grid", 3: "solar_and_grid"})

#: QPIGS device status b7..b0 (PI30 §2.9 field 17; b7 first): b4 load on, b2 charging
#: on, b1 SCC charging, b0 AC charging.
QPIGS_STATUS = BitTable(8, (
    StatusBits("load_output_on", (3,)),
    StatusBits("charging_source", (7, 6), CHARGING_SOURCES, default="none"),
    StatusBits("charging_source", (5,), default="none",
               derived=MappingProxyType({"solar": 1, "grid": 1, "solar_and_grid": 1})),
), "QPIGS status bits b7..b0")
#: QPIGS device status b10..b8 (PI30 §2.9 field 21): b10 charging to floating, b9
#: switch on (always set by the encoder), b8 dustproof installed.
QPIGS_STATUS_HIGH = BitTable(3, (StatusBits("charging_to_float", (0,)),),
                             "QPIGS status bits b10..b8", fixed=MappingProxyType({1: "1"}))
#: QPIGS2 status (PI30 §2.10): b24 SCC2 charging, b25 SCC3 charging, then reserved.
QPIGS2_STATUS = BitTable(8, (
    StatusBits("scc2_charging", (0,)), StatusBits("scc3_charging", (1,)),
), "QPIGS2 status bits")
#: QPGSn status b4b3 -> battery_status.
QPGS_BATTERY: Mapping[int, str] = MappingProxyType(
    {0: "normal", 1: "under_voltage", 2: "open"})
#: QPGSn inverter status (PI30 §2.11; b7 first): b7 SCC ok, b6 AC charging, b5 SCC
#: charging, b4b3 battery, b2 line loss, b1 load on, b0 configuration changed.
QPGS_STATUS = BitTable(8, (
    StatusBits("scc_ok", (0,), default=1),
    StatusBits("charging_source", (1, 2), CHARGING_SOURCES, default="none"),
    StatusBits("battery_status", (3, 4), QPGS_BATTERY, default="normal",
               label="QPGS battery status"),
    StatusBits("grid_lost", (5,)),
    StatusBits("load_output_on", (6,)),
), "QPGS status bits")



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
    _f(None, "8b", filler="00000000", bits=QPIGS_STATUS),
    _f(None, "02d", filler="00"),  # battery voltage offset for fans on [10 mV]
    _f(None, "02d", filler="00"),  # EEPROM version
    _f("pv_power", "05d"),
    _f(None, "3b", filler="000", bits=QPIGS_STATUS_HIGH),
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
QPIRI_MIN = 25

#: QPIGS2 (PI30 §2.10, 2/3-tracker models): PV2, AC charging, PV3, total PV power.
QPIGS2_FIELDS: tuple[Pi30Field, ...] = (
    _f("pv2_current", "04d"),
    _f("pv2_voltage", "05.1f"),
    _f("scc2_battery_voltage", "05.2f"),
    _f("pv2_power", "05d"),
    _f(None, "8b", filler="00000000", bits=QPIGS2_STATUS),
    _f("ac_charge_current", "04d"),
    _f("ac_charge_power", "04d"),
    _f("pv3_current", "04d"),
    _f("pv3_voltage", "05.1f"),
    _f("scc3_battery_voltage", "05.2f"),
    _f("pv3_power", "04d"),
    _f("pv_total_power", "05d"),
)
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
    _f(None, "s", filler="B"),  # work mode letter (as QMOD), see QPGS_MODE
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
    _f(None, "8b", filler="00000000", bits=QPGS_STATUS),
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
#: index of the QPGSn work-mode letter (the QMOD letters)
QPGS_MODE = 2

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

#: QPIWS bit (1-based, b1 first) -> (name, severity): 'fault', 'warning', or
#: 'a1' = fault when b1 is set, else warning (PI30 §2.14).
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
QPIWS_MIN_BITS = 32


def command_family(command: str) -> str:
    """The decoder key of ``command``: ``QPGS2`` -> ``QPGS``, ``QEY2026`` -> ``QEY``."""
    if command.startswith("QPGS") and command[4:].isdigit():
        return "QPGS"
    if command[:3] in ENERGY_COUNTERS and (command[3:].isdigit() or len(command) == 3):
        return command[:3]
    return command
