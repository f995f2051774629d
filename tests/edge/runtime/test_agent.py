"""The agent loop: forecasts per step, staleness, device faults, commands, resilience.

Devices are scripted and the model is a constant predictor (the seams of
edge.runtime.agent); the real simulators, model and broker are in test_agent_e2e.py.
Most tests drive the loop step by step on a manual clock
(:class:`edge.testkit.agent_rig.ManualRig`: no threads, no waiting); ``Rig`` runs
the real threads on an accelerated clock for the tests that are about threads
and real time (the watchdog, inbound floods, a clean stop).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from edge.forecasting.features import FeatureSpec
from edge.testkit.agent_rig import ManualRig
from edge.testkit.fakes import ScriptedDevice, stub_bundle


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[ManualRig]:
    r = ManualRig(tmp_path)
    yield r
    r.close()
    r.outbox.close()


def test_agent_forecasts_every_step_from_fresh_inputs(rig: ManualRig) -> None:
    rig.start()
    rig.wait(lambda: len(rig.messages("/forecast")) >= 3, what="3 forecasts")
    rig.close()
    fcs = rig.messages("/forecast")
    assert [f["seq"] for f in fcs] == list(range(1, len(fcs) + 1))
    issues = [datetime.fromisoformat(f["issue_time"].replace("Z", "+00:00")) for f in fcs]
    assert all(t.minute % 15 == 0 and t.second == 0 for t in issues)
    assert all((b - a).total_seconds() == 900 for a, b in itertools.pairwise(issues))
    # after the first full step the PV source is fresh: not stale; daytime forecast is positive
    assert fcs[-1]["inputs_stale"] is False
    assert fcs[-1]["forecasts"][0]["pv_power"]["p50"] > 0
    assert fcs[-1]["model"]["version"] == "stub-1"
    readings = rig.messages("/mppt/reading")
    assert [r["seq"] for r in readings] == list(range(1, len(readings) + 1))
    assert readings[0]["units"]["pv_power"] == "W"
    assert rig.messages("/inverter/reading")
    status = json.loads(rig.publisher.retained["helio/abuja-01/gateway/status"][-1])
    assert status["state"] == "online" and status["devices"]["mppt"]["connected"] is True
    model = json.loads(rig.publisher.retained["helio/abuja-01/gateway/model"][-1])
    assert model["version"] == "stub-1" and model["role"] == "active"
    codes = [e["code"] for e in rig.messages("/events")]
    assert codes[0] == "agent_started" and "device_fresh" not in codes  # start-up is no news


def test_agent_flags_stale_inputs_and_reports_unplug(rig: ManualRig) -> None:
    rig.start()
    rig.wait(lambda: len(rig.messages("/forecast")) >= 2, what="forecasts")
    rig.mppt.plugged = False
    rig.wait(lambda: any(e["code"] == "device_disconnected" for e in rig.messages("/events")),
             what="disconnect event")
    n = len(rig.messages("/forecast"))
    rig.wait(lambda: len(rig.messages("/forecast")) >= n + 2, what="stale forecasts")
    stale = rig.messages("/forecast")[-1]
    assert stale["inputs_stale"] is True  # flagged, still issued
    rig.mppt.plugged = True
    rig.wait(lambda: any(e["code"] == "device_connected" for e in rig.messages("/events")),
             what="reconnect event")
    n = len(rig.messages("/forecast"))
    rig.wait(lambda: len(rig.messages("/forecast")) >= n + 2, what="fresh forecasts")
    assert rig.messages("/forecast")[-1]["inputs_stale"] is False
    rig.close()
    ev = next(e for e in rig.messages("/events") if e["code"] == "device_disconnected")
    assert ev["level"] == "warning" and ev["data"]["device"] == "mppt"
    codes = [e["code"] for e in rig.messages("/events") if e["data"].get("device") == "mppt"]
    assert codes.index("device_stale") < codes.index("device_fresh")


def test_agent_commands_whitelist(rig: ManualRig) -> None:
    rig.start()
    rig.wait(lambda: "helio/abuja-01/gateway/status" in rig.publisher.retained, what="status")
    cmd = "helio/abuja-01/gateway/cmd"
    n_status = len(rig.publisher.retained["helio/abuja-01/gateway/status"])
    rig.publisher.inbound(cmd, b'{"command": "report_status"}')
    rig.publisher.inbound(cmd, b'{"command": "shutdown_now"}')
    rig.publisher.inbound(cmd, b'{"command": "republish_discovery"}')
    rig.publisher.inbound(cmd, b'{"command": "reload_model"}')
    rig.wait(lambda: len([e for e in rig.messages("/events") if e["code"].startswith("command")])
             >= 4, what="command events")
    rig.close()
    events = {e["data"].get("command"): e for e in rig.messages("/events")
              if e["code"].startswith("command")}
    assert events["report_status"]["code"] == "command_ok"
    assert events["shutdown_now"]["code"] == "command_rejected"
    assert events["shutdown_now"]["level"] == "error"
    assert events["reload_model"]["code"] == "command_ok"
    assert len(rig.publisher.retained["helio/abuja-01/gateway/status"]) > n_status
    topics = [t for t, _ in rig.publisher.live]
    # device-based discovery: one message for the gateway's forecast entities
    assert "homeassistant/device/helio_abuja-01_gateway_gateway/config" in topics


def test_agent_reannounces_discovery_when_home_assistant_comes_online(rig: ManualRig) -> None:
    rig.start()
    rig.wait(lambda: len(rig.messages("/reading")) >= 4, what="readings")
    rig.publisher.live.clear()
    rig.publisher.inbound("homeassistant/status", b"offline")
    rig.publisher.inbound("homeassistant/status", b"online")
    rig.wait(lambda: len(rig.publisher.live) >= 3, what="re-announcement")
    rig.close()
    configs = {t: json.loads(p) for t, p in rig.publisher.live}
    mppt = configs["homeassistant/device/helio_abuja-01_mppt_device/config"]
    assert "helio_abuja-01_mppt_pv_power" in mppt["components"]
    inverter = configs["homeassistant/device/helio_abuja-01_inverter_device/config"]
    assert "helio_abuja-01_inverter_ac_output_power" in inverter["components"]
    assert "homeassistant/device/helio_abuja-01_gateway_gateway/config" in configs


def test_agent_survives_a_failing_cycle(rig: ManualRig) -> None:
    real = rig.engine.forecast
    calls = {"n": 0}

    def flaky(*a: Any, **k: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ZeroDivisionError("bug in one cycle")
        return real(*a, **k)

    rig.engine.forecast = flaky  # type: ignore[method-assign]
    rig.start()
    rig.wait(lambda: len(rig.messages("/forecast")) >= 2, what="forecasts after the failure")
    rig.close()
    failed = [e for e in rig.messages("/events") if e["code"] == "cycle_failed"]
    assert len(failed) == 1 and "ZeroDivisionError" in failed[0]["message"]
    assert rig.agent.cycle_errors == 1


def test_agent_reports_outbox_eviction(tmp_path: Path) -> None:
    r = ManualRig(tmp_path, max_messages=20).start()
    try:
        r.wait(lambda: r.outbox.stats.evicted > 0, what="eviction")
        r.wait(lambda: any(e["code"] == "outbox_evicted" for e in r.messages("/events")),
               what="eviction event")
    finally:
        r.close()
        r.outbox.close()
    status = json.loads(r.publisher.retained["helio/abuja-01/gateway/status"][-1])
    assert status["outbox"]["evicted"] > 0


def test_agent_activate_swaps_model_via_a_cmd_subtopic(rig: ManualRig) -> None:
    """The rollout seam: a cmd/<sub> handler activates another bundle."""
    new = stub_bundle(FeatureSpec(step_minutes=30, horizons_min=(30, 60), history_steps=2),
                      version="stub-2")

    def on_model(payload: bytes) -> dict[str, Any]:
        rig.agent.activate(new)
        return {"version": new.version}

    rig.agent.commands.register_topic("model", on_model)
    rig.start()
    rig.wait(lambda: len(rig.messages("/forecast")) >= 1, what="first forecast")
    rig.publisher.inbound("helio/abuja-01/gateway/cmd/model", b"bundle bytes")
    rig.wait(lambda: any(f["model"]["version"] == "stub-2" for f in rig.messages("/forecast")),
             what="forecast from the new model")
    rig.close()
    last = rig.messages("/forecast")[-1]
    assert last["step_minutes"] == 30 and [e["horizon_min"] for e in last["forecasts"]] == [30, 60]
    assert last["issue_time"][14:16] in ("00", "30")
    model = json.loads(rig.publisher.retained["helio/abuja-01/gateway/model"][-1])
    assert model["version"] == "stub-2"
    ok = [e for e in rig.messages("/events") if e["code"] == "command_ok"]
    assert ok and ok[-1]["data"] == {"version": "stub-2"}


def test_agent_keeps_forecasting_when_the_clock_goes_back(rig: ManualRig) -> None:
    """A Pi without RTC: NTP may set the clock back; forecasts must not stop for a day."""
    rig.start()
    rig.wait(lambda: len(rig.messages("/forecast")) >= 1, what="first forecast")
    rig.clock.start -= timedelta(days=1)  # wall time only; monotonic time goes on
    n = len(rig.messages("/forecast"))
    rig.wait(lambda: len(rig.messages("/forecast")) >= n + 2, what="forecasts after the jump")
    rig.close()
    issue = rig.messages("/forecast")[-1]["issue_time"]
    assert issue.startswith("2026-06-20")


class NoticingDevice:
    """An inverter with a parallel partner and a field the bridge's tables do not know."""

    def __init__(self, inner: ScriptedDevice) -> None:
        from firmware_bridge.device import DeviceNotice  # noqa: PLC0415

        self.inner = inner
        self.notices = [DeviceNotice("device_unknown_field", "inverter: unknown field "
                                     "'QPIRI battery_type=4' left out", "QPIRI battery_type=4")]

    def poll(self) -> Any:
        return self.inner.poll()

    def poll_all(self) -> list[Any]:
        from firmware_bridge.readings import Reading  # noqa: PLC0415

        own = self.inner.poll()
        if own is None:
            return []
        return [own, Reading("inverter_0", own.timestamp, {"ac_output_power": 200.0}),
                Reading("inverter_1", own.timestamp, {"ac_output_power": 200.0})]

    def take_notices(self) -> list[Any]:
        out, self.notices = self.notices, []
        return out

    def stale_names(self) -> list[str]:
        return self.inner.stale_names()

    @property
    def stats(self) -> Any:
        return self.inner.stats

    def close(self) -> None:
        self.inner.close()


def test_agent_reports_device_notices_once_and_unit_readings(tmp_path: Path) -> None:
    rig = ManualRig(tmp_path)
    device = NoticingDevice(rig.inverter)
    rig.agent.pollers["inverter"].device = device
    rig.start()
    rig.wait(lambda: any(m["device_id"] == "inverter_1" for m in rig.messages("/reading")),
             what="unit readings")
    rig.wait(lambda: any(e["code"] == "device_unknown_field" for e in rig.messages("/events")),
             what="notice event")
    rig.advance(600.0)  # more polls: the notice is not repeated
    rig.close()
    events = [e for e in rig.messages("/events") if e["code"] == "device_unknown_field"]
    assert len(events) == 1  # once
    assert events[0]["data"] == {"device": "inverter", "subject": "QPIRI battery_type=4"}
    ids = {m["device_id"] for m in rig.messages("/reading")}
    assert {"inverter", "inverter_0", "inverter_1"} <= ids
    rig.outbox.close()
