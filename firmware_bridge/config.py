"""Configuration the bridge owns: the strict TOML loader, device entries and ids.

Responsible for: turning a TOML table into frozen, typed dataclasses and
rejecting anything unexpected (unknown keys, wrong types, missing required
keys) with a :class:`ConfigError` that names the file and the dotted key;
:class:`DeviceConfig`, one serial device to poll; :func:`check_id`, the one
rule for ids that appear in topics (sites, gateways, devices).

Does NOT: read environment variables, hold module-level state, or know what
the values mean beyond their types (validation of ranges lives in
``__post_init__`` of each dataclass). Must not import ``edge`` or ``trainer``.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["ID_PATTERN", "ConfigError", "DeviceConfig", "check_id", "from_mapping", "load_toml"]

T = TypeVar("T")

#: What an id that appears in MQTT topics may be: ASCII letters, digits, ``_`` and ``-``.
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]+")


def check_id(value: str, what: str = "id") -> str:
    """Return ``value`` if it is a valid id, else raise ``ValueError``.

    Site, gateway and device ids become MQTT topic levels and Home Assistant
    identifiers, so they are ASCII ``[A-Za-z0-9_-]``, non-empty: no ``/``,
    ``+``, ``#`` or any other character a topic or an entity id cannot hold.

    Parameters
    ----------
    value : str
        The id.
    what : str
        Its name in the error message.
    """
    if not isinstance(value, str) or ID_PATTERN.fullmatch(value) is None:
        raise ValueError(f"{what} {value!r} must be non-empty [A-Za-z0-9_-]")
    return value


class ConfigError(ValueError):
    """A configuration file is unreadable or does not match its schema.

    Parameters
    ----------
    path : str
        The file the error is in.
    key : str
        Dotted key path of the offending value (``""`` for the whole file).
    message : str
        What is wrong.
    """

    def __init__(self, path: str | Path, key: str, message: str) -> None:
        self.path = str(path)
        self.key = key
        self.message = message
        where = f"{self.path}: {key}: " if key else f"{self.path}: "
        super().__init__(where + message)


# --------------------------------------------------------------------------
# generic strict loader
# --------------------------------------------------------------------------


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file, raising :class:`ConfigError` naming the file."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(p, "", "file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(p, "", f"invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(p, "", f"cannot read: {exc}") from None


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp)


def _convert(value: Any, tp: Any, path: str | Path, key: str) -> Any:
    """Check ``value`` against annotation ``tp`` and convert where lossless."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for alt in args:
            if alt is type(None):
                if value is None:
                    return None
                continue
            try:
                return _convert(value, alt, path, key)
            except ConfigError as exc:
                errors.append(exc.message)
        raise ConfigError(path, key, "; ".join(errors) or "value not allowed")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(path, key, f"must be one of {list(args)!r}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, Mapping):
            raise ConfigError(path, key, f"expected a table, got {type(value).__name__}")
        return from_mapping(tp, value, path=path, prefix=key)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(path, key, f"expected an array, got {type(value).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(
                _convert(v, args[0], path, f"{key}[{i}]") for i, v in enumerate(value)
            )
        if len(args) != len(value):
            raise ConfigError(path, key, f"expected {len(args)} items, got {len(value)}")
        return tuple(
            _convert(v, a, path, f"{key}[{i}]")
            for i, (v, a) in enumerate(zip(args, value, strict=True))
        )
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(path, key, f"expected a number, got {type(value).__name__}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, key, f"expected an integer, got {type(value).__name__}")
        return value
    if tp in (str, bool):
        if not isinstance(value, tp):
            raise ConfigError(
                path, key, f"expected {_type_name(tp)}, got {type(value).__name__}"
            )
        return value
    raise ConfigError(path, key, f"unsupported field type {_type_name(tp)}")


def from_mapping(
    cls: type[T], data: Mapping[str, Any], *, path: str | Path = "<config>", prefix: str = ""
) -> T:
    """Build frozen dataclass ``cls`` from ``data``, rejecting unknown keys.

    Parameters
    ----------
    cls : type
        A dataclass type whose field annotations drive the checks.
    data : mapping
        Parsed TOML table.
    path : str or Path
        File name used in error messages.
    prefix : str
        Dotted key of ``data`` within the file, for error messages.

    Raises
    ------
    ConfigError
        On an unknown key, a missing required key, a wrong type, or a value
        that the dataclass's ``__post_init__`` rejects with ``ValueError``.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    dotted = (prefix + ".") if prefix else ""
    unknown = sorted(set(data) - set(fields))
    if unknown:
        allowed = ", ".join(sorted(fields))
        raise ConfigError(path, dotted + unknown[0], f"unknown key (allowed: {allowed})")
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        if name not in data:
            required = (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            )
            if required:
                raise ConfigError(path, dotted + name, "required key is missing")
            continue
        kwargs[name] = _convert(data[name], hints[name], path, dotted + name)
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise ConfigError(path, prefix, str(exc)) from None





# --------------------------------------------------------------------------
# a serial device entry
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceConfig:
    """One serial device to poll.

    Attributes
    ----------
    id : str
        Device identifier used in readings and topics (``[a-z0-9_-]``).
    protocol : str
        A key of ``firmware_bridge.protocols.PROTOCOLS``.
    port : str
        pyserial URL: ``/dev/ttyUSB0``, ``/dev/serial/by-id/...``,
        ``socket://host:port``, ``loop://``.
    poll_interval : float
        Seconds between polls (streaming protocols: between read
        windows). [s]
    baudrate : int
        0 means the protocol's default.
    timeout : float
        Reply timeout per request. [s]
    """

    id: str
    protocol: str
    port: str
    poll_interval: float = 1.0
    baudrate: int = 0
    timeout: float = 2.0

    def __post_init__(self) -> None:
        check_id(self.id)
        if self.poll_interval <= 0:
            raise ValueError("poll_interval must be positive")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")


# --------------------------------------------------------------------------
