"""topic_prefix and ids, the reserved ``monitor`` id, transactions that fail."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from edge.runtime.config import load_agent_config
from edge.runtime.outbox import Outbox
from firmware_bridge.config import ConfigError

BASE = '[agent]\nsite = "s.toml"\n[model]\nbundle = "b"\npublic_key = "k"\n'


def _load(tmp_path: Path, extra: str) -> None:
    cfg = tmp_path / "agent.toml"
    cfg.write_text(BASE + extra)
    load_agent_config(cfg)


@pytest.mark.parametrize(("extra", "key"), [
    ('[mqtt]\ntopic_prefix = "helio/#"\n', "mqtt"),
    ('[mqtt]\ntopic_prefix = "h\u00e9lio"\n', "mqtt"),
    ('[mqtt]\ntopic_prefix = ""\n', "mqtt"),
    ('[[devices]]\nid = "monitor"\nprotocol = "vedirect"\nport = "/dev/ttyUSB0"\n',
     "devices[0].id"),
    ('[[devices]]\nid = "mppt\u00b2"\nprotocol = "vedirect"\nport = "/dev/ttyUSB0"\n',
     "devices[0]"),
])
def test_bad_prefix_and_ids_name_file_and_key(tmp_path: Path, extra: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, extra)
    assert "agent.toml" in str(err.value) and key in str(err.value)


def test_agent_id_monitor_is_reserved(tmp_path: Path) -> None:
    cfg = tmp_path / "agent.toml"
    cfg.write_text(BASE.replace('[agent]\n', '[agent]\nid = "monitor"\n'))
    with pytest.raises(ConfigError, match="reserved"):
        load_agent_config(cfg)


def _fail_on(path: Path, table: str, op: str) -> None:
    """A trigger (from another connection) that aborts the statement: a failing write."""
    con = sqlite3.connect(path)
    con.execute(f"CREATE TRIGGER fail_{op} BEFORE {op} ON {table} "
                "BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END")
    con.commit()
    con.close()


def _heal(path: Path, op: str) -> None:
    con = sqlite3.connect(path)
    con.execute(f"DROP TRIGGER fail_{op}")
    con.commit()
    con.close()


def test_next_seq_and_ack_roll_back_on_error(tmp_path: Path) -> None:
    """Before: the failed transaction stayed open and every later call failed too."""
    path = tmp_path / "o.sqlite"
    box = Outbox(path)
    box.put("gw", "events", "t", lambda s: b"x")
    box.next_seq("gw", "status")
    _fail_on(path, "seq", "UPDATE")
    with pytest.raises(sqlite3.DatabaseError, match="simulated"):
        box.next_seq("gw", "status")
    _heal(path, "UPDATE")
    assert box.next_seq("gw", "status") == 2  # the failed one took no number
    _fail_on(path, "outbox", "DELETE")
    with pytest.raises(sqlite3.DatabaseError, match="simulated"):
        box.ack([r.id for r in box.peek(10)])
    _heal(path, "DELETE")
    assert box.stats.queued == 1
    assert box.ack([r.id for r in box.peek(10)]) == 1
    assert box.put("gw", "events", "t", lambda s: b"x") == 2
    box.close()
