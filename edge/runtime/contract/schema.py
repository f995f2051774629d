"""Reading a body by its schema: type hints of frozen dataclasses as the checks.

Responsible for: :class:`Schema` (``from_body``: the typed view, or a
:class:`~.payload.ContractError` naming the field's path) and the compiled, cached
readers per type and field metadata (ranges, patterns, text and entry caps).

Does NOT: define any stream (:mod:`.streams`).
"""

from __future__ import annotations

import functools
import math
import types
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, fields
from datetime import datetime
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from edge.runtime.contract.payload import (
    _MAX_ENTRIES,
    _MAX_KEY,
    _MAX_TEXT,
    MAX_SEQ,
    ContractError,
)
from firmware_bridge.timestamps import parse_utc

# ------------------------------------------------- reading a body by its schema
#
# Each stream's payload is one frozen dataclass below. Its type hints are the
# checks: ``str`` text (at most 4096 characters; ``pattern`` in the field's
# metadata), ``bool`` true/false, ``int`` an integer in the field's ``range``
# (default +-2**63-1), ``float`` a finite number (an integer stays an
# integer), ``datetime`` ISO 8601 with ``Z`` or an offset (read by
# ``parse_utc``: a naive time is refused), ``Literal`` one of its values,
# ``Mapping[str, X]`` an object of X, ``tuple[X, ...]`` a list of X (at most
# 10 000 entries), a nested dataclass an object of that shape, ``X | None``
# also null. A field with a default may be missing (or null); one without
# may not. Keys the schema does not name are ignored (newer senders).


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _describe(tp: Any, meta: Mapping[str, Any]) -> str:
    origin = get_origin(tp)
    if tp is type(None):
        return "null"
    if tp is bool:
        return "true or false"
    if tp is int:
        lo, hi = meta.get("range", (-MAX_SEQ, MAX_SEQ))
        return f"an integer in {lo}..{hi}"
    if tp is float:
        return "a finite number"
    if tp is str:
        return "text"
    if tp is datetime:
        return "an ISO 8601 time"
    if origin is Literal:
        names = [str(a) for a in get_args(tp)]
        return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]
    if origin in (Union, types.UnionType):
        return ", ".join(_describe(a, meta) for a in get_args(tp)).replace(", null", " or null")
    if origin is tuple:
        return "a list"
    return "an object"


#: Where a value sits in a body, built only when an error needs the text:
#: None (the body) or (parent, key or list index).
_Path = tuple[Any, str | int] | None
#: A compiled check: (value, where) -> the typed value, or ContractError.
_Reader = Callable[[Any, _Path], Any]


def _where(path: _Path) -> str:
    parts: list[str] = []
    while path is not None:
        path, key = path
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key[:40]}")
    return "".join(reversed(parts)).lstrip(".")


def _fail(path: _Path, tp: Any, value: Any, meta: Mapping[str, Any]) -> ContractError:
    return ContractError(f"{_where(path)} must be {_describe(tp, meta)}, got {_show(value)}")


_READERS: dict[tuple[Any, ...], _Reader] = {}


def _reader(tp: Any, meta: Mapping[str, Any]) -> _Reader:
    """The check of type ``tp`` (see above), compiled once per type and metadata."""
    key = (tp, *sorted(meta.items(), key=lambda kv: kv[0]))
    reader = _READERS.get(key)
    if reader is None:
        reader = _READERS[key] = _compile(tp, meta)
    return reader


