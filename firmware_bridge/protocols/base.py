"""Types shared by the protocol modules.

Responsible for: the :class:`Framer` typing protocol every sans-IO framer
satisfies, the :class:`ProtocolSpec` registry record, the ``Values`` alias, and
the small scaling helpers the field tables use (``raw * 10**exp``).

Does NOT: do I/O, log, or know any vendor label.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal, Protocol, runtime_checkable

from firmware_bridge.readings import Value

__all__ = [
    "Framer",
    "ProtocolKind",
    "ProtocolSpec",
    "Values",
    "from_raw",
    "to_raw",
]

#: Decoder output: canonical name -> SI value (see :mod:`firmware_bridge.readings`).
Values = dict[str, Value]

ProtocolKind = Literal["streaming", "request-response", "modbus"]


@runtime_checkable
class Framer(Protocol):
    """A stateful, sans-IO splitter of a byte stream into frames.

    ``feed`` never raises on bad input: bad frames are counted and dropped.
    """

    @property
    def frames_ok(self) -> int:
        """Frames delivered so far."""
        ...

    @property
    def frames_bad(self) -> int:
        """Frames dropped (checksum or format) so far."""
        ...

    def feed(self, data: bytes) -> list[Any]:
        """Consume ``data``; return the complete, valid frames it finished."""
        ...

    def reset(self) -> None:
        """Forget any partial frame (after a timeout or a reconnect)."""
        ...


@dataclass(frozen=True, slots=True)
class ProtocolSpec:
    """One entry of :data:`firmware_bridge.protocols.PROTOCOLS`.

    Attributes
    ----------
    name : str
        Registry key, also the ``protocol`` value in device config.
    baudrate : int
        Default line speed. [baud]
    kind : {'streaming', 'request-response', 'modbus'}
        How the device layer talks to it: listen only, send a request and
        frame the reply, or poll registers through pymodbus.
    module : ModuleType
        The protocol module (field tables, framer, decoders, encoders).
    make_framer : callable or None
        Builds a fresh framer; None for Modbus (pymodbus frames RTU).
    description : str
        One line for ``--help``.
    """

    name: str
    baudrate: int
    kind: ProtocolKind
    module: ModuleType
    make_framer: Callable[[], Framer] | None
    description: str


def from_raw(raw: int, exp: int) -> float | int:
    """``raw * 10**exp``: an int for ``exp >= 0``, a correctly rounded float otherwise."""
    if exp >= 0:
        return raw * int(10**exp)
    return raw / int(10**-exp)


def to_raw(value: float, exp: int) -> int:
    """Inverse of :func:`from_raw`, rounded to the nearest integer."""
    if exp >= 0:
        return round(value / int(10**exp))
    return round(value * int(10**-exp))
