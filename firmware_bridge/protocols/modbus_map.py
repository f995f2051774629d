"""Modbus register maps as data: load a TOML map, decode and encode register words.

Responsible for: reading one map file of ``firmware_bridge/protocols/maps/``
strictly (unknown keys and bad values are :class:`~firmware_bridge.config.ConfigError`
naming the file and key), the frozen :class:`RegisterMap` it becomes (device
settings, registers with word order, scale, offset, signedness, enum tables and
bit fields), the request blocks that read every register with as few requests
as the device's readable ranges allow (:meth:`RegisterMap.read_blocks`),
:meth:`RegisterMap.decode` of a register snapshot into canonical SI values and
:meth:`RegisterMap.encode` of values into registers for the simulator, both
from the same table.

Does NOT: frame Modbus (pymodbus does RTU), open ports or retry. Vendor names
stay in the map files; everything here is generic.

Map file format
---------------
::

    [device]
    name = "epever"                     # the protocol name (= file stem)
    description = "EPEver Tracer ..."
    source = "EPEVER Controller Protocol V2.3 ..."
    baudrate = 115200
    unit = 1                            # default Modbus unit (slave) id
    table = "input"                     # 'input' (fc 4) or 'holding' (fc 3)
    word_order = "low_first"            # 32-bit values: 'low_first' or 'high_first'
    ranges = [[0x3000, 0x3008], ...]    # optional: inclusive address ranges the
                                        # device answers; a block never leaves one
    max_gap = 0                         # without ranges: unmapped registers a block
                                        # may read through
    max_block = 125                     # registers per request

    [[register]]
    address = 0x3102
    name = "pv_power"                   # canonical name (readings.QUANTITIES)
    words = 2                           # 1 or 2
    scale = 0.01                        # SI = raw * scale + offset (a power of ten,
    offset = 0.0                        # negative to flip the sign)
    signed = false
    enum = { 0 = "on_off", 1 = "pwm" }  # raw code -> name (enum quantities)

    [[register]]                        # a status word: bit fields instead of a name
    address = 0x3200
    [[register.field]]
    bits = [0, 3]                       # inclusive bit range
    name = "battery_status"             # optional value: enum, or a number
    enum = { 0 = "normal", 1 = "over_voltage" }
    other = "fault"                     # name for codes not in enum
    faults = { 1 = "battery_over_voltage" }   # codes -> names added to 'faults'
    faults_other = "battery_fault"
    fallback = false                    # fault only when no fault came before it
    encode_from = "fault_active"        # (fallback) the value that sets it when encoding
    aliases = { absorption = 2 }        # extra names -> code when encoding
    constant = 1                        # code always written when encoding
    sign_magnitude = false              # top bit of the field is a sign

A map with fault fields also yields ``faults`` (comma-separated names, in
table order) and ``fault_active`` whenever a register with fault fields was read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from firmware_bridge.config import ConfigError, load_toml
from firmware_bridge.protocols.base import Values, from_raw, to_raw
from firmware_bridge.readings import QUANTITIES, Value

__all__ = [
    "MAPS_DIR",
    "BitField",
    "MapRegister",
    "RegisterMap",
    "load_map",
    "load_maps",
]

MAPS_DIR = Path(__file__).resolve().parent / "maps"
Table = Literal["input", "holding"]
WordOrder = Literal["low_first", "high_first"]
_EMPTY: Mapping[Any, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class BitField:
    """Bits ``lo..hi`` of a status word (see the module docstring for the keys)."""

    lo: int
    hi: int
    name: str = ""
    enum: Mapping[int, str] = field(default_factory=lambda: _EMPTY)
    other: str = ""
    faults: Mapping[int, str] = field(default_factory=lambda: _EMPTY)
    faults_other: str = ""
    fallback: bool = False
    encode_from: str = ""
    aliases: Mapping[str, int] = field(default_factory=lambda: _EMPTY)
    constant: int | None = None
    sign_magnitude: bool = False

    @property
    def mask(self) -> int:
        """Mask of the field once shifted down."""
        return (1 << (self.hi - self.lo + 1)) - 1

    def code(self, word: int) -> int:
        """The field's raw code in ``word``."""
        return word >> self.lo & self.mask

    def value(self, code: int) -> Value | None:
        """The value of ``name`` for ``code`` (None: an enum code the table does not know)."""
        if self.enum:
            return self.enum.get(code, self.other or None)
        if self.sign_magnitude:
            top = 1 << (self.hi - self.lo)
            return -(code & (top - 1)) if code & top else code
        return code

    def fault(self, code: int) -> str:
        """The fault name ``code`` raises ("" for none)."""
        if not code:
            return ""
        return self.faults.get(code, self.faults_other)

    def encode(self, values: Mapping[str, Value | None], faults: set[str]) -> int:
        """The raw code a device holds for ``values`` (before shifting)."""
        if self.constant is not None:
            return self.constant
        if self.encode_from:
            return int(bool(values.get(self.encode_from)))
        if self.name:
            value = values.get(self.name)
            if self.enum:
                text = str(value or "")
                if text in self.aliases:
                    return self.aliases[text]
                return next((c for c, n in self.enum.items() if n == text), 0)
            number = round(float(value or 0))
            if self.sign_magnitude and number < 0:
                return (1 << (self.hi - self.lo)) | -number
            return number & self.mask
        return next((c for c, n in self.faults.items() if n in faults), 0)


