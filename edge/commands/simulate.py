"""``helio-edge simulate``: serve a simulated device on a pty or TCP until stopped.

Prints the path or URL a reader opens (one line, flushed) on stdout, then
serves until SIGINT or SIGTERM. With ``--pty`` (the default) the path is a
stable link to the pseudo-terminal (it survives the ``disappear`` fault, as a
``/dev/serial/by-id`` path does); with ``--listen HOST:PORT`` it is
``socket://HOST:PORT``.

Exit status: 0 after a clean stop, 2 on bad arguments or an unreadable site.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path
from types import FrameType

from edge.forecasting.site import load_site
from firmware_bridge.config import ConfigError
from firmware_bridge.protocols import MODBUS_MAPS
from firmware_bridge.simulators.faults import FAULT_NAMES, parse_faults
from firmware_bridge.timestamps import parse_utc

DEFAULT_SITE = "configs/sites/abuja.toml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``helio-edge simulate``."""
    simulated = ("vedirect", "pi30", *sorted(MODBUS_MAPS))
    parser.add_argument("--protocol", required=True, choices=simulated)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--pty", action="store_true", help="serve on a pseudo-terminal (default)")
    where.add_argument("--listen", metavar="HOST:PORT", help="serve on TCP (socket://HOST:PORT)")
    where.add_argument(
        "--usb", action="store_true",
        help="serve a USB-HID stand-in with 8-byte reports (hid://PATH; pi30 on its USB port)",
    )
    parser.add_argument("--link", metavar="PATH", help="stable path of the pty link")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per real second (default 1)"
    )
    parser.add_argument(
        "--start",
        metavar="ISO8601",
        help="simulated start time, e.g. 2025-01-10T11:00Z (default: now)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME[:RATE]",
        help=f"switch a fault on (repeatable): {', '.join(FAULT_NAMES)}",
    )
    parser.add_argument("--site", default=DEFAULT_SITE, help=f"site file (default {DEFAULT_SITE})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--profile",
        help="vedirect: smartsolar|bluesolar|bmv; pi30: pi30|max|parallel2|parallel3",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="multiply protocol timings (block interval, latency)",
    )


def _site_path(name: str) -> Path:
    path = Path(name)
    if not path.exists() and name == DEFAULT_SITE:
        path = Path(__file__).resolve().parents[2] / DEFAULT_SITE  # a source checkout
    return path


def run(args: argparse.Namespace) -> int:
    """Start the simulator, print where it is, serve until a signal."""
    try:
        parse_faults(args.fault)
    except ValueError as exc:
        sys.stderr.write(f"helio-edge simulate: {exc}\n")
        return 2
    # imported here: pvlib and pandas take a second, and `read` shares this parser
    from edge.simulation.plant import Plant  # noqa: PLC0415
    from firmware_bridge.simulators.runner import start_simulator  # noqa: PLC0415

    try:
        site = load_site(_site_path(args.site))
        start = _start_time(args.start)
        plant = Plant(site, seed=args.seed, speed=args.speed, start=start)
        handle = start_simulator(
            args.protocol,
            faults=args.fault,
            listen=args.listen,
            seed=args.seed,
            plant=plant,
            link=args.link,
            time_scale=args.time_scale,
            profile=args.profile,
            usb=args.usb,
        )
    except (ConfigError, ValueError, OSError) as exc:
        sys.stderr.write(f"helio-edge simulate: {exc}\n")
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        sys.stdout.write(handle.url + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        handle.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _start_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return parse_utc(text)
