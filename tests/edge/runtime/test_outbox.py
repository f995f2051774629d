"""The durable outbox: order, sequence numbers, bounded size, crash safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.runtime.outbox import Outbox


def _enc(seq: int) -> bytes:
    return json.dumps({"seq": seq}).encode()


def _seqs(box: Outbox) -> list[int]:
    return [json.loads(r.payload)["seq"] for r in box.peek(10**9)]


def test_outbox_fifo_and_seq_per_stream(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite") as box:
        assert box.put("mppt", "reading", "t/a", _enc) == 1
        assert box.put("mppt", "reading", "t/a", _enc) == 2
        assert box.put("inverter", "reading", "t/b", _enc) == 1
        assert box.put("mppt", "events", "t/c", _enc) == 1
        rows = box.peek(10)
        assert [r.topic for r in rows] == ["t/a", "t/a", "t/b", "t/c"]
        assert [r.id for r in rows] == sorted(r.id for r in rows)
        assert box.peek(10, after_id=rows[1].id) == rows[2:]
        assert box.stats.queued == 4


def test_outbox_ack_deletes_only_acknowledged(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite") as box:
        for _ in range(5):
            box.put("d", "s", "t", _enc)
        rows = box.peek(10)
        assert box.ack([rows[1].id, rows[3].id]) == 2
        assert box.ack([rows[1].id]) == 0  # already gone: harmless
        assert _seqs(box) == [1, 3, 5]
        assert box.stats.queued == 3


def test_outbox_seq_and_queue_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with Outbox(path) as box:
        for _ in range(3):
            box.put("d", "s", "t", _enc)
        box.ack([box.peek(1)[0].id])
    with Outbox(path) as box:
        assert box.stats.queued == 2
        assert box.put("d", "s", "t", _enc) == 4
        assert _seqs(box) == [2, 3, 4]
        assert box.next_seq("gw", "status") == 1
        assert box.next_seq("gw", "status") == 2
        assert box.last_seq("d", "s") == 4


def test_outbox_evicts_oldest_and_counts(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with Outbox(path, max_messages=10) as box:
        for _ in range(25):
            box.put("d", "s", "t", _enc)
        assert box.stats.queued == 10
        assert box.stats.evicted == 15
        assert _seqs(box) == list(range(16, 26))
    with Outbox(path, max_messages=10) as box:  # the count is durable
        assert box.stats.evicted == 15


def test_outbox_put_many_is_one_transaction(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite") as box:
        assert box.put_many("d", "s", [("t", _enc)] * 4) == [1, 2, 3, 4]

        def bad(seq: int) -> bytes:
            raise ValueError("cannot encode")

        with pytest.raises(ValueError):
            box.put_many("d", "s", [("t", _enc), ("t", bad)])
        assert box.put("d", "s", "t", _enc) == 5  # the failed batch took no seq
        assert _seqs(box) == [1, 2, 3, 4, 5]


def test_outbox_listener_called_after_put(tmp_path: Path) -> None:
    calls: list[int] = []
    with Outbox(":memory:") as box:
        box.add_listener(lambda: calls.append(box.stats.queued))
        box.put("d", "s", "t", _enc)
    assert calls == [1]


_WRITER = """
import json, sys
from edge.runtime.outbox import Outbox
box = Outbox(sys.argv[1])
while True:
    seq = box.put("d", "s", "t", lambda s: json.dumps({"seq": s, "pad": "x" * 200}).encode())
    sys.stdout.write(f"{seq}\\n")
    sys.stdout.flush()
"""


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.0, 0.3, 1.2], ids=["early", "mid", "late"])
def test_outbox_survives_sigkill_without_gap(tmp_path: Path, delay: float) -> None:
    """kill -9 at an arbitrary moment: every returned put is durable, seq has no gap."""
    path = tmp_path / "o.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the writer is running (imports take a while under load)
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate()
    printed = [int(x) for x in (first + out).split()]
    assert printed, "writer produced nothing"
    with Outbox(path) as box:
        last = box.last_seq("d", "s")
        assert last >= printed[-1]  # every put that returned is on disk
        # nothing acknowledged: every message is there, in order, no gap
        assert _seqs(box) == list(range(1, last + 1))
        assert box.put("d", "s", "t", _enc) == last + 1
        assert box._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
