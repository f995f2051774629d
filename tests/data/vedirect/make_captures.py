"""Regenerate the VE.Direct captures in this directory (run from the repo root).

The blocks are built from literal field lists laid out as in "VE.Direct
Protocol" version 3.33 (Victron Energy,
https://www.victronenergy.com/upload/documents/VE.Direct-Protocol-3.33.pdf) and
the field orders of real devices in the public test dumps of karioja/vedirect
(https://github.com/karioja/vedirect, test/*.dump). Checksums are computed here
with a plain sum (not with firmware_bridge code), so the captures test the
bridge independently. Run: python tests/data/vedirect/make_captures.py
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def block(fields: list[tuple[str, str]]) -> bytes:
    body = "".join(f"\r\n{k}\t{v}" for k, v in fields).encode("ascii") + b"\r\nChecksum\t"
    return body + bytes(((-sum(body)) & 0xFF,))


def hex_frame(text: str) -> bytes:
    """':' + text + check pair + LF; text = command nibble + payload hex pairs."""
    command = int(text[0], 16)
    payload = bytes.fromhex(text[1:])
    return f":{text}{(0x55 - command - sum(payload)) & 0xFF:02X}\n".encode("ascii")


def mppt_fields(t: int) -> list[tuple[str, str]]:
    """SmartSolar MPPT 100/20 48V (PID 0xA060), fw 1.59, ``t`` seconds into a sunny morning."""
    ppv = 40 + t * 7 % 1000 + t // 3 % 7
    cs = "3" if t < 6 else ("4" if t < 10 else "5")
    return [
        ("PID", "0xA060"), ("FW", "159"), ("SER#", "HQ2132QY2KR"),
        ("V", str(51200 + 37 * t % 6000)), ("I", str(ppv * 18 + t % 13)),
        ("VPV", str(76300 + 131 * t % 9000)), ("PPV", str(ppv)), ("CS", cs),
        ("MPPT", "2"), ("OR", "0x00000000"), ("ERR", "0"), ("LOAD", "ON"),
        ("IL", str(300 + t % 41)), ("H19", str(104500 + t // 4)), ("H20", str(12 + t // 4)),
        ("H21", str(max(420, ppv))), ("H22", "1312"), ("H23", "2875"), ("HSDS", "17"),
    ]


def mppt_block(t: int, want_checksum: int | None = None) -> bytes:
    """The block at ``t``, or the first one after it whose checksum byte is ``want_checksum``."""
    while True:
        raw = block(mppt_fields(t))
        if want_checksum is None or raw[-1] == want_checksum:
            return raw
        t += 1


def smartsolar() -> bytes:
    first = mppt_block(0, None)
    out = first[first.index(b"\r\nH22") :]  # the capture starts mid-block
    targets = {1: 0x3A, 3: 0x0D, 5: 0x0A, 8: 0x3A}  # ':' CR LF as checksum bytes
    for i in range(12):
        raw = mppt_block(i, targets.get(i))
        if i == 4:  # an async HEX frame in the middle of the block (before "\r\nCS")
            cut = raw.index(b"\r\nCS")
            raw = raw[:cut] + hex_frame("ABBED00" + "D21D") + raw[cut:]
        out += raw
        if i in (1, 3, 8):  # async history frame straight after the checksum byte
            out += hex_frame("A501000" + "0C000000")
    return out


def bluesolar() -> bytes:
    """BlueSolar MPPT 75/15 (PID 0xA042) fw 1.23: no MPPT/OR/LOAD/IL; night: VPV '---'."""
    out = b""
    for i in range(5):
        out += block([
            ("PID", "0xA042"), ("FW", "123"), ("SER#", "HQ1328Y6TF6"),
            ("V", str(12650 - 10 * i)), ("I", "0"),
            ("VPV", "---" if i >= 3 else str(900 - 300 * i)),
            ("PPV", "0"), ("CS", "0"), ("ERR", "0"), ("H19", "10357"), ("H20", "84"),
            ("H21", "212"), ("H22", "91"), ("H23", "230"), ("HSDS", "302"),
        ])
    return out


def phoenix() -> bytes:
    """Phoenix Inverter 12 V 800 VA (PID 0xA2E2) fw 1.16 carrying a household load."""
    out = b""
    for i in range(6):
        out += block([
            ("PID", "0xA2E2"), ("FW", "0116"), ("SER#", "HQ1740ABCDE"), ("MODE", "2"),
            ("CS", "9"), ("AC_OUT_V", str(23000 + 2 * i)), ("AC_OUT_I", str(11 + i)),
            ("AC_OUT_S", str(253 + 23 * i)), ("V", str(12480 - 20 * i)),
            ("AR", "0"), ("WARN", "1" if i == 5 else "0"), ("OR", "0x00000000"),
        ])
    return out


def noisy() -> bytes:
    """Line noise: 4 good blocks among damaged ones (see README for the expected counts)."""
    good = [mppt_block(i, None) for i in range(4)]
    flipped = bytearray(mppt_block(5, None))
    flipped[40] ^= 0x04  # one bit error -> checksum error
    nonascii = bytearray(mppt_block(6, None))
    at = nonascii.index(b"ON")
    nonascii[at], nonascii[at + 1] = 0xCF, 0x4E + (0x4F - 0xCF) % 256  # sum kept, not ASCII
    truncated = mppt_block(7, None)[:100]  # stall: the rest never came
    return (
        b"\x00\xff\x13garbage!" + good[0]
        + bytes(flipped) + good[1]
        + b":A0102FF\n"  # HEX frame with a bad check byte
        + bytes(nonascii) + b"\xfe\xfe:zz" + good[2]
        + truncated + good[3]
    )


def main() -> None:
    (HERE / "smartsolar_mppt.bin").write_bytes(smartsolar())
    (HERE / "bluesolar_fw123.bin").write_bytes(bluesolar())
    (HERE / "phoenix_inverter.bin").write_bytes(phoenix())
    (HERE / "noisy.bin").write_bytes(noisy())


if __name__ == "__main__":
    main()
