"""Checksums of the serial protocols: pure functions.

* VE.Direct text: all bytes of a block sum to 0 mod 256.
* VE.Direct HEX: command nibble + all payload bytes + check byte == 0x55 mod 256.
* PI30: CRC-16/XMODEM (poly 0x1021, init 0, no reflection), sent high byte
  first, with CRC bytes 0x28, 0x0D and 0x0A incremented by one on the wire.
* Modbus RTU: CRC-16/MODBUS is pymodbus's business (its RTU framer).
"""

from __future__ import annotations

import binascii

__all__ = [
    "PI30_ESCAPED",
    "crc16_xmodem",
    "pi30_crc_bytes",
    "pi30_crc_matches",
    "vedirect_block_ok",
    "vedirect_checksum_byte",
    "vedirect_hex_check",
    "vedirect_hex_ok",
]

#: CRC bytes that PI30 devices bump by one so they cannot be mistaken for '(' CR LF.
PI30_ESCAPED: frozenset[int] = frozenset({0x28, 0x0D, 0x0A})


def crc16_xmodem(data: bytes) -> int:
    """CRC-16/XMODEM of ``data`` (poly 0x1021, init 0x0000, not reflected).

    The standard library's :func:`binascii.crc_hqx` with initial value 0 is
    exactly this CRC, in C.
    """
    return binascii.crc_hqx(data, 0)


def pi30_crc_bytes(data: bytes, *, escape_zero: bool = False) -> bytes:
    """The two CRC bytes a PI30 device puts after ``data`` (high byte first).

    Parameters
    ----------
    data : bytes
        The covered bytes: the command for a request, ``b"(" + payload`` for a reply.
    escape_zero : bool
        Also bump a 0x00 byte to 0x01, as mpp-solar does. Real inverters send
        0x00 raw, so the default is False.
    """
    crc = crc16_xmodem(data)
    out = bytearray((crc >> 8, crc & 0xFF))
    for i, byte in enumerate(out):
        if byte in PI30_ESCAPED or (escape_zero and byte == 0):
            out[i] = byte + 1
    return bytes(out)


def pi30_crc_matches(data: bytes, received: bytes) -> bool:
    """True when ``received`` (2 bytes) is the CRC of ``data``, raw or escaped.

    Each byte may be the true CRC byte or, when that is 0x28, 0x0D, 0x0A or 0x00,
    the true byte plus one.
    """
    if len(received) != 2:
        return False
    crc = crc16_xmodem(data)
    for true, got in ((crc >> 8, received[0]), (crc & 0xFF, received[1])):
        if got != true and not (got == true + 1 and (true in PI30_ESCAPED or true == 0)):
            return False
    return True


def vedirect_checksum_byte(block_without_checksum: bytes) -> int:
    """The byte that makes ``block_without_checksum`` + byte sum to 0 mod 256."""
    return (-sum(block_without_checksum)) & 0xFF


def vedirect_block_ok(block: bytes) -> bool:
    """True when all bytes of a text block (CR LF ... checksum byte) sum to 0 mod 256."""
    return sum(block) & 0xFF == 0


def vedirect_hex_check(command: int, payload: bytes) -> int:
    """The check byte of a HEX frame with ``command`` nibble and ``payload`` bytes."""
    return (0x55 - command - sum(payload)) & 0xFF


def vedirect_hex_ok(command: int, payload_and_check: bytes) -> bool:
    """True when command + all bytes (payload and check byte) == 0x55 mod 256."""
    return (command + sum(payload_and_check)) & 0xFF == 0x55
