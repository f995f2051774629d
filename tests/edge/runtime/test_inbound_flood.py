"""A command flood must not starve the agent, and the inbound queue is bounded in bytes.

Without the admission gate, 5 s of invalid commands let the loop store 1 reading instead
of about 50 and send 0 watchdog pings, each rejection writing its own fsynced event
(``python -m bench.bench_inbound_flood`` prints the figures)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from edge.runtime.inbound import INBOUND_MAX_BYTES
from edge.testkit.agent_rig import Rig
from edge.testkit.fakes import CountingNotifier


def test_flood_of_bad_commands_does_not_starve_polling_or_the_watchdog(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.agent.notifier = notifier = CountingNotifier()
    rig.start()
    rig.wait(lambda: rig.publisher.handlers, what="subscribed")
    rig.wait(lambda: len(rig.messages("/mppt/reading")) >= 5, what="readings")
    handler = rig.publisher.handlers["helio/abuja-01/gateway/cmd/#"]
    readings0, pings0 = len(rig.messages("/mppt/reading")), notifier.pings
    events0 = len(rig.messages("/events"))
    stop = threading.Event()

    def flood() -> None:
        # As fast as paho's network thread could hand them over: it gives up the GIL
        # between packets (socket reads), so this loop does too (sleep(0)); a loop that
        # never does starves every other thread of the process, not just the agent.
        n = 0
        while not stop.is_set():
            handler("helio/abuja-01/gateway/cmd", b"not json %d" % n)
            handler("helio/abuja-01/gateway/cmd/model", b"{}")
            n += 1
            time.sleep(0)

    flooder = threading.Thread(target=flood, daemon=True)
    t0 = time.monotonic()
    flooder.start()
    time.sleep(3.0)
    stop.set()
    flooder.join(5)
    elapsed = time.monotonic() - t0
    readings = len(rig.messages("/mppt/reading")) - readings0
    pings = notifier.pings - pings0
    events = rig.messages("/events")[events0:]
    # the device polls every 0.05 s: at least half of its readings are stored during the flood
    assert readings >= 0.5 * elapsed / 0.05, readings
    assert pings >= 4, pings  # every 0.5 s
    rejected = [e for e in events if e["code"] in ("command_rejected", "command_failed")]
    assert len(rejected) <= 2  # one per kind, the rest summed up later
    assert sum(rig.agent.inbound_dropped.values()) > 100
    rig.wait(lambda: any(e["code"] == "inbound_dropped" for e in rig.messages("/events")),
             what="drop summary at the heartbeat")
    # after the flood, a valid command is handled again
    time.sleep(1.0)  # the bucket refills
    handler("helio/abuja-01/gateway/cmd", b'{"command": "report_status"}')
    rig.wait(lambda: any(e["code"] == "command_ok" for e in rig.messages("/events")),
             what="command after the flood")
    rig.close()
    rig.outbox.close()


def test_inbound_queue_is_bounded_in_bytes(tmp_path: Path) -> None:
    rig = Rig(tmp_path)  # not started: nothing consumes the queue
    big = b"x" * (20 * 1024 * 1024)
    for _ in range(3):
        rig.agent.inbound.offer("helio/abuja-01/gateway/cmd/model", big)
    assert rig.agent.inbound.queued == 2 and rig.agent.inbound.queued_bytes <= INBOUND_MAX_BYTES
    assert rig.agent.inbound_dropped == {"helio/abuja-01/gateway/cmd/model": 1}
    rig.outbox.close()
