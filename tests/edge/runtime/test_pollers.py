"""The pollers on a manual clock: readings and their stale names into the queue, device
transitions and notices as events (start-up is no news), a crashed poller restarted."""

from __future__ import annotations

import threading
import time
from typing import Any

from edge.runtime.pollers import Polled, Pollers
from edge.testkit.agent_rig import START, ManualClock
from edge.testkit.fakes import ScriptedDevice
from firmware_bridge.device import DeviceNotice
from firmware_bridge.readings import Reading


class Events:
    def __init__(self) -> None:
        self.got: list[tuple[str, str, dict[str, Any]]] = []
        self.messages: list[str] = []

    def __call__(self, level: str, code: str, message: str, /, **data: Any) -> None:
        self.got.append((level, code, data))
        self.messages.append(message)

    @property
    def codes(self) -> list[str]:
        return [e[1] for e in self.got]


class UnitsDevice(ScriptedDevice):
    """An inverter with a parallel unit, a stale name, and one notice."""

    def __init__(self, clock: Any) -> None:
        super().__init__("inverter", clock, lambda: {"ac_output_power": 400.0})
        self.notices = [DeviceNotice("device_unknown_field", "unknown field", "QPIRI x=4")]

    def poll_all(self) -> list[Reading]:
        own = super().poll_all()
        return own + [Reading("inverter_1", r.timestamp, {"ac_output_power": 200.0})
                      for r in own]

    def stale_names(self) -> list[str]:
        return ["battery_voltage"]

    def take_notices(self) -> list[Any]:
        out, self.notices = self.notices, []
        return out


def drain(pollers: Pollers) -> list[Polled]:
    out = []
    while (item := pollers.take()) is not None:
        out.append(item)
    return out


def test_poll_once_queues_every_reading_with_its_stale_names() -> None:
    clock = ManualClock(START)
    pollers = Pollers({"inverter": UnitsDevice(clock)}, {"inverter": 1.0}, clock)
    assert pollers.take() is None
    pollers.poll_once()
    items = drain(pollers)
    assert [(i.reading.device_id, i.stale) for i in items] == [
        ("inverter", ["battery_voltage"]), ("inverter_1", [])]  # units carry no stale names
    assert len(pollers) == 1 and list(pollers) == ["inverter"]


def test_transitions_and_notices_become_events_once() -> None:
    clock, events = ManualClock(START), Events()
    mppt = ScriptedDevice("mppt", clock, lambda: {"pv_power": 800.0})
    inverter = UnitsDevice(clock)
    pollers = Pollers({"mppt": mppt, "inverter": inverter}, {}, clock)
    assert pollers.is_down("mppt") is False  # nothing known yet: not reported down
    assert pollers.is_down("nowhere") is True
    pollers.check(events)  # start-up: disconnected and stale, no news
    assert events.codes == ["device_unknown_field"]
    assert events.got[0][2] == {"device": "inverter", "subject": "QPIRI x=4"}
    pollers.poll_once()
    assert pollers.check(events) is True  # connected now: the status should say so
    assert "device_fresh" not in events.codes  # first readings after start recover nothing
    assert events.codes.count("device_connected") == 2
    mppt.plugged = False
    pollers.poll_once()
    assert pollers.check(events) is True
    assert events.codes[-2:] == ["device_disconnected", "device_stale"]
    assert events.got[-1][2]["device"] == "mppt" and events.got[-1][0] == "warning"
    assert pollers.is_down("mppt") and not pollers.is_down("inverter")
    assert pollers.check(events) is False and events.codes[-1] == "device_stale"  # no repeat
    mppt.plugged = True
    pollers.poll_once()
    pollers.check(events)
    assert events.codes[-2:] == ["device_connected", "device_fresh"]
    assert events.codes.count("device_unknown_field") == 1
    assert pollers.status()["mppt"]["connected"] is True


class CrashingDevice(ScriptedDevice):
    """Its first poll raises (a bug below the device's own error handling)."""

    def __init__(self, clock: Any) -> None:
        super().__init__("mppt", clock, lambda: {"pv_power": 800.0})
        self.polls = 0

    def poll_all(self) -> list[Reading]:
        self.polls += 1
        if self.polls == 1:
            raise RuntimeError("bug")
        return super().poll_all()


def test_a_crashed_poller_thread_is_reported_and_restarted() -> None:
    clock, events = ManualClock(START), Events()
    device = CrashingDevice(clock)
    pollers = Pollers({"mppt": device}, {"mppt": 0.01}, clock)
    stop = threading.Event()
    pollers.start(stop)
    try:
        deadline = time.monotonic() + 5.0
        while pollers["mppt"].error is None and time.monotonic() < deadline:
            time.sleep(0.01)
        pollers.check(events)
        assert events.got == [("error", "poller_crashed", {"device": "mppt"})]
        assert "RuntimeError('bug')" in events.messages[0]
        item = pollers.take(wait=5.0)  # the restarted thread polls again
        assert item is not None and item.reading.values == {"pv_power": 800.0}
    finally:
        stop.set()
        pollers.join()
    assert pollers["mppt"].thread is not None and not pollers["mppt"].thread.is_alive()
