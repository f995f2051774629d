"""Simulators on the wire: bytes, timing, NAKs, Modbus exceptions, faults."""

from __future__ import annotations

import itertools
import os
import socket
import time

import pytest
import serial
from pymodbus.client import ModbusTcpClient
from pymodbus.framer import FramerRTU, FramerType

from edge.simulation.plant import Plant
from firmware_bridge.checksums import crc16_xmodem, pi30_crc_matches
from firmware_bridge.protocols import pi30, vedirect
from firmware_bridge.simulators.faults import Faults, parse_faults
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


def ask(session: Pi30Session, request: bytes) -> bytes:
    session.receive(request, 0.0)
    return b"".join(session.due(1.0))


def test_pi30_unknown_and_bad_crc_commands_get_nak(session: Pi30Session) -> None:
    assert ask(session, pi30.build_request("QXYZ")) == b"(NAKss\r"
    assert ask(session, b"QPIGS\x00\x00\r") == b"(NAKss\r"
    assert session.requests == ["QXYZ"]


@pytest.mark.parametrize(("variant", "fields"), [("pi30", 21), ("max", 24)])
def test_pi30_qpigs_reply(frozen_plant: Plant, variant: str, fields: int) -> None:
    session = Pi30Session(frozen_plant, Faults(), variant=variant, time_scale=0.0)
    reply = ask(session, pi30.build_request("QPIGS"))
    assert reply.startswith(b"(") and reply.endswith(b"\r")
    assert pi30_crc_matches(reply[:-3], reply[-3:-1])
    assert len(reply[1:-3].split(b" ")) == fields
    values = pi30.decode("QPIGS", reply[1:-3].decode()).values
    assert values["battery_voltage"] == pytest.approx(
        frozen_plant.state().battery_voltage, abs=0.005
    )


def test_pi30_latency(frozen_plant: Plant) -> None:
    session = Pi30Session(frozen_plant, Faults(), time_scale=1.0)
    session.receive(pi30.build_request("QMOD"), 100.0)
    assert session.due(100.3) == []
    assert session.due(100.5) == [pi30.build_response("B")]


def test_pi30_raw_zero_crc_and_trailing_lf(frozen_plant: Plant) -> None:
    faults = Faults(["raw_zero_crc", "trailing_lf"])
    session = Pi30Session(frozen_plant, faults, time_scale=0.0)
    reply = ask(session, pi30.build_request("QPIGS"))
    assert reply.endswith(b"\r\n")
    body, crc = reply[:-4], reply[-4:-2]
    true_crc = crc16_xmodem(body).to_bytes(2, "big")
    assert 0 in true_crc and crc == true_crc  # sent raw, as real inverters do
    framer = pi30.Pi30Framer()
    assert [r.payload for r in framer.feed(reply)] == [body[1:].decode()]


@pty
def test_epever_modbus_on_the_wire(simulator: SimFactory, frozen_plant: Plant) -> None:
    sim = simulator("epever", listen="127.0.0.1:0")
    host, port = sim.url.removeprefix("socket://").split(":")
    # the worked example of the EPEver sheet: read 0x3104 (battery voltage) from unit 1
    with socket.create_connection((host, int(port)), timeout=2) as conn:
        conn.sendall(bytes.fromhex("01 04 31 04 00 01 7E F7"))
        time.sleep(0.1)
        reply = conn.recv(64)
    assert reply[:3] == bytes.fromhex("01 04 02")
    assert FramerRTU.check_CRC(reply[:-2], int.from_bytes(reply[-2:], "big"))
    volts = int.from_bytes(reply[3:5], "big") / 100
    assert volts == pytest.approx(frozen_plant.state().battery_voltage, abs=0.005)


@pty
def test_epever_exceptions_and_other_tables(simulator: SimFactory) -> None:
    sim = simulator("epever", listen="127.0.0.1:0")
    host, port = sim.url.removeprefix("socket://").split(":")
    client = ModbusTcpClient(host, port=int(port), framer=FramerType.RTU, timeout=0.5, retries=0)
    assert client.connect()
    try:
        gap = client.read_input_registers(0x3009, count=1, device_id=1)
        assert gap.isError() and gap.exception_code == 2  # ILLEGAL ADDRESS
        holding = client.read_holding_registers(0x9000, count=2, device_id=1)
        assert not holding.isError() and holding.registers[1] == 200  # capacity [Ah]
        night = client.read_discrete_inputs(0x200C, count=1, device_id=1)
        assert not night.isError() and night.bits[0] is False  # noon
    finally:
        client.close()


def test_parse_faults() -> None:
    assert parse_faults(["stall", "bad_checksum:0.5"]) == {"stall": 0.2, "bad_checksum": 0.5}
    with pytest.raises(ValueError, match="unknown fault"):
        parse_faults(["meteor_strike"])
    with pytest.raises(ValueError, match="within"):
        parse_faults(["stall:2"])


@pty
def test_disappear_fault_cycles_the_link(simulator: SimFactory) -> None:
    sim = simulator("vedirect", faults=["disappear"], time_scale=0.05)  # 1.5 s period, 0.25 s down
    present = []
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        present.append(os.path.exists(sim.url))
        time.sleep(0.02)
    assert any(present) and not all(present)
    assert True in present[present.index(False) :]  # gone, then back


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
