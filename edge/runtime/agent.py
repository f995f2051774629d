"""The agent loop and its wiring: readings in, collaborators driven, one broad except.

Responsible for: wiring the agent's parts and running the loop over them. One
pass (:meth:`Agent.step`) stores every queued reading in the outbox and hands it
to each collaborator (:class:`edge.runtime.interfaces.Collaborator`), handles a
few inbound messages, checks the devices, calls each collaborator's
``on_cycle``, then the heartbeat and the watchdog. The parts, each on the
injected clock: :mod:`~edge.runtime.pollers`, :mod:`~edge.runtime.inbound`,
:mod:`~edge.runtime.forecast_cycle` (on :mod:`~edge.runtime.scheduling`),
:mod:`~edge.runtime.discovery_tracker`, :mod:`~edge.runtime.planning_cycle` (the
energy plan, with ``[plan] enabled``), :mod:`~edge.runtime.heartbeat`; more plug
in through :meth:`Agent.add_collaborator`. The loop holds the only broad
``except``: a bug in one pass is logged and reported as an event.

Does NOT: parse serial bytes, build payload shapes (:mod:`edge.runtime.messages`),
talk MQTT (:mod:`edge.runtime.publisher`), or load bundles (:class:`ModelHolder`).
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from edge.forecasting.bundle import Bundle
from edge.forecasting.engine import ForecastEngine, ForecastResult, ModelHolder
from edge.planning import PlanConfig
from edge.runtime import discovery
from edge.runtime.agent_commands import AgentCommands
from edge.runtime.config import AgentConfig
from edge.runtime.contract import Topics
from edge.runtime.discovery_tracker import DiscoveryTracker
from edge.runtime.forecast_cycle import ForecastIssuer
from edge.runtime.heartbeat import StatusReporter
from edge.runtime.inbound import (
    INBOUND_PER_CYCLE,
    CommandTable,
    InboundGate,
    RejectionReporter,
)
from edge.runtime.interfaces import Collaborator, DeviceLike, PublisherLike
from edge.runtime.messages import Message, event_message, reading_message
from edge.runtime.outbox import Outbox
from edge.runtime.planning_cycle import PlanningCycle
from edge.runtime.pollers import Polled, Pollers
from edge.runtime.recovery import startup_findings
from edge.runtime.scheduling import ClockSync
from edge.runtime.sdnotify import Notifier
from firmware_bridge.clock import Clock
from firmware_bridge.readings import Quantity

if TYPE_CHECKING:
    from edge.runtime.rollout import Rollout

__all__ = ["Agent", "DeviceLike", "PublisherLike"]

log = logging.getLogger(__name__)

#: the inbound marker the loop queues when the publisher (re)connects
_CONNECTED = "connected"


class Agent:
    """Runs until ``stop`` is set.

    Parameters
    ----------
    config : AgentConfig
    site_id : str
        From the site file.
    devices : mapping
        Device id -> opened device.
    engine : ForecastEngine
        Features, model (``engine.holder``) and post-processing.
    outbox : Outbox
    publisher : PublisherLike
    clock : Clock
    notifier : Notifier, optional
        systemd notifications (no-op outside systemd).
    quantities : mapping, optional
        ``firmware_bridge.readings.QUANTITIES`` (units, kinds).
    protocols : mapping, optional
        Device id -> protocol name (shown in Home Assistant).
    sw_version : str
    rollout : Rollout, optional
        Model rollout over ``cmd/model`` with shadow runs.
    time_synced : callable, optional
        ``time_synced() -> bool``: is the system clock synchronised
        (:func:`edge.runtime.timesync.clock_synchronized`)? While it is not,
        readings carry ``clock_synced: false`` and no forecast is issued.
        None: never asked (simulated clocks, a trusted real-time clock).
    """

    def __init__(
        self, *, config: AgentConfig, site_id: str, devices: Mapping[str, DeviceLike],
        engine: ForecastEngine, outbox: Outbox, publisher: PublisherLike, clock: Clock,
        notifier: Notifier | None = None, quantities: Mapping[str, Quantity] | None = None,
        protocols: Mapping[str, str] | None = None, sw_version: str = "",
        rollout: Rollout | None = None, time_synced: Callable[[], bool] | None = None,
    ) -> None:
        self.config, self.clock, self.engine, self.rollout = config, clock, engine, rollout
        self.outbox, self.publisher = outbox, publisher
        self.holder: ModelHolder = engine.holder
        self.quantities = quantities or {}
        self.topics = Topics(site_id, config.agent.id, config.mqtt.topic_prefix)
        self._epoch = outbox.epoch
        self.cycle_errors = 0
        self.discovery = discovery.DiscoveryContext(
            self.topics, config.discovery.prefix, sw_version,
            per_entity=config.discovery.per_entity,
        )
        self.pollers = Pollers(devices, {d.id: d.poll_interval for d in config.devices}, clock)
        self.commands = CommandTable(self.topics.cmd)
        self.inbound = InboundGate(clock, (self.topics.cmd, self.topics.cmd_model,
                                           self.discovery.birth_topic))
        self.rejections = RejectionReporter(clock, self._event, self.inbound.dropped)
        self.sync = ClockSync(clock, time_synced, self._event)
        self.forecaster = ForecastIssuer(
            engine=engine, topics=self.topics,
            pv_device=config.agent.pv_device or next(iter(devices), ""), sync=self.sync,
            is_down=self.pollers.is_down, put=self._put, rollout=rollout,
            on_forecast=self._on_forecast,
        )
        self.discovery_tracker = DiscoveryTracker(
            self.discovery, publisher, enabled=config.discovery.enabled,
            horizons_min=lambda: self.holder.spec.horizons_min,
            quantities=self.quantities, protocols=protocols, plan=config.plan.enabled,
        )
        self.reporter = StatusReporter(
            topics=self.topics, clock=clock, outbox=outbox, publisher=publisher,
            notifier=notifier or Notifier({}), holder=self.holder, devices=self.pollers.status,
            clock_synced=self.sync.ok, emit=self._event, rejections=self.rejections,
            forecasts_issued=lambda: self.forecaster.issued, rollout=rollout,
        )
        self.agent_commands = AgentCommands(
            self.commands, holder=self.holder, clock=clock, forecaster=self.forecaster,
            reporter=self.reporter, tracker=self.discovery_tracker, rollout=rollout)
        #: driven by the loop in this order (readings, passes, forecasts)
        self.collaborators: list[Collaborator] = [self.forecaster, self.discovery_tracker]
        #: the energy plan (None with ``[plan] enabled = false``)
        self.planning: PlanningCycle | None = None
        if config.plan.enabled:
            self.planning = PlanningCycle(
                site=engine.site, config=PlanConfig(
                    reserve_soc=config.plan.reserve_soc, scenarios=config.plan.scenarios,
                    history_days=config.plan.history_days),
                topics=self.topics, devices=[d.id for d in config.devices] or list(devices),
                pv_device=config.agent.pv_device or next(iter(devices), ""),
                synced=self.sync.ok, put=self._put, emit=self._event,
                state_path=config.plan_state_path, save_every_s=config.plan.save_every_s)
            self.collaborators.append(self.planning)
        if rollout is not None:
            rollout.bind(report=self._event, on_change=self.reporter.publish_model)
            self.commands.register_topic("model", rollout.handle_payload)

    def add_collaborator(self, collaborator: Collaborator) -> None:
        """Drive ``collaborator`` from the loop too (after those already there)."""
        self.collaborators.append(collaborator)

    @property
    def notifier(self) -> Notifier:
        """systemd notifications."""
        return self.reporter.notifier

    @notifier.setter
    def notifier(self, notifier: Notifier) -> None:
        self.reporter.notifier = notifier

    @property
    def inbound_dropped(self) -> dict[str, int]:
        """Inbound messages dropped over the rate or size budget, by topic."""
        return self.inbound.dropped

    # ----------------------------------------------------------- the loop
    def run(self, stop: threading.Event) -> int:
        """Poll, forecast and report until ``stop`` is set; returns 0."""
        self.start(stop)
        while not stop.is_set():
            self.step()
        self.finish()
        return 0

    # In three parts for a manual clock: start(stop, threads=False), then
    # poll_once() and step(wait=0) as simulated time advances, then finish().
    def start(self, stop: threading.Event, *, threads: bool = True) -> None:
        """Prepare, start one poller thread per device (unless ``threads`` is False)."""
        self.forecaster.start(self.clock.now_utc())
        self.publisher.subscribe(self.commands.subscription, self.inbound.offer)
        if self.config.discovery.enabled:
            self.publisher.subscribe(self.discovery.birth_topic, self.inbound.offer)
        self.publisher.add_connect_listener(self._on_connected)
        self._on_connected()  # the publisher may have connected already
        self.reporter.publish_model()
        self.reporter.publish_status()
        if threads:
            self.pollers.start(stop)
        self.notifier.ready(f"polling {len(self.pollers)} devices")
        self._event("info", "agent_started", "agent started", devices=sorted(self.pollers),
                    epoch=self._epoch)
        for level, code, text, data in startup_findings(
                self.outbox, self.config, self.holder.spec.step_seconds,
                self.clock.now_utc().timestamp()):
            self._event(level, code, text, **data, epoch=self._epoch)
        self.reporter.start(self.config.agent.heartbeat_s, self.config.agent.watchdog_s)

    def step(self, wait: float = 0.2) -> None:
        """One pass of the loop: readings, inbound, devices, collaborators, heartbeat, watchdog.

        Parameters
        ----------
        wait : float
            Longest wait for the first reading of the pass. [s]
        """
        try:
            self._cycle(wait)
            self.reporter.heartbeat_due()
        except Exception as exc:  # the one broad except: report, keep running
            self.cycle_errors += 1
            log.exception("agent cycle failed")
            self._safe_event(exc)
        self.reporter.watchdog_due()

    def poll_once(self) -> None:
        """Poll every device once on the caller's thread (with ``start(threads=False)``)."""
        self.pollers.poll_once()

    def finish(self) -> None:
        """Join the pollers, store what is still in memory, report the stop."""
        self.notifier.stopping()
        self.pollers.join(timeout=5.0)
        drained = self._drain_readings()
        for c in self.collaborators:
            try:
                c.on_stop()
            except Exception:  # one collaborator's failure must not stop the others' save
                log.exception("collaborator stop failed")
        self._event("info", "agent_stopping", "agent stopping", drained=drained)
        self.outbox.flush()  # the group commit window ends with the agent

    def _drain_readings(self) -> int:
        """Store the readings still in memory (a clean stop loses none); how many."""
        n = 0
        while (item := self.pollers.take()) is not None:
            try:
                self._handle_reading(item)
                n += 1
            except Exception:  # the outbox may be what failed; the rest still tried
                log.exception("could not store a reading at stop")
        return n

    def _cycle(self, wait: float = 0.2) -> None:
        item = self.pollers.take(wait)
        while item is not None:
            self._handle_reading(item)
            item = self.pollers.take()
        for _ in range(INBOUND_PER_CYCLE):  # polling and the watchdog come first
            inbound = self.inbound.take()
            if inbound is None:
                break
            self._handle_inbound(*inbound)
        if self.pollers.check(self._event):  # the retained status says at once
            self.reporter.publish_status()  # which devices are connected
        now = self.clock.now_utc()
        for c in self.collaborators:
            c.on_cycle(now)

    def _handle_reading(self, item: Polled) -> None:
        reading, stale = item
        units = {n: q.unit if (q := self.quantities.get(n)) else "" for n in reading.values}
        msg = reading_message(self.topics, reading, units, stale=stale)
        if not self.sync.ok():  # its timestamp may be hours or years off
            msg = dataclasses.replace(msg, body={**msg.body, "clock_synced": False})
        self._put(msg)
        for c in self.collaborators:
            c.on_reading(reading)

    def _on_forecast(self, result: ForecastResult) -> None:
        for c in self.collaborators:
            c.on_forecast(result)

    def _put(self, msg: Message) -> int:
        epoch = self._epoch
        return self.outbox.put(msg.device_id, msg.stream, msg.topic,
                               lambda seq: msg.encode(seq, epoch), qos=msg.qos, retain=msg.retain)

    def _event(self, level: str, code: str, message: str, /, **data: Any) -> None:
        log.log(logging.WARNING if level != "info" else logging.INFO, "%s: %s", code, message)
        self._put(event_message(self.topics, now=self.clock.now_utc(), level=level,
                                code=code, message=message, data=data))

    def _safe_event(self, exc: Exception) -> None:
        try:
            self._event("error", "cycle_failed", f"{type(exc).__name__}: {exc}")
        except (sqlite3.Error, ValueError, TypeError):  # the outbox itself may be what failed
            log.exception("cannot record the failure")

    # ------------------------------------------------------------- inbound
    def _on_connected(self) -> None:
        self.inbound.put(_CONNECTED, b"")

    def _handle_inbound(self, topic: str, payload: bytes) -> None:
        birth = self.discovery.birth_topic
        if topic == _CONNECTED or (topic == birth and payload == b"online"):
            self.discovery_tracker.announce_all()
            return
        if topic == birth:
            return
        self.rejections.report(self.commands.handle(topic, payload))

    def activate(self, bundle: Bundle) -> None:
        """Run a verified ``bundle`` from the next step on (the rollout seam).

        Call from the agent's thread (a ``cmd/<sub>`` handler runs there).
        """
        self.agent_commands.activate(bundle)

