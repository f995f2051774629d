"""The agent loop: forecasts per step, staleness, device faults, commands, resilience (#4).

Devices are scripted and the model is a constant predictor (the seams of
edge.runtime.agent); the real simulators, model and broker are in test_agent_e2e.py.
Most tests drive the loop step by step on a manual clock (:class:`ManualRig`: no
threads, no waiting, issue #9); :class:`Rig` runs the real threads on an
accelerated clock for the tests that are about threads and real time (the
watchdog, inbound floods, a clean stop).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from edge.forecasting.engine import ForecastEngine, ModelHolder
from edge.forecasting.features import FeatureSpec
from edge.forecasting.site import load_site
from edge.runtime.agent import Agent
from edge.runtime.config import AgentConfig, AgentSection, ModelConfig
from edge.runtime.outbox import Outbox
from firmware_bridge.clock import ScaledClock
from firmware_bridge.config import DeviceConfig
from firmware_bridge.readings import QUANTITIES
from tests.edge.conftest import ConstPredictor, RecordingPublisher, ScriptedDevice, stub_bundle

REPO = Path(__file__).resolve().parents[3]
SITE = load_site(REPO / "configs/sites/abuja.toml")
#: 900x: one 15-minute step per real second; starts mid-morning in Abuja
SPEED = 900.0
START = datetime(2026, 6, 21, 9, 59, 0, tzinfo=UTC)


class Rig:
    def __init__(self, tmp_path: Path, *, max_messages: int = 100_000) -> None:
        self.clock = ScaledClock(SPEED, START)
        self.pv = 1500.0
        self.mppt = ScriptedDevice(
            "mppt", self.clock,
            lambda: {"pv_power": self.pv, "battery_voltage": 52.1, "charge_state": "bulk"},
        )
        self.inverter = ScriptedDevice("inverter", self.clock, lambda: {"ac_output_power": 400.0})
        self.config = AgentConfig(
            agent=AgentSection(site="-", state_dir=str(tmp_path), heartbeat_s=0.5,
                               watchdog_s=0.5, pv_device="mppt"),
            model=ModelConfig("-", "-"),
            devices=(DeviceConfig("mppt", "vedirect", "loop://", poll_interval=0.05),
                     DeviceConfig("inverter", "pi30", "loop://", poll_interval=0.1)),
        )
        self.holder = ModelHolder(stub_bundle, ConstPredictor)
        self.engine = ForecastEngine(SITE, self.holder)
        self.outbox = Outbox(tmp_path / "outbox.sqlite", max_messages=max_messages)
        self.publisher = RecordingPublisher()
        self.agent = Agent(
            config=self.config, site_id=SITE.site.id,
            devices={"mppt": self.mppt, "inverter": self.inverter}, engine=self.engine,
            outbox=self.outbox, publisher=self.publisher, clock=self.clock,
            quantities=QUANTITIES,
        )
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.agent.run, args=(self.stop,), daemon=True)

    def start(self) -> Rig:
        self.thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()

    def messages(self, suffix: str) -> list[dict[str, Any]]:
        return [json.loads(r.payload) for r in self.outbox.peek(10**9) if r.topic.endswith(suffix)]

    def wait(self, pred: Any, timeout: float = 15.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")


class ManualClock:
    """Simulated time that moves only when the test says (UTC wall time and monotonic)."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.elapsed = 0.0

    def now_utc(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        self.elapsed += max(seconds, 0.0)


class ManualRig(Rig):
    """The same agent driven on the test's thread: each step polls every device once,
    runs one pass of the loop, then moves the clock on by :attr:`tick` seconds."""

    #: simulated seconds per step (the devices are polled once per step) [s]
    tick = 30.0

    def __init__(self, tmp_path: Path, *, max_messages: int = 100_000) -> None:
        super().__init__(tmp_path, max_messages=max_messages)
        self.clock = ManualClock(START)  # type: ignore[assignment]
        self.mppt.clock = self.inverter.clock = self.agent.clock = self.clock
        self.config = dataclasses.replace(
            self.config, agent=dataclasses.replace(self.config.agent, heartbeat_s=300.0))
        self.agent.config = self.config
        self.started = False

    def start(self) -> ManualRig:
        self.agent.start(self.stop, threads=False)
        self.started = True
        return self

    def advance(self, seconds: float) -> None:
        """Run the loop for ``seconds`` of simulated time."""
        for _ in range(max(1, round(seconds / self.tick))):
            self.agent.poll_once()
            self.agent.step(wait=0.0)
            self.clock.sleep(self.tick)

    def wait(self, pred: Any, timeout: float = 4 * 3600.0, what: str = "") -> None:
        """Step until ``pred()``; ``timeout`` is simulated time. [s]"""
        for _ in range(round(timeout / self.tick)):
            if pred():
                return
            self.advance(self.tick)
        raise AssertionError(f"no {what} within {timeout:.0f} simulated seconds")

    def close(self) -> None:
        self.stop.set()
        if self.started:
            self.agent.finish()
            self.started = False


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
    """The rollout seam (issue #5): a cmd/<sub> handler activates another bundle."""
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
