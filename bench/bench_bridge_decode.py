"""Decode throughput of VE.Direct and PI30 on one core, beside the PyPI peers.

Printed, not asserted. Each implementation decodes the same bytes
in the same run:

* VE.Direct: a capture of SmartSolar MPPT blocks (19 fields each, built with
  the bridge's encoders; V, I, VPV and PPV change every block, the energy
  counters every 36 blocks as at ~1 kW; checksum bytes other than CR and LF
  because the ``vedirect`` 1.1.0 parser crashes on those). ``vedirect`` 1.1.0 only reads
  from a serial port, so its own loop (``readline`` until a ``PID`` line,
  ``check_frame_checksum``, ``parse_pdu``) is driven over an in-memory stream
  of the same bytes, and its four value properties are read per block.
* PI30: a capture of 21-field QPIGS replies (CRC bytes outside 0x00, 0x0A,
  0x0D, 0x28, which mppsolar checks differently). ``mppsolar`` 0.16.56 reads
  one reply by ``read_until(b"\\r")`` and decodes it with
  ``pi30().decode(reply, "QPIGS")``; the capture is split at CR the same way.
* The bridge: ``VeDirectFramer.feed`` / ``Pi30Framer.feed`` on 64 KiB chunks
  plus ``decode`` of every frame into canonical SI values.

Goal: >= 1 MB/s for VE.Direct (500x the 19200-baud line rate) and faster than
both peers. Peers come from the ``bench`` extra (``pip install -e '.[bench]'``).

Also timed, without peers (no PyPI parser reads them):

* VE.Direct BMV-702 updates: a main block and a history block per update
  (the BMV simulator's labels), framed and decoded the same way.
* Each Modbus register map read through its simulator: a device on a real
  pseudo-terminal polls the generic simulator (frozen Abuja plant) with the
  generic driver; per poll: requests, registers, wall time (median of 20 polls),
  and the CPU time of ``RegisterMap.decode`` on one snapshot.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable

from firmware_bridge.checksums import crc16_xmodem
from firmware_bridge.protocols import pi30, vedirect

try:  # the comparison peers, from the ``bench`` extra
    from vedirect import VEDirect  # PyPI vedirect 1.1.0 (a single module)
except ImportError:
    VEDirect = None
try:
    from mppsolar.protocols.pi30 import pi30 as mppsolar_pi30  # mppsolar 0.16.56
except ImportError:
    mppsolar_pi30 = None

CHUNK = 1 << 16
LINE_RATE = {"vedirect": 19200 / 10, "pi30": 2400 / 10}  # bytes/s at 8N1


def vedirect_capture(blocks: int) -> bytes:
    """``blocks`` SmartSolar MPPT blocks with varying values."""
    out = []
    t = 0
    while len(out) < blocks:
        t += 1
        values = {
            "product_id": "0xA060", "firmware_version": "159", "serial_number": "HQ2132QY2KR",
            "battery_voltage": 48 + t % 900 / 100, "battery_current": (t % 4000 - 500) / 100,
            "pv_voltage": 60 + t % 3500 / 100, "pv_power": t % 1100, "charge_state": "bulk",
            "tracker_mode": "mppt", "off_reason": "", "error_code": 0, "load_output_on": 1,
            "load_current": t // 10 % 200 / 100, "yield_total": 1_000_000 + 10 * (t // 36),
            "yield_today": 10 * (t // 36), "max_power_today": 1000, "yield_yesterday": 3120,
            "max_power_yesterday": 990, "day_sequence": 17,
        }
        block = vedirect.encode_block(values)
        if block[-1] not in b"\r\n":
            out.append(block)
    return b"".join(out)


def pi30_capture(replies: int) -> bytes:
    """``replies`` QPIGS replies whose CRC bytes need no escaping."""
    out = []
    t = 0
    while len(out) < replies:
        t += 1
        values = {
            "grid_voltage": 0.0, "grid_frequency": 0.0, "ac_output_voltage": 230.0,
            "ac_output_frequency": 50.0, "ac_output_apparent_power": 800 + t % 3000,
            "ac_output_power": 700 + t % 2800, "load_percent": t % 100, "bus_voltage": 400,
            "battery_voltage": 48 + t % 900 / 100, "battery_charge_current": t % 60,
            "battery_soc": t % 101, "heatsink_temperature": 40, "pv_current": t % 20,
            "pv_voltage": 200 + t % 999 / 10, "scc_battery_voltage": 52.0,
            "battery_discharge_current": 0, "pv_power": t % 4000, "load_output_on": 1,
            "charging_source": "solar",
        }
        payload = pi30.encode_qpigs(values)
        crc = crc16_xmodem(b"(" + payload.encode())
        if not {crc >> 8, crc & 0xFF} & {0x00, 0x0A, 0x0D, 0x28}:
            out.append(pi30.build_response(payload))
    return b"".join(out)


def bmv_capture(updates: int) -> bytes:
    """``updates`` BMV-702 updates (main block + history block) with varying values."""
    out = []
    t = 0
    while len(out) < updates:
        t += 1
        main = {
            "product_id": "0x204", "battery_voltage": 48 + t % 900 / 100,
            "starter_battery_voltage": 12.7, "battery_current": (t % 4000 - 2000) / 100,
            "battery_power": t % 2000 - 1000, "consumed_charge": -(t % 2000) / 10,
            "battery_soc": t % 1000 / 10, "time_to_go": t % 5000, "alarm_on": 0, "relay_on": 0,
            "alarm_reason": "", "monitor_model": "702", "firmware_version": "308",
        }
        history = {
            "deepest_discharge": -150.0, "last_discharge": -(t % 1500) / 10,
            "average_discharge": -80.5, "charge_cycles": 120 + t // 1000,
            "full_discharges": 2, "cumulative_charge_drawn": -(30000 + t),
            "min_battery_voltage": 44.1, "max_battery_voltage": 57.6,
            "seconds_since_full_charge": t, "automatic_syncs": 118, "low_voltage_alarms": 3,
            "high_voltage_alarms": 0, "min_starter_battery_voltage": 11.9,
            "max_starter_battery_voltage": 14.4, "discharged_energy_total": 5_000_000 + 10 * t,
            "charged_energy_total": 5_600_000 + 10 * t,
        }
        update = (vedirect.encode_block(main, vedirect.BMV_LABELS)
                  + vedirect.encode_block(history, vedirect.BMV_HISTORY_LABELS))
        out.append(update)
    return b"".join(out)


def helio_vedirect(data: bytes) -> int:
    framer = vedirect.VeDirectFramer()
    frames = 0
    for i in range(0, len(data), CHUNK):
        for block in framer.feed(data[i : i + CHUNK]):
            vedirect.decode(block)
            frames += 1
    return frames


def helio_pi30(data: bytes) -> int:
    framer = pi30.Pi30Framer()
    frames = 0
    for i in range(0, len(data), CHUNK):
        for reply in framer.feed(data[i : i + CHUNK]):
            pi30.decode("QPIGS", reply)
            frames += 1
    return frames


def peer_vedirect(data: bytes) -> int:
    """``vedirect`` 1.1.0's own read loop and parser, over an in-memory stream."""
    if VEDirect is None:
        raise ImportError("vedirect")
    stream = io.BytesIO(data)
    line = b""
    while not line.startswith(b"PID"):  # "Wait for start of frame"
        line = stream.readline()
    device = VEDirect.__new__(VEDirect)  # its __init__ opens a serial port
    device._data = {}
    frames = 0
    while True:
        group, line = [], b""
        while not line.startswith(b"PID"):
            line = stream.readline()
            if not line:
                return frames
            group.append(line)
        if not VEDirect.check_frame_checksum(group):
            raise RuntimeError("vedirect rejected a valid block")
        device.parse_pdu(group)
        _values = (device.battery_volts, device.solar_volts, device.solar_power,
                   device.device_MPPT_state)
        frames += 1


