"""Ports by URL: loop:// echo of exact request bytes, deadlines, vanished ports."""

from __future__ import annotations

import os
import threading
import time
import tty

import pytest

from firmware_bridge.config import DeviceConfig
from firmware_bridge.device import open_device
from firmware_bridge.errors import DeviceUnavailable
from firmware_bridge.protocols import pi30
from firmware_bridge.transport import open_serial


@pytest.mark.parametrize(
    ("command", "crc"),
    [("QPIGS", "b7a9"), ("QPIRI", "f854"), ("QMOD", "49c1"), ("QPIWS", "b4da")],
)
def test_pi30_request_bytes_over_loop(command: str, crc: str) -> None:
    """The bytes the bridge writes for a query: command, CRC-16/XMODEM, CR."""
    port = open_serial("loop://", baudrate=2400, timeout=0.5)
    try:
        port.write(pi30.build_request(command))
        echoed = port.read_until(b"\r")
    finally:
        port.close()
    assert echoed == command.encode() + bytes.fromhex(crc) + b"\r"


def test_read_until_gives_up_at_the_deadline() -> None:
    port = open_serial("loop://", baudrate=2400, timeout=0.2)
    try:
        port.write(b"(no terminator")
        start = time.monotonic()
        got = port.read_until(b"\r")
        elapsed = time.monotonic() - start
    finally:
        port.close()
    assert got == b"(no terminator"
    assert 0.15 < elapsed < 0.6


def test_flush_input_drops_stale_bytes() -> None:
    port = open_serial("loop://", baudrate=2400, timeout=0.2)
    try:
        port.write(b"(stale QPIRI bytes\r")
        time.sleep(0.05)
        assert port.flush_input() == b"(stale QPIRI bytes\r"
        assert port.read_for(0.1) == b""
    finally:
        port.close()


@pytest.mark.parametrize("url", ["/dev/ttyHELIO-missing", "socket://127.0.0.1:1"])
def test_open_missing_port_is_unavailable(url: str) -> None:
    with pytest.raises(DeviceUnavailable, match="cannot open"):
        open_serial(url, baudrate=19200)


@pytest.mark.pty
def test_read_after_hangup_is_unavailable() -> None:
    """A USB adapter unplugged: the master side of a pty closes under the reader."""
    master, slave = os.openpty()
    tty.setraw(slave)
    port = open_serial(os.ttyname(slave), baudrate=19200, timeout=0.2)
    os.close(slave)
    try:
        os.write(master, b"abc")
        assert port.read_for(0.1) == b"abc"
        os.close(master)
        with pytest.raises(DeviceUnavailable):
            for _ in range(10):
                port.read_some(0.05)
    finally:
        port.close()


@pytest.mark.pty
def test_pi30_driver_writes_exact_requests() -> None:
    """One poll sends QPIRI (first poll only), QPIGS, QMOD, QPIWS: command, CRC, CR.

    Then the optional QPIGS2, the first PV and load energy counters and, once per
    connection, QID, QVFW and QMUCHGCR; NAKed, they (and the rest of their group)
    are recorded as unsupported and not asked again.
    """
    master, slave = os.openpty()
    tty.setraw(slave)
    tty.setraw(master)
    cfg = DeviceConfig(id="inv", protocol="pi30", port=os.ttyname(slave), timeout=0.5)
    seen: list[bytes] = []

    def inverter() -> None:  # refuses everything, records what it is sent
        buf = b""
        deadline = time.monotonic() + 5.0
        while len(seen) < 10 and time.monotonic() < deadline:
            buf += os.read(master, 256)
            while b"\r" in buf:
                frame, buf = buf.split(b"\r", 1)
                seen.append(frame + b"\r")
                os.write(master, pi30.NAK)

    thread = threading.Thread(target=inverter, daemon=True)
    thread.start()
    device = open_device(cfg)
    try:
        assert device.poll() is None  # every query NAKed: nothing to report
        thread.join(timeout=5)
    finally:
        device.close()
        os.close(master)
        os.close(slave)
    assert seen[:4] == [b"QPIRI\xf8\x54\r", b"QPIGS\xb7\xa9\r", b"QMOD\x49\xc1\r",
                        b"QPIWS\xb4\xda\r"]
    # one refused counter stands for its group: QET for QE*, QLT for QL*
    assert [pi30.parse_request(frame) for frame in seen[4:]] == [
        "QPIGS2", "QET", "QLT", "QID", "QVFW", "QMUCHGCR"]
    assert device.stats.protocol_errors == 4
    assert device.stats.timeouts == 0
    assert device.stats.unsupported_commands == ["QPIGS2", "QET", "QEY", "QEM", "QED", "QLT",
                                                 "QLY", "QLM", "QLD", "QID", "QVFW",
                                                 "QMUCHGCR"]
