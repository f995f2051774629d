"""A message the broker refuses is never taken as delivered, and never blocks the rest.

A PUBACK with a failure reason code (MQTT 5) is not delivery: under MQTT 3.1.1
mosquitto acknowledges a publish its ACL denies like any other, and the denied
messages were deleted from the outbox. A refused message is parked (kept, counted)
and the drain goes on; with ``max_queued_messages 0`` mosquitto 2.0.11 drops the
connection after each refusal instead, and the refused message, first in the
outbox on every reconnect, used to hold back every message behind it (about 12
reconnects in 10 s, none delivered). Run against the production broker config (ACL).
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from edge.runtime.outbox import Outbox
from edge.runtime.publisher import MqttPublisher
from tests.fleet_broker import HAS_PASSWD, start_fleet_broker

pytestmark = [pytest.mark.broker,
              pytest.mark.skipif(not HAS_PASSWD, reason="no mosquitto_passwd")]


def test_refused_messages_are_parked_and_counted(tmp_path: Path) -> None:
    fleet = start_fleet_broker(tmp_path / "broker", {"abuja-01": "pw", "helio-monitor": "m"})
    try:
        got: list[str] = []
        sub = fleet.client("helio-monitor")
        sub.on_message = lambda _c, _u, m: got.append(m.topic)
        sub.subscribe("helio/#", qos=1)
        time.sleep(0.5)
        box = Outbox(tmp_path / "o.sqlite")
        for n in range(5):  # the ACL lets abuja-01 write only its own site
            box.put("mppt", "reading", "helio/kano-02/mppt/reading",
                    lambda s: json.dumps({"seq": s}).encode())
            box.put("mppt", "reading", "helio/abuja-01/mppt/reading",
                    lambda s, n=n: json.dumps({"seq": s, "n": n}).encode())
        pub = MqttPublisher(fleet.settings("abuja-01", "gw"), box,
                            will_topic="helio/abuja-01/gateway/status", will_payload=b"{}",
                            reconnect_min_s=0.1, reconnect_max_s=0.3, rng=random.Random(1))
        pub.start()
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and (pub.stats.refused < 5 or len(got) < 5):
                time.sleep(0.05)
            time.sleep(0.5)  # acks flushed
            assert pub.stats.refused >= 5
            assert "Not authorized" in pub.stats.last_refusal
            assert sorted(set(got)) == ["helio/abuja-01/mppt/reading"]
            assert box.stats.queued == 0 and box.stats.parked == 5  # kept apart
            assert pub.stats.parked == 5
            assert {r.topic for r, _, _ in box.parked()} == {"helio/kano-02/mppt/reading"}
            assert all("Not authorized" in why for _, why, _ in box.parked())
        finally:
            pub.stop()
    finally:
        fleet.stop()


def _refused_then_five(box: Outbox) -> None:
    box.put("mppt", "reading", "helio/kano-02/mppt/reading", lambda s: b'{"seq": 1}')
    for n in range(5):
        box.put("mppt", "reading", "helio/abuja-01/mppt/reading",
                lambda s, n=n: json.dumps({"seq": s, "n": n}).encode())


@pytest.mark.parametrize("max_queued", ["0", "1000000"])
def test_a_refused_message_never_blocks_the_ones_behind_it(tmp_path: Path,
                                                           max_queued: str) -> None:
    """Whatever the broker does after a refusal (reason code, or dropping the connection)."""
    fleet = start_fleet_broker(tmp_path / "broker", {"abuja-01": "pw", "helio-monitor": "m"},
                               settings={"max_queued_messages": max_queued})
    try:
        got: list[int] = []
        sub = fleet.client("helio-monitor")
        sub.on_message = lambda _c, _u, m: got.append(json.loads(m.payload)["n"])
        sub.subscribe("helio/+/mppt/reading", qos=1)
        time.sleep(0.5)
        box = Outbox(tmp_path / "o.sqlite")
        _refused_then_five(box)
        pub = MqttPublisher(fleet.settings("abuja-01", "gw"), box,
                            will_topic="helio/abuja-01/gateway/status", will_payload=b"{}",
                            reconnect_min_s=0.1, reconnect_max_s=0.3, rng=random.Random(1))
        pub.start()
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and len(got) < 5:
                time.sleep(0.05)
            assert sorted(got) == [0, 1, 2, 3, 4]
            assert pub.stats.connects <= 3, pub.stats  # a poison message costs 2 connections
            assert pub.wait_drained(5.0)  # the acknowledgements reached the outbox
            assert pub.stats.refused >= 1 and box.stats.parked == 1
            assert box.stats.queued == 0
        finally:
            pub.stop()
    finally:
        fleet.stop()


def test_parked_messages_are_retried_after_the_retry_period(tmp_path: Path) -> None:
    """A parked message is queued again (so a fixed ACL delivers it) and parked again if
    still refused: kept, never lost, never blocking."""
    fleet = start_fleet_broker(tmp_path / "broker", {"abuja-01": "pw"},
                               settings={"max_queued_messages": "0"})
    try:
        box = Outbox(tmp_path / "o.sqlite")
        _refused_then_five(box)
        pub = MqttPublisher(fleet.settings("abuja-01", "gw"), box,
                            will_topic="helio/abuja-01/gateway/status", will_payload=b"{}",
                            reconnect_min_s=0.1, reconnect_max_s=0.3, rng=random.Random(1),
                            park_retry_s=0.5)
        pub.start()
        try:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and pub.stats.parked < 2:
                time.sleep(0.05)
            assert pub.stats.requeued >= 1 and pub.stats.parked >= 2
            while time.monotonic() < deadline and box.stats.parked != 1:
                time.sleep(0.05)
            assert box.stats.parked == 1 and box.stats.queued == 0
        finally:
            pub.stop()
    finally:
        fleet.stop()