def peer_pi30(data: bytes) -> int:
    """``mppsolar`` 0.16.56: split at CR as its serial read does, then ``pi30().decode``."""
    if mppsolar_pi30 is None:
        raise ImportError("mppsolar")
    protocol = mppsolar_pi30()
    frames = 0
    for part in data.split(b"\r")[:-1]:
        result = protocol.decode(part + b"\r", "QPIGS")
        if "validity check" in result:
            raise RuntimeError(f"mppsolar rejected a valid reply: {result['validity check']}")
        frames += 1
    return frames


def measure(fn: Callable[[bytes], int], data: bytes, repeat: int = 5) -> tuple[float, int]:
    """Best CPU time of this process over ``repeat`` runs [s], and the frame count.

    CPU time rather than wall time: the figure is for one core, and a shared
    machine's other processes then do not count against either side.
    """
    best, frames = float("inf"), 0
    for _ in range(repeat):
        t0 = time.process_time()
        frames = fn(data)
        best = min(best, time.process_time() - t0)
    return best, frames


def _row(protocol: str, name: str, *, seconds: float, frames: int, nbytes: int,
         ref: float | None) -> str:
    mbs = nbytes / seconds / 1e6
    ratio = "" if ref is None else f"{ref / mbs:7.1f}x"
    line_x = nbytes / seconds / LINE_RATE[protocol]
    return (f"{protocol:<9} {name:<26} {mbs:8.2f} {frames / seconds:11.0f} {line_x:9.0f}x"
            f" {ratio:>9}")


