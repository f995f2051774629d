"""Sans-IO framer for the VE.Direct text protocol with interleaved HEX frames.

Re-exported by :mod:`firmware_bridge.protocols.vedirect`; see there for the
wire format. The framer works on whole chunks with ``bytes.find`` rather than a
per-byte state machine, so a Raspberry Pi keeps up with many ports at once.

Rules it follows (VE.Direct Protocol 3.33 p. 5 and p. 17; parser bug history
in OpenDTU-OnBattery#174, VeDirectFrameHandler#15, emonhub#160):

* a block ends at the byte after ``Checksum<TAB>``, whatever that byte is;
* a ':' anywhere else starts a HEX frame, captured up to ``\\n`` and cut out of
  the text; a non-hex character aborts the capture (it was noise) and the text
  resumes at that character;
* a block runs from its first CR LF; bytes before it are counted as garbage;
* a block must be printable-ASCII ``\\r\\n<label>\\t<value>`` lines with no
  repeated label, and sum to 0 mod 256; otherwise it is counted and dropped
  whole. Two recoveries: when noise precedes well-formed lines, retry once
  from the first CR LF after the noise; when a label repeats (a block cut
  short by a stall ran into the next one), count the head as a checksum error
  and retry from where the repeats end (at most four checksum trials).
  Clean blocks take a fast path (a few C calls and one sum) that checks the first
  label for repeats: a merged head always starts with a label of the device's
  next block;
* buffers are bounded: a missing ``Checksum`` never grows memory.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

from firmware_bridge.checksums import vedirect_hex_ok
from firmware_bridge.errors import ChecksumError, FrameError

__all__ = ["HexFrame", "TextBlock", "VeDirectFramer"]

_CHECKSUM = b"Checksum\t"
_HEX_DIGITS = b"0123456789abcdefABCDEF"
_END = b"\r\n" + _CHECKSUM
_PRINTABLE = bytes(range(0x20, 0x7F))
_LINE_BYTES = _PRINTABLE + b"\r\n\t"  # what a block body may contain
_MAX_BLOCK = 2048  # 22 fields of at most 9 + 33 characters fit many times over
_MAX_HEX = 128  # longest real HEX frame is ~40 characters


class TextBlock(NamedTuple):
    """One checksum-valid text block (an immutable named tuple: cheap to create).

    Attributes
    ----------
    lines : tuple of str
        ``"<label>\t<value>"`` in the order sent, without the Checksum field.
    raw : bytes
        The block bytes from its first CR LF through the checksum byte (HEX frames removed).
    """

    lines: tuple[str, ...]
    raw: bytes

    @property
    def fields(self) -> tuple[tuple[str, str], ...]:
        """``(label, value)`` pairs in the order sent."""
        return tuple((label, value) for label, _, value in (x.partition("\t") for x in self.lines))

    def as_dict(self) -> dict[str, str]:
        """``{label: value}`` (a repeated label keeps its last value)."""
        return dict(self.fields)


@dataclass(frozen=True, slots=True)
class HexFrame:
    """One checksum-valid HEX frame.

    Attributes
    ----------
    command : int
        Command / response nibble (0xA for asynchronous frames).
    payload : bytes
        Data bytes after the nibble, without the check byte.
    raw : bytes
        The frame as received, ``:`` through the last hex digit (no ``\\n``).
    """

    command: int
    payload: bytes
    raw: bytes

    @property
    def register(self) -> int | None:
        """Register id of a get/set/async frame (little-endian), else None."""
        if self.command in (0x7, 0x8, 0xA) and len(self.payload) >= 3:
            return int.from_bytes(self.payload[:2], "little")
        return None

    @property
    def value(self) -> int | None:
        """Unsigned register value of a get/set/async frame (after the flags byte), else None."""
        if self.register is None or len(self.payload) < 4:
            return None
        return int.from_bytes(self.payload[3:], "little")


class VeDirectFramer:
    """Cut a VE.Direct byte stream into :class:`TextBlock` and :class:`HexFrame` objects.

    ``feed`` returns the text blocks it completed; HEX frames are queued and
    taken with :meth:`take_hex_frames` (the last 64 are kept).

    Counters (read-only attributes): ``blocks_ok``, ``checksum_errors``,
    ``format_errors`` (non-ASCII or malformed lines), ``hex_frames``,
    ``hex_errors``, ``garbage_bytes`` (bytes outside any frame), ``overflows``.
    """

    def __init__(self) -> None:
        self.blocks_ok = 0
        self.checksum_errors = 0
        self.format_errors = 0
        self.hex_frames = 0
        self.hex_errors = 0
        self.garbage_bytes = 0
        self.overflows = 0
        self._block = bytearray()
        self._hex: bytearray | None = None
        self._await_checksum = False
        self._hex_queue: deque[HexFrame] = deque(maxlen=64)

    @property
    def frames_ok(self) -> int:
        """Text blocks delivered (the architecture's common counter name)."""
        return self.blocks_ok

    @property
    def frames_bad(self) -> int:
        """Text blocks dropped for a bad checksum or format."""
        return self.checksum_errors + self.format_errors

    def reset(self) -> None:
        """Drop a partial block or HEX frame (call after a >500 ms gap mid-frame)."""
        self.garbage_bytes += len(self._block) + len(self._hex or b"")
        self._block = bytearray()
        self._hex = None
        self._await_checksum = False

    def take_hex_frames(self) -> list[HexFrame]:
        """The valid HEX frames received since the last call, oldest first."""
        frames = list(self._hex_queue)
        self._hex_queue.clear()
        return frames

    def feed(self, data: bytes) -> list[TextBlock]:
        """Consume ``data`` and return the text blocks it completed. Never raises."""
        out: list[TextBlock] = []
        pos, n = 0, len(data)
        while pos < n:
            if self._hex is not None:
                pos = self._feed_hex(data, pos)
            elif self._await_checksum:
                self._block.append(data[pos])
                pos += 1
                self._finish_block(bytes(self._block), out)
            else:
                pos = self._feed_text(data, pos, out)
        return out

    def _feed_text(self, data: bytes, pos: int, out: list[TextBlock]) -> int:
        found = data.find(_CHECKSUM, pos)
        colon = data.find(b":", pos, len(data) if found < 0 else found)
        if colon >= 0:
            found = -1  # a HEX frame comes first
        end = len(data) if colon < 0 else colon
        block = self._block
        mark = -1 if found < 0 else found + len(_CHECKSUM)  # index of the checksum byte
        if block and found != pos:  # the marker may straddle the previous feed
            head = bytes(block[-len(_CHECKSUM) + 1 :])
            j = (head + data[pos : min(end, pos + len(_CHECKSUM) - 1)]).find(_CHECKSUM)
            if j >= 0:
                mark = pos + j - len(head) + len(_CHECKSUM)
        if mark < 0:
            block += data[pos:end]
            if len(block) > _MAX_BLOCK:
                self._trim()
        else:  # the checksum byte may be the ':' at ``end``
            if mark >= len(data):
                block += data[pos:]
                self._await_checksum = True
                return len(data)
            if block:
                block += data[pos : mark + 1]
                self._finish_block(bytes(block), out)
            else:  # the common case: a whole block inside one chunk, no copy
                self._finish_block(data[pos : mark + 1], out)
            return mark + 1
        if colon < 0:
            return end
        self._hex = bytearray(b":")
        return colon + 1

    def _feed_hex(self, data: bytes, pos: int) -> int:
        hexbuf = self._hex
        assert hexbuf is not None
        limit = min(len(data), pos + _MAX_HEX + 1 - len(hexbuf))
        nl = data.find(b"\n", pos, limit)
        stop = limit if nl < 0 else nl
        chunk = data[pos:stop]
        if chunk.translate(None, _HEX_DIGITS):  # noise, not a HEX frame: resume text there
            bad = next(i for i, b in enumerate(chunk) if b not in _HEX_DIGITS)
            self.garbage_bytes += len(hexbuf) + bad
            self._hex = None
            return pos + bad
        hexbuf += chunk
        if len(hexbuf) > _MAX_HEX:
            self.garbage_bytes += len(hexbuf)
            self.hex_errors += 1
            self._hex = None
            return stop
        if nl < 0:
            return stop
        self._hex = None
        try:
            self._hex_queue.append(self.parse_hex(bytes(hexbuf)))
            self.hex_frames += 1
        except FrameError:
            self.hex_errors += 1
        return nl + 1

    @staticmethod
    def parse_hex(raw: bytes) -> HexFrame:
        """Parse ``:`` + nibble + hex pairs + check pair (no ``\\n``); raise on bad frames."""
        digits = raw[1:]
        if raw[:1] != b":" or len(digits) < 3 or len(digits) % 2 == 0:
            raise FrameError(f"malformed VE.Direct HEX frame {raw!r}")
        try:
            command = int(digits[:1], 16)
            body = bytes.fromhex(digits[1:].decode("ascii"))
        except ValueError as exc:
            raise FrameError(f"malformed VE.Direct HEX frame {raw!r}") from exc
        if not vedirect_hex_ok(command, body):
            raise ChecksumError(f"VE.Direct HEX frame check byte mismatch in {raw!r}")
        return HexFrame(command, body[:-1], raw)

    def _trim(self) -> None:
        """Keep only the tail of an over-long block from its last CR LF (or last 8 bytes)."""
        block = self._block
        cut = block.rfind(b"\r\n")
        if cut <= 0:
            cut = len(block) - len(_CHECKSUM) + 1
        self.garbage_bytes += cut
        self.overflows += 1
        del block[:cut]

    def _finish_block(self, buf: bytes, out: list[TextBlock]) -> None:
        """Check ``buf`` (everything since the last block, HEX cut out) and deliver it."""
        self._block = bytearray()
        self._await_checksum = False
        body = buf[2 : -3 - len(_CHECKSUM)]
        if (buf.startswith(b"\r\n") and buf.endswith(_END, 0, len(buf) - 1)
                and _clean_lines(body) and not sum(buf) & 0xFF
                and buf.count(buf[: buf.index(b"\t") + 1]) == 1):  # first label not repeated
            # fast path: a clean block (blocks merged by a stall repeat the first label)
            self.blocks_ok += 1
            out.append(TextBlock(tuple(body.decode("ascii").split("\r\n")), buf))
            return
        start = buf.find(b"\r\n")
        if start < 0:
            self.garbage_bytes += len(buf)
            self.format_errors += 1
            return
        self.garbage_bytes += start
        block = buf[start:]
        fields = _parse_fields(block)
        malformed = fields is None
        if fields is None:
            block, fields = _resync(block)
        if fields is not None and _has_repeat(fields):
            # A truncated block ran into the next one (a repeated label is never valid,
            # even when the merged bytes happen to sum to 0).
            if not malformed:
                self.checksum_errors += 1
            block, fields = _split_merged(block, fields)
        if fields is None or sum(block) & 0xFF:
            if malformed:
                self.format_errors += 1
            else:
                self.checksum_errors += 1
            return
        head = buf[start : len(buf) - len(block)]
        if malformed and b"\t" in head:
            self.format_errors += 1  # the head was a damaged block, not just noise
        self.garbage_bytes += len(head)
        self.blocks_ok += 1
        out.append(TextBlock(tuple(f"{label}\t{value}" for label, value in fields), block))


def _clean_lines(body: bytes) -> bool:
    """True when ``body`` is printable-ASCII ``<label>\\t<value>`` lines joined by CR LF.

    Deleting the printable bytes must leave exactly TAB, then CR LF TAB per
    further line; no label may be empty. Two C calls, no regex.
    """
    ctrl = body.translate(None, _PRINTABLE)
    return (ctrl == b"\t" + b"\r\n\t" * (len(ctrl) // 3) and b"\n\t" not in body
            and not body.startswith(b"\t"))


def _has_repeat(fields: tuple[tuple[str, str], ...]) -> bool:
    return len(dict(fields)) < len(fields)


def _split_merged(
    block: bytes, fields: tuple[tuple[str, str], ...]
) -> tuple[bytes, tuple[tuple[str, str], ...] | None]:
    """The tail of a merged block that is a whole block: no repeated label, sum 0.

    The next block starts within the longest tail without repeated labels, at
    its first field or one of the next three; each candidate is one checksum trial.
    """
    labels = [label for label, _ in fields]
    seen: set[str] = set()
    longest = 0
    for i in range(len(labels) - 1, -1, -1):
        if labels[i] in seen:
            longest = i + 1
            break
        seen.add(labels[i])
    pos = 0
    for _ in range(longest):
        pos = block.find(b"\r\n", pos + 2)
    for k in range(longest, min(longest + 4, len(labels))):
        if sum(block[pos:]) & 0xFF == 0:
            return block[pos:], fields[k:]
        pos = block.find(b"\r\n", pos + 2)
    return block, None


def _parse_fields(block: bytes) -> tuple[tuple[str, str], ...] | None:
    """Fields of ``\r\n<label>\t<value>...\r\nChecksum\t<b>``; None if malformed.

    Each line must be exactly ``<label>\t<value>`` with a non-empty label and
    printable ASCII only; every check runs in C (``translate``, ``split``).
    """
    if not block.endswith(b"\r\n" + _CHECKSUM, 0, len(block) - 1):
        return None
    body = block[2 : -3 - len(_CHECKSUM)]
    if body.translate(None, _LINE_BYTES):  # a byte that is not printable ASCII
        return None
    if not body:
        return ()
    text = body.decode("ascii")
    flat = text.replace("\r\n", "\t")
    if "\r" in flat or "\n" in flat:  # a CR or LF outside a CR LF pair
        return None
    parts = flat.split("\t")
    labels = parts[0::2]
    if len(parts) != 2 * text.count("\r\n") + 2 or not all(labels):
        return None
    return tuple(zip(labels, parts[1::2], strict=True))


def _resync(block: bytes) -> tuple[bytes, tuple[tuple[str, str], ...] | None]:
    """The first well-formed tail of a malformed block, starting at a CR LF."""
    pos = block.find(b"\r\n", 2)
    while pos >= 0:
        tail = block[pos:]
        fields = _parse_fields(tail)
        if fields:
            return tail, fields
        pos = block.find(b"\r\n", pos + 2)
    return block, None
