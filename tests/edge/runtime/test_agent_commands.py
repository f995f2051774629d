"""The inbound command table: whitelist only, every outcome an event (issue #4)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from edge.runtime.inbound import CommandError, CommandTable

CMD = "helio/s/gateway/cmd"


@pytest.fixture
def table() -> tuple[CommandTable, list[str]]:
    calls: list[str] = []
    t = CommandTable(CMD)

    def ok(args: Mapping[str, Any]) -> Mapping[str, Any]:
        calls.append("report_status")
        return {"n": 1}

    def refuse(args: Mapping[str, Any]) -> None:
        raise CommandError("bundle tampered")

    t.register("report_status", ok)
    t.register("reload_model", refuse)
    t.register_topic("model", lambda payload: {"size": len(payload)})
    return t, calls


def test_known_command_runs(table) -> None:  # type: ignore[no-untyped-def]
    t, calls = table
    out = t.handle(CMD, b'{"command": "report_status"}')
    assert (out.level, out.code) == ("info", "command_ok")
    assert out.data == {"command": "report_status", "n": 1}
    assert calls == ["report_status"]
    assert t.subscription == CMD + "/#"


@pytest.mark.parametrize(
    "payload",
    [b'{"command": "rm -rf /"}', b'{"command": "__import__"}', b"not json", b"\xff\xfe",
     b'["report_status"]', b'{"cmd": "report_status"}', b'{"command": 3}',
     json.dumps({"command": "report_status", "pad": "x" * 5000}).encode()],
    ids=["shell", "dunder", "not-json", "binary", "list", "wrong-key", "not-str", "too-big"],
)
def test_anything_else_is_rejected_and_nothing_runs(table, payload: bytes) -> None:  # type: ignore[no-untyped-def]
    t, calls = table
    out = t.handle(CMD, payload)
    assert (out.level, out.code) == ("error", "command_rejected")
    assert calls == []


def test_handler_refusal_is_an_error_event(table) -> None:  # type: ignore[no-untyped-def]
    t, _ = table
    out = t.handle(CMD, b'{"command": "reload_model"}')
    assert (out.level, out.code, out.message) == ("error", "command_failed", "bundle tampered")


def test_subtopic_handlers(table) -> None:  # type: ignore[no-untyped-def]
    t, _ = table
    assert t.handle(CMD + "/model", b"abc").data == {"size": 3}
    assert t.handle(CMD + "/shell", b"ls").code == "command_rejected"