def main() -> None:
    """Print the throughput table."""
    logging.getLogger().setLevel(logging.WARNING)  # mppsolar logs at DEBUG/INFO
    cases = [
        ("vedirect", vedirect_capture(3000), helio_vedirect, "vedirect 1.1.0", peer_vedirect),
        ("pi30", pi30_capture(3000), helio_pi30, "mppsolar 0.16.56", peer_pi30),
    ]
    print(f"{'protocol':<9} {'implementation':<26} {'MB/s':>8} {'frames/s':>11} "
          f"{'x line':>10} {'helio is':>9}")
    for protocol, data, ours, peer_name, peer in cases:
        seconds, frames = measure(ours, data)
        print(_row(protocol, "helio firmware_bridge", seconds=seconds, frames=frames,
                   nbytes=len(data), ref=None))
        helio_mbs = len(data) / seconds / 1e6
        peer_data = data[: data.rfind(b"\r", 0, len(data) // 5) + 1] if protocol == "pi30" else (
            data[: data.find(b"\r\nPID", len(data) // 3)])  # the peers are slower: fewer bytes
        try:
            peer_seconds, peer_frames = measure(peer, peer_data)
        except ImportError:
            print(f"{protocol:<9} {peer_name:<26} not installed (pip install -e '.[bench]')")
            continue
        print(_row(protocol, peer_name, seconds=peer_seconds, frames=peer_frames,
                   nbytes=len(peer_data), ref=helio_mbs))
    bmv = bmv_capture(2000)
    seconds, frames = measure(helio_vedirect, bmv)
    print(_row("vedirect", "helio BMV-702 (2 blocks/upd)", seconds=seconds, frames=frames,
               nbytes=len(bmv), ref=None))
    print("MB/s and frames/s on one core (CPU time); 'x line' = multiple of the serial line rate; "
          "'helio is' = helio MB/s / peer MB/s in this run.")
    modbus_maps()


def modbus_maps(polls: int = 20) -> None:
    """Each register map polled through its simulator on a pty; decode CPU time."""
    import statistics  # noqa: PLC0415
    from datetime import UTC, datetime  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from edge.forecasting.site import load_site  # noqa: PLC0415
    from edge.simulation.plant import Plant  # noqa: PLC0415
    from firmware_bridge.config import DeviceConfig  # noqa: PLC0415
    from firmware_bridge.device import DeviceSettings, open_device  # noqa: PLC0415
    from firmware_bridge.protocols import MODBUS_MAPS  # noqa: PLC0415
    from firmware_bridge.simulators.runner import start_simulator  # noqa: PLC0415

    site = load_site(Path(__file__).resolve().parents[1] / "configs/sites/abuja.toml")
    plant = Plant(site, seed=3, start=datetime(2025, 1, 10, 11, 30, tzinfo=UTC), speed=0.0)
    print(f"\n{'modbus map':<12} {'requests':>8} {'registers':>9} {'ms/poll':>8} "
          f"{'decode us':>9}  (through the simulator on a pty, time_scale 1)")
    for name, register_map in sorted(MODBUS_MAPS.items()):
        blocks = register_map.read_blocks()
        sim = start_simulator(name, plant=plant)
        cfg = DeviceConfig(id=name, protocol=name, port=sim.url, timeout=1.0)
        dev = open_device(cfg, settings=DeviceSettings())
        times = []
        try:
            for _ in range(polls):
                t0 = time.perf_counter()
                reading = dev.poll()
                times.append(time.perf_counter() - t0)
                if reading is None:
                    raise RuntimeError(f"{name}: no reading ({dev.stats})")
        finally:
            dev.close()
            sim.stop()
        words = register_map.encode(reading.values)
        t0 = time.process_time()
        for _ in range(2000):
            register_map.decode(words)
        decode_us = (time.process_time() - t0) / 2000 * 1e6
        print(f"{name:<12} {len(blocks):>8} {sum(n for _, _, n in blocks):>9} "
              f"{statistics.median(times) * 1e3:>8.1f} {decode_us:>9.1f}")


if __name__ == "__main__":
    main()