@dataclass(frozen=True, slots=True)
class MapRegister:
    """One register (or 32-bit pair) of a map.

    Attributes
    ----------
    address : int
        Register address (the first of a pair).
    name : str
        Canonical name; "" for a status word described by ``fields``.
    table : {'input', 'holding'}
        Input registers (fc 4) or holding registers (fc 3).
    words : int
        1, or 2 for a 32-bit value in the map's word order.
    exp : int
        SI value = raw * 10**exp (x100 registers: -2; 0.01 kWh -> Wh: 1).
    negate : bool
        The device counts the other way (Deye battery power: + discharging).
    offset : float
        Added after scaling (Deye temperatures: -100 degC).
    signed : bool
        Two's complement.
    enum : Mapping[int, str]
        Raw code -> name.
    fields : tuple of BitField
        Bit fields of a status word.
    """

    address: int
    name: str
    table: Table = "input"
    words: int = 1
    exp: int = 0
    negate: bool = False
    offset: float = 0.0
    signed: bool = False
    enum: Mapping[int, str] = field(default_factory=lambda: _EMPTY)
    fields: tuple[BitField, ...] = ()

    def raw(self, words: Mapping[int, int], order: WordOrder) -> int | None:
        """The (signed) raw integer, or None when a word is missing."""
        try:
            first = words[self.address]
            raw = first
            if self.words == 2:
                second = words[self.address + 1]
                raw = first | second << 16 if order == "low_first" else first << 16 | second
        except KeyError:
            return None
        bits = 16 * self.words
        if self.signed and raw >> (bits - 1):
            raw -= 1 << bits
        return raw

    def scaled(self, raw: int) -> Value:
        """SI value of ``raw``."""
        value = from_raw(-raw if self.negate else raw, self.exp)
        return value + self.offset if self.offset else value

    def unscaled(self, value: float) -> int:
        """Raw integer for the SI ``value`` (inverse of :meth:`scaled`)."""
        raw = to_raw(value - self.offset, self.exp)
        return -raw if self.negate else raw


