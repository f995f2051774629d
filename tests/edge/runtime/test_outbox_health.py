"""Damage the outbox cannot see at open, a crash it must notice, and parking.

SQLite opens a file whose pointer-map page (page 2 with ``auto_vacuum``) is
overwritten with random bytes without complaint, and the damage surfaces
later, inside a commit on the agent's hot path. The outbox runs a
time-bounded ``PRAGMA quick_check`` at open, moves a damaged file aside and
carries over the messages that can still be read. A process that never
closed the database (``kill -9``, power cut) is noticed at the next open.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from edge.runtime.outbox import Outbox


def _fill(path: Path, n: int = 3000) -> str:
    with Outbox(path) as box:
        for i in range(n):
            box.put("mppt", "reading", "helio/s/mppt/reading",
                    lambda s, i=i: json.dumps({"seq": s, "i": i}).encode() + b" " * 150)
        return box.epoch


def _scramble_page(path: Path, page: int) -> bytes:
    data = bytearray(path.read_bytes())
    size = int.from_bytes(data[16:18], "big")  # the header's page size
    rnd = random.Random(7)
    data[(page - 1) * size: page * size] = bytes(rnd.randrange(256) for _ in range(size))
    path.write_bytes(bytes(data))
    return bytes(data)


def test_pointer_map_damage_is_found_at_open_and_the_queue_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    old_epoch = _fill(path)
    damaged = _scramble_page(path, 2)
    # SQLite itself reads the file without noticing
    assert sqlite3.connect(path).execute("SELECT count(*) FROM outbox").fetchone() == (3000,)
    box = Outbox(path)
    try:
        assert box.recovered is not None, "damage went undetected"
        assert "quick_check" in box.recovered.error
        assert Path(box.recovered.moved_to).read_bytes() == damaged  # kept for forensics
        assert box.recovered.salvaged == 3000
        assert box.stats.queued == 3000 and box.epoch != old_epoch
        first = [json.loads(r.payload)["i"] for r in box.peek(5)]
        assert first == [0, 1, 2, 3, 4]  # in their order, payloads intact
        assert box.put("mppt", "reading", "t", lambda s: b"x") == 1  # counters restart
        assert box.check == "failed"
    finally:
        box.close()
    with Outbox(path) as again:
        assert again.recovered is None and again.check == "ok"


def test_a_clean_file_passes_the_check_and_a_bounded_check_gives_up(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    _fill(path, 200)
    with Outbox(path) as box:
        assert box.check == "ok" and box.recovered is None
    with Outbox(path, check_s=0) as box:
        assert box.check == "skipped"
    with Outbox(path, check_s=1e-9) as box:  # the bound is a deadline, never a hang
        assert box.check in ("incomplete", "ok") and box.recovered is None
        assert box.stats.queued == 200


def test_a_clean_close_is_not_reported_as_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    with Outbox(path) as box:
        assert box.unclean is None
        box.put("mppt", "reading", "t", lambda s: b"x")
    with Outbox(path) as box:
        assert box.unclean is None


def test_kill_9_is_noticed_at_the_next_open_with_the_last_commit_time(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    code = (
        "import sys, time\n"
        "from edge.runtime.outbox import Outbox\n"
        f"box = Outbox({str(path)!r}, commit_window_s=1.0)\n"
        "for i in range(10000):\n"
        "    box.put('mppt', 'reading', 't', lambda s: b'x' * 100)\n"
        "    if i == 20: print('ready', flush=True)\n"
        "    time.sleep(0.01)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    time.sleep(1.6)
    killed_at = time.time()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with Outbox(path) as box:
        assert box.unclean is not None
        assert killed_at - 3.0 < box.unclean.last_commit_utc <= killed_at + 0.01
        # only committed rows exist, numbered 1..last without a hole: the numbers the
        # crash lost inside the window were never stored, so never published
        assert len(box.peek(100_000)) == box.stats.queued == box.last_seq("mppt", "reading")
    with Outbox(path) as box:
        assert box.unclean is None  # reported once: the next stop was clean


def test_park_and_requeue_keep_every_message(tmp_path: Path) -> None:
    t = [1000.0]
    with Outbox(tmp_path / "o.sqlite", wall=lambda: t[0]) as box:
        for i in range(3):
            box.put("mppt", "reading", f"t/{i}", lambda s: b"x")
        first = box.peek(1)[0]
        assert box.park(first.id, "Not authorized")
        assert not box.park(first.id, "again")  # gone from the queue: nothing moved
        assert [r.topic for r in box.peek(10)] == ["t/1", "t/2"]
        assert box.stats.queued == 2 and box.stats.parked == 1
        (row, why, at), = box.parked()
        assert row.topic == "t/0" and why == "Not authorized" and at == 1000.0
        assert box.requeue_parked(older_than_s=60) == 0  # not old enough
        t[0] += 61
        assert box.requeue_parked(older_than_s=60) == 1
        assert [r.topic for r in box.peek(10)] == ["t/1", "t/2", "t/0"]  # back at the end
        assert box.stats.parked == 0 and box.stats.queued == 3
