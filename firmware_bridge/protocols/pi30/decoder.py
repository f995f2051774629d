"""Decoding PI30 replies into canonical SI values: the one decode API, :func:`decode`.

Responsible for: :func:`decode` (command + framed reply or payload text ->
:class:`Decoded`: the values that decode and the keys of what was left out),
tolerant by field: a field that does not decode, an unknown enum code, a bad
status-bit field or a trailing field is left out and noted; the reply is never
dropped for one field. The per-command rules (which table, net battery current,
the QPGSn mode letter and absent units) live here; the tables in :mod:`.tables`.

Does NOT: frame bytes (:mod:`.framer`) or encode (:mod:`.encoder`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from firmware_bridge.errors import ProtocolError
from firmware_bridge.protocols.base import Values
from firmware_bridge.protocols.pi30.framer import Pi30Reply
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
    QPIRI_MIN,
    QPIWS_BITS,
    QPIWS_MIN_BITS,
    Pi30Field,
    command_family,
)

__all__ = ["COMMANDS", "Decoded", "decode"]


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


def _decode_bits(parts: list[str], table: tuple[Pi30Field, ...], unknown: list[str]) -> Values:
    """The quantities of the status-bit fields of ``table`` present in ``parts``."""
    out: Values = {}
    for spec, text in zip(table, parts, strict=False):
        if spec.bits is not None:
            out.update(spec.bits.decode(text, unknown))
    return out


def _net_current(out: Values) -> None:
    charge, discharge = out.get("battery_charge_current"), out.get("battery_discharge_current")
    if isinstance(charge, int | float) and isinstance(discharge, int | float):
        out["battery_current"] = charge - discharge


def _qpigs(payload: str) -> Decoded:
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
    out.update(_decode_bits(parts, table, unknown))
    _net_current(out)
    return Decoded(out, tuple(unknown))


def _qpiri(payload: str) -> Decoded:
    """Decode a QPIRI payload: 25 fields, 27 or 28 on MAX models (tolerantly).

    Raises
    ------
    ProtocolError
        Fewer than 25 fields.
    """
    parts = payload.split()
    if len(parts) < QPIRI_MIN:
        raise ProtocolError(f"QPIRI: expected at least 25 fields, got {len(parts)}")
    unknown: list[str] = []
    out = _decode_fields(parts, QPIRI_FIELDS, "QPIRI", unknown)
    return Decoded(out, tuple(unknown))


def _qmod(payload: str) -> Decoded:
    """Decode a QMOD payload (one mode letter) into ``inverter_mode``."""
    mode = QMOD_MODES.get(payload.strip())
    if mode is None:
        return Decoded({}, (f"QMOD mode={payload.strip()!r}",))
    return Decoded({"inverter_mode": mode})


def _qpiws(payload: str) -> Decoded:
    """Decode QPIWS warning bits into ``warnings``, ``faults`` and ``fault_active``.

    Bits 10, 11, 12 and 17 are faults when b1 is set, else warnings (PI30 §2.14).
    A set bit the table does not name, or a character other than 0/1, is noted.

    Raises
    ------
    ProtocolError
        Fewer than 32 bits.
    """
    bits = payload.replace(" ", "")
    if len(bits) < QPIWS_MIN_BITS:
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


def _qpigs2(payload: str) -> Decoded:
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
    out.update(_decode_bits(parts, table, unknown))
    return Decoded(out, tuple(unknown))


def _qpgs(payload: str) -> Decoded:
    """Decode QPGSn (one unit of a parallel system): 27 fields, 29 on MAX 48 V models.

    The status byte gives ``charging_source``, ``battery_status``, ``grid_lost``,
    ``load_output_on`` and ``scc_ok``. Presence is decided from the content
    (:func:`_qpgs_present`), not from the first field alone: a real PI30MAX
    answers ``QPGS0`` with ``0`` first yet a serial number and live values. An
    absent unit decodes to ``{"parallel_unit_present": 0}`` only.

    Raises
    ------
    ProtocolError
        Fewer than 27 fields.
    """
    parts = payload.split()
    if len(parts) < len(QPGS_FIELDS):
        raise ProtocolError(f"QPGS: expected 27 or 29 fields, got {len(parts)}")
    unknown: list[str] = []
    if not _qpgs_present(parts):
        return Decoded({"parallel_unit_present": 0})
    table = QPGS_MAX_FIELDS if len(parts) >= len(QPGS_MAX_FIELDS) else QPGS_FIELDS
    out = _decode_fields(parts, table, "QPGS", unknown)
    out["parallel_unit_present"] = 1
    mode = QMOD_MODES.get(parts[QPGS_MODE])
    if mode is None:
        unknown.append(f"QPGS mode={parts[QPGS_MODE]!r}")
    else:
        out["inverter_mode"] = mode
    out.update(_decode_bits(parts, table, unknown))
    _net_current(out)
    return Decoded(out, tuple(unknown))



def _qpgs_present(parts: list[str]) -> bool:
    """Whether a QPGSn reply describes a unit that is there.

    Rule: first field ``1``; or a serial number that is not all zeros together
    with a non-zero AC output voltage or battery voltage (fields 7 and 12). An
    empty slot of a parallel system sends ``0``, a zero serial and zero values.
    """
    if parts[0] == "1":
        return True
    serial = parts[1].strip("0")
    live = any(_is_number(parts[i]) and float(parts[i]) != 0.0 for i in (6, 11))
    return bool(serial) and live


def _qid(payload: str) -> Decoded:
    """Decode QID (device serial number, PI30 §2.2) into ``serial_number``."""
    text = payload.strip()
    if not text or not text.isalnum():
        raise ProtocolError(f"QID: expected a serial number, got {payload!r}")
    return Decoded({"serial_number": text})


def _qvfw(payload: str) -> Decoded:
    """Decode QVFW (main CPU firmware, ``VERFW:00072.70``) into ``firmware_version``."""
    text = payload.strip()
    if not text.startswith("VERFW:") or not text[6:].strip():
        raise ProtocolError(f"QVFW: expected VERFW:<version>, got {payload!r}")
    return Decoded({"firmware_version": text[6:].strip()})


def _report_counter(name: str, command: str) -> Callable[[str], Decoded]:
    def report(payload: str) -> Decoded:
        text = payload.strip()
        if not text.isdigit():
            raise ProtocolError(f"{command}: expected digits (Wh), got {payload!r}")
        return Decoded({name: int(text)})

    report.__doc__ = f"Decode a {command} reply (NNNNNNNN Wh) into ``{name}``."
    return report


#: Command family -> tolerant decoder (see :class:`Decoded`).
_REPORTERS: Mapping[str, Callable[[str], Decoded]] = MappingProxyType({
    "QPIGS": _qpigs, "QPIRI": _qpiri, "QMOD": _qmod, "QPIWS": _qpiws,
    "QPIGS2": _qpigs2, "QPGS": _qpgs, "QID": _qid, "QVFW": _qvfw,
    **{family: _report_counter(name, family) for family, name in ENERGY_COUNTERS.items()},
})


#: The command families :func:`decode` knows (dated and numbered commands by family:
#: ``QEY`` for ``QEY2026``, ``QPGS`` for ``QPGS1``).
COMMANDS: tuple[str, ...] = tuple(_REPORTERS)


def decode(command: str, reply: Pi30Reply | str) -> Decoded:
    """Decode ``reply`` to ``command``: what decodes, plus what was left out.

    Parameters
    ----------
    command : str
        The command the reply answers (``QPIGS``, ``QPGS1``, ``QED20260301``...).
    reply : Pi30Reply or str
        A framed reply, or its payload text (without ``(`` and the CRC).

    Returns
    -------
    Decoded
        ``values`` (canonical name -> SI value) and ``unknown`` (one key per field
        left out, for the device stats).

    Raises
    ------
    ProtocolError
        The device answered NAK, the command has no decoder, the reply has the
        wrong shape (too few fields), or nothing in it decodes.
    """
    payload = reply.payload if isinstance(reply, Pi30Reply) else reply
    if payload == "NAK":
        raise ProtocolError(f"{command}: device answered NAK")
    reporter = _REPORTERS.get(command_family(command))
    if reporter is None:
        raise ProtocolError(f"no decoder for PI30 command {command!r}")
    decoded = reporter(payload)
    if not decoded.values:
        raise ProtocolError(f"{command}: nothing decodes in {payload!r} ({decoded.unknown})")
    return decoded
