"""PI30 request builder, request and reply framers (sans-IO): captures whole and split at every
offset, CRC quirks, NAK/ACK, stale and runaway input, noise.
"""

from __future__ import annotations

import contextlib
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.checksums import crc16_xmodem
from firmware_bridge.errors import BridgeError, ChecksumError, FrameError, ProtocolError
from firmware_bridge.protocols import pi30
from firmware_bridge.protocols.pi30 import Pi30Framer, Pi30Reply
from firmware_bridge.readings import check_values
from tests.firmware_bridge.helpers import DATA as CAPTURES_DIR
from tests.firmware_bridge.protocols.pi30.payloads import COMMANDS, EXAMPLE, SIM_VALUES

DATA = CAPTURES_DIR / "pi30"


# tests/data/pi30/README.md: command, decoded, NAKs, CRC errors
CAPTURES = {
    "qpigs.bin": ("QPIGS", 7, 2, 1),
    "qpigs_max.bin": ("QPIGS", 4, 0, 0),
    "qpiri.bin": ("QPIRI", 2, 0, 0),
    "qmod.bin": ("QMOD", 7, 1, 0),
    "qpiws.bin": ("QPIWS", 3, 0, 0),
}


def _feed(data: bytes, cuts: list[int] | None = None) -> tuple[list[Pi30Reply], Pi30Framer]:
    framer = Pi30Framer()
    bounds = [0, *(cuts or []), len(data)]
    out: list[Pi30Reply] = []
    for a, b in itertools.pairwise(bounds):
        out += framer.feed(data[a:b])
    return out, framer


def _decode_all(command: str, replies: list[Pi30Reply]) -> tuple[list[dict[str, object]], int]:
    values, refused = [], 0
    for reply in replies:
        try:
            values.append(pi30.decode(command, reply).values)
        except ProtocolError:
            refused += 1
    return values, refused


@pytest.mark.parametrize(
    ("command", "expected"),
    [("QPIGS", "5150494753b7a90d"), ("QMOD", "514d4f4449c10d"), ("QPIWS", "5150495753b4da0d"),
     ("QPIRI", "5150495249f8540d"), ("POP02", "504f503032e20b0d")],
    ids=["QPIGS", "QMOD", "QPIWS", "QPIRI", "POP02-escaped"],
)
def test_build_request_bytes(command: str, expected: str) -> None:
    assert pi30.build_request(command) == bytes.fromhex(expected)
    assert pi30.parse_request(bytes.fromhex(expected)) == command


def test_parse_request_accepts_raw_crc_and_trailing_lf() -> None:
    assert pi30.parse_request(b"POP02\xe2\x0a\r\n") == "POP02"  # raw 0x0A, not escaped


