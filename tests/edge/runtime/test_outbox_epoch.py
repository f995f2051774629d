"""The outbox epoch (a new database is a new epoch) and a corrupt outbox database at start."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from edge.runtime.contract import EPOCH_RE
from edge.runtime.outbox import Outbox
from edge.testkit.agent_rig import Rig


def test_epoch_is_created_with_the_database_and_kept(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite") as box:
        epoch = box.epoch
        assert EPOCH_RE.fullmatch(epoch)
        box.put("mppt", "reading", "t", lambda s: b"x")
    with Outbox(tmp_path / "o.sqlite") as box:
        assert box.epoch == epoch and box.recovered is None
        assert box.put("mppt", "reading", "t", lambda s: b"x") == 2
    with Outbox(tmp_path / "other.sqlite") as box:  # a new file (new SD card): a new epoch
        assert box.epoch != epoch


@pytest.mark.parametrize("damage", ["garbage", "torn-header"])
def test_corrupt_outbox_is_moved_aside_and_a_new_epoch_starts(tmp_path: Path,
                                                              damage: str) -> None:
    """Before: sqlite3.DatabaseError at start, so systemd restarted the agent forever."""
    path = tmp_path / "outbox.sqlite"
    with Outbox(path) as box:
        old_epoch = box.epoch
        for _ in range(50):
            box.put("mppt", "reading", "t", lambda s: b"x" * 200)
    data = bytearray(path.read_bytes())
    if damage == "garbage":
        data = bytearray(b"not a database " * 400)
    else:
        data[:100] = b"\x00" * 100  # the SQLite header lost in a power cut
    path.write_bytes(bytes(data))
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(path).execute("SELECT count(*) FROM outbox").fetchone()
    box = Outbox(path)
    try:
        assert box.recovered is not None
        assert Path(box.recovered.moved_to).read_bytes() == bytes(data)  # kept for forensics
        assert re.search(r"\.corrupt-\d{8}T\d{6}Z$", box.recovered.moved_to)
        assert box.epoch != old_epoch and box.stats.queued == 0
        assert box.put("mppt", "reading", "t", lambda s: b"x") == 1
    finally:
        box.close()


def test_agent_sends_the_epoch_and_reports_a_recovered_outbox(tmp_path: Path) -> None:
    (tmp_path / "outbox.sqlite").write_bytes(b"\xde\xad" * 4096)
    rig = Rig(tmp_path)
    rig.start()
    try:
        rig.wait(lambda: len(rig.messages("/mppt/reading")) >= 3, what="readings")
        rig.wait(lambda: any(e["code"] == "outbox_recovered" for e in rig.messages("/events")),
                 what="recovery event")
    finally:
        rig.close()
    epoch = rig.outbox.epoch
    assert all(m["epoch"] == epoch for m in rig.messages("/reading"))
    assert all(m["epoch"] == epoch for m in rig.messages("/events"))
    status = json.loads(rig.publisher.retained["helio/abuja-01/gateway/status"][-1])
    assert status["epoch"] == epoch and status["seq"] >= 1
    ev = next(e for e in rig.messages("/events") if e["code"] == "outbox_recovered")
    assert ev["level"] == "error" and ".corrupt-" in ev["data"]["moved_to"]
    rig.outbox.close()
