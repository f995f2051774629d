"""An agent on scripted devices, a constant model and a recording publisher.

Responsible for: :class:`Rig` (the real threads on a 900x clock, for what is
about threads and real time: the watchdog, inbound floods, a clean stop),
:class:`ManualRig` (the same agent driven step by step on the caller's
thread on a :class:`ManualClock`: no threads, no waiting) and the manual
clock itself. The devices are two :class:`ScriptedDevice` s (``mppt`` with
``pv_power`` from :attr:`Rig.pv`, ``inverter``), the site is Abuja.

Does NOT: start a broker or open a serial port (the end-to-end tests do).
The fakes come from ``tests/edge/conftest.py`` until they move into this
package.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from edge.forecasting.engine import ForecastEngine, ModelHolder
from edge.forecasting.site import load_site
from edge.runtime.agent import Agent
from edge.runtime.config import AgentConfig, AgentSection, ModelConfig
from edge.runtime.outbox import Outbox
from edge.testkit.fakes import ConstPredictor, RecordingPublisher, ScriptedDevice, stub_bundle
from firmware_bridge.clock import Clock, ScaledClock
from firmware_bridge.config import DeviceConfig
from firmware_bridge.readings import QUANTITIES

__all__ = ["SPEED", "START", "ManualClock", "ManualRig", "Rig"]

REPO = Path(__file__).resolve().parents[2]
SITE = load_site(REPO / "configs/sites/abuja.toml")
#: 900x: one 15-minute step per real second [-]
SPEED = 900.0
#: mid-morning in Abuja
START = datetime(2026, 6, 21, 9, 59, 0, tzinfo=UTC)


class ManualClock:
    """Simulated time that moves only when the caller says (UTC wall time and monotonic)."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.elapsed = 0.0

    def now_utc(self) -> datetime:
        """``start`` plus the time slept. [UTC]"""
        return self.start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        """Seconds slept since construction. [s]"""
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        """Move time on by ``seconds`` at once. [s]"""
        self.elapsed += max(seconds, 0.0)


class Rig:
    """The agent with its real poller threads on a :class:`ScaledClock` at :data:`SPEED`.

    Parameters
    ----------
    tmp_path : Path
        Where the outbox lives.
    max_messages : int
        Outbox capacity.
    time_synced : callable, optional
        Handed to the agent (is the system clock synchronised?).
    """

    def __init__(self, tmp_path: Path, *, max_messages: int = 100_000,
                 time_synced: Callable[[], bool] | None = None) -> None:
        self.clock: Clock = ScaledClock(SPEED, START)
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
        self.time_synced = time_synced
        self.agent = self._make_agent()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.agent.run, args=(self.stop,), daemon=True)

    def _make_agent(self) -> Agent:
        return Agent(
            config=self.config, site_id=SITE.site.id,
            devices={"mppt": self.mppt, "inverter": self.inverter}, engine=self.engine,
            outbox=self.outbox, publisher=self.publisher, clock=self.clock,
            quantities=QUANTITIES, time_synced=self.time_synced,
        )

    def start(self) -> Rig:
        """Run the agent on its own thread."""
        self.thread.start()
        return self

    def close(self) -> None:
        """Stop the agent and wait for its thread."""
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()

    def messages(self, suffix: str) -> list[dict[str, Any]]:
        """The outbox's messages whose topic ends with ``suffix``, decoded."""
        return [json.loads(r.payload) for r in self.outbox.peek(10**9) if r.topic.endswith(suffix)]

    def wait(self, pred: Callable[[], Any], timeout: float = 15.0, what: str = "") -> None:
        """Poll ``pred()`` until true; ``timeout`` is real time. [s]"""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")


class ManualRig(Rig):
    """The same agent driven on the caller's thread: each step polls every device once,
    runs one pass of the loop, then moves the clock on by :attr:`tick` seconds."""

    #: simulated seconds per step (the devices are polled once per step) [s]
    tick = 30.0

    def __init__(self, tmp_path: Path, *, max_messages: int = 100_000,
                 time_synced: Callable[[], bool] | None = None) -> None:
        super().__init__(tmp_path, max_messages=max_messages, time_synced=time_synced)
        self.manual = ManualClock(START)
        self.clock = self.manual
        self.mppt.clock = self.inverter.clock = self.clock
        self.config = dataclasses.replace(
            self.config, agent=dataclasses.replace(self.config.agent, heartbeat_s=300.0))
        self.agent = self._make_agent()
        self.started = False

    def start(self) -> ManualRig:
        """Prepare the agent without threads."""
        self.agent.start(self.stop, threads=False)
        self.started = True
        return self

    def advance(self, seconds: float) -> None:
        """Run the loop for ``seconds`` of simulated time. [s]"""
        for _ in range(max(1, round(seconds / self.tick))):
            self.agent.poll_once()
            self.agent.step(wait=0.0)
            self.manual.sleep(self.tick)

    def wait(self, pred: Callable[[], Any], timeout: float = 4 * 3600.0, what: str = "") -> None:
        """Step until ``pred()``; ``timeout`` is simulated time. [s]"""
        for _ in range(round(timeout / self.tick)):
            if pred():
                return
            self.advance(self.tick)
        raise AssertionError(f"no {what} within {timeout:.0f} simulated seconds")

    def close(self) -> None:
        """Finish the agent (joins nothing: there are no threads)."""
        self.stop.set()
        if self.started:
            self.agent.finish()
            self.started = False