@pytest.mark.parametrize(
    ("data", "error"),
    [(b"QPIGS\xb7\xaa\r", ChecksumError), (b"QP\r", FrameError),
     (b"Q\xffIGS\xb7\xa9\r", FrameError)],
    ids=["bad-crc", "short", "not-ascii"],
)
def test_parse_request_rejects(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        pi30.parse_request(data)


def test_request_framer_splits_requests() -> None:
    framer = pi30.RequestFramer()
    stream = pi30.build_request("QPIGS") + b"\n\x00" + pi30.build_request("QMOD")
    frames = framer.feed(stream[:4]) + framer.feed(stream[4:])
    assert [pi30.parse_request(f) for f in frames] == ["QPIGS", "QMOD"]


@pytest.mark.parametrize("name", sorted(CAPTURES), ids=sorted(CAPTURES))
def test_captures_counts(name: str) -> None:
    command, decoded, naks, crc_errors = CAPTURES[name]
    replies, framer = _feed((DATA / name).read_bytes())
    values, refused = _decode_all(command, replies)
    assert (len(values), refused, framer.naks, framer.crc_errors) == (
        decoded, naks, naks, crc_errors)
    assert framer.format_errors == 0


@pytest.mark.parametrize("name", sorted(CAPTURES), ids=sorted(CAPTURES))
def test_captures_split_at_every_offset(name: str) -> None:
    data = (DATA / name).read_bytes()
    whole, framer = _feed(data)
    for cut in range(1, len(data)):
        replies, split = _feed(data, [cut])
        assert replies == whole, cut
        assert (split.crc_errors, split.naks) == (framer.crc_errors, framer.naks), cut


@pytest.mark.parametrize("nak", [b"(NAKss\r", b"(NAK\r", b"(NAKss\r\n"],
                         ids=["crc", "no-crc", "lf"])
def test_nak_raises_protocol_error(nak: bytes) -> None:
    (reply,), framer = _feed(b"\n" + nak)
    assert reply.nak and framer.naks == 1
    with pytest.raises(ProtocolError, match="NAK"):
        pi30.decode("QPIGS", reply)


def test_ack() -> None:
    (reply,), _ = _feed(pi30.ACK)
    assert reply.ack and not reply.nak


def _payload_with_crc_byte(byte: int) -> str:
    for t in range(100_000):
        payload = f"{t:05d}"
        crc = crc16_xmodem(b"(" + payload.encode())
        if byte in (crc >> 8, crc & 0xFF):
            return payload
    raise AssertionError(byte)


@pytest.mark.parametrize("byte", [0x00, 0x28, 0x0A, 0x0D], ids=["NUL", "(", "LF", "CR"])
def test_crc_byte_raw_or_escaped(byte: int) -> None:
    payload = _payload_with_crc_byte(byte)
    body = b"(" + payload.encode()
    raw = body + crc16_xmodem(body).to_bytes(2, "big") + b"\r"
    escaped = pi30.build_response(payload, raw_zero_crc=False)
    assert raw != escaped
    for data in (raw, escaped, raw + escaped, escaped + b"\n" + raw):
        replies, framer = _feed(data)
        assert [r.payload for r in replies] == [payload] * (len(data) // len(raw)), data
        assert framer.frames_bad == 0


def test_corrupted_reply_counted_and_dropped() -> None:
    bad = bytearray(EXAMPLE)
    bad[10] ^= 0x01
    replies, framer = _feed(bytes(bad) + EXAMPLE)
    assert [r.raw for r in replies] == [EXAMPLE[:-1]] and framer.crc_errors == 1


def test_stale_bytes_before_reply_are_skipped() -> None:
    replies, framer = _feed(EXAMPLE[:30] + EXAMPLE)  # truncated reply, then a fresh one
    assert [r.raw for r in replies] == [EXAMPLE[:-1]] and framer.garbage_bytes == 30


def test_reset_flushes_stale_input() -> None:
    framer = Pi30Framer()
    assert framer.feed(EXAMPLE[:50]) == []
    framer.reset()
    assert framer.feed(EXAMPLE[50:]) == []
    assert len(framer.feed(EXAMPLE)) == 1


def test_runaway_input_is_bounded() -> None:
    framer = Pi30Framer()
    for _ in range(100):
        assert framer.feed(b"(" + b"1" * 1000) == []
    assert framer.overflows > 0
    assert len(framer.feed(b"\r" + EXAMPLE)) == 1


# -- properties -------------------------------------------------------------


@given(st.binary(max_size=1500), st.integers(0, 1500))
def test_random_bytes_never_raise(data: bytes, cut: int) -> None:
    framer = Pi30Framer()
    replies = framer.feed(data[:cut]) + framer.feed(data[cut:])
    for reply in replies:
        with contextlib.suppress(BridgeError):
            pi30.decode("QPIGS", reply)
    assert framer.replies_ok == len(replies)


# Noise holds no '(' or CR: either would legitimately start or end a reply.
NOISE = st.binary(max_size=30).map(lambda b: b.replace(b"(", b"").replace(b"\r", b""))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(NOISE, st.integers(0, 99), st.booleans()), min_size=1, max_size=6),
       NOISE, st.integers(0, 10_000))
def test_replies_buried_in_noise_are_all_recovered(
    parts: list[tuple[bytes, int, bool]], tail: bytes, cut_seed: int
) -> None:
    stream, expected = b"", []
    for noise, soc, lf in parts:
        payload = pi30.encode_qpigs({**SIM_VALUES, "battery_soc": soc})
        expected.append(payload)
        stream += noise + pi30.build_response(payload, trailing_lf=lf)
    stream += tail
    replies, framer = _feed(stream, [cut_seed % (len(stream) + 1)])
    assert [r.payload for r in replies] == expected
    assert framer.frames_bad == 0
    assert [pi30.decode("QPIGS", r).values["battery_soc"] for r in replies] == [p[1] for p in parts]


def test_dated_request_bytes_carry_their_own_crc() -> None:
    """QED20260301 + CRC-16/XMODEM + CR: the CRC covers the date."""
    request = pi30.build_request("QED20260301")
    assert request[:11] == b"QED20260301" and request[-1:] == b"\r" and len(request) == 14
    assert pi30.parse_request(request) == "QED20260301"
    assert pi30.build_request("QED20260302")[11:13] != request[11:13]


@given(st.sampled_from(COMMANDS), st.binary(max_size=300))
def test_random_bytes_through_framer_raise_only_bridge_errors(command: str, data: bytes) -> None:
    """Random bytes, and random bytes framed as a reply with a valid CRC."""
    payload = data.decode("latin-1")
    body = b"(" + payload.encode("latin-1")
    wire = data + pi30.build_response(payload.encode("ascii", "replace").decode()) + data
    for reply in pi30.Pi30Framer().feed(wire + body):
        try:
            decoded = pi30.decode(command, reply)
        except BridgeError:
            continue
        check_values(decoded.values)