@dataclass(frozen=True)
class RegisterMap:
    """A device's register map, loaded from ``maps/<name>.toml``.

    Attributes
    ----------
    name, description, source : str
        Protocol name, one line for ``--help``, where the figures come from.
    manufacturer : str
        The brand of the devices the map is for (shown in Home Assistant).
    baudrate : int
        Default line speed. [baud]
    unit : int
        Default Modbus unit id.
    word_order : {'low_first', 'high_first'}
        Order of the two words of 32-bit values.
    registers : tuple of MapRegister
        In address order.
    ranges : tuple of (int, int, str)
        Inclusive address ranges the device answers, with their table.
    max_gap, max_block : int
        Read-through and request-size limits for :meth:`read_blocks`.
    path : Path
        The map file.
    """

    name: str
    description: str
    source: str
    manufacturer: str
    baudrate: int
    unit: int
    word_order: WordOrder
    registers: tuple[MapRegister, ...]
    ranges: tuple[tuple[int, int, Table], ...] = ()
    max_gap: int = 0
    max_block: int = 125
    path: Path = MAPS_DIR

    @cached_property
    def has_faults(self) -> bool:
        """The map describes fault bits (decode adds ``faults`` and ``fault_active``)."""
        return any(f.faults or f.fallback for r in self.registers for f in r.fields)

    @cached_property
    def names(self) -> frozenset[str]:
        """Every canonical name :meth:`decode` can emit."""
        out = {r.name for r in self.registers if r.name}
        out |= {f.name for r in self.registers for f in r.fields if f.name}
        if self.has_faults:
            out |= {"faults", "fault_active"}
        return frozenset(out)

    @cached_property
    def _blocks(self) -> tuple[tuple[Table, int, int], ...]:
        return self._compute_blocks()

    def read_blocks(self) -> tuple[tuple[Table, int, int], ...]:
        """``(table, first address, count)`` of the requests that read every register.

        Registers are grouped while they stay inside one readable range (when
        the map lists ranges) or are at most ``max_gap`` unmapped registers
        apart, and a block holds at most ``max_block`` registers.
        """
        return self._blocks

    def _compute_blocks(self) -> tuple[tuple[Table, int, int], ...]:
        blocks: list[tuple[Table, int, int]] = []
        for table in ("input", "holding"):
            spans = sorted((r.address, r.address + r.words - 1) for r in self.registers
                           if r.table == table)
            start = end = -1
            for lo, hi in spans:
                if start >= 0 and self._joins(table, start, end, lo, hi):
                    end = max(end, hi)
                    continue
                if start >= 0:
                    blocks.append((table, start, end - start + 1))
                start, end = lo, hi
            if start >= 0:
                blocks.append((table, start, end - start + 1))
        return tuple(blocks)

    def _joins(self, table: Table, start: int, end: int, lo: int, hi: int) -> bool:
        if hi - start + 1 > self.max_block:
            return False
        if self.ranges:
            return any(t == table and a <= start and hi <= b for a, b, t in self.ranges)
        return lo - end - 1 <= self.max_gap

    def readable(self, table: Table, address: int) -> bool:
        """Whether the device answers ``address`` (the simulator's rule)."""
        if self.ranges:
            return any(t == table and a <= address <= b for a, b, t in self.ranges)
        return any(t == table and a <= address < a + n for t, a, n in self.read_blocks())

    def decode(self, words: Mapping[int, int], unknown: list[str] | None = None) -> Values:
        """Canonical SI values from a snapshot ``{address: 16-bit word}``.

        Registers missing from the snapshot are skipped (a partial read decodes
        what it has); where two registers carry one quantity the later address
        wins. An enum code the map does not know is left out and, when
        ``unknown`` is given, noted there as ``"<map> <name>=<code>"``.
        """
        out: Values = {}
        faults: list[str] = []
        saw_status = False
        for reg in self.registers:
            raw = reg.raw(words, self.word_order)
            if raw is None:
                continue
            if reg.fields:
                saw_status |= any(f.faults or f.fallback for f in reg.fields)
                self._decode_fields(reg, raw, out, faults, unknown)
            elif reg.enum:
                name = reg.enum.get(raw)
                if name is None:
                    if unknown is not None:
                        unknown.append(f"{self.name} {reg.name}={raw}")
                    continue
                out[reg.name] = name
            else:
                out[reg.name] = reg.scaled(raw)
        if saw_status:
            out["faults"] = ",".join(faults)
            out["fault_active"] = int(bool(faults))
        return out

    def _decode_fields(self, reg: MapRegister, word: int, out: Values, faults: list[str],
                       unknown: list[str] | None) -> None:
        for f in reg.fields:
            code = f.code(word)
            if f.name:
                value = f.value(code)
                if value is None:
                    if unknown is not None:
                        unknown.append(f"{self.name} {f.name}={code}")
                else:
                    out[f.name] = value
            if f.fallback:
                if code and not faults:
                    faults.append(f.faults.get(1, ""))
            elif fault := f.fault(code):
                faults.append(fault)

    def encode(
        self, values: Mapping[str, Value | None], table: Table | None = None
    ) -> dict[int, int]:
        """Register words a device would hold for ``values`` (for the simulator).

        Every register whose quantity is in ``values`` (and not None) is
        written in the map's word order; status words are always written.
        ``table`` restricts the result to input or holding registers.
        """
        out: dict[int, int] = {}
        faults = set(filter(None, str(values.get("faults") or "").split(",")))
        for reg in self.registers:
            if table is not None and reg.table != table:
                continue
            if reg.fields:
                word = 0
                for f in reg.fields:
                    word |= (f.encode(values, faults) & f.mask) << f.lo
                out[reg.address] = word & 0xFFFF
                continue
            value = values.get(reg.name)
            if value is None:
                continue
            if reg.enum:
                raw = next((c for c, n in reg.enum.items() if n == value), None)
                if raw is None:
                    continue
            else:
                raw = reg.unscaled(float(value))
            raw &= (1 << 16 * reg.words) - 1  # two's complement for negative values
            if reg.words == 1:
                out[reg.address] = raw
            elif self.word_order == "low_first":
                out[reg.address], out[reg.address + 1] = raw & 0xFFFF, raw >> 16
            else:
                out[reg.address], out[reg.address + 1] = raw >> 16, raw & 0xFFFF
        return out


