"""Regenerate the PI30 captures in this directory (run from the repo root).

Replies are laid out as in the PI30 Communication Protocol 2015-09-24 (§2.7,
2.9, 2.10, 2.11, 2.13, 2.14) and PI30MAX 2021-02-17 (§2.7, 2.9-2.11,
2.23-2.26); the first QPIGS reply is the test response of the open source
reader jblance/mpp-solar (https://github.com/jblance/mpp-solar,
mppsolar/protocols/pi30.py; CRC 0x248C). The CRC is a bit-by-bit CRC-16/XMODEM
written here, independent of firmware_bridge.checksums. Run: python
tests/data/pi30/make_captures.py
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLE_QPIGS = (
    "000.0 00.0 230.0 49.9 0161 0119 003 460 57.50 012 100 0069 0014 103.8 57.45 00000 "
    "00110110 00 00 00856 010"
)


def xmodem(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = (crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def reply(payload: str, *, escape: bool = True, zero: str = "raw", lf: bool = False) -> bytes:
    """'(' + payload + CRC + CR. ``zero='bumped'`` sends 0x00 CRC bytes as 0x01."""
    body = b"(" + payload.encode("ascii")
    crc = xmodem(body)
    out = bytearray(body)
    for byte in (crc >> 8, crc & 0xFF):
        bump = (escape and byte in (0x28, 0x0D, 0x0A)) or (zero == "bumped" and byte == 0)
        out.append(byte + bump)
    return bytes(out) + (b"\r\n" if lf else b"\r")


def qpigs(t: int, *, max_variant: bool = False) -> str:
    """An Axpert 5 kVA 48 V in battery mode at noon, ``t`` polls in."""
    pv_power = 1800 + 37 * t
    fields = [
        "000.0", "00.0", "230.1", "50.0", f"{1150 + 9 * t:04d}", f"{1020 + 7 * t:04d}",
        f"{23 + t % 3:03d}", "405", f"{53.10 + 0.02 * t:05.2f}", f"{12 + t % 5:03d}",
        f"{78 + t // 4:03d}", f"{41 + t % 2:04d}",
        f"{pv_power / 240:04.1f}" if max_variant else f"{pv_power // 240:04d}",
        f"{240.0 + t * 0.3:05.1f}", f"{53.05 + 0.02 * t:05.2f}", "00000", "00010110", "00", "00",
        f"{pv_power:05d}", "010",
    ]
    if max_variant:
        fields += ["0", "00", "0000"]
    return " ".join(fields)


def find_payload(pred: object, start: int = 0) -> tuple[int, str]:
    """The first poll t >= start whose QPIGS payload CRC satisfies ``pred``."""
    t = start
    while True:
        payload = qpigs(t)
        if pred(xmodem(b"(" + payload.encode()), payload):  # type: ignore[operator]
            return t, payload
        t += 1


def qpigs_capture() -> bytes:
    """QPIGS replies with the quirks of real firmware (counts in README.md)."""
    def has_zero(crc: int, _: str) -> bool:
        return 0 in (crc >> 8, crc & 0xFF)

    def has_escape(crc: int, _: str) -> bool:
        return bool({crc >> 8, crc & 0xFF} & {0x28, 0x0D, 0x0A})

    _, zero_payload = find_payload(has_zero)
    _, escaped_payload = find_payload(has_escape)
    corrupted = bytearray(reply(qpigs(3)))
    corrupted[20] = ord("7") if corrupted[20] != ord("7") else ord("8")
    return b"".join([
        reply(EXAMPLE_QPIGS),  # 1: the mpp-solar example, CRC 24 8C
        reply(qpigs(1), lf=True),  # 2: trailing LF
        reply(zero_payload),  # 3: a raw 0x00 CRC byte, as real inverters send
        reply(zero_payload, zero="bumped"),  # 4: the same, bumped to 0x01 (mpp-solar style)
        reply(escaped_payload),  # 5: a CRC byte escaped (+1)
        b"(NAKss\r",  # 6: NAK with CRC
        b"(NAK\r",  # 7: NAK without CRC
        bytes(corrupted),  # 8: one digit changed on the line -> CRC error
        reply(qpigs(4))[:40],  # 9: truncated (stall), then a fresh reply
        reply(qpigs(5)),  # 10
        b"\x00\x00\x00\x00\x00\x00\n",  # 11: HID zero padding
        reply(qpigs(6)),  # 12
    ])


def main() -> None:
    (HERE / "qpigs.bin").write_bytes(qpigs_capture())
    (HERE / "qpigs_max.bin").write_bytes(b"".join(reply(qpigs(t, max_variant=True))
                                                  for t in range(4)))
    qpiri = ("230.0 21.7 230.0 50.0 21.7 5000 4000 48.0 46.0 42.0 56.4 54.0 2 30 060 0 1 2 9 01 "
             "0 0 54.0 0 1")
    (HERE / "qpiri.bin").write_bytes(reply(qpiri) + reply(qpiri + " 000 0 0", lf=True))
    (HERE / "qmod.bin").write_bytes(b"".join(reply(m) for m in "PSLBFHY") + b"(NAKss\r")
    warning_bits = ["0" * 36, "0" * 5 + "1" + "0" * 30, "1" + "0" * 9 + "1" + "0" * 25]
    (HERE / "qpiws.bin").write_bytes(b"".join(reply(b) for b in warning_bits))
    # QPIRI as real firmware sends it: PI30MAX 27 fields (+ max C.V. time 120 min,
    # operation logic 0) with battery type 9 (Lic); 28 fields (+ max discharging current
    # 150 A) with battery type 4 (not in any document) and '-' for the re-discharge voltage.
    max27 = qpiri.replace(" 2 30 060 ", " 9 30 060 ") + " 120 0"
    odd28 = (qpiri.replace(" 2 30 060 ", " 4 30 060 ").replace(" 54.0 0 1", " - 0 1")
             + " 120 0 150")
    (HERE / "qpiri_variants.bin").write_bytes(reply(max27) + reply(odd28))
    # QPIGS2 (PI30 §2.10, 13 fields: PV2 and PV3 trackers) then PI30MAX §2.10 (3 fields)
    (HERE / "qpigs2.bin").write_bytes(
        reply("0012 310.5 53.10 03726 10000000 0000 0000 0000 000.0 00.00 0000 05526")
        + reply("07.5 245.3 01840"))
    # QPGSn (PI30 §2.11): unit 0 present in battery mode with SCC charging, unit 1 absent;
    # then a PI30MAX unit (29 fields: + PV2 voltage 240.7 V and current 06 A)
    unit = ("1 92932004102453 B 00 000.0 00.00 230.0 50.00 1150 1020 023 53.1 012 078 "
            "240.0 024 02300 02040 023 10100010 1 3 080 120 30 07 000")
    absent = ("0 00000000000000 B 00 000.0 00.00 000.0 00.00 0000 0000 000 00.0 000 000 "
              "000.0 000 00000 00000 000 00000000 0 0 000 000 00 00 000")
    (HERE / "qpgs.bin").write_bytes(reply(unit) + reply(absent) + reply(unit + " 240.7 06"))
    # energy counters (PI30MAX §2.23-2.26): QET total, QEY year, QEM month, QED day [Wh]
    (HERE / "qe.bin").write_bytes(reply("05217340") + reply("01234567") + reply("00123456")
                                  + reply("00004321") + b"(NAKss\r")


if __name__ == "__main__":
    main()
