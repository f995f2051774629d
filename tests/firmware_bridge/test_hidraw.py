"""USB-HID transport (Axpert on its USB port): 8-byte reports out and in.

The stand-in for ``/dev/hidrawN`` is a Unix SOCK_SEQPACKET socket: like hidraw it
keeps report boundaries, so each ``write`` the bridge makes arrives as one packet and
each ``read`` returns one report. The simulator's stand-in answers only whole 8-byte
reports.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from edge.simulation.plant import Plant
from firmware_bridge.errors import DeviceUnavailable
from firmware_bridge.protocols import pi30
from firmware_bridge.readings import check_values
from firmware_bridge.transport import HidrawPort, SerialPort, hid_path, open_port
from tests.firmware_bridge.helpers import DeviceFactory, SimFactory, assert_close, first_reading

pytestmark = pytest.mark.pty


def _pair() -> tuple[HidrawPort, socket.socket]:
    ours, device = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setblocking(False)
    port = HidrawPort(os.dup(ours.detach()), url="hid://test", timeout=0.5, write_gap=0.0)
    return port, device


def test_request_goes_out_as_zero_padded_8_byte_reports() -> None:
    port, device = _pair()
    try:
        request = pi30.build_request("QED20260301")  # 14 bytes: two reports
        port.write(request)
        reports = [device.recv(64), device.recv(64)]
    finally:
        port.close()
        device.close()
    assert [len(r) for r in reports] == [8, 8]
    assert reports[0] == request[:8]
    assert reports[1] == request[8:] + b"\0\0"


def test_reply_read_from_8_byte_reports_with_padding() -> None:
    port, device = _pair()
    reply = pi30.build_response("230.0 50.0")
    try:
        for start in range(0, len(reply), 8):
            device.send(reply[start:start + 8].ljust(8, b"\0"))
        got = port.read_until(b"\r")
        framer = pi30.Pi30Framer()
        replies = framer.feed(got)
    finally:
        port.close()
        device.close()
    assert len(got) % 8 == 0
    assert [r.payload for r in replies] == ["230.0 50.0"]
    assert framer.frames_bad == 0 and framer.garbage_bytes == 0


def test_gone_device_is_unavailable() -> None:
    port, device = _pair()
    device.close()
    with pytest.raises(DeviceUnavailable):
        port.read_some(0.1)
    port.close()


def test_hid_urls_and_paths(tmp_path: Path) -> None:
    node = tmp_path / "hidraw3"
    node.touch()
    link = tmp_path / "axpert"
    link.symlink_to(node)
    assert hid_path("hid:///dev/hidraw0") == "/dev/hidraw0"
    assert hid_path(str(link)) == str(link)  # a udev symlink to a hidraw node
    assert hid_path("/dev/ttyUSB0") is None
    assert hid_path("socket://127.0.0.1:5000") is None
    with pytest.raises(DeviceUnavailable, match="hidraw9"):
        open_port("hid:///nonexistent/hidraw9", baudrate=2400)
    port = open_port("loop://", baudrate=2400)
    assert isinstance(port, SerialPort)
    port.close()


def test_axpert_on_usb_reads_like_on_rs232(
    simulator: SimFactory, device: DeviceFactory, frozen_plant: Plant
) -> None:
    sim = simulator("pi30", usb=True)
    assert sim.url.startswith("hid://")
    dev = device("pi30", sim.url)
    reading = first_reading(dev, ("battery_voltage", "inverter_mode", "warnings"))
    check_values(reading.values)
    state = frozen_plant.state()
    assert reading.values["inverter_mode"] == "battery"
    assert reading.values["rated_ac_output_apparent_power"] == 5000
    assert_close(dict(reading.values), {"battery_voltage": (state.battery_voltage, 0.005),
                                        "battery_soc": (state.battery_soc, 0.5)})
    assert sim._server.endpoint.bad_reports == 0  # every request came as whole reports
    assert dev.stats.checksum_errors == 0


def test_usb_unplug_and_replug(simulator: SimFactory, device: DeviceFactory) -> None:
    sim = simulator("pi30", usb=True)
    dev = device("pi30", sim.url, timeout=0.4)
    first_reading(dev)
    sim.unplug()
    for _ in range(5):
        dev.poll()
    assert not dev.stats.connected
    sim.replug()
    first_reading(dev)
    assert dev.stats.reconnects >= 1
