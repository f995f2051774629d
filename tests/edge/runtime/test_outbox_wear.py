"""Group commit (the window is the most a power cut loses) and shrinking."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.runtime import outbox as outbox_module
from edge.runtime.config import load_agent_config
from edge.runtime.outbox import COMMIT_WINDOW_S, Outbox
from firmware_bridge.config import ConfigError


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


def test_default_window_commits_once_per_window(tmp_path: Path) -> None:
    """Two devices at 1 Hz for 80 s: one commit per window, none before it ends."""
    clock = FakeClock()
    box = Outbox(tmp_path / "o.sqlite", commit_window_s=COMMIT_WINDOW_S, clock=clock)
    commits: list[float] = []
    box._db.set_trace_callback(lambda sql: commits.append(clock.t) if sql == "COMMIT" else None)
    for k in range(160):
        clock.t = k * 0.5
        box.put("mppt" if k % 2 else "inverter", "reading", "t", _enc)
        if clock.t < COMMIT_WINDOW_S:
            assert box.peek(10) == []  # nothing is offered before its commit
    assert 80 / COMMIT_WINDOW_S - 1 <= len(commits) <= 80 / COMMIT_WINDOW_S + 1
    assert all(b - a >= COMMIT_WINDOW_S for a, b in itertools.pairwise(commits))
    box.close()
    with Outbox(tmp_path / "o.sqlite") as again:
        assert again.stats.queued == 160 and again.last_seq("mppt", "reading") == 80


def _pragma(box: Outbox, name: str) -> int:
    return int(box._db.execute(f"PRAGMA {name}").fetchone()[0])


def test_new_database_gets_the_page_size_and_wal_limits(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite") as box:
        assert _pragma(box, "page_size") == 1024
        assert _pragma(box, "wal_autocheckpoint") == 1000
        assert _pragma(box, "journal_size_limit") == 4 * 1024 * 1024
        assert _pragma(box, "auto_vacuum") == 2
    with Outbox(tmp_path / "b.sqlite", page_size=2048, wal_autocheckpoint=300,
                journal_size_limit=0) as box:
        assert (_pragma(box, "page_size"), _pragma(box, "wal_autocheckpoint"),
                _pragma(box, "journal_size_limit")) == (2048, 300, 0)
    with pytest.raises(ValueError, match="page_size"):
        Outbox(tmp_path / "c.sqlite", page_size=1000)


def test_small_existing_file_takes_the_page_size_and_keeps_its_queue(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with Outbox(path, page_size=4096) as old:
        old.put_many("d", "s", [("t", _enc)] * 50)
        epoch = old.epoch
    with Outbox(path) as box:
        assert _pragma(box, "page_size") == 1024 and _pragma(box, "auto_vacuum") == 2
        assert box._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert box.epoch == epoch and box.stats.queued == 50 and box.unclean is None
        assert [json.loads(r.payload)["seq"] for r in box.peek(100)] == list(range(1, 51))
        assert box.put("d", "s", "t", _enc) == 51


def test_large_existing_file_keeps_its_page_size(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A backlog is not rebuilt at start (VACUUM of a full outbox takes minutes on a Pi)."""
    path = tmp_path / "o.sqlite"
    with Outbox(path, page_size=4096) as old:
        old.put_many("d", "s", [("t", _enc)] * 50)
    monkeypatch.setattr(outbox_module, "_CONVERT_MAX", 1000)
    with Outbox(path) as box:
        assert _pragma(box, "page_size") == 4096 and box.stats.queued == 50


def test_outbox_table_keys(tmp_path: Path) -> None:
    base = ('[agent]\nsite = "s.toml"\n[model]\nbundle = "b"\npublic_key = "k"\n'
            '[mqtt]\nhost = "h"\n')
    path = tmp_path / "c.toml"
    path.write_text(base)
    cfg = load_agent_config(path).outbox
    assert (cfg.commit_window_s, cfg.page_size, cfg.synchronous) == (COMMIT_WINDOW_S, 1024, "full")
    path.write_text(base + "[outbox]\ncommit_window_s = 2.0\npage_size = 4096\n"
                    "wal_autocheckpoint = 500\njournal_size_limit = 0\n")
    cfg = load_agent_config(path).outbox
    assert (cfg.commit_window_s, cfg.page_size, cfg.wal_autocheckpoint,
            cfg.journal_size_limit) == (2.0, 4096, 500, 0)
    for bad in ("page_size = 1000", "wal_autocheckpoint = 0", "journal_size_limit = -1"):
        path.write_text(base + "[outbox]\n" + bad + "\n")
        with pytest.raises(ConfigError) as info:
            load_agent_config(path)
        assert info.value.key is not None and info.value.key.startswith("outbox")
