"""Victron VE.Direct text protocol (MPPT chargers, battery monitors, inverters), sans-IO.

Responsible for: the field table (vendor label -> canonical name, scale to
SI, enum maps), the framer that cuts a 19200-baud byte stream into checksummed
text blocks and asynchronous HEX frames, the decoder of a block into canonical
values, and the encoders the simulator uses (values -> fields -> block bytes,
HEX frames), all built from the same table.

Does NOT: open ports, sleep, log, or send HEX requests.

Source: Victron Energy, "VE.Direct Protocol", version 3.33 (https://www.victronenergy.com/upload/documents/VE.Direct-Protocol-3.33.pdf);
the HEX side from Victron's VE.Direct FAQ
(https://www.victronenergy.com/live/vedirect_protocol:faq).

Wire format (VE.Direct Protocol 3.33 p. 5, and real captures)::

    \\r\\nPID\\t0xA053\\r\\nV\\t12800 ... \\r\\nChecksum\\t<byte>

A block runs from its first CR LF through the checksum byte, and all its bytes
sum to 0 mod 256. The checksum byte may be any value, including ':', CR and LF.
Asynchronous HEX frames ``:A...\\n`` may interrupt a block anywhere (also right
after the checksum byte); they are cut out and never count in the text sum.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Literal

from firmware_bridge.checksums import vedirect_checksum_byte, vedirect_hex_check
from firmware_bridge.errors import FrameError, ProtocolError
from firmware_bridge.protocols.base import Values, from_raw, to_raw
from firmware_bridge.protocols.vedirect_framer import HexFrame, TextBlock, VeDirectFramer
from firmware_bridge.readings import Value

__all__ = [
    "BAUDRATE",
    "BMV_BLOCKS",
    "BMV_HISTORY_LABELS",
    "BMV_LABELS",
    "BUCKBOOST_LABELS",
    "CS_CODES",
    "ERR_CODES",
    "FIELDS",
    "LABELS",
    "MODE_CODES",
    "MON_CODES",
    "MPPT_CODES",
    "MPPT_LABELS",
    "MPPT_LABELS_BASIC",
    "PHOENIX_LABELS",
    "SMARTSHUNT_LABELS",
    "HexFrame",
    "TextBlock",
    "TextField",
    "VeDirectFramer",
    "build_async_frame",
    "build_block",
    "build_hex_frame",
    "decode",
    "decode_block",
    "encode_block",
    "encode_fields",
    "parse_hex_frame",
    "starts_update",
    "unknown_labels",
]

BAUDRATE = 19200
NO_VALUE = "---"

FieldKind = Literal["number", "enum", "flags", "hexflags", "onoff", "text"]


def _codes(*pairs: tuple[int, str]) -> Mapping[int, str]:
    return MappingProxyType(dict(pairs))


@dataclass(frozen=True, slots=True)
class TextField:
    """How one text-mode label maps onto the vocabulary.

    Attributes
    ----------
    label : str
        Vendor label as sent (``V``, ``PPV``, ``SER#``).
    name : str
        Canonical name in :data:`firmware_bridge.readings.QUANTITIES`.
    kind : {'number', 'enum', 'flags', 'hexflags', 'onoff', 'text'}
        ``number``: decimal integer scaled by ``10**exp``; ``enum``: decimal
        code -> name; ``flags``/``hexflags``: decimal / ``0x`` bitmask -> names;
        ``onoff``: ON/OFF (any case) -> 1/0; ``text``: copied.
    exp : int
        SI value = raw * 10**exp (``V`` in mV: -3; ``H19`` in 0.01 kWh -> Wh: 1).
    codes : Mapping[int, str]
        Enum code -> name, or flag bit value -> name.
    absent : int or None
        A raw number meaning "no value" (``TTG`` sends -1 for infinite); it
        decodes to None (left out) and None encodes to it.
    """

    label: str
    name: str
    kind: FieldKind = "number"
    exp: int = 0
    codes: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))
    absent: int | None = None

    def decode(self, text: str) -> Value | None:
        """The SI value of ``text``; None when the code is unknown to the table.

        Raises
        ------
        ProtocolError
            When ``text`` is not a valid value for this field.
        """
        try:
            if self.kind == "number":
                raw = int(text)
                return None if raw == self.absent else from_raw(raw, self.exp)
            if self.kind == "enum":
                return self.codes.get(int(text))
            if self.kind == "onoff":
                return {"on": 1, "off": 0}[text.lower()]
            if self.kind in ("flags", "hexflags"):
                bits = int(text, 16 if self.kind == "hexflags" else 10)
                if bits < 0:
                    raise ValueError("negative bit mask")
                return _flag_names(bits, self.codes)
        except (ValueError, KeyError) as exc:
            raise ProtocolError(f"VE.Direct {self.label}: bad value {text!r}") from exc
        return text

    def encode(self, value: Value | None) -> str:
        """The text the device sends for ``value`` (inverse of :meth:`decode`)."""
        if self.kind == "number" and value is None and self.absent is not None:
            return str(self.absent)
        if value is None:
            return NO_VALUE
        if self.kind == "number":
            return str(to_raw(float(value), self.exp))
        if self.kind == "enum":
            return str(_code_of(self.codes, str(value), self.label))
        if self.kind == "onoff":
            return "ON" if value else "OFF"
        if self.kind in ("flags", "hexflags"):
            bits = _flag_bits(str(value), self.codes, self.label)
            return f"0x{bits:08X}" if self.kind == "hexflags" else str(bits)
        return str(value)


def _flag_names(bits: int, codes: Mapping[int, str]) -> str:
    names = [name for bit, name in codes.items() if bits & bit]
    unknown = bits & ~sum(codes)
    names += [f"bit{i}" for i in range(unknown.bit_length()) if unknown >> i & 1]
    return ",".join(names)


def _flag_bits(names: str, codes: Mapping[int, str], label: str) -> int:
    bits = 0
    for name in filter(None, names.split(",")):
        if name.startswith("bit") and name[3:].isdigit():
            bits |= 1 << int(name[3:])
        else:
            bits |= _code_of(codes, name, label)
    return bits


def _code_of(codes: Mapping[int, str], name: str, label: str) -> int:
    for code, known in codes.items():
        if known == name:
            return code
    raise ValueError(f"VE.Direct {label}: no code for {name!r}")


CS_CODES = _codes(
    (0, "off"), (1, "low_power"), (2, "fault"), (3, "bulk"), (4, "absorption"), (5, "float"),
    (6, "storage"), (7, "equalize"), (9, "inverting"), (11, "power_supply"),
    (245, "starting_up"), (246, "repeated_absorption"), (247, "recondition"),
    (248, "battery_safe"), (252, "external_control"),
)
MPPT_CODES = _codes((0, "off"), (1, "limited"), (2, "mppt"))
#: ERR codes (VE.Direct Protocol 3.33 p. 15) -> name; ``error_code`` stays the number,
#: this table names it for messages and the simulator.
ERR_CODES = _codes(
    (0, "none"), (2, "battery_voltage_too_high"), (17, "charger_temperature_too_high"),
    (18, "charger_over_current"), (19, "charger_current_reversed"),
    (20, "bulk_time_limit_exceeded"), (21, "current_sensor_issue"),
    (26, "terminals_overheated"), (28, "converter_issue"), (33, "input_voltage_too_high"),
    (34, "input_current_too_high"), (38, "input_shutdown_battery_voltage"),
    (39, "input_shutdown_current_flow_while_off"), (65, "lost_communication"),
    (66, "synchronised_charging_config_issue"), (67, "bms_connection_lost"),
    (68, "network_misconfigured"), (116, "factory_calibration_data_lost"),
    (117, "invalid_firmware"), (119, "user_settings_invalid"),
)
MODE_CODES = _codes((1, "charger"), (2, "inverter"), (4, "off"), (5, "eco"), (253, "hibernate"))
OR_BITS = _codes(
    (0x1, "no_input_power"), (0x2, "power_switch"), (0x4, "device_mode"), (0x8, "remote_input"),
    (0x10, "protection"), (0x20, "paygo"), (0x40, "bms"), (0x80, "engine_shutdown"),
    (0x100, "analysing_input_voltage"),
)
AR_BITS = _codes(
    (1, "low_voltage"), (2, "high_voltage"), (4, "low_soc"), (8, "low_starter_voltage"),
    (16, "high_starter_voltage"), (32, "low_temperature"), (64, "high_temperature"),
    (128, "mid_voltage"), (256, "overload"), (512, "dc_ripple"), (1024, "low_ac_out_voltage"),
    (2048, "high_ac_out_voltage"), (4096, "short_circuit"), (8192, "bms_lockout"),
)
#: MON (VE.Direct Protocol 3.33 p. 16): DC monitor mode of a SmartShunt / BMV-71x.
MON_CODES = _codes(
    (-9, "solar_charger"), (-8, "wind_turbine"), (-7, "shaft_generator"), (-6, "alternator"),
    (-5, "fuel_cell"), (-4, "water_generator"), (-3, "dc_dc_charger"), (-2, "ac_charger"),
    (-1, "generic_source"), (0, "battery_monitor"), (1, "generic_load"), (2, "electric_drive"),
    (3, "fridge"), (4, "water_pump"), (5, "bilge_pump"), (6, "dc_system"), (7, "inverter"),
    (8, "water_heater"),
)
#: CAP_BLE bits (VE.Direct Protocol 3.33 p. 11).
CAP_BLE_BITS = _codes((0x1, "ble_off_supported"), (0x2, "ble_off_permanent"))

#: Every label of VE.Direct Protocol 3.33 Table I (pp. 6-8) and p. 11: BMV-60x/70x/71x,
#: SmartShunt, MPPT, Phoenix inverter, Phoenix Smart charger, Smart BuckBoost (Orion).
FIELDS: tuple[TextField, ...] = (
    TextField("PID", "product_id", "text"),
    TextField("FW", "firmware_version", "text"),
    TextField("FWE", "firmware_version", "text"),
    TextField("SER#", "serial_number", "text"),
    TextField("V", "battery_voltage", exp=-3),
    TextField("I", "battery_current", exp=-3),
    TextField("VPV", "pv_voltage", exp=-3),
    TextField("PPV", "pv_power"),
    TextField("IL", "load_current", exp=-3),
    TextField("LOAD", "load_output_on", "onoff"),
    TextField("Relay", "relay_on", "onoff"),
    TextField("T", "battery_temperature"),
    TextField("SOC", "battery_soc", exp=-1),
    TextField("CS", "charge_state", "enum", codes=CS_CODES),
    TextField("MPPT", "tracker_mode", "enum", codes=MPPT_CODES),
    TextField("OR", "off_reason", "hexflags", codes=OR_BITS),
    TextField("ERR", "error_code"),
    TextField("H19", "yield_total", exp=1),
    TextField("H20", "yield_today", exp=1),
    TextField("H21", "max_power_today"),
    TextField("H22", "yield_yesterday", exp=1),
    TextField("H23", "max_power_yesterday"),
    TextField("HSDS", "day_sequence"),
    TextField("MODE", "inverter_mode", "enum", codes=MODE_CODES),
    TextField("AC_OUT_V", "ac_output_voltage", exp=-2),
    TextField("AC_OUT_I", "ac_output_current", exp=-1),
    TextField("AC_OUT_S", "ac_output_apparent_power"),
    TextField("AR", "alarm_reason", "flags", codes=AR_BITS),
    TextField("WARN", "warnings", "flags", codes=AR_BITS),
    # battery monitors (BMV, SmartShunt)
    TextField("P", "battery_power"),
    TextField("CE", "consumed_charge", exp=-3),  # mAh, negative as sent
    TextField("TTG", "time_to_go", absent=-1),  # minutes; -1 = infinite (not discharging)
    TextField("Alarm", "alarm_on", "onoff"),
    TextField("VS", "starter_battery_voltage", exp=-3),
    TextField("VM", "midpoint_voltage", exp=-3),
    TextField("DM", "midpoint_deviation", exp=-1),  # per mille -> %
    TextField("BMV", "monitor_model", "text"),
    TextField("MON", "dc_monitor_mode", "enum", codes=MON_CODES),
    TextField("H1", "deepest_discharge", exp=-3),
    TextField("H2", "last_discharge", exp=-3),
    TextField("H3", "average_discharge", exp=-3),
    TextField("H4", "charge_cycles"),
    TextField("H5", "full_discharges"),
    TextField("H6", "cumulative_charge_drawn", exp=-3),
    TextField("H7", "min_battery_voltage", exp=-3),
    TextField("H8", "max_battery_voltage", exp=-3),
    TextField("H9", "seconds_since_full_charge"),
    TextField("H10", "automatic_syncs"),
    TextField("H11", "low_voltage_alarms"),
    TextField("H12", "high_voltage_alarms"),
    TextField("H13", "low_starter_voltage_alarms"),
    TextField("H14", "high_starter_voltage_alarms"),
    TextField("H15", "min_starter_battery_voltage", exp=-3),
    TextField("H16", "max_starter_battery_voltage", exp=-3),
    TextField("H17", "discharged_energy_total", exp=1),  # 0.01 kWh -> Wh
    TextField("H18", "charged_energy_total", exp=1),
    # Phoenix Smart charger channels 2 and 3, Smart BuckBoost / Orion DC input
    TextField("V2", "battery_2_voltage", exp=-3),
    TextField("I2", "battery_2_current", exp=-3),
    TextField("V3", "battery_3_voltage", exp=-3),
    TextField("I3", "battery_3_current", exp=-3),
    TextField("DC_IN_V", "dc_input_voltage", exp=-2),
    TextField("DC_IN_I", "dc_input_current", exp=-1),
    TextField("DC_IN_P", "dc_input_power"),
    TextField("CAP_BLE", "ble_capabilities", "hexflags", codes=CAP_BLE_BITS),
)

#: label -> field.
LABELS: Mapping[str, TextField] = MappingProxyType({f.label: f for f in FIELDS})


def _converter(spec: TextField) -> Callable[[str], Value | None]:
    """A fast text -> value function for the decoder's hot loop (same result as ``decode``)."""
    if spec.absent is not None:
        return spec.decode
    if spec.kind == "number" and spec.exp < 0:
        divisor = int(10**-spec.exp)
        return lambda text: int(text) / divisor
    if spec.kind == "number":
        factor = int(10**spec.exp)
        return lambda text: int(text) * factor
    if spec.kind == "enum":
        codes = spec.codes
        return lambda text: codes.get(int(text))
    if spec.kind == "text":
        return str
    return spec.decode


#: label -> (canonical name, converter); built once from :data:`FIELDS`.
_CONVERTERS: Mapping[str, tuple[str, Callable[[str], Value | None]]] = MappingProxyType(
    {f.label: (f.name, _converter(f)) for f in FIELDS}
)

#: Field order of a SmartSolar MPPT with load output (fw >= 1.44).
MPPT_LABELS: tuple[str, ...] = (
    "PID", "FW", "SER#", "V", "I", "VPV", "PPV", "CS", "MPPT", "OR", "ERR", "LOAD", "IL",
    "H19", "H20", "H21", "H22", "H23", "HSDS",
)
#: BlueSolar MPPT on older firmware: no MPPT, OR, LOAD or IL field.
MPPT_LABELS_BASIC: tuple[str, ...] = (
    "PID", "FW", "SER#", "V", "I", "VPV", "PPV", "CS", "ERR", "H19", "H20", "H21", "H22", "H23",
    "HSDS",
)
#: Phoenix VE.Direct inverter.
PHOENIX_LABELS: tuple[str, ...] = (
    "PID", "FW", "SER#", "MODE", "CS", "AC_OUT_V", "AC_OUT_I", "AC_OUT_S", "V", "AR", "WARN", "OR",
)
#: BMV-702 main block (the first of the two blocks of every update).
BMV_LABELS: tuple[str, ...] = (
    "PID", "V", "VS", "I", "P", "CE", "SOC", "TTG", "Alarm", "Relay", "AR", "BMV", "FW",
)
#: BMV-712 / SmartShunt main block with the AUX input on mid-point (MON since fw 4.08).
SMARTSHUNT_LABELS: tuple[str, ...] = (
    "PID", "V", "VM", "DM", "I", "P", "CE", "SOC", "TTG", "Alarm", "Relay", "AR", "BMV", "FW",
    "MON",
)
#: BMV-70x history block (the second block of every update; no H13/H14 since protocol 3.2).
BMV_HISTORY_LABELS: tuple[str, ...] = (
    "H1", "H2", "H3", "H4", "H5", "H6", "H7", "H8", "H9", "H10", "H11", "H12", "H15", "H16",
    "H17", "H18",
)
#: Smart BuckBoost / Orion-Tr Smart DC-DC converter.
BUCKBOOST_LABELS: tuple[str, ...] = (
    "PID", "FWE", "SER#", "V", "I", "DC_IN_V", "DC_IN_I", "DC_IN_P", "MODE", "CS", "ERR", "OR",
)

#: The two blocks of one BMV update, in the order sent.
BMV_BLOCKS: tuple[tuple[str, ...], ...] = (BMV_LABELS, BMV_HISTORY_LABELS)


def decode_block(block: TextBlock) -> Values:
    """Canonical SI values of a text block.

    Unknown labels, ``---`` (no value) and enum codes missing from the table are
    left out; the raw fields stay available in ``block.fields``.

    Raises
    ------
    ProtocolError
        When a known label carries a value that cannot be parsed.
    """
    out = dict(map(_decode_line, block.lines))
    out.pop("", None)  # labels unknown to the table, '---', unknown enum codes
    return out


@lru_cache(maxsize=4096)
def _decode_line(line: str) -> tuple[str, Value]:
    """``(name, value)`` of one ``label<TAB>text`` line, ``("", "")`` when left out.

    Cached: most lines (PID, FW, SER#, CS, ERR, ...) repeat block after block.
    """
    label, _, text = line.partition("\t")
    entry = _CONVERTERS.get(label)
    if entry is None or text == NO_VALUE:
        return "", ""
    try:
        value = entry[1](text)
    except (ValueError, KeyError) as exc:
        raise ProtocolError(f"VE.Direct {label}: bad value {text!r}") from exc
    return ("", "") if value is None else (entry[0], value)


#: The uniform name used through :data:`firmware_bridge.protocols.PROTOCOLS`.
decode = decode_block


def unknown_labels(block: TextBlock) -> list[str]:
    """Labels of ``block`` the field table does not know, in the order sent."""
    labels = (line.partition("\t")[0] for line in block.lines)
    return [label for label in labels if label not in _CONVERTERS]


def starts_update(block: TextBlock) -> bool:
    """True when ``block`` opens a device update (it carries ``PID``).

    A product that sends two blocks per update (a BMV: main block, then the
    history block ``H1``..``H18``) sends ``PID`` only in the first, so the
    device layer merges a block that does not start an update into the one
    before it.
    """
    return any(line.startswith("PID\t") for line in block.lines)


def encode_fields(
    values: Mapping[str, Value | None], labels: Sequence[str] = MPPT_LABELS
) -> list[tuple[str, str]]:
    """Ordered ``(label, text)`` fields for ``values``, as a device of ``labels`` sends.

    A label whose canonical name is missing from ``values`` is not sent; a
    value of None is sent as ``---`` (or the field's ``absent`` number: TTG -1).
    """
    fields = []
    for label in labels:
        spec = LABELS[label]
        if spec.name not in values:
            continue
        value = values[spec.name]
        fields.append((label, spec.encode(value)))
    return fields


def build_block(fields: Iterable[tuple[str, str]]) -> bytes:
    """Block bytes ``\\r\\n<label>\\t<value>...\\r\\nChecksum\\t<byte>`` with a valid checksum."""
    body = "".join(f"\r\n{label}\t{text}" for label, text in fields) + "\r\nChecksum\t"
    raw = body.encode("ascii")
    return raw + bytes((vedirect_checksum_byte(raw),))


def encode_block(values: Mapping[str, Value | None], labels: Sequence[str] = MPPT_LABELS) -> bytes:
    """``build_block(encode_fields(values, labels))``."""
    return build_block(encode_fields(values, labels))


def build_hex_frame(command: int, payload: bytes) -> bytes:
    """``:`` + command nibble + payload hex pairs + check pair + ``\\n`` (upper case)."""
    if not 0 <= command <= 0xF:
        raise ValueError(f"HEX command must be one nibble, got {command}")
    check = vedirect_hex_check(command, payload)
    return f":{command:X}{payload.hex().upper()}{check:02X}\n".encode("ascii")


def build_async_frame(register: int, value: int, *, size: int = 2, flags: int = 0) -> bytes:
    """An asynchronous ``:A`` frame: register (LE 16-bit), flags, value (LE, ``size`` bytes)."""
    payload = register.to_bytes(2, "little") + bytes((flags,)) + value.to_bytes(size, "little")
    return build_hex_frame(0xA, payload)


def parse_hex_frame(raw: bytes) -> HexFrame:
    """Parse and check one HEX frame (``:...`` with or without the ending ``\\n``).

    Raises
    ------
    FrameError
        Not a HEX frame (missing ':', odd digits, non-hex characters).
    ChecksumError
        The check byte does not match.
    """
    frame = VeDirectFramer.parse_hex(raw.rstrip(b"\n"))
    if frame is None:
        raise FrameError(f"not a VE.Direct HEX frame: {raw!r}")
    return frame
