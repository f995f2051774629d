"""Types shared by the protocol modules.

Responsible for: the :class:`Framer` typing protocol every sans-IO framer
satisfies, the :class:`ProtocolSpec` registry record (with the import paths of
its driver and simulator session factories, resolved on first use), the
``Values`` alias, and the small scaling helpers the field tables use
(``raw * 10**exp``).

Does NOT: do I/O, log, or know any vendor label. It imports no driver or
simulator module: a spec names them as ``"package.module:attribute"`` strings
and :meth:`ProtocolSpec.driver_factory` / :meth:`ProtocolSpec.session_factory`
import them when a device or a simulator is made, so the registry stays
sans-IO and is complete (and checkable) without pyserial or pymodbus loaded.
"""

from __future__ import annotations

import importlib
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
    "resolve",
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
    manufacturer : str
        The brand shown for a device of this protocol (Home Assistant's
        device block); for PI30 the protocol family, since many brands sell it.
    driver : str
        Import path ``"module:attribute"`` of the driver factory, called as
        ``factory(spec, url, baudrate=, timeout=, device_id=, monotonic=,
        parallel_units=)`` (see :func:`firmware_bridge.drivers.make_driver`).
    simulator : str
        Import path of the simulator session factory, called as
        ``factory(spec, plant, faults, time_scale=, profile=)`` and returning a
        callable that makes one session per connection (see
        :func:`firmware_bridge.simulators.runner.start_simulator`).
    """

    name: str
    baudrate: int
    kind: ProtocolKind
    module: ModuleType
    make_framer: Callable[[], Framer] | None
    description: str
    manufacturer: str
    driver: str
    simulator: str

    def driver_factory(self) -> Callable[..., Any]:
        """The driver factory named by :attr:`driver` (imported now)."""
        factory: Callable[..., Any] = resolve(self.driver)
        return factory

    def session_factory(self) -> Callable[..., Any]:
        """The simulator session factory named by :attr:`simulator` (imported now)."""
        factory: Callable[..., Any] = resolve(self.simulator)
        return factory


def resolve(path: str) -> Any:
    """The object named by ``"package.module:attribute"``.

    Raises
    ------
    ImportError
        The module does not import.
    AttributeError
        The module has no such attribute.
    ValueError
        ``path`` has no ``:``.
    """
    module, sep, attribute = path.partition(":")
    if not sep or not module or not attribute:
        raise ValueError(f"import path wants 'module:attribute', got {path!r}")
    return getattr(importlib.import_module(module), attribute)


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
