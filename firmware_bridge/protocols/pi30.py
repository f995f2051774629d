"""Voltronic PI30 (Axpert, MPP Solar and rebrands), sans-IO.

Responsible for: request bytes (command + CRC-16/XMODEM + CR with the escape
quirk), the reply framer, the field tables of QPIGS (21 fields and the 24-field
MAX variant), QPIRI (25 fields, longer variants tolerated), QMOD and QPIWS, the
decoders into canonical SI values, and the encoders the simulator uses
(values -> payload text at the documented widths -> reply bytes), built from
the same tables.

Does NOT: open ports, sleep, log, or decide the polling schedule (see
:data:`POLL_COMMANDS`).

Sources: PI30 Communication Protocol 2015-09-24 §2.7-2.14, PI30MAX 2021-02-17
§2.9; facts and quirks in ``shared/reference/protocols.md`` B2.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
    "NAK",
    "NAK_NO_CRC",
    "POLL_COMMANDS",
    "QMOD_MODES",
    "QPIGS_FIELDS",
    "QPIGS_MAX_FIELDS",
    "QPIRI_FIELDS",
    "QPIWS_BITS",
    "Pi30Field",
    "Pi30Framer",
    "Pi30Reply",
    "RequestFramer",
    "build_request",
    "build_response",
    "decode",
    "decode_qmod",
    "decode_qpigs",
    "decode_qpiri",
    "decode_qpiws",
    "encode_payload",
    "encode_qmod",
    "encode_qpigs",
    "encode_qpiri",
    "encode_qpiws",
    "parse_request",
]

BAUDRATE = 2400
#: Replies to setting commands and refusals, as real firmware sends them.
ACK = b"(ACK9 \r"
NAK = b"(NAKss\r"
NAK_NO_CRC = b"(NAK\r"
#: What a device layer asks every poll (QPIRI, the ratings, once after connecting).
POLL_COMMANDS: tuple[str, ...] = ("QPIGS", "QMOD", "QPIWS")


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
        """The value of ``text`` (int for whole numbers, float, or enum name)."""
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
    _f("battery_type", "1d", {0: "agm", 1: "flooded", 2: "user"}),
    _f("max_ac_charge_current", "02d"),
    _f("max_charge_current", "03d"),
    _f("input_voltage_range", "1d", {0: "appliance", 1: "ups"}),
    _f("output_source_priority", "1d", {0: "utility_first", 1: "solar_first", 2: "sbu_first"}),
    _f("charger_source_priority", "1d",
       {0: "utility_first", 1: "solar_first", 2: "solar_and_utility", 3: "solar_only"}),
    _f("parallel_max_num", "1d"),
    _f("machine_type", "02d", {0: "grid_tie", 1: "off_grid", 10: "hybrid",
                               11: "off_grid_2_trackers", 20: "off_grid_3_trackers"}),
    _f("topology", "1d", {0: "transformerless", 1: "transformer"}),
    _f("output_mode", "1d", {0: "single", 1: "parallel", 2: "phase_1_of_3",
                             3: "phase_2_of_3", 4: "phase_3_of_3"}),
    _f("battery_redischarge_voltage", "04.1f"),
    _f("pv_ok_condition", "1d"),
    _f("pv_power_balance", "1d"),
)

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


def _decode_fields(parts: list[str], table: tuple[Pi30Field, ...], command: str) -> Values:
    out: Values = {}
    for index, (spec, text) in enumerate(zip(table, parts, strict=False)):
        if spec.name is None:
            continue
        try:
            out[spec.name] = spec.decode(text)
        except ValueError as exc:
            raise ProtocolError(
                f"{command} field {index + 1} ({spec.name}): bad value {text!r}"
            ) from exc
    return out


def _bits(text: str, count: int, what: str) -> str:
    if len(text) != count or text.strip("01"):
        raise ProtocolError(f"QPIGS {what}: expected {count} '0'/'1' characters, got {text!r}")
    return text


def _decode_status(bits8: str, bits3: str) -> Values:
    """Device status b7..b0 and b10..b8 -> load, charging source, charging to float."""
    b = _bits(bits8, 8, "status bits b7..b0")
    high = _bits(bits3, 3, "status bits b10..b8")
    source = {("0", "0"): "none", ("1", "0"): "solar", ("0", "1"): "grid",
              ("1", "1"): "solar_and_grid"}[(b[6], b[7])]
    return {"load_output_on": int(b[3]), "charging_source": source,
            "charging_to_float": int(high[0])}


def decode_qpigs(payload: str) -> Values:
    """Decode a QPIGS payload (21 fields, or 24+ on MAX models).

    Adds ``battery_current`` = charge - discharge current [A], positive when
    charging, so every device reports the same net battery current.

    Raises
    ------
    ProtocolError
        Fewer than 21 fields, or a field that does not parse.
    """
    parts = payload.split()
    if len(parts) < len(QPIGS_FIELDS):
        raise ProtocolError(f"QPIGS: expected at least 21 fields, got {len(parts)}")
    table = QPIGS_MAX_FIELDS if len(parts) >= len(QPIGS_MAX_FIELDS) else QPIGS_FIELDS
    out = _decode_fields(parts, table, "QPIGS")
    out.update(_decode_status(parts[_STATUS1], parts[_STATUS2]))
    charge, discharge = out["battery_charge_current"], out["battery_discharge_current"]
    assert isinstance(charge, int | float) and isinstance(discharge, int | float)
    out["battery_current"] = charge - discharge
    return out


def decode_qpiri(payload: str) -> Values:
    """Decode a QPIRI payload (25 fields; extra trailing fields are ignored)."""
    parts = payload.split()
    if len(parts) < len(QPIRI_FIELDS):
        raise ProtocolError(f"QPIRI: expected at least 25 fields, got {len(parts)}")
    return _decode_fields(parts, QPIRI_FIELDS, "QPIRI")


def decode_qmod(payload: str) -> Values:
    """Decode a QMOD payload (one mode letter) into ``inverter_mode``."""
    mode = QMOD_MODES.get(payload.strip())
    if mode is None:
        raise ProtocolError(f"QMOD: unknown mode {payload!r}")
    return {"inverter_mode": mode}


def decode_qpiws(payload: str) -> Values:
    """Decode QPIWS warning bits into ``warnings``, ``faults`` and ``fault_active``.

    Bits 10, 11, 12 and 17 are faults when b1 is set, else warnings (PI30 §2.14).
    """
    bits = payload.replace(" ", "")
    if len(bits) < _QPIWS_MIN_BITS or bits.strip("01"):
        raise ProtocolError(f"QPIWS: expected 32+ '0'/'1' characters, got {payload!r}")
    a1 = bits[0] == "1"
    warnings: list[str] = []
    faults: list[str] = []
    for bit, (name, severity) in QPIWS_BITS.items():
        if bit <= len(bits) and bits[bit - 1] == "1":
            is_fault = severity == "fault" or (severity == "a1" and a1)
            (faults if is_fault else warnings).append(name)
    return {"warnings": ",".join(warnings), "faults": ",".join(faults),
            "fault_active": int(bool(faults))}


#: Command -> payload decoder.
DECODERS: Mapping[str, Callable[[str], Values]] = MappingProxyType({
    "QPIGS": decode_qpigs, "QPIRI": decode_qpiri, "QMOD": decode_qmod, "QPIWS": decode_qpiws,
})


def decode(command: str, reply: Pi30Reply | str) -> Values:
    """Decode ``reply`` (a framed reply or its payload) to ``command``.

    Raises
    ------
    ProtocolError
        The device answered NAK, the command has no decoder, or the payload is bad.
    """
    payload = reply.payload if isinstance(reply, Pi30Reply) else reply
    if payload == "NAK":
        raise ProtocolError(f"{command}: device answered NAK")
    decoder = DECODERS.get(command)
    if decoder is None:
        raise ProtocolError(f"no decoder for PI30 command {command!r}")
    return decoder(payload)


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


def encode_qpiri(values: Mapping[str, Value | None]) -> str:
    """QPIRI payload (25 fields) for ``values``."""
    return " ".join(_encode_fields(values, QPIRI_FIELDS))


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
})


def encode_payload(command: str, values: Mapping[str, Value | None]) -> str:
    """The payload a device sends for ``command`` (KeyError for commands without encoder)."""
    return ENCODERS[command](values)


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
