"""``helio-bridge decode``: decode a raw serial capture into JSON lines.

One JSON object per valid frame on stdout (``{"device_id", "timestamp",
"values"}`` in the vocabulary of :mod:`firmware_bridge.readings`), and one
summary line with the counts of rejected frames on stderr. The capture is read
in chunks, so files of any size and live pipes (``-``) work.

Exit status: 0 when at least one frame decoded, 1 when none did, 2 when the
input cannot be read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import BinaryIO

from firmware_bridge.errors import BridgeError
from firmware_bridge.protocols import pi30, vedirect
from firmware_bridge.protocols.base import Values
from firmware_bridge.readings import Reading
from firmware_bridge.timestamps import parse_utc

CHUNK = 1 << 16


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``helio-bridge decode``."""
    parser.add_argument("capture", metavar="FILE", help="raw capture file, or - for stdin")
    parser.add_argument("--protocol", required=True, choices=("vedirect", "pi30"))
    parser.add_argument("--command", choices=sorted(pi30.COMMANDS),
                        help="pi30 only: the command the captured replies answer")
    parser.add_argument("--device-id", help="device_id of the readings (default: the protocol)")
    parser.add_argument("--start", type=_parse_time, metavar="ISO8601",
                        help="timestamp of the first frame (default: now); "
                             "frame i gets start + i * interval")
    parser.add_argument("--interval", type=float, default=1.0, metavar="S",
                        help="seconds between frames when --start is given (default 1)")


def _parse_time(text: str) -> datetime:
    try:
        return parse_utc(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read1(CHUNK) if hasattr(stream, "read1") else stream.read(CHUNK):
        yield chunk


class _Counts:
    def __init__(self) -> None:
        self.decoded = 0
        self.decode_errors = 0

    def apply(self, decode: Callable[[], Values]) -> Values | None:
        """``decode()``, counting successes and bridge errors (None on error)."""
        try:
            values = decode()
        except BridgeError:
            self.decode_errors += 1
            return None
        self.decoded += 1
        return values


def _vedirect(chunks: Iterator[bytes], emit: Callable[[Values], None]) -> str:
    framer = vedirect.VeDirectFramer()
    counts = _Counts()
    for chunk in chunks:
        for block in framer.feed(chunk):
            values = counts.apply(partial(vedirect.decode, block))
            if values is not None:
                emit(values)
    rejected = framer.frames_bad + counts.decode_errors
    return (f"frames_ok={counts.decoded} rejected={rejected} "
            f"(checksum_errors={framer.checksum_errors} format_errors={framer.format_errors} "
            f"decode_errors={counts.decode_errors}) hex_frames={framer.hex_frames} "
            f"hex_errors={framer.hex_errors} garbage_bytes={framer.garbage_bytes}")


def _pi30_values(command: str, reply: pi30.Pi30Reply) -> Values:
    return pi30.decode(command, reply).values


def _pi30(chunks: Iterator[bytes], command: str, emit: Callable[[Values], None]) -> str:
    framer = pi30.Pi30Framer()
    counts = _Counts()
    for chunk in chunks:
        for reply in framer.feed(chunk):
            values = counts.apply(partial(_pi30_values, command, reply))
            if values is not None:
                emit(values)
    rejected = framer.frames_bad + counts.decode_errors
    return (f"frames_ok={counts.decoded} rejected={rejected} "
            f"(crc_errors={framer.crc_errors} format_errors={framer.format_errors} "
            f"naks={framer.naks} decode_errors={counts.decode_errors - framer.naks}) "
            f"garbage_bytes={framer.garbage_bytes}")


def run(args: argparse.Namespace) -> int:
    """Decode ``args.capture``; see the module docstring."""
    if args.protocol == "pi30" and not args.command:
        sys.stderr.write("helio-bridge decode: --command is required with --protocol pi30\n")
        return 2
    device_id = args.device_id or args.protocol
    index = 0

    def emit(values: Values) -> None:
        nonlocal index
        if args.start is None:
            stamp = datetime.now(UTC)
        else:
            stamp = args.start + timedelta(seconds=index * args.interval)
        index += 1
        line = json.dumps(Reading(device_id, stamp, values).to_json_dict(), separators=(",", ":"))
        sys.stdout.write(line + "\n")

    try:
        stream = sys.stdin.buffer if args.capture == "-" else open(args.capture, "rb")  # noqa: SIM115
    except OSError as exc:
        sys.stderr.write(f"helio-bridge decode: cannot read {args.capture}: {exc.strerror}\n")
        return 2
    try:
        with stream:
            if args.protocol == "vedirect":
                summary = _vedirect(_chunks(stream), emit)
            else:
                summary = _pi30(_chunks(stream), args.command, emit)
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (``| head``): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    sys.stderr.write(f"{args.protocol}: {summary}\n")
    return 0 if index else 1
