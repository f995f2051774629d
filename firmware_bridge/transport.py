"""Serial ports by pyserial URL and USB-HID ports, with every failure a bridge error.

Responsible for: opening ``/dev/ttyUSB0``, ``/dev/serial/by-id/...``,
``/dev/pts/N``, ``socket://host:port`` and ``loop://`` through
:func:`serial.serial_for_url` at the protocol's line settings; opening the
USB-HID port of an Axpert-family inverter (``hid:///dev/hidraw0``, or any path
that resolves to ``/dev/hidrawN``) as a :class:`HidrawPort` that writes 8-byte
reports padded with zeros and reads 8-byte reports; and reading with
deadlines (``read_until`` a terminator, ``read_for`` a window).
:func:`open_port` picks the kind from the URL.
pyserial raises ``SerialException``, ``OSError`` and, for some drivers,
``termios.error`` when an adapter vanishes; :class:`SerialPort` turns all of
them into :class:`~firmware_bridge.errors.DeviceUnavailable` so the device
layer has one thing to catch.

Does NOT: retry, reconnect, log or parse: that is :mod:`firmware_bridge.device`.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import stat
import termios
import time
from collections.abc import Callable
from typing import Protocol

import serial

from firmware_bridge.errors import DeviceUnavailable

__all__ = [
    "HID_REPORT_SIZE",
    "HidrawPort",
    "Port",
    "SerialLike",
    "SerialPort",
    "hid_path",
    "open_hidraw",
    "open_port",
    "open_serial",
]

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


class _DeadlineReads:
    """``read_for`` and ``read_until`` on top of a port's ``read_some`` (one copy for all)."""

    timeout: float
    _monotonic: Callable[[], float]

    def read_some(self, max_wait: float = _SLICE) -> bytes:
        """What arrives within ``max_wait`` (at most one read slice)."""
        raise NotImplementedError

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


class SerialPort(_DeadlineReads):
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

    def close(self) -> None:
        """Close the port; never raises."""
        with contextlib.suppress(*_FAULTS):
            self.raw.close()


# ------------------------------------------------------------------ USB-HID

#: Size of the HID reports of Voltronic inverters' USB port (Cypress 0665:5161). [bytes]
HID_REPORT_SIZE = 8
#: Pause between the reports of one request (mpp-solar's hidraw reader does the same) [s]
HID_WRITE_GAP = 0.05
_HID_SCHEME = "hid://"
_MAX_REPORTS_PER_READ = 64


class Port(Protocol):
    """What the drivers use of an open port (:class:`SerialPort`, :class:`HidrawPort`)."""

    url: str

    def write(self, data: bytes) -> None: ...

    def flush_input(self) -> bytes: ...

    def pending(self) -> int: ...

    def read_some(self, max_wait: float = _SLICE) -> bytes: ...

    def read_for(self, window: float, stop: Callable[[bytes], bool] | None = None) -> bytes: ...

    def read_until(self, terminator: bytes, timeout: float | None = None) -> bytes: ...

    def close(self) -> None: ...


def hid_path(url: str) -> str | None:
    """The device path of ``url`` when it names a USB-HID port, else None.

    ``hid:///dev/hidraw0`` -> ``/dev/hidraw0``; a path whose real path is a
    ``/dev/hidrawN`` node (a udev symlink such as ``/dev/axpert``) is HID too.
    """
    if url.startswith(_HID_SCHEME):
        return url[len(_HID_SCHEME):]
    if url.startswith("/") and os.path.basename(os.path.realpath(url)).startswith("hidraw"):
        return url
    return None


def open_port(url: str, *, baudrate: int, timeout: float = 1.0) -> SerialPort | HidrawPort:
    """A :class:`HidrawPort` for a HID URL or path, else a serial port (:func:`open_serial`).

    Raises
    ------
    DeviceUnavailable
        When the port does not exist or cannot be opened.
    """
    path = hid_path(url)
    if path is not None:
        return open_hidraw(path, url=url, timeout=timeout)
    return open_serial(url, baudrate=baudrate, timeout=timeout)


