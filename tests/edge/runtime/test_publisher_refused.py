"""Issue 11 item 2: a PUBACK with a failure reason code is not delivery.

Before: the publisher spoke MQTT 3.1.1, where mosquitto acknowledges a publish
its ACL denies like any other; all 5 denied messages were deleted from the
outbox and never delivered. Run against the production broker config (ACL).
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


def test_refused_messages_stay_in_the_outbox_and_are_counted(tmp_path: Path) -> None:
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
            assert box.stats.queued == 5  # the 5 refused ones are kept
            assert {r.topic for r in box.peek(100)} == {"helio/kano-02/mppt/reading"}
        finally:
            pub.stop()
    finally:
        fleet.stop()
