"""The status reporter alone on a manual clock: the heartbeat period, the watchdog at half
the systemd period (only while the publisher lives), and one event per heartbeat for
outbox eviction and broker refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.forecasting.engine import ModelHolder
from edge.runtime.contract import Topics
from edge.runtime.heartbeat import StatusReporter
from edge.runtime.inbound import RejectionReporter
from edge.runtime.outbox import Outbox
from edge.testkit.agent_rig import START, ManualClock
from edge.testkit.fakes import ConstPredictor, CountingNotifier, RecordingPublisher, stub_bundle

STATUS = "helio/abuja-01/gateway/status"


class Harness:
    def __init__(self, tmp_path: Path, *, max_messages: int = 1000) -> None:
        self.clock = ManualClock(START)
        self.outbox = Outbox(tmp_path / "o.sqlite", max_messages=max_messages)
        self.publisher = RecordingPublisher()
        self.notifier = CountingNotifier()  # systemd says 1 s: pings every 0.5 s
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self.synced = True
        self.reporter = StatusReporter(
            topics=Topics("abuja-01", "gateway"), clock=self.clock, outbox=self.outbox,
            publisher=self.publisher, notifier=self.notifier,  # type: ignore[arg-type]
            holder=ModelHolder(stub_bundle, ConstPredictor),
            devices=lambda: {"mppt": {"connected": True}}, clock_synced=lambda: self.synced,
            emit=self.emit, rejections=RejectionReporter(self.clock, self.emit, {}),
            forecasts_issued=lambda: 3)
        self.reporter.start(heartbeat_s=60.0, watchdog_s=30.0)

    def emit(self, level: str, code: str, message: str, /, **data: Any) -> None:
        self.events.append((level, code, data))

    def run(self, seconds: float, tick: float = 0.25) -> None:
        for _ in range(round(seconds / tick)):
            self.reporter.heartbeat_due()
            self.reporter.watchdog_due()
            self.clock.sleep(tick)


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    yield harness
    harness.outbox.close()


def test_heartbeat_every_period_and_watchdog_at_half_the_systemd_period(h: Harness) -> None:
    h.run(130.0)
    assert len(h.publisher.retained[STATUS]) == 2  # at 60 s and 120 s
    assert h.notifier.pings == 260  # every 0.5 s from the start
    status = json.loads(h.publisher.retained[STATUS][-1])
    assert status["clock_synced"] is True and status["devices"] == {"mppt": {"connected": True}}
    assert status["uptime_s"] == pytest.approx(120.0)
    assert "rollout" not in status


def test_no_watchdog_ping_while_the_publisher_is_dead(h: Harness) -> None:
    h.publisher.is_alive = lambda: False  # type: ignore[method-assign]
    h.run(10.0)
    assert h.notifier.pings == 0


def test_refusals_and_evictions_are_one_event_per_heartbeat(tmp_path: Path) -> None:
    h = Harness(tmp_path, max_messages=5)
    try:
        for i in range(8):  # three evicted
            h.outbox.put("mppt", "reading", "t", lambda seq, i=i: b"%d" % i)
        h.publisher.stats.refused = 4
        h.publisher.stats.last_refusal = "0x87"
        h.run(61.0)
        h.publisher.stats.refused = 5
        h.run(60.0)
    finally:
        h.outbox.close()
    refused = [e for e in h.events if e[1] == "publish_refused"]
    assert [e[2]["refused"] for e in refused] == [4, 1]
    assert refused[0][2]["last"] == "0x87" and refused[1][2]["refused_total"] == 5
    evicted = [e for e in h.events if e[1] == "outbox_evicted"]
    assert len(evicted) == 1 and evicted[0][2]["evicted"] >= 3


def test_the_model_message_names_the_active_bundle(h: Harness) -> None:
    h.reporter.publish_model()
    model = json.loads(h.publisher.retained["helio/abuja-01/gateway/model"][-1])
    assert model["version"] == "stub-1" and model["role"] == "active"