def open_hidraw(path: str, *, url: str | None = None, timeout: float = 1.0) -> HidrawPort:
    """Open a hidraw node read-write and non-blocking.

    A Unix ``SOCK_SEQPACKET`` socket at ``path`` is accepted as a stand-in for
    the node (it keeps report boundaries as hidraw does); the simulators serve
    one.

    Raises
    ------
    DeviceUnavailable
        No such node, no permission (see docs/hardware.md for the udev rule),
        or the stand-in refuses.
    """
    url = url or f"{_HID_SCHEME}{path}"
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                sock.connect(path)
            except OSError:
                sock.close()
                raise
            sock.setblocking(False)
            return HidrawPort(os.dup(sock.detach()), url=url, timeout=timeout)
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise DeviceUnavailable(f"cannot open {url}: {exc}") from exc
    return HidrawPort(fd, url=url, timeout=timeout)


class HidrawPort(_DeadlineReads):
    """A USB-HID port: writes 8-byte reports padded with zeros, reads 8-byte reports.

    Same reading methods as :class:`SerialPort`; the zero padding of the last
    report of a reply is passed on (the PI30 framer skips it between replies).

    Parameters
    ----------
    fd : int
        Open, non-blocking file descriptor of the node (owned: closed by :meth:`close`).
    url : str
        For messages.
    timeout : float
        Default deadline of :meth:`read_until`. [s]
    write_gap : float
        Pause between the reports of one write. [s]
    monotonic, sleep : callable
        Clock for deadlines and the pause. [s]
    """

    def __init__(
        self,
        fd: int,
        *,
        url: str,
        timeout: float = 1.0,
        write_gap: float = HID_WRITE_GAP,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.fd: int | None = fd
        self.url = url
        self.timeout = timeout
        self.write_gap = write_gap
        self._monotonic = monotonic
        self._sleep = sleep

    def _fail(self, what: str, exc: BaseException) -> DeviceUnavailable:
        return DeviceUnavailable(f"{self.url}: {what} failed: {exc}")

    def _fd(self) -> int:
        if self.fd is None:
            raise DeviceUnavailable(f"{self.url}: closed")
        return self.fd

    def write(self, data: bytes) -> None:
        """Write ``data`` as 8-byte reports, the last padded with zeros."""
        fd = self._fd()
        for start in range(0, len(data), HID_REPORT_SIZE):
            report = data[start:start + HID_REPORT_SIZE].ljust(HID_REPORT_SIZE, b"\0")
            if start:
                self._sleep(self.write_gap)
            try:
                written = os.write(fd, report)
            except OSError as exc:
                raise self._fail("write", exc) from exc
            if written != HID_REPORT_SIZE:
                raise DeviceUnavailable(f"{self.url}: short report write ({written} bytes)")

    def _ready(self, wait: float) -> bool:
        try:
            readable, _, _ = select.select([self._fd()], [], [], wait)
        except (OSError, ValueError) as exc:
            raise self._fail("select", exc) from exc
        return bool(readable)

    def _read_reports(self, wait: float) -> bytes:
        out = bytearray()
        if not self._ready(wait):
            return b""
        for _ in range(_MAX_REPORTS_PER_READ):
            try:
                report = os.read(self._fd(), HID_REPORT_SIZE)
            except BlockingIOError:
                break
            except OSError as exc:
                raise self._fail("read", exc) from exc
            if not report:  # the node (or the stand-in) went away
                raise DeviceUnavailable(f"{self.url}: device gone")
            out += report
            if not self._ready(0.0):
                break
        return bytes(out)

    def flush_input(self) -> bytes:
        """Discard (and return) the reports waiting now."""
        return self._read_reports(0.0)

    def pending(self) -> int:
        """1 when a report is waiting, else 0."""
        return int(self._ready(0.0))

    def read_some(self, max_wait: float = _SLICE) -> bytes:
        """The reports waiting, or those that arrive within one read slice (50 ms)."""
        return self._read_reports(min(max_wait, _SLICE))

    def close(self) -> None:
        """Close the node; never raises."""
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None