# ------------------------------------------------------------------ loading

_DEVICE_KEYS = {"name", "description", "source", "manufacturer", "baudrate", "unit", "table",
                "word_order", "ranges", "max_gap", "max_block"}
_REGISTER_KEYS = {"address", "name", "table", "words", "scale", "offset", "signed", "enum",
                  "field", "note"}
_FIELD_KEYS = {"bits", "name", "enum", "other", "faults", "faults_other", "fallback",
               "encode_from", "aliases", "constant", "sign_magnitude", "note"}


class _Reader:
    """Strict typed access to one table of the map file, naming file and key on error."""

    def __init__(self, path: Path, key: str, table: Any, allowed: set[str]) -> None:
        if not isinstance(table, dict):
            raise ConfigError(path, key, "expected a table")
        extra = sorted(set(table) - allowed)
        if extra:
            raise ConfigError(path, f"{key}.{extra[0]}" if key else extra[0], "unknown key")
        self.path, self.key, self.table = path, key, table

    def where(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if name not in self.table:
            if default is ...:
                raise ConfigError(self.path, self.where(name), "missing")
            return default
        value = self.table[name]
        bad_bool = isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple)
                                                            else (kind,))
        if bad_bool or not isinstance(value, kind):
            raise ConfigError(self.path, self.where(name), f"bad value {value!r}")
        return value

    def codes(self, name: str) -> Mapping[int, str]:
        table = self.get(name, dict, {})
        out: dict[int, str] = {}
        for code, label in table.items():
            try:
                number = int(code, 0)
            except ValueError:
                raise ConfigError(self.path, self.where(f"{name}.{code}"),
                                  "codes are integers") from None
            if not isinstance(label, str) or not label:
                raise ConfigError(self.path, self.where(f"{name}.{code}"), "expected a name")
            out[number] = label
        return MappingProxyType(out)


def _exp_of(scale: float, path: Path, key: str) -> tuple[int, bool]:
    """``scale`` = ±10**exp -> (exp, negate)."""
    magnitude = abs(scale)
    exp = round(math.log10(magnitude)) if magnitude > 0 else 0
    if magnitude <= 0 or not math.isclose(magnitude, 10.0**exp, rel_tol=1e-9):
        raise ConfigError(path, key, f"scale must be a power of ten (or its negative), got {scale}")
    return exp, scale < 0


def _check_name(name: str, path: Path, key: str) -> None:
    if name not in QUANTITIES:
        raise ConfigError(path, key, f"{name!r} is not in readings.QUANTITIES")


def _field(path: Path, key: str, table: Any) -> BitField:
    r = _Reader(path, key, table, _FIELD_KEYS)
    bits = r.get("bits", list)
    if (len(bits) != 2 or not all(isinstance(b, int) and not isinstance(b, bool) for b in bits)
            or not 0 <= bits[0] <= bits[1] <= 15):
        raise ConfigError(path, r.where("bits"), f"expected [lo, hi] within 0..15, got {bits}")
    name = r.get("name", str, "")
    if name:
        _check_name(name, path, r.where("name"))
    aliases = r.get("aliases", dict, {})
    if not all(isinstance(v, int) for v in aliases.values()):
        raise ConfigError(path, r.where("aliases"), "alias codes are integers")
    return BitField(
        lo=bits[0], hi=bits[1], name=name, enum=r.codes("enum"), other=r.get("other", str, ""),
        faults=r.codes("faults"), faults_other=r.get("faults_other", str, ""),
        fallback=r.get("fallback", bool, False), encode_from=r.get("encode_from", str, ""),
        aliases=MappingProxyType(dict(aliases)), constant=r.get("constant", int, None),
        sign_magnitude=r.get("sign_magnitude", bool, False),
    )


