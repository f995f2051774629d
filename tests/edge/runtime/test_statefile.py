"""State files: atomic writes, and an unreadable file moved aside instead of failing every start."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edge.runtime.statefile import CorruptStateError, move_aside, read_state, write_private


def test_write_then_read_round_trips_with_private_mode(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    write_private(path, b'{"a": 1}')
    assert read_state(path) == {"a": 1}
    assert os.stat(path).st_mode & 0o777 == 0o600
    write_private(path, b'{"a": 2}')  # replaces, leaves no temporary file
    assert read_state(path) == {"a": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_missing_file_is_no_state(tmp_path: Path) -> None:
    assert read_state(tmp_path / "none.json") is None


@pytest.mark.parametrize("content", [b"\x00\x00torn", b'{"a": ', b"[1, 2]", b'"text"',
                                     b"\xff\xfe not utf-8"])
def test_unreadable_state_is_moved_aside_and_kept(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "rollout.json"
    path.write_bytes(content)
    with pytest.raises(CorruptStateError) as info:
        read_state(path)
    moved = Path(info.value.moved_to)
    assert moved.read_bytes() == content and not path.exists()
    assert ".corrupt-" in moved.name and info.value.path == str(path)
    assert read_state(path) is None  # the next start begins afresh


def test_write_never_follows_a_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / "s.json.tmp").symlink_to(victim)
    write_private(tmp_path / "s.json", b"{}")
    assert victim.read_text() == "keep" and read_state(tmp_path / "s.json") == {}


def test_move_aside_never_overwrites_an_earlier_copy(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("one")
    first = move_aside(path)
    path.write_text("two")
    second = move_aside(path)
    assert first != second
    assert Path(first).read_text() == "one" and Path(second).read_text() == "two"
