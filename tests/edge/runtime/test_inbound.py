"""Inbound messages: the command table (whitelist only, every outcome an event), the
admission gate (token bucket per topic, byte and message budget) and the rejection
reporter (one event per kind per window, the rest summed up), each on a manual clock."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from edge.runtime.inbound import (
    CommandError,
    CommandOutcome,
    CommandTable,
    InboundGate,
    RejectionReporter,
)
from edge.testkit.agent_rig import START, ManualClock

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


class Events:
    """An event sink that keeps what it is given."""

    def __init__(self) -> None:
        self.got: list[tuple[str, str, str, dict[str, Any]]] = []

    def __call__(self, level: str, code: str, message: str, /, **data: Any) -> None:
        self.got.append((level, code, message, data))

    @property
    def codes(self) -> list[str]:
        return [e[1] for e in self.got]


def test_gate_admits_a_burst_per_topic_then_the_sustained_rate() -> None:
    clock = ManualClock(START)
    gate = InboundGate(clock, [CMD], rate=2.0, burst=10)
    for i in range(12):
        gate.offer(CMD, b"%d" % i)
    assert gate.queued == 10 and gate.dropped == {CMD: 2}
    clock.sleep(0.5)  # one token back at 2/s
    gate.offer(CMD, b"a")
    gate.offer(CMD, b"b")
    assert gate.queued == 11 and gate.dropped == {CMD: 3}
    # another named topic has its own bucket; unnamed topics share one
    gate.offer("helio/s/gateway/other", b"x")
    assert gate.queued == 12 and "<other>" not in gate.dropped
    assert [gate.take() for _ in range(2)] == [(CMD, b"0"), (CMD, b"1")]


def test_gate_bounds_the_bytes_and_messages_waiting() -> None:
    gate = InboundGate(ManualClock(START), [CMD], burst=100, max_bytes=10, max_messages=3)
    gate.offer(CMD, b"123456")
    gate.offer(CMD, b"123456")  # over the byte budget
    assert gate.queued == 1 and gate.queued_bytes == 6 and gate.dropped == {CMD: 1}
    gate.offer(CMD, b"1")
    gate.offer(CMD, b"2")
    gate.offer(CMD, b"3")  # the queue is full
    assert gate.queued == 3 and gate.dropped == {CMD: 2}
    assert gate.take() == (CMD, b"123456") and gate.queued_bytes == 2
    assert gate.put("connected", b"")  # the loop's own markers skip the rate budget
    while gate.take() is not None:
        pass
    assert gate.queued == 0 and gate.queued_bytes == 0


def test_rejections_are_reported_once_per_window_then_summed_up() -> None:
    clock, events = ManualClock(START), Events()
    dropped: dict[str, int] = {}
    reporter = RejectionReporter(clock, events, dropped, window_s=60.0)
    bad = CommandOutcome("error", "command_rejected", "not JSON")
    failed = CommandOutcome("error", "command_failed", "tampered")
    ok = CommandOutcome("info", "command_ok", "done", {"command": "report_status"})
    for _ in range(3):
        reporter.report(bad)
        reporter.report(failed)
        reporter.report(ok)
    assert events.codes == ["command_rejected", "command_failed", "command_ok"] + \
        ["command_ok"] * 2
    reporter.report_suppressed()  # the window is not over: nothing yet
    assert len(events.got) == 5
    clock.sleep(60.0)
    dropped["helio/s/gateway/cmd"] = 7
    reporter.report_suppressed()
    summaries = {e[1]: e for e in events.got[5:]}
    assert summaries["command_rejected"][3] == {"suppressed": 2}
    assert summaries["command_failed"][3] == {"suppressed": 2}
    assert summaries["inbound_dropped"][3]["dropped"] == 7
    reporter.report_suppressed()  # nothing new: no event
    assert len(events.got) == 8
    reporter.report(bad)  # a new window opens with an event of its own
    assert events.codes[-1] == "command_rejected"