def _register(path: Path, key: str, table: Any, default_table: Table) -> MapRegister:
    r = _Reader(path, key, table, _REGISTER_KEYS)
    address = r.get("address", int)
    if not 0 <= address <= 0xFFFF:
        raise ConfigError(path, r.where("address"), f"out of range: {address}")
    words = r.get("words", int, 1)
    if words not in (1, 2):
        raise ConfigError(path, r.where("words"), "1 or 2")
    reg_table = r.get("table", str, default_table)
    if reg_table not in ("input", "holding"):
        raise ConfigError(path, r.where("table"), "'input' or 'holding'")
    fields = tuple(_field(path, f"{key}.field[{i}]", f)
                   for i, f in enumerate(r.get("field", list, [])))
    name = r.get("name", str, "")
    if bool(name) == bool(fields):
        raise ConfigError(path, key, "a register has a name or bit fields (not both)")
    if name:
        _check_name(name, path, r.where("name"))
    exp, negate = _exp_of(float(r.get("scale", (int, float), 1)), path, r.where("scale"))
    return MapRegister(
        address=address, name=name, table=reg_table, words=words, exp=exp, negate=negate,
        offset=float(r.get("offset", (int, float), 0.0)), signed=r.get("signed", bool, False),
        enum=r.codes("enum"), fields=fields,
    )


def load_map(path: str | Path) -> RegisterMap:
    """Load and check one map file.

    Raises
    ------
    ConfigError
        Unreadable TOML, an unknown key, a bad value, a name that is not in
        ``readings.QUANTITIES`` or registers that overlap; the message names
        the file and the key.
    """
    p = Path(path)
    data = load_toml(p)
    top = _Reader(p, "", data, {"device", "register"})
    dev = _Reader(p, "device", top.get("device", dict), _DEVICE_KEYS)
    name = dev.get("name", str)
    if name != p.stem:
        raise ConfigError(p, "device.name", f"must be the file name {p.stem!r}")
    table = dev.get("table", str, "input")
    if table not in ("input", "holding"):
        raise ConfigError(p, "device.table", "'input' or 'holding'")
    order = dev.get("word_order", str)
    if order not in ("low_first", "high_first"):
        raise ConfigError(p, "device.word_order", "'low_first' or 'high_first'")
    ranges = []
    for i, pair in enumerate(dev.get("ranges", list, [])):
        if (not isinstance(pair, list) or len(pair) not in (2, 3)
                or not all(isinstance(a, int) for a in pair[:2]) or pair[0] > pair[1]):
            raise ConfigError(p, f"device.ranges[{i}]", "expected [first, last(, table)]")
        ranges.append((pair[0], pair[1], pair[2] if len(pair) == 3 else table))
    registers = sorted(
        (_register(p, f"register[{i}]", t, table)
         for i, t in enumerate(top.get("register", list))),
        key=lambda reg: reg.address,
    )
    used: dict[tuple[str, int], int] = {}
    for reg in registers:
        for a in range(reg.address, reg.address + reg.words):
            if (reg.table, a) in used:
                raise ConfigError(p, "register", f"address {a:#06x} is mapped twice")
            used[reg.table, a] = reg.address
    return RegisterMap(
        name=name, description=dev.get("description", str), source=dev.get("source", str),
        manufacturer=dev.get("manufacturer", str), baudrate=dev.get("baudrate", int),
        unit=dev.get("unit", int, 1), word_order=order,
        registers=tuple(registers), ranges=tuple(ranges), max_gap=dev.get("max_gap", int, 0),
        max_block=dev.get("max_block", int, 125), path=p,
    )


def load_maps(directory: Path = MAPS_DIR) -> dict[str, RegisterMap]:
    """Every ``*.toml`` map in ``directory``, by name (sorted)."""
    return {p.stem: load_map(p) for p in sorted(directory.glob("*.toml"))}
