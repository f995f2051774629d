"""The agent loop: poll devices, queue readings, forecast every step, report.

Responsible for: one poller thread per device (each on its own interval),
one loop that stores every reading in the outbox, aggregates readings to
the model's step, issues a forecast at the end of every step (flagged
``inputs_stale`` when the PV source went quiet), turns device faults,
outbox eviction and commands into events, republishes the retained status
as a heartbeat, announces Home Assistant discovery, and pings the systemd
watchdog. The loop holds the only broad ``except``: a bug in one cycle is
logged and reported as an event, and the agent keeps running.

Does NOT: parse serial bytes, build payload shapes (:mod:`edge.runtime.messages`),
talk MQTT (:mod:`edge.runtime.publisher`), or load bundles (:class:`ModelHolder`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from edge.forecasting.bundle import Bundle, BundleError
from edge.forecasting.engine import CURTAILED_STATES, ForecastEngine, ModelHolder
from edge.runtime import discovery
from edge.runtime.config import AgentConfig
from edge.runtime.contract import Topics
from edge.runtime.inbound import CommandError, CommandOutcome, CommandTable
from edge.runtime.messages import (
    Message,
    event_message,
    forecast_message,
    model_message,
    reading_message,
    status_message,
)
from edge.runtime.outbox import Outbox
from edge.runtime.sdnotify import Notifier
from edge.runtime.window import ReadingWindow
from firmware_bridge.clock import Clock
from firmware_bridge.timestamps import isoformat_z

if TYPE_CHECKING:
    from edge.runtime.rollout import Rollout

__all__ = ["Agent", "DeviceLike", "PublisherLike"]

log = logging.getLogger(__name__)


#: reading values that describe a device; a change re-announces it to Home Assistant
_IDENTITY_VALUES = ("product_id", "serial_number", "firmware_version",
                    "rated_ac_output_apparent_power")

class ReadingLike(Protocol):
    """``firmware_bridge.readings.Reading``."""

    device_id: str
    timestamp: datetime
    values: Mapping[str, float | int | str]


class DeviceLike(Protocol):
    """``firmware_bridge.device.Device``: ``poll()`` never raises on serial faults."""

    def poll(self) -> Any: ...
    @property
    def stats(self) -> Any: ...
    def close(self) -> None: ...


class PublisherLike(Protocol):
    """The part of :class:`edge.runtime.publisher.MqttPublisher` the agent uses."""

    def set_retained(self, topic: str, payload: bytes) -> None: ...
    def publish_live(self, topic: str, payload: bytes, *, retain: bool = False) -> None: ...
    def subscribe(self, topic_filter: str, handler: Callable[[str, bytes], None]) -> None: ...
    def add_connect_listener(self, callback: Callable[[], None]) -> None: ...
    def is_alive(self) -> bool: ...


#: status key -> (value that is bad, event code when it turns bad, when it recovers)
_TRANSITIONS = {
    "connected": (False, "device_disconnected", "device_connected"),
    "stale": (True, "device_stale", "device_fresh"),
}
_STAT_FIELDS = ("connected", "frames_good", "checksum_errors", "timeouts", "reconnects")

#: Inbound messages admitted per topic: a sustained rate [1/s] and a burst.
INBOUND_RATE = 2.0
INBOUND_BURST = 10
#: Most payload bytes waiting in the inbound queue (a bundle rollout is the big one). [bytes]
INBOUND_MAX_BYTES = 48 * 1024 * 1024
#: Inbound messages handled per loop cycle, after the readings.
INBOUND_PER_CYCLE = 2
#: Refused commands of one kind are reported once per window, then summed up. [s]
REJECTION_WINDOW_S = 60.0


@dataclass(slots=True)
class _Bucket:
    """A token bucket (``tokens`` refill at a rate, up to a burst)."""

    tokens: float
    stamp: float = 0.0

    def take(self, now: float, rate: float, burst: int) -> bool:
        self.tokens = min(float(burst), self.tokens + (now - self.stamp) * rate)
        self.stamp = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


def device_status(stats: Any) -> dict[str, Any]:
    """The status-message view of ``DeviceStats``."""
    if hasattr(stats, "to_dict"):
        return dict(stats.to_dict())
    out = {k: getattr(stats, k, None) for k in _STAT_FIELDS}
    last = getattr(stats, "last_reading_utc", None)
    out["last_reading"] = isoformat_z(last) if last else None
    out["stale"] = bool(getattr(stats, "stale", False))
    return out


@dataclass(slots=True)
class _Poller:
    device_id: str
    device: DeviceLike
    interval: float
    thread: threading.Thread | None = None
    error: BaseException | None = None
    last: dict[str, Any] = field(default_factory=dict)
    was_stale: bool = False  # a device_stale event went out (the start-up state is stale)


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
        Model rollout over ``cmd/model`` with shadow runs (issue #5).
    time_synced : callable, optional
        ``time_synced() -> bool``: is the system clock synchronised
        (:func:`edge.runtime.timesync.clock_synchronized`)? While it is not,
        readings carry ``clock_synced: false`` and no forecast is issued.
        None: never asked (simulated clocks, a trusted real-time clock).
    """

    def __init__(
        self,
        *,
        config: AgentConfig,
        site_id: str,
        devices: Mapping[str, DeviceLike],
        engine: ForecastEngine,
        outbox: Outbox,
        publisher: PublisherLike,
        clock: Clock,
        notifier: Notifier | None = None,
        quantities: Mapping[str, Any] | None = None,
        protocols: Mapping[str, str] | None = None,
        sw_version: str = "",
        rollout: Rollout | None = None,
        time_synced: Callable[[], bool] | None = None,
    ) -> None:
        self.config = config
        self._time_synced = time_synced
        self._stop = threading.Event()
        self._threads = True
        self._hb_s = self._wd_s = self._next_hb = self._next_wd = 0.0
        self._synced: bool | None = None
        self._synced_checked = -1e9
        self.forecasts_held = 0
        self.topics = Topics(site_id, config.agent.id, config.mqtt.topic_prefix)
        self.engine = engine
        self.holder: ModelHolder = engine.holder
        self.outbox = outbox
        self.publisher = publisher
        self.clock = clock
        self.notifier = notifier or Notifier({})
        self.quantities = quantities or {}
        self.protocols = dict(protocols or {})
        self.discovery = discovery.DiscoveryContext(
            self.topics, config.discovery.prefix, sw_version,
            per_entity=config.discovery.per_entity,
        )
        intervals = {d.id: d.poll_interval for d in config.devices}
        self.pollers = {
            dev_id: _Poller(dev_id, dev, intervals.get(dev_id, 1.0))
            for dev_id, dev in devices.items()
        }
        self.commands = CommandTable(self.topics.cmd)
        self.commands.register("republish_discovery", self._cmd_discovery)
        self.commands.register("reload_model", self._cmd_reload)
        self.commands.register("report_status", self._cmd_status)
        self.pv_device = config.agent.pv_device or next(iter(devices), "")
        self.window = ReadingWindow(60, 2)
        self._readings: queue.Queue[Any] = queue.Queue(maxsize=10_000)
        self._inbox: queue.Queue[tuple[str, bytes]] = queue.Queue(maxsize=100)
        self._inbox_lock = threading.Lock()
        self._inbox_bytes = 0
        self._buckets: dict[str, _Bucket] = {}
        #: inbound messages dropped over the rate or size budget, by topic
        self.inbound_dropped: dict[str, int] = {}
        self._dropped_reported = 0
        self._rejections: dict[str, list[float]] = {}
        self._seen: dict[str, set[str]] = {}
        #: per device, what the HA device block shows (serial, firmware, ratings)
        self._identity: dict[str, dict[str, Any]] = {}
        self._evicted_reported = outbox.stats.evicted
        self._refused_reported = 0
        self._epoch = outbox.epoch
        self._started = clock.monotonic()
        self._next_issue = 0
        self.forecasts_issued = 0
        self.cycle_errors = 0
        self.rollout = rollout
        if rollout is not None:
            rollout.bind(report=self._event, on_change=self._publish_model)
            self.commands.register_topic("model", rollout.handle_payload)
        self._inbound_topics = {self.commands.cmd_topic, self.commands.cmd_topic + "/model",
                                self.discovery.birth_topic}

    # ---------------------------------------------------------------- setup
    def _prepare(self) -> None:
        spec = self.holder.spec
        self.window = ReadingWindow(spec.step_seconds, spec.history_steps + 2)
        self._next_issue = self._issue_time(self.clock.now_utc().timestamp()) + spec.step_seconds
        self.publisher.subscribe(self.commands.subscription, self._on_inbound)
        if self.config.discovery.enabled:
            self.publisher.subscribe(self.discovery.birth_topic, self._on_inbound)
        self.publisher.add_connect_listener(self._on_connected)
        self._on_connected()  # the publisher may have connected already
        self._publish_model()
        self._publish_status()

    def _issue_time(self, now_s: float) -> int:
        step = self.holder.spec.step_seconds
        return int(now_s // step * step)

    # ----------------------------------------------------------- the loop
    def run(self, stop: threading.Event) -> int:
        """Poll, forecast and report until ``stop`` is set; returns 0."""
        self.start(stop)
        while not stop.is_set():
            self.step()
        self.finish()
        return 0

    # The loop in three parts, so that a caller can drive it step by step with a
    # manual clock (tests): start(stop, threads=False), then poll_once() and
    # step(wait=0) as simulated time advances, then finish().
    def start(self, stop: threading.Event, *, threads: bool = True) -> None:
        """Prepare, start one poller thread per device (unless ``threads`` is False)."""
        self._stop, self._threads = stop, threads
        self._prepare()
        if threads:
            for p in self.pollers.values():
                self._start_poller(p, stop)
        self.notifier.ready(f"polling {len(self.pollers)} devices")
        self._event("info", "agent_started", "agent started", devices=sorted(self.pollers),
                    epoch=self._epoch)
        recovered = self.outbox.recovered
        if recovered is not None:
            self._event("error", "outbox_recovered",
                        "outbox database unreadable; moved aside, new outbox and epoch started",
                        moved_to=recovered.moved_to, error=recovered.error, epoch=self._epoch)
        self._hb_s = self.config.agent.heartbeat_s
        self._wd_s = (self.notifier.watchdog_s or 2 * self.config.agent.watchdog_s) / 2
        self._next_hb = self.clock.monotonic() + self._hb_s
        self._next_wd = self.clock.monotonic()

    def step(self, wait: float = 0.2) -> None:
        """One pass of the loop: readings, inbound, devices, forecast, heartbeat, watchdog.

        Parameters
        ----------
        wait : float
            Longest wait for the first reading of the pass. [s]
        """
        try:
            self._cycle(self._stop, wait)
            now = self.clock.monotonic()
            if now >= self._next_hb:
                self._next_hb = now + self._hb_s
                self._heartbeat()
        except Exception as exc:  # the one broad except: report, keep running
            self.cycle_errors += 1
            log.exception("agent cycle failed")
            self._safe_event(exc)
        if self.clock.monotonic() >= self._next_wd:
            self._next_wd = self.clock.monotonic() + self._wd_s
            if self.publisher.is_alive():
                self.notifier.watchdog()

    def poll_once(self) -> None:
        """Poll every device once on the caller's thread (with ``start(threads=False)``)."""
        for p in self.pollers.values():
            self._poll_device(p)

    def finish(self) -> None:
        """Join the pollers, store what is still in memory, report the stop."""
        self.notifier.stopping()
        for p in self.pollers.values():
            if p.thread is not None:
                p.thread.join(timeout=5.0)
        drained = self._drain_readings()
        self._event("info", "agent_stopping", "agent stopping", drained=drained)
        self.outbox.flush()  # the group commit window ends with the agent

    def _drain_readings(self) -> int:
        """Store the readings still in memory (a clean stop loses none); how many."""
        n = 0
        while True:
            try:
                item = self._readings.get_nowait()
            except queue.Empty:
                return n
            try:
                self._handle_reading(item)
                n += 1
            except Exception:  # the outbox may be what failed; the rest still tried
                log.exception("could not store a reading at stop")

    def _cycle(self, stop: threading.Event, wait: float = 0.2) -> None:
        try:
            first = self._readings.get(timeout=wait) if wait > 0 else self._readings.get_nowait()
        except queue.Empty:
            first = None
        if first is not None:
            self._handle_reading(first)
        while True:
            try:
                self._handle_reading(self._readings.get_nowait())
            except queue.Empty:
                break
        for _ in range(INBOUND_PER_CYCLE):  # polling and the watchdog come first
            item = self._take_inbound()
            if item is None:
                break
            self._handle_inbound(*item)
        self._check_devices(stop)
        now = self.clock.now_utc().timestamp()
        step = self.holder.spec.step_seconds
        if now < self._next_issue - 2 * step:  # the clock went back (NTP after boot)
            log.warning("clock went back; rescheduling the next forecast")
            self._next_issue = self._issue_time(now) + step
        if now >= self._next_issue + self._grace():
            self._issue_forecast()

    def _grace(self) -> float:
        return min(0.05 * self.holder.spec.step_seconds, 10.0)

    # ------------------------------------------------------------ pollers
    def _start_poller(self, p: _Poller, stop: threading.Event) -> None:
        p.error = None
        p.thread = threading.Thread(
            target=self._poll_loop, args=(p, stop), name=f"poll-{p.device_id}", daemon=True
        )
        p.thread.start()

    def _poll_loop(self, p: _Poller, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                t0 = self.clock.monotonic()
                self._poll_device(p)
                stop.wait(max(p.interval - (self.clock.monotonic() - t0), 0.0))
        except Exception as exc:  # handed to the loop, which reports and restarts it
            p.error = exc

    def _poll_device(self, p: _Poller) -> None:
        """One poll of one device; its readings go to the loop's queue."""
        poll_all = getattr(p.device, "poll_all", None)  # + parallel units' readings
        readings = poll_all() if poll_all is not None else [p.device.poll()]
        for reading in readings:
            if reading is None:
                continue
            stale: list[str] = []
            stale_names = getattr(p.device, "stale_names", None)
            if stale_names is not None and reading.device_id == p.device_id:
                stale = stale_names()
            self._readings.put((reading, stale), timeout=5.0)

    def _check_devices(self, stop: threading.Event) -> None:
        changed = False
        for p in self.pollers.values():
            if p.error is not None:
                err, p.error = p.error, None
                self._event(
                    "error", "poller_crashed", f"{p.device_id}: {err!r}; restarting",
                    device=p.device_id,
                )
                if self._threads:
                    self._start_poller(p, stop)
            take_notices = getattr(p.device, "take_notices", None)
            for notice in take_notices() if take_notices is not None else ():
                # once per unknown field or refused command (firmware_bridge.device.DeviceNotice)
                self._event("warning", notice.code, notice.message, device=p.device_id,
                            subject=notice.subject)
            status = device_status(p.device.stats)
            changed = changed or p.last.get("connected") != status["connected"]
            for key, (bad_value, bad_code, good_code) in _TRANSITIONS.items():
                old = p.last.get(key)
                if old is None or old == status[key]:
                    continue
                bad = status[key] == bad_value
                if key == "stale":
                    if not bad and not p.was_stale:
                        continue  # first readings after start: nothing recovered
                    p.was_stale = bad
                self._event(
                    "warning" if bad else "info", bad_code if bad else good_code,
                    f"{p.device_id}: {key} is now {status[key]}",
                    device=p.device_id, stats=status,
                )
            p.last = status
        if changed:  # the retained status says at once which devices are connected
            self._publish_status()

    # ----------------------------------------------------------- readings
    def _handle_reading(self, item: tuple[Any, list[str]]) -> None:
        reading, stale = item
        units = {n: getattr(self.quantities.get(n), "unit", "") for n in reading.values}
        msg = reading_message(self.topics, reading, units, stale=stale)
        if not self._clock_ok():  # its timestamp may be hours or years off
            msg = dataclasses.replace(msg, body={**msg.body, "clock_synced": False})
        self._put(msg)
        self.window.add(reading.device_id, reading.timestamp, reading.values)
        seen = self._seen.setdefault(reading.device_id, set())
        new = set(reading.values) - seen
        ident = {k: reading.values[k] for k in _IDENTITY_VALUES if k in reading.values}
        old_ident = self._identity.setdefault(reading.device_id, {})
        changed = any(old_ident.get(k) != v for k, v in ident.items())
        old_ident.update(ident)
        if (new or changed) and self.config.discovery.enabled:
            seen |= new
            self._announce_device(reading.device_id)

    def _put(self, msg: Message) -> int:
        epoch = self._epoch
        return self.outbox.put(msg.device_id, msg.stream, msg.topic,
                               lambda seq: msg.encode(seq, epoch), qos=msg.qos, retain=msg.retain)

    # ----------------------------------------------------------- forecast
    def _clock_ok(self) -> bool:
        """The clock is synchronised (asked at most once a second); events on changes."""
        if self._time_synced is None:
            return True
        now = time.monotonic()
        if now - self._synced_checked < 1.0 and self._synced is not None:
            return self._synced
        self._synced_checked = now
        synced = bool(self._time_synced())
        if synced != self._synced:
            if not synced:
                self._event("warning", "clock_unsynchronised",
                            "system clock not synchronised (no NTP yet): readings are marked"
                            " clock_synced=false and forecasts are held")
            elif self._synced is not None:
                self._event("info", "clock_synchronised",
                            f"system clock synchronised; forecasts resume"
                            f" ({self.forecasts_held} held)", held=self.forecasts_held)
            self._synced = synced
        return synced

    def _issue_forecast(self) -> None:
        if not self._clock_ok():  # a forecast for the wrong date is worse than none
            self.forecasts_held += 1
            now = self.clock.now_utc().timestamp()
            self._next_issue = self._issue_time(now) + self.holder.spec.step_seconds
            return
        issue = self._issue_time(self.clock.now_utc().timestamp())
        spec = self.holder.spec
        self._next_issue = issue + spec.step_seconds
        n = spec.history_steps
        dev = self.pv_device
        pv = self.window.series(dev, "pv_power", issue, n)
        ends = [issue - (n - 1 - i) * spec.step_seconds for i in range(n)]
        curtailed = [self.window.last_text(dev, "charge_state", e) in CURTAILED_STATES
                     for e in ends]
        ghi = self.engine.ghi_history(issue, pv, curtailed)
        p = self.pollers.get(dev)
        dev_stale = p is None or not p.last.get("connected", True) or p.last.get("stale", False)
        stale = dev_stale or self.window.count(dev, "pv_power", issue) == 0
        temp = self.window.mean(dev, "ambient_temperature", issue)
        result = self.engine.forecast(issue, ghi, inputs_stale=stale, temp_air=temp)
        msg = forecast_message(
            self.topics, result, issue_time=result.issue_time,
            step_minutes=spec.step_minutes, model_version=self.holder.version,
            model_sha256=self.holder.sha256, inputs_stale=result.inputs_stale,
            pv_energy=self.engine.energy_outlook(result),
        )
        self._put(msg)
        self.forecasts_issued += 1
        if self.rollout is not None:
            self._shadow(result, ghi, pv[-1] if pv else math.nan,
                         bool(curtailed and curtailed[-1]), temp)
        if stale:
            log.warning("forecast at %s issued with stale inputs", result.issue_time)

    def _shadow(self, result: Any, ghi: list[float], pv: float, curtailed: bool,
                temp: float) -> None:
        """Issue #5: score the period just measured; publish the shadow model's forecast."""
        assert self.rollout is not None
        shadow = self.rollout.after_forecast(result, ghi, pv=pv, curtailed=curtailed,
                                             temp_air=temp)
        cand = self.rollout.candidate
        if shadow is not None and cand is not None:
            self._put(forecast_message(
                self.topics, shadow, issue_time=shadow.issue_time,
                step_minutes=self.holder.spec.step_minutes, model_version=cand.version,
                model_sha256=cand.sha256, inputs_stale=shadow.inputs_stale, shadow=True,
            ))

    # ------------------------------------------------------ status, events
    def _status_message(self) -> Message:
        msg = self._plain_status()
        msg = dataclasses.replace(msg, body={**msg.body, "clock_synced": self._clock_ok()})
        if self.rollout is None:
            return msg
        return dataclasses.replace(msg, body={**msg.body, "rollout": self.rollout.status()})

    def _plain_status(self) -> Message:
        st = self.outbox.stats
        return status_message(
            self.topics, now=self.clock.now_utc(),
            devices={k: device_status(p.device.stats) for k, p in self.pollers.items()},
            queued=st.queued, evicted=st.evicted, model_version=self.holder.version,
            model_sha256=self.holder.sha256,
            uptime_s=self.clock.monotonic() - self._started,
        )

    def _publish_status(self) -> None:
        msg = self._status_message()
        seq = self.outbox.next_seq(msg.device_id, msg.stream)
        self.publisher.set_retained(msg.topic, msg.encode(seq, self._epoch))

    def _publish_model(self) -> None:
        b = self.holder.bundle
        msg = model_message(
            self.topics, now=self.clock.now_utc(), version=b.version, sha256=b.sha256,
            blessed=b.blessed, created=str(b.manifest.get("created", "")),
        )
        seq = self.outbox.next_seq(msg.device_id, "model")
        self.publisher.set_retained(msg.topic, msg.encode(seq, self._epoch))

    def _heartbeat(self) -> None:
        self._publish_status()
        evicted = self.outbox.stats.evicted
        if evicted > self._evicted_reported:
            self._event("warning", "outbox_evicted",
                        f"outbox full: {evicted - self._evicted_reported} oldest messages dropped",
                        evicted=evicted - self._evicted_reported, evicted_total=evicted)
            self._evicted_reported = evicted
        pub_stats = getattr(self.publisher, "stats", None)
        refused = int(getattr(pub_stats, "refused", 0) or 0)
        if refused > self._refused_reported:  # one event per heartbeat, however many
            self._event("error", "publish_refused",
                        f"broker refused {refused - self._refused_reported} messages (kept in"
                        " the outbox)", refused=refused - self._refused_reported,
                        refused_total=refused, last=getattr(pub_stats, "last_refusal", ""))
            self._refused_reported = refused
        self._report_suppressed()
        self.notifier.status(
            f"{self.forecasts_issued} forecasts, {self.outbox.stats.queued} queued"
        )

    def _event(self, level: str, code: str, message: str, **data: Any) -> None:
        log.log(logging.WARNING if level != "info" else logging.INFO, "%s: %s", code, message)
        self._put(event_message(self.topics, now=self.clock.now_utc(), level=level,
                                code=code, message=message, data=data))

    def _safe_event(self, exc: Exception) -> None:
        try:
            self._event("error", "cycle_failed", f"{type(exc).__name__}: {exc}")
        except (sqlite3.Error, ValueError, TypeError):  # the outbox itself may be what failed
            log.exception("cannot record the failure")

    # ------------------------------------------------------------- inbound
    def _enqueue(self, item: tuple[str, bytes]) -> bool:
        size = len(item[1])
        with self._inbox_lock:
            if self._inbox_bytes + size > INBOUND_MAX_BYTES:
                return False
            try:
                self._inbox.put_nowait(item)
            except queue.Full:
                return False
            self._inbox_bytes += size
        return True

    def _on_inbound(self, topic: str, payload: bytes) -> None:
        """From the MQTT thread: admit within the topic's budget and the queue's bytes."""
        key = topic if topic in self._inbound_topics else "<other>"
        bucket = self._buckets.setdefault(key, _Bucket(INBOUND_BURST))
        if not bucket.take(time.monotonic(), INBOUND_RATE, INBOUND_BURST) \
                or not self._enqueue((topic, payload)):
            self.inbound_dropped[key] = self.inbound_dropped.get(key, 0) + 1

    def _on_connected(self) -> None:
        self._enqueue(("connected", b""))

    def _take_inbound(self) -> tuple[str, bytes] | None:
        try:
            item = self._inbox.get_nowait()
        except queue.Empty:
            return None
        with self._inbox_lock:
            self._inbox_bytes -= len(item[1])
        return item

    def _handle_inbound(self, topic: str, payload: bytes) -> None:
        if topic == "connected" or (topic == self.discovery.birth_topic and payload == b"online"):
            self._announce_all()
            return
        if topic == self.discovery.birth_topic:
            return
        outcome = self.commands.handle(topic, payload)
        self._report(outcome)

    def _report(self, outcome: CommandOutcome) -> None:
        if outcome.code in ("command_rejected", "command_failed"):
            # one event per kind per window; the rest are counted and summed up later
            now = time.monotonic()
            first = self._rejections.get(outcome.code)
            if first is not None and now - first[0] < REJECTION_WINDOW_S:
                first[1] += 1
                return
            self._rejections[outcome.code] = [now, 0]
        self._event(outcome.level, outcome.code, outcome.message, **dict(outcome.data))

    def _report_suppressed(self) -> None:
        """Heartbeat: one summary event for rejections and drops since the last one."""
        now = time.monotonic()
        for code, window in list(self._rejections.items()):
            if now - window[0] >= REJECTION_WINDOW_S:
                del self._rejections[code]
                if window[1]:
                    self._event("error", code, f"{int(window[1])} more inbound messages refused"
                                f" in {REJECTION_WINDOW_S:.0f} s (not reported one by one)",
                                suppressed=int(window[1]))
        dropped = sum(self.inbound_dropped.values())
        if dropped > self._dropped_reported:
            self._event("warning", "inbound_dropped",
                        f"{dropped - self._dropped_reported} inbound messages dropped over the"
                        " rate or size budget", dropped=dropped - self._dropped_reported,
                        by_topic=dict(self.inbound_dropped))
            self._dropped_reported = dropped

    def _announce_all(self) -> None:
        if not self.config.discovery.enabled:
            return
        for dev_id in self._seen:
            self._announce_device(dev_id)
        for topic, payload in discovery.forecast_configs(
            self.discovery, self.holder.spec.horizons_min
        ):
            self.publisher.publish_live(topic, payload)

    def _announce_device(self, dev_id: str) -> None:
        for topic, payload in discovery.reading_configs(
            self.discovery, dev_id, self._seen.get(dev_id, ()), self.quantities,
            protocol=self.protocols.get(dev_id, ""), identity=self._identity.get(dev_id),
        ):
            self.publisher.publish_live(topic, payload)

    # ------------------------------------------------------------ commands
    def _cmd_discovery(self, _args: Mapping[str, Any]) -> Mapping[str, Any]:
        self._announce_all()
        return {}

    def _cmd_reload(self, _args: Mapping[str, Any]) -> Mapping[str, Any]:
        old = self.holder.version
        try:
            if self.rollout is not None:  # must not quietly undo a promotion
                result = dict(self.rollout.reload_configured(self.holder.load_configured))
            else:
                bundle = self.holder.reload()
                result = {"old_version": old, "version": bundle.version,
                          "sha256": bundle.sha256}
        except BundleError as exc:
            raise CommandError(f"reload refused, keeping {old}: {exc}") from None
        self._model_changed()
        return result

    def activate(self, bundle: Bundle) -> None:
        """Run a verified ``bundle`` from the next step on (the rollout seam, issue #5).

        Call from the agent's thread (a ``cmd/<sub>`` handler runs there).
        """
        self.holder.swap(bundle)
        self._model_changed()

    def _model_changed(self) -> None:
        spec = self.holder.spec
        if self.window.step_s != spec.step_seconds:
            self.window = ReadingWindow(spec.step_seconds, spec.history_steps + 2)
            now = self.clock.now_utc().timestamp()
            self._next_issue = self._issue_time(now) + spec.step_seconds
        else:
            self.window.keep_periods = max(self.window.keep_periods, spec.history_steps + 2)
        self._publish_model()
        self._announce_all()

    def _cmd_status(self, _args: Mapping[str, Any]) -> Mapping[str, Any]:
        self._publish_status()
        return {}
