"""``helio-bridge read``: poll a device and print its readings as JSON lines.

One JSON object per reading on stdout (``{"device_id", "timestamp",
"values"}``), flushed as it comes (with ``--parallel N``, each poll also prints
one reading per unit, ``<device-id>_<n>``; ``--count`` counts the device's
own); the device's counters on stderr at the end. The device layer
reconnects on its own, so the command keeps going through unplugs and
silences until ``--count`` readings are printed (or forever, or until
``--max-time``).

Exit status: 0 when ``--count`` readings were printed (or on Ctrl-C), 1 when
``--max-time`` passed first, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from firmware_bridge.config import DeviceConfig
from firmware_bridge.device import DeviceSettings, open_device
from firmware_bridge.protocols import PROTOCOLS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``helio-bridge read``."""
    parser.add_argument("--protocol", required=True, choices=sorted(PROTOCOLS))
    parser.add_argument(
        "--port",
        required=True,
        metavar="URL",
        help="/dev/ttyUSB0, /dev/serial/by-id/..., socket://HOST:PORT, loop://, "
        "hid:///dev/hidraw0 (an inverter's USB port)",
    )
    parser.add_argument("--count", type=int, default=0, help="stop after N readings (0: never)")
    parser.add_argument("--device-id", help="device_id put on the readings (default: protocol)")
    parser.add_argument("--unit", type=int, default=1, help="Modbus unit (slave) id (default 1)")
    parser.add_argument(
        "--parallel", type=int, default=0, metavar="N",
        help="PI30 parallel system: also read units 0..N-1 (QPGSn), one reading each as "
        "<device-id>_<n>",
    )
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    parser.add_argument("--timeout", type=float, default=2.0, help="reply timeout [s]")
    parser.add_argument("--baudrate", type=int, default=0, help="0: the protocol's default")
    parser.add_argument(
        "--max-time", type=float, default=0.0, help="give up after this many seconds (0: never)"
    )


def run(args: argparse.Namespace) -> int:
    """Poll until enough readings were printed."""
    try:
        cfg = DeviceConfig(
            id=args.device_id or args.protocol,
            protocol=args.protocol,
            port=args.port,
            poll_interval=args.interval,
            baudrate=args.baudrate,
            timeout=args.timeout,
        )
    except ValueError as exc:
        sys.stderr.write(f"helio-bridge read: {exc}\n")
        return 2
    if args.parallel < 0:
        sys.stderr.write("helio-bridge read: --parallel must be 0 or more\n")
        return 2
    settings = DeviceSettings(device_id=args.unit, parallel_units=args.parallel)
    device = open_device(cfg, settings=settings)
    printed, started = 0, time.monotonic()
    try:
        while not args.count or printed < args.count:
            if args.max_time and time.monotonic() - started > args.max_time:
                return 1
            tick = time.monotonic()
            for reading in device.poll_all():
                sys.stdout.write(json.dumps(reading.to_json_dict()) + "\n")
                sys.stdout.flush()
                printed += reading.device_id == device.device_id
            time.sleep(max(0.0, args.interval - (time.monotonic() - tick)))
    except KeyboardInterrupt:
        pass
    finally:
        sys.stderr.write(json.dumps({"stats": device.stats.to_dict()}) + "\n")
        device.close()
    return 0