def _compile(tp: Any, meta: Mapping[str, Any]) -> _Reader:
    if tp is Any:
        return lambda v, _p: v
    if tp is str:
        pattern = meta.get("pattern")

        def text(v: Any, p: _Path) -> Any:
            if not isinstance(v, str) or len(v) > _MAX_TEXT:
                raise _fail(p, tp, v, meta)
            if pattern is not None and not pattern.fullmatch(v):
                raise ContractError(f"{_where(p)} must be {meta['pattern_text']}, got {_show(v)}")
            return v
        return text
    if tp is bool:
        def boolean(v: Any, p: _Path) -> Any:
            if v is True or v is False:
                return v
            raise _fail(p, tp, v, meta)
        return boolean
    if tp is int:
        lo, hi = meta.get("range", (-MAX_SEQ, MAX_SEQ))

        def integer(v: Any, p: _Path) -> Any:
            if type(v) is not int or not lo <= v <= hi:
                raise _fail(p, tp, v, meta)
            return v
        return integer
    if tp is float:
        def number(v: Any, p: _Path) -> Any:
            t = type(v)
            if (t is float and math.isfinite(v)) or (t is int and -MAX_SEQ <= v <= MAX_SEQ):
                return v
            raise _fail(p, tp, v, meta)
        return number
    if tp is datetime:
        def time(v: Any, p: _Path) -> Any:
            if not isinstance(v, str) or len(v) > 64:
                raise _fail(p, tp, v, meta)
            try:
                stamp = parse_utc(v)
                stamp.timestamp()
            except (ValueError, OverflowError, OSError) as exc:
                raise ContractError(f"{_where(p)} must be an ISO 8601 time with Z or an offset"
                                    f" ({exc})") from None
            return stamp
        return time
    origin = get_origin(tp)
    if origin is Literal:
        allowed = frozenset(get_args(tp))

        def one_of(v: Any, p: _Path) -> Any:
            if isinstance(v, bool) or not isinstance(v, str | int) or v not in allowed:
                raise _fail(p, tp, v, meta)
            return v
        return one_of
    if origin in (Union, types.UnionType):
        nullable = type(None) in get_args(tp)
        alts = [_reader(a, meta) for a in get_args(tp) if a is not type(None)]
        if len(alts) == 1:
            only = alts[0]

            def optional(v: Any, p: _Path) -> Any:
                return None if v is None else only(v, p)
            return optional

        def either(v: Any, p: _Path) -> Any:
            if v is None and nullable:
                return None
            for alt in alts:
                try:
                    return alt(v, p)
                except ContractError:
                    continue
            raise _fail(p, tp, v, meta)
        return either
    if origin is tuple:
        item = _reader(get_args(tp)[0], {})

        def items(v: Any, p: _Path) -> Any:
            if not isinstance(v, list) or len(v) > _MAX_ENTRIES:
                raise _fail(p, tp, v, meta)
            return tuple(item(x, (p, i)) for i, x in enumerate(v))
        return items
    if origin is Mapping:
        value_type = get_args(tp)[1]
        entry = None if value_type is Any else _reader(value_type, {})

        def entries(v: Any, p: _Path) -> Any:
            if not isinstance(v, dict):
                raise _fail(p, tp, v, meta)
            if len(v) > _MAX_ENTRIES:
                raise ContractError(f"{_where(p)} has {len(v)} entries")
            for k in v:
                if len(k) > _MAX_KEY:  # JSON object keys are always text
                    raise ContractError(f"{_where(p)} has a key of {len(k)} characters "
                                        f"(at most {_MAX_KEY}): {_show(k)}")
            if entry is None:
                return v
            return {k: entry(x, (p, k)) for k, x in v.items()}
        return entries
    if isinstance(tp, type) and issubclass(tp, Schema):
        return tp._read
    raise TypeError(f"no reader for {tp!r}")  # a schema written wrong, not a bad message


_ABSENT = object()


@dataclass(frozen=True, slots=True)
class _Slot:
    """How one field of a schema is read (cached per schema class)."""

    name: str
    hint: Any
    meta: Mapping[str, Any]
    read: _Reader
    default: Callable[[], Any] | None  # None: required


_PLANS: dict[type, tuple[_Slot, ...]] = {}
_NAMES: dict[type, frozenset[str]] = {}


def _plan(cls: type) -> tuple[_Slot, ...]:
    plan = _PLANS.get(cls)
    if plan is None:
        hints = get_type_hints(cls)
        slots = []
        for f in fields(cls):  # type: ignore[arg-type]
            if f.default is not MISSING:
                default: Callable[[], Any] | None = functools.partial(_same, f.default)
            elif f.default_factory is not MISSING:
                default = f.default_factory
            else:
                default = None
            hint = hints[f.name]
            slots.append(_Slot(f.name, hint, f.metadata, _reader(hint, f.metadata), default))
        plan = _PLANS[cls] = tuple(slots)
    return plan


def _same(value: Any) -> Any:
    return value


_S = TypeVar("_S", bound="Schema")


class Schema:
    """Base of the payload schemas: :meth:`from_body` reads a decoded body into one."""

    __slots__ = ()

    @classmethod
    def field_names(cls) -> frozenset[str]:
        """The payload keys this schema names."""
        names = _NAMES.get(cls)
        if names is None:
            names = _NAMES[cls] = frozenset(slot.name for slot in _plan(cls))
        return names

    @classmethod
    def from_body(cls: type[_S], body: Any) -> _S:
        """The typed view of ``body``.

        Raises
        ------
        ContractError
            Naming the first field (with its path, e.g.
            ``forecasts[0].pv_power.p50``) that breaks the schema.
        """
        return cls._read(body, None)

    @classmethod
    def _read(cls: type[_S], body: Any, path: _Path) -> _S:
        if not isinstance(body, dict):
            raise ContractError(f"{_where(path) or 'payload'} must be an object,"
                                f" got {_show(body)}")
        values: dict[str, Any] = {}
        for slot in _plan(cls):
            value = body.get(slot.name, _ABSENT)
            if slot.default is not None and (value is _ABSENT or value is None):
                values[slot.name] = slot.default()
            elif value is _ABSENT:
                must = _describe(slot.hint, slot.meta)
                raise ContractError(f"{_where((path, slot.name))} is missing (must be {must})")
            else:
                values[slot.name] = slot.read(value, (path, slot.name))
        return cls(**values)


