"""Group commit (the window is the most a power cut loses) and shrinking."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.runtime.outbox import Outbox


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _committed(path: Path) -> int:
    con = sqlite3.connect(path)
    try:
        return int(con.execute("SELECT count(*) FROM outbox").fetchone()[0])
    finally:
        con.close()


def _enc(seq: int) -> bytes:
    return json.dumps({"seq": seq}).encode()


def test_puts_in_one_window_share_one_commit(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    clock = FakeClock()
    box = Outbox(path, commit_window_s=1.0, clock=clock)
    woke: list[int] = []
    box.add_listener(lambda: woke.append(1))
    assert [box.put("mppt", "reading", "t", _enc) for _ in range(3)] == [1, 2, 3]
    assert box.put("inverter", "reading", "t", _enc) == 1
    assert box.stats.queued == 4 and box.last_seq("mppt", "reading") == 3
    assert box.peek(10) == [] and _committed(path) == 0 and woke == []  # not yet durable
    clock.t = 1.0  # the window of the first put has passed: the next put commits all
    assert box.put("mppt", "reading", "t", _enc) == 4
    assert _committed(path) == 5 and len(box.peek(10)) == 5 and woke == [1]
    assert [json.loads(r.payload)["seq"] for r in box.peek(10)] == [1, 2, 3, 1, 4]
    box.put("mppt", "reading", "t", _enc)
    box.close()  # a clean close commits what is pending
    with Outbox(path) as again:
        assert again.last_seq("mppt", "reading") == 5 and again.stats.queued == 6


def test_background_commit_when_no_more_puts_come(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    box = Outbox(path, commit_window_s=0.3)
    box.put("mppt", "reading", "t", _enc)
    assert _committed(path) == 0
    deadline = time.monotonic() + 5
    while _committed(path) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _committed(path) == 1 and len(box.peek(5)) == 1
    box.close()


_WRITER = """
import json, sys, time
from edge.runtime.outbox import Outbox
box = Outbox(sys.argv[1], commit_window_s=float(sys.argv[2]))
n = 0
while True:
    n = box.put("d", "s", "t", lambda s: json.dumps({"seq": s}).encode())
    sys.stdout.write(f"{n} {time.monotonic()}\\n")
    sys.stdout.flush()
    time.sleep(0.01)
"""


@pytest.mark.slow
def test_kill_loses_at_most_the_window_and_seq_has_no_gap(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    window = 0.5
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(window)],
                            stdout=subprocess.PIPE, text=True, env={**os.environ})
    assert proc.stdout is not None
    proc.stdout.readline()
    time.sleep(1.7)
    os.kill(proc.pid, signal.SIGKILL)
    killed = time.monotonic()
    out, _ = proc.communicate()
    lines = [line.split() for line in out.splitlines() if line.strip()]
    with Outbox(path) as box:
        seqs = [json.loads(r.payload)["seq"] for r in box.peek(10**6)]
        last = box.last_seq("d", "s")
        assert seqs == list(range(1, last + 1))  # committed ones: in order, no gap
        # lost: only puts from the last window before the kill
        lost_times = [float(t) for n, t in lines if int(n) > last]
        assert all(killed - t <= window + 0.5 for t in lost_times)
        assert box.put("d", "s", "t", _enc) == last + 1  # numbers never sent are reused


def test_database_shrinks_after_the_queue_drains(tmp_path: Path) -> None:
    """Before: a drained outbox kept its full size (a full one is about 410 MB)."""
    path = tmp_path / "o.sqlite"
    box = Outbox(path)
    pad = "x" * 1000
    box.put_many("d", "s", [("t", lambda s: json.dumps({"seq": s, "pad": pad}).encode())] * 8000)
    box._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    full = path.stat().st_size
    assert full > 8_000_000
    box.ack([r.id for r in box.peek(10**6)])
    box._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert path.stat().st_size < 2_000_000
    assert box.put("d", "s", "t", _enc) == 8001
    box.close()


def test_existing_database_is_converted_to_incremental_vacuum(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)
    con.executescript("CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT"
                      " NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT"
                      " NULL); INSERT INTO outbox (topic, payload, qos, retain)"
                      " VALUES ('t', x'00', 1, 0);")
    con.close()
    with Outbox(path) as box:
        assert box._db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
        assert box.stats.queued == 1


def test_acks_join_the_next_group_commit(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    clock = FakeClock()
    box = Outbox(path, commit_window_s=1.0, clock=clock)
    box.put("mppt", "reading", "t", _enc)
    box.put("inverter", "reading", "t", _enc)
    box.flush()
    rows = box.peek(10)
    assert box.ack([r.id for r in rows]) == 2
    assert box.peek(10) == [] and box.stats.queued == 0  # not offered again
    assert _committed(path) == 2  # the deletes wait for the window
    clock.t = 1.5
    box.put("mppt", "reading", "t", _enc)  # one commit: two deletes and one insert
    assert _committed(path) == 1 and box.stats.queued == 1
    box.close()
