"""Sans-IO framing of Voltronic PI30 replies and requests.

Re-exported by :mod:`firmware_bridge.protocols.pi30`, the package it belongs to.

Reply: ``(`` + ASCII payload + CRC-16/XMODEM (2 bytes, high first, over ``(`` and
the payload) + CR. The framer accepts each CRC byte raw or escaped (+1 when the
true byte is 0x28, 0x0D, 0x0A or 0x00), a raw CR as a CRC byte when the real
terminator follows at once, a trailing LF (and HID zero padding) between
replies, and ``(NAK`` without a CRC. Bad replies are counted and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware_bridge.checksums import pi30_crc_bytes, pi30_crc_matches
from firmware_bridge.errors import ChecksumError, FrameError

__all__ = ["Pi30Framer", "Pi30Reply", "RequestFramer", "build_request", "parse_request"]

_MAX_REPLY = 512  # the longest PI30 reply (QPIRI on MAX models) is ~110 bytes
_MAX_REQUEST = 64
_FILLER = frozenset(b"\r\n\x00")


@dataclass(frozen=True, slots=True)
class Pi30Reply:
    """One framed reply.

    Attributes
    ----------
    payload : str
        The ASCII text between ``(`` and the CRC (``"NAK"`` for a NAK).
    raw : bytes
        The reply bytes from ``(`` through the CRC (without CR).
    """

    payload: str
    raw: bytes

    @property
    def nak(self) -> bool:
        """The device refused the command (unknown command, bad CRC, bad value)."""
        return self.payload == "NAK"

    @property
    def ack(self) -> bool:
        """The device accepted a setting command."""
        return self.payload == "ACK"


class Pi30Framer:
    """Cut a byte stream into :class:`Pi30Reply` objects; never raises.

    Counters: ``replies_ok`` (NAKs included), ``naks``, ``crc_errors``,
    ``format_errors``, ``garbage_bytes``, ``overflows``.
    """

    def __init__(self) -> None:
        self.replies_ok = 0
        self.naks = 0
        self.crc_errors = 0
        self.format_errors = 0
        self.garbage_bytes = 0
        self.overflows = 0
        self._buf = bytearray()

    @property
    def frames_ok(self) -> int:
        """Replies delivered (including NAKs)."""
        return self.replies_ok

    @property
    def frames_bad(self) -> int:
        """Replies dropped for a CRC or format error."""
        return self.crc_errors + self.format_errors

    def reset(self) -> None:
        """Drop stale input (call before sending each command)."""
        self.garbage_bytes += sum(1 for b in self._buf if b not in _FILLER)
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Pi30Reply]:
        """Consume ``data`` and return the replies it completed."""
        buf = self._buf
        buf += data
        out: list[Pi30Reply] = []
        while buf:
            start = buf.find(b"(")
            if start != 0:
                self._drop(start if start > 0 else len(buf))
                if start < 0:
                    break
            cr = buf.find(b"\r", 1)
            if cr < 0:
                if len(buf) > _MAX_REPLY:
                    self.overflows += 1
                    nxt = buf.find(b"(", 1)
                    self._drop(nxt if nxt > 0 else len(buf))
                    continue
                break
            consumed = self._take(bytes(buf[:cr]), bytes(buf[cr + 1 : cr + 4]), out)
            del buf[: cr + 1 + consumed]
        return out

    def _drop(self, count: int) -> None:
        self.garbage_bytes += sum(1 for b in self._buf[:count] if b not in _FILLER)
        del self._buf[:count]

    def _take(self, frame: bytes, ahead: bytes, out: list[Pi30Reply]) -> int:
        """Check ``frame`` ('(' ... CRC); return how many bytes of ``ahead`` it also used."""
        if frame == b"(NAK":
            self._deliver("NAK", frame, out)
            return 0
        if _crc_ok(frame):
            self._deliver_checked(frame, out)
            return 0
        # A raw 0x0D CRC byte ended the frame early; the real CR follows within 2 bytes.
        if ahead[:1] == b"\r" and _crc_ok(frame + b"\r"):
            self._deliver_checked(frame + b"\r", out)
            return 1
        if ahead[1:2] == b"\r" and _crc_ok(frame + b"\r" + ahead[:1]):
            self._deliver_checked(frame + b"\r" + ahead[:1], out)
            return 2
        inner = frame.find(b"(", 1)
        while inner > 0:  # stale bytes of a truncated reply before a fresh one
            if _crc_ok(frame[inner:]):
                self.garbage_bytes += inner
                self._deliver_checked(frame[inner:], out)
                return 0
            inner = frame.find(b"(", inner + 1)
        self.crc_errors += 1
        return 0

    def _deliver_checked(self, frame: bytes, out: list[Pi30Reply]) -> None:
        body = frame[1:-2]
        if not body.isascii() or not body.decode("ascii").isprintable():
            self.format_errors += 1
            return
        self._deliver(body.decode("ascii"), frame, out)

    def _deliver(self, payload: str, frame: bytes, out: list[Pi30Reply]) -> None:
        reply = Pi30Reply(payload, frame)
        self.replies_ok += 1
        self.naks += reply.nak
        out.append(reply)


def _crc_ok(frame: bytes) -> bool:
    return len(frame) >= 3 and pi30_crc_matches(frame[:-2], frame[-2:])


def build_request(command: str) -> bytes:
    """Request bytes: ``command`` + CRC (escaped) + CR, e.g. ``QPIGS`` -> ``QPIGS\\xb7\\xa9\\r``."""
    raw = command.encode("ascii")
    return raw + pi30_crc_bytes(raw) + b"\r"


def parse_request(data: bytes) -> str:
    """The command of one request (with or without its CR, with or without a trailing LF).

    Raises
    ------
    FrameError
        Too short, or the command is not printable ASCII.
    ChecksumError
        The CRC does not match (raw or escaped).
    """
    data = data.rstrip(b"\n").removesuffix(b"\r").lstrip(b"\r\n\x00")
    if len(data) < 3:
        raise FrameError(f"PI30 request too short: {data!r}")
    command, crc = data[:-2], data[-2:]
    if not command.isascii() or not command.decode("ascii").isprintable():
        raise FrameError(f"PI30 request is not ASCII: {data!r}")
    if not pi30_crc_matches(command, crc):
        raise ChecksumError(f"PI30 request CRC mismatch: {data!r}")
    return command.decode("ascii")


class RequestFramer:
    """Split the byte stream a simulator receives into request frames (without CR).

    A simulator feeds bytes and passes each frame to :func:`parse_request`.
    Leading LF / NUL bytes (USB-HID padding) are dropped; runaway input without a
    CR is discarded beyond 64 bytes.
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Complete requests in ``data`` (each without its CR)."""
        buf = self._buf
        buf += data
        out = []
        while (cr := buf.find(b"\r")) >= 0:
            frame = bytes(buf[:cr]).lstrip(b"\n\x00")
            del buf[: cr + 1]
            if frame:
                out.append(frame)
        if len(buf) > _MAX_REQUEST:
            del buf[:]
        return out
