"""Serial ports by pyserial URL, with every failure turned into a bridge error.

Responsible for: opening ``/dev/ttyUSB0``, ``/dev/serial/by-id/...``,
``/dev/pts/N``, ``socket://host:port`` and ``loop://`` through
:func:`serial.serial_for_url` at the protocol's line settings, and reading
with deadlines (``read_until`` a terminator, ``read_for`` a window).
pyserial raises ``SerialException``, ``OSError`` and, for some drivers,
``termios.error`` when an adapter vanishes; :class:`SerialPort` turns all of
them into :class:`~firmware_bridge.errors.DeviceUnavailable` so the device
layer has one thing to catch.

Does NOT: retry, reconnect, log or parse: that is :mod:`firmware_bridge.device`.
"""

from __future__ import annotations

import contextlib
import termios
import time
from collections.abc import Callable
from typing import Protocol

import serial

from firmware_bridge.errors import DeviceUnavailable

__all__ = ["SerialLike", "SerialPort", "open_serial"]

#: read granularity inside a deadline: short enough to notice a frame quickly [s]
_SLICE = 0.05
_FAULTS = (serial.SerialException, OSError, termios.error, ValueError, TypeError)


class SerialLike(Protocol):
    """The part of ``serial.SerialBase`` the bridge uses."""

    timeout: float | None

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes) -> int | None: ...

    def reset_input_buffer(self) -> None: ...

    def close(self) -> None: ...

    @property
    def in_waiting(self) -> int: ...


def open_serial(url: str, *, baudrate: int, timeout: float = 1.0) -> SerialPort:
    """Open ``url`` at ``baudrate`` 8N1 without flow control.

    Parameters
    ----------
    url : str
        A device path or a pyserial URL (``socket://host:port``, ``loop://``).
    baudrate : int
        Line speed. [baud]
    timeout : float
        Default read and write timeout. [s]

    Raises
    ------
    DeviceUnavailable
        When the port does not exist or cannot be opened.
    """
    try:
        raw = serial.serial_for_url(
            url,
            baudrate=baudrate,
            bytesize=serial.EIGHTBITS,
            parity=serial.PARITY_NONE,
            stopbits=serial.STOPBITS_ONE,
            timeout=_SLICE,
            write_timeout=timeout,
        )
    except _FAULTS as exc:
        raise DeviceUnavailable(f"cannot open {url}: {exc}") from exc
    return SerialPort(raw, url=url, timeout=timeout)


class SerialPort:
    """An open port with deadline-based reads; every fault is ``DeviceUnavailable``.

    Parameters
    ----------
    raw : SerialLike
        The pyserial object (or anything with the same methods).
    url : str
        For messages.
    timeout : float
        Default deadline of :meth:`read_until`. [s]
    monotonic : callable
        Clock for deadlines. [s]
    """

    def __init__(
        self,
        raw: SerialLike,
        *,
        url: str,
        timeout: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.raw = raw
        self.url = url
        self.timeout = timeout
        self._monotonic = monotonic

    def _fail(self, what: str, exc: BaseException) -> DeviceUnavailable:
        return DeviceUnavailable(f"{self.url}: {what} failed: {exc}")

    def write(self, data: bytes) -> None:
        """Write all of ``data``."""
        try:
            self.raw.write(data)
        except _FAULTS as exc:
            raise self._fail("write", exc) from exc

    def flush_input(self) -> bytes:
        """Discard (and return) whatever is waiting in the input buffer."""
        try:
            waiting = self.raw.in_waiting
            stale = self.raw.read(waiting) if waiting else b""
            self.raw.reset_input_buffer()
        except _FAULTS as exc:
            raise self._fail("flush", exc) from exc
        return stale

    def pending(self) -> int:
        """Bytes waiting in the input buffer (at least 1 on sockets with data)."""
        try:
            return int(self.raw.in_waiting)
        except _FAULTS as exc:
            raise self._fail("in_waiting", exc) from exc

    def read_some(self, max_wait: float = _SLICE) -> bytes:
        """What is waiting, or what arrives within one read slice (``_SLICE``, 50 ms).

        The port's read timeout stays at the slice (changing it makes pyserial
        re-read the termios settings on every call); callers loop until their
        deadline, so ``max_wait`` only documents the caller's intent.
        """
        try:
            waiting = self.raw.in_waiting
            return self.raw.read(max(waiting, 1))
        except _FAULTS as exc:
            raise self._fail("read", exc) from exc

    def read_for(self, window: float, stop: Callable[[bytes], bool] | None = None) -> bytes:
        """Read for up to ``window`` seconds, or until ``stop(chunk)`` is true."""
        deadline = self._monotonic() + window
        out = bytearray()
        while (left := deadline - self._monotonic()) > 0:
            chunk = self.read_some(left)
            out += chunk
            if chunk and stop is not None and stop(chunk):
                break
        return bytes(out)

    def read_until(self, terminator: bytes, timeout: float | None = None) -> bytes:
        """Read until ``terminator`` is seen or the deadline passes; returns what came."""
        return self.read_for(
            self.timeout if timeout is None else timeout, stop=lambda c: terminator in c
        )

    def close(self) -> None:
        """Close the port; never raises."""
        with contextlib.suppress(*_FAULTS):
            self.raw.close()
