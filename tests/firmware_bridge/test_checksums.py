"""Checksums against published values (vendor documents, other open source readers)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.checksums import (
    crc16_xmodem,
    pi30_crc_bytes,
    pi30_crc_matches,
    vedirect_block_ok,
    vedirect_checksum_byte,
    vedirect_hex_check,
    vedirect_hex_ok,
)

# Request CRCs (CRC-16/XMODEM, escaped) as PI30 readers commonly quote them (QPIGS B7 A9),
# computed independently of firmware_bridge.checksums when they were collected.
PI30_REQUEST_CRCS = {
    "QPIGS": "B7 A9", "QPIRI": "F8 54", "QMOD": "49 C1", "QPIWS": "B4 DA", "QPI": "BE AC",
    "QID": "D6 EA", "QVFW": "62 99", "QFLAG": "98 74", "QDI": "71 1B", "QPIGS2": "68 2D",
    "POP02": "E2 0B",  # true CRC byte 0x0A escaped to 0x0B
}


def _xmodem_bitwise(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1) & 0xFFFF
    return crc


@pytest.mark.parametrize(("command", "crc"), sorted(PI30_REQUEST_CRCS.items()),
                         ids=sorted(PI30_REQUEST_CRCS))
def test_pi30_crc_bytes_published(command: str, crc: str) -> None:
    assert pi30_crc_bytes(command.encode()) == bytes.fromhex(crc)


def test_crc16_xmodem_qpigs_example_reply() -> None:
    reply = (b"(000.0 00.0 230.0 49.9 0161 0119 003 460 57.50 012 100 0069 0014 103.8 57.45 "
             b"00000 00110110 00 00 00856 010")
    assert crc16_xmodem(reply) == 0x248C


@given(st.binary(max_size=300))
def test_crc16_xmodem_matches_bitwise_definition(data: bytes) -> None:
    assert crc16_xmodem(data) == _xmodem_bitwise(data)


@given(st.binary(min_size=1, max_size=120), st.booleans())
def test_pi30_crc_matches_own_escaping(data: bytes, escape_zero: bool) -> None:
    sent = pi30_crc_bytes(data, escape_zero=escape_zero)
    assert not set(sent) & {0x28, 0x0D, 0x0A}
    assert pi30_crc_matches(data, sent)


def test_pi30_crc_matches_raw_and_escaped() -> None:
    data = b"POP02"  # CRC E2 0A: low byte needs escaping
    assert pi30_crc_matches(data, b"\xe2\x0a")  # raw
    assert pi30_crc_matches(data, b"\xe2\x0b")  # escaped
    assert not pi30_crc_matches(data, b"\xe2\x0c")
    assert not pi30_crc_matches(data, b"\xe3\x0a")
    assert not pi30_crc_matches(data, b"\xe2")


def test_pymodbus_rtu_crc_matches_the_epever_worked_example() -> None:
    # Modbus CRC is pymodbus's (its RTU framer puts it on the wire); the vendor
    # document's example pins that it is the CRC the controllers expect.
    # EPEVER V2.3 p. 12: request 01 04 31 04 00 01 7E F7, reply 01 04 02 04 CE 3A 64
    from pymodbus.framer import FramerRTU  # noqa: PLC0415

    assert FramerRTU.compute_CRC(bytes.fromhex("010431040001")).to_bytes(2, "big").hex() == "7ef7"
    assert FramerRTU.compute_CRC(bytes.fromhex("01040204CE")).to_bytes(2, "big").hex() == "3a64"


def test_vedirect_checksum_byte_makes_block_sum_zero() -> None:
    body = b"\r\nPID\t0xA053\r\nV\t12800\r\nChecksum\t"
    block = body + bytes((vedirect_checksum_byte(body),))
    assert vedirect_block_ok(block)
    assert not vedirect_block_ok(block[:-1] + bytes(((block[-1] + 1) & 0xFF,)))


@pytest.mark.parametrize("frame", [":70010003E", ":7FF0F0040"], ids=["battery-capacity", "soc"])
def test_vedirect_hex_faq_examples(frame: str) -> None:
    command, body = int(frame[1], 16), bytes.fromhex(frame[2:])
    assert vedirect_hex_ok(command, body)
    assert vedirect_hex_check(command, body[:-1]) == body[-1]
