"""SD-card wear of the outbox: bytes written and fsyncs per reading, per setting.

Twenty simulated minutes at 1 Hz: two source devices each put one reading (about 400
bytes of JSON) per second, and the publisher acknowledges what is committed,
as the agent and the publisher do. Each setting of :data:`SETTINGS` (the
Outbox keywords that differ from the defaults: ``commit_window_s``,
``synchronous``, ``page_size``, ``wal_autocheckpoint``) runs in a child process
on a new database. Target: <= 2 KiB and <= 0.1 fsync per reading.

Bytes written are the child's ``wchar`` from ``/proc/self/io`` (every byte
SQLite hands to write/pwrite, WAL and checkpoints included); fsync and
fdatasync calls are counted with ``strace -c`` when strace is installed.
Simulated time (an injected clock), so the run takes seconds.
"""

# ruff: noqa: PLC0415

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SECONDS = 1200
DEVICES = ("mppt", "inverter")


def _io_written() -> int:
    with open("/proc/self/io") as fh:
        for line in fh:
            if line.startswith("wchar:"):
                return int(line.split()[1])
    return 0


def child(path: str, settings: str) -> None:
    """Run the simulation with ``settings`` (JSON of Outbox keywords); print ``readings bytes``."""
    from datetime import UTC, datetime

    from edge.runtime.contract import Topics
    from edge.runtime.outbox import Outbox
    from edge.testkit.clocks import ManualClock

    clock = ManualClock(datetime(2026, 11, 30, 12, tzinfo=UTC))
    from edge.runtime.outbox import COMMIT_WINDOW_S

    box = Outbox(path, clock=clock.monotonic,
                 **{"commit_window_s": COMMIT_WINDOW_S, **json.loads(settings)})
    values = {"pv_power": 812.5, "battery_voltage": 52.31, "battery_current": 14.2,
              "pv_voltage": 97.4, "load_power": 402.0, "charge_state": "bulk",
              "yield_today": 3.42, "battery_soc": 81.0}
    body = {"schema_version": 1, "site_id": "abuja-01", "stream": "reading",
            "timestamp": "2026-11-30T12:00:00Z", "values": values,
            "units": {k: "W" for k in values}, "stale": []}
    box.flush()
    start = _io_written()
    after_id = 0
    n = 0
    for sec in range(SECONDS):
        for k, dev in enumerate(DEVICES):
            clock.mono = sec + 0.3 * k
            box.put(dev, "reading", Topics("abuja-01").of(dev, "reading"),
                    lambda s, d=dev: json.dumps({**body, "device_id": d, "seq": s}).encode())
            n += 1
            # the publisher: send what is committed, acknowledge it once the PUBACK is in
            rows = box.peek(100, after_id=after_id)
            if rows:
                after_id = rows[-1].id
                box.ack([r.id for r in rows])
    box.close()
    sys.stdout.write(f"{n} {_io_written() - start}\n")


def _run(settings: dict[str, object]) -> tuple[int, int, int | None]:
    with tempfile.TemporaryDirectory(prefix="helio-wear-") as tmp:
        cmd = [sys.executable, "-m", "bench.bench_outbox_wear", "--child",
               str(Path(tmp) / "outbox.sqlite"), json.dumps(settings)]
        strace = shutil.which("strace")
        summary = Path(tmp) / "strace.txt"
        if strace:
            cmd = [strace, "-f", "-c", "-e", "trace=fsync,fdatasync", "-o", str(summary), *cmd]
        out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
        readings, written = (int(x) for x in out.stdout.split())
        syncs = None
        if strace:
            syncs = sum(int(m.group(1)) for m in re.finditer(
                r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?f(?:data)?sync$",
                summary.read_text(), re.M))
        return readings, written, syncs


#: (label, Outbox keywords that differ from the defaults: 8 s, FULL, 1 KiB pages,
#: autocheckpoint 1000 pages).
SETTINGS: list[tuple[str, dict[str, object]]] = [
    ("default: window 8 s, full, 1 KiB", {}),
    ("commit per put (window 0), full, 4 KiB", {"commit_window_s": 0.0, "page_size": 4096}),
    ("before: window 1 s, full, 4 KiB", {"commit_window_s": 1.0, "page_size": 4096}),
    ("window 1 s, normal, 4 KiB", {"commit_window_s": 1.0, "synchronous": "normal",
                                   "page_size": 4096}),
    ("window 1 s, full, 1 KiB", {"commit_window_s": 1.0}),
    ("window 1 s, normal, 1 KiB", {"commit_window_s": 1.0, "synchronous": "normal"}),
    ("window 5 s, full, 4 KiB", {"commit_window_s": 5.0, "page_size": 4096}),
    ("window 5 s, full, 2 KiB", {"commit_window_s": 5.0, "page_size": 2048}),
    ("window 5 s, full, 1 KiB", {"commit_window_s": 5.0}),
    ("window 5 s, normal, 1 KiB", {"commit_window_s": 5.0, "synchronous": "normal"}),
    ("window 6 s, full, 1 KiB", {"commit_window_s": 6.0}),
    ("window 10 s, full, 1 KiB", {"commit_window_s": 10.0}),
    ("window 8 s, full, 1 KiB, checkpoint 4000", {"wal_autocheckpoint": 4000}),
    ("window 8 s, full, 1 KiB, checkpoint 250", {"wal_autocheckpoint": 250}),
]


def main() -> None:
    print(f"outbox SD-card wear, {SECONDS} s at 1 Hz x {len(DEVICES)} devices, each reading"
          " acknowledged right after its commit")
    print(f"  {'setting':<42} {'KiB/reading':>11} {'fsync/reading':>13} {'MB/day':>7}"
          f" {'fsync/day':>9}")
    for label, settings in SETTINGS:
        readings, written, syncs = _run(settings)
        per_day = readings / SECONDS * 86400
        sync_text = "n/a" if syncs is None else f"{syncs / readings:.3f}"
        day_text = "n/a" if syncs is None else f"{syncs / readings * per_day:.0f}"
        print(f"  {label:<42} {written / readings / 1024:11.2f} {sync_text:>13}"
              f" {written / readings * per_day / 1e6:7.0f} {day_text:>9}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
