"""Encoding PI30 replies, for the simulators: values -> payload text -> reply bytes.

Responsible for: the payload of each command at the documented widths, built
from the same field and status-bit tables the decoder reads (:mod:`.tables`),
and :func:`build_response` (``(`` + payload + CRC with the escape quirk + CR).

Does NOT: decide what a simulated inverter reports (the simulator does) or
frame requests (:mod:`.framer`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from firmware_bridge.checksums import PI30_ESCAPED, crc16_xmodem
from firmware_bridge.protocols.pi30.tables import (
    ENERGY_COUNTERS,
    QMOD_MODES,
    QPGS_FIELDS,
    QPGS_MAX_FIELDS,
    QPGS_MODE,
    QPIGS2_FIELDS,
    QPIGS2_MAX_FIELDS,
    QPIGS_FIELDS,
    QPIGS_MAX_FIELDS,
    QPIRI_FIELDS,
    QPIWS_BITS,
    Pi30Field,
    command_family,
)
from firmware_bridge.readings import Value

__all__ = [
    "ENCODERS",
    "build_response",
    "encode_counter",
    "encode_payload",
    "encode_qmod",
    "encode_qpgs",
    "encode_qpigs",
    "encode_qpigs2",
    "encode_qpiri",
    "encode_qpiws",
]



def _encode_fields(values: Mapping[str, Value | None], table: tuple[Pi30Field, ...]) -> list[str]:
    return [spec.bits.encode(values) if spec.bits is not None
            else spec.encode(values.get(spec.name) if spec.name else None) for spec in table]


def encode_qpigs(values: Mapping[str, Value | None], *, variant: str = "pi30") -> str:
    """QPIGS payload for ``values``: 21 fields, or 24 with ``variant='max'``.

    Status bits come from ``load_output_on``, ``charging_source`` and
    ``charging_to_float`` (b9 "switch on" is always set).
    """
    table = QPIGS_MAX_FIELDS if variant == "max" else QPIGS_FIELDS
    return " ".join(_encode_fields(values, table))


def encode_qpiri(values: Mapping[str, Value | None], *, fields: int = 25) -> str:
    """QPIRI payload for ``values``: 25 fields, or 27/28 as PI30MAX firmware sends."""
    return " ".join(_encode_fields(values, QPIRI_FIELDS[:fields]))


def encode_qpigs2(values: Mapping[str, Value | None], *, variant: str = "pi30") -> str:
    """QPIGS2 payload: 13 fields (``pi30``) or 3 (``max``)."""
    table = QPIGS2_MAX_FIELDS if variant == "max" else QPIGS2_FIELDS
    return " ".join(_encode_fields(values, table))


def encode_qpgs(values: Mapping[str, Value | None], *, variant: str = "pi30") -> str:
    """QPGSn payload of one unit: 27 fields, or 29 with ``variant='max'``."""
    table = QPGS_MAX_FIELDS if variant == "max" else QPGS_FIELDS
    parts = _encode_fields(values, table)
    parts[QPGS_MODE] = encode_qmod(values) if values.get("inverter_mode") else "B"
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
