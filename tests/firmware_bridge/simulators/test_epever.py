"""The EPEver simulator on the wire: Modbus RTU replies, exceptions, other tables."""

from __future__ import annotations

import socket
import time

import pytest
from pymodbus.client import ModbusTcpClient
from pymodbus.framer import FramerRTU, FramerType

from edge.simulation.plant import Plant
from firmware_bridge.simulators.faults import Faults
from firmware_bridge.simulators.pi30 import Pi30Session
from tests.firmware_bridge.helpers import SimFactory

pty = pytest.mark.pty


@pytest.fixture
def session(frozen_plant: Plant) -> Pi30Session:
    return Pi30Session(frozen_plant, Faults(), time_scale=0.0)


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
