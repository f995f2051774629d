"""The VE.Direct simulator on the wire: blocks, checksums, HEX answers while streaming."""

from __future__ import annotations

import itertools
import os
import time

import pytest
import serial

from edge.simulation.plant import Plant
from firmware_bridge.protocols import vedirect
from firmware_bridge.simulators.faults import Faults
from firmware_bridge.simulators.pi30 import Pi30Session
from tests.firmware_bridge.helpers import SimFactory

pty = pytest.mark.pty


def read_raw(path: str, seconds: float) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    data = b""
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            try:
                data += os.read(fd, 4096)
            except BlockingIOError:
                time.sleep(0.01)
    finally:
        os.close(fd)
    return data


@pty
def test_vedirect_blocks_on_the_wire(simulator: SimFactory) -> None:
    sim = simulator("vedirect", time_scale=0.05)  # a block every 50 ms
    raw = read_raw(sim.url, 0.6)
    framer = vedirect.VeDirectFramer()
    blocks = framer.feed(raw)
    assert 6 <= len(blocks) <= 14
    assert framer.frames_bad <= 1  # at most the block cut by opening mid-stream
    for block in blocks:
        labels = [label for label, _ in block.fields]
        assert labels == [lb for lb in vedirect.MPPT_LABELS if lb in labels]
        assert labels[:3] == ["PID", "FW", "SER#"] and "Checksum" not in labels
    # every block on the wire sums to zero mod 256 (the checksum byte included)
    starts = [i for i in range(len(raw)) if raw.startswith(b"\r\nPID\t", i)]
    whole = [raw[a:b] for a, b in itertools.pairwise(starts)]
    assert whole and all(sum(b) % 256 == 0 for b in whole)


@pytest.fixture
def session(frozen_plant: Plant) -> Pi30Session:
    return Pi30Session(frozen_plant, Faults(), time_scale=0.0)


@pty
def test_vedirect_answers_hex_get_while_streaming(
    simulator: SimFactory, frozen_plant: Plant
) -> None:
    sim = simulator("vedirect", time_scale=0.5)
    port = serial.serial_for_url(sim.url, baudrate=19200, timeout=0.05)
    framer = vedirect.VeDirectFramer()
    try:
        port.write(vedirect.build_hex_frame(0x7, (0xEDBB).to_bytes(2, "little") + b"\x00"))
        port.write(vedirect.build_hex_frame(0x7, (0x1234).to_bytes(2, "little") + b"\x00"))
        frames = []
        deadline = time.monotonic() + 2.0
        while len(frames) < 2 and time.monotonic() < deadline:
            framer.feed(port.read(512))
            frames += framer.take_hex_frames()
    finally:
        port.close()
    panel, unknown = sorted(frames, key=lambda f: f.register != 0xEDBB)
    assert panel.command == 0x7 and panel.payload[2] == 0  # flags: ok
    assert panel.value == round(frozen_plant.state().pv_voltage * 100)
    assert unknown.register == 0x1234 and unknown.payload[2] == 0x01  # unknown id
