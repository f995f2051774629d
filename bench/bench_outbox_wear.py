"""SD-card wear of the outbox: bytes written and fsyncs per reading.

Twenty simulated minutes at 1 Hz: two source devices each put one reading (about 400
bytes of JSON) per second, and the publisher acknowledges what is committed,
as the agent and the publisher do. Run twice in a child process:

- ``before``: every put commits at once and acknowledged rows are deleted
  about every 0.2 s (one delete commit per reading at 1 Hz), the behaviour
  before group commit;
- ``after``: the agent's default ``commit_window_s = 1``: puts and deletes
  of one second share one commit.

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


def child(path: str, window: float) -> None:
    """Run the simulation; print ``readings bytes_written``."""
    from datetime import UTC, datetime

    from edge.runtime.contract import Topics
    from edge.runtime.outbox import Outbox
    from edge.testkit.clocks import ManualClock

    clock = ManualClock(datetime(2026, 11, 30, 12, tzinfo=UTC))
    box = Outbox(path, commit_window_s=window, clock=clock.monotonic)
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


def _run(window: float) -> tuple[int, int, int | None]:
    with tempfile.TemporaryDirectory(prefix="helio-wear-") as tmp:
        cmd = [sys.executable, "-m", "bench.bench_outbox_wear", "--child",
               str(Path(tmp) / "outbox.sqlite"), str(window)]
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


def main() -> None:
    print(f"outbox SD-card wear, {SECONDS} s at 1 Hz x {len(DEVICES)} devices, each reading"
          " acknowledged right after its commit")
    for label, window in (("before (commit per put, delete per ack)", 0.0),
                          ("after  (group commit window 1 s)      ", 1.0)):
        readings, written, syncs = _run(window)
        per_day = written / readings * 86400 * len(DEVICES) / 1e9
        sync_text = "n/a (no strace)" if syncs is None else f"{syncs / readings:.2f}"
        print(f"  {label}: {written / readings / 1024:6.1f} KiB written/reading,"
              f" fsyncs/reading {sync_text},"
              f" {per_day:.2f} GB/day for the {len(DEVICES)} devices")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], float(sys.argv[3]))
    else:
        main()
