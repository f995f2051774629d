"""The agent's own state on the wire: retained status and model, heartbeat, watchdog.

Responsible for: the retained ``status`` message (devices, outbox, model,
uptime, ``clock_synced``, the rollout's state) and ``model`` message, the
heartbeat every ``[agent] heartbeat_s`` (status again, then one event each
for outbox eviction, broker refusals and the summed-up inbound rejections),
and the systemd watchdog ping at half the watchdog period while the
publisher's network thread lives.

Does NOT: store events itself (the :class:`EventSink` it is given) or talk
MQTT beyond ``set_retained``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from edge.runtime.messages import Message, model_message, status_message

if TYPE_CHECKING:
    from edge.forecasting.engine import ModelHolder
    from edge.runtime.contract import Topics
    from edge.runtime.inbound import RejectionReporter
    from edge.runtime.interfaces import EventSink, PublisherLike
    from edge.runtime.outbox import Outbox
    from edge.runtime.rollout import Rollout
    from edge.runtime.sdnotify import Notifier
    from firmware_bridge.clock import Clock

__all__ = ["StatusReporter"]


class StatusReporter:
    """Status, model, heartbeat and watchdog on the injected clock.

    Parameters
    ----------
    topics : Topics
    clock : Clock
    outbox : Outbox
        Sequence numbers, queue and eviction counts.
    publisher : PublisherLike
    notifier : Notifier
        systemd notifications.
    holder : ModelHolder
        The active model.
    devices : callable
        ``devices()`` -> device id -> status view of its counters.
    clock_synced : callable
        ``clock_synced()`` -> is the system clock synchronised?
    emit : EventSink
    rejections : RejectionReporter
        Summed up at every heartbeat.
    forecasts_issued : callable
        ``forecasts_issued()`` -> count for the systemd status line. [-]
    rollout : Rollout, optional
        Its state goes into the status message.
    """

    def __init__(self, *, topics: Topics, clock: Clock, outbox: Outbox,
                 publisher: PublisherLike, notifier: Notifier, holder: ModelHolder,
                 devices: Callable[[], Mapping[str, Mapping[str, Any]]],
                 clock_synced: Callable[[], bool], emit: EventSink,
                 rejections: RejectionReporter, forecasts_issued: Callable[[], int],
                 rollout: Rollout | None = None) -> None:
        self.topics, self.clock, self.outbox, self.publisher = topics, clock, outbox, publisher
        self.notifier, self.holder, self.devices = notifier, holder, devices
        self.clock_synced, self.emit, self.rejections = clock_synced, emit, rejections
        self.forecasts_issued, self.rollout = forecasts_issued, rollout
        self.epoch = outbox.epoch
        self._started = clock.monotonic()
        self._evicted_reported = outbox.stats.evicted
        self._refused_reported = 0
        self._hb_s = self._wd_s = self._next_hb = self._next_wd = 0.0

    def start(self, heartbeat_s: float, watchdog_s: float) -> None:
        """First heartbeat after ``heartbeat_s``; the watchdog is pinged at half its
        period (systemd's ``WATCHDOG_USEC`` when set, else ``watchdog_s``). [s]"""
        self._hb_s = heartbeat_s
        self._wd_s = (self.notifier.watchdog_s or 2 * watchdog_s) / 2
        self._next_hb = self.clock.monotonic() + self._hb_s
        self._next_wd = self.clock.monotonic()

    # ------------------------------------------------------------ retained
    def status_message(self) -> Message:
        """The retained status as it is now."""
        st = self.outbox.stats
        msg = status_message(
            self.topics, now=self.clock.now_utc(), devices=self.devices(),
            queued=st.queued, evicted=st.evicted, parked=st.parked,
            model_version=self.holder.version,
            model_sha256=self.holder.sha256,
            uptime_s=self.clock.monotonic() - self._started,
        )
        msg = dataclasses.replace(msg, body={**msg.body, "clock_synced": self.clock_synced()})
        if self.rollout is None:
            return msg
        return dataclasses.replace(msg, body={**msg.body, "rollout": self.rollout.status()})

    def publish_status(self) -> None:
        """Set the retained status."""
        msg = self.status_message()
        seq = self.outbox.next_seq(msg.device_id, msg.stream)
        self.publisher.set_retained(msg.topic, msg.encode(seq, self.epoch))

    def publish_model(self) -> None:
        """Set the retained model message (the active bundle)."""
        b = self.holder.bundle
        msg = model_message(
            self.topics, now=self.clock.now_utc(), version=b.version, sha256=b.sha256,
            blessed=b.blessed, created=str(b.manifest.get("created", "")),
        )
        seq = self.outbox.next_seq(msg.device_id, "model")
        self.publisher.set_retained(msg.topic, msg.encode(seq, self.epoch))

    # ------------------------------------------------------------ periodic
    def heartbeat_due(self) -> None:
        """The heartbeat, when its period has passed."""
        now = self.clock.monotonic()
        if now >= self._next_hb:
            self._next_hb = now + self._hb_s
            self.heartbeat()

    def heartbeat(self) -> None:
        """Status again; eviction, refusal and rejection summaries; the systemd status."""
        self.publish_status()
        evicted = self.outbox.stats.evicted
        if evicted > self._evicted_reported:
            self.emit("warning", "outbox_evicted",
                      f"outbox full: {evicted - self._evicted_reported} oldest messages dropped",
                      evicted=evicted - self._evicted_reported, evicted_total=evicted)
            self._evicted_reported = evicted
        pub_stats = self.publisher.stats
        refused = pub_stats.refused
        if refused > self._refused_reported:  # one event per heartbeat, however many
            self.emit("error", "publish_refused",
                      f"broker refused {refused - self._refused_reported} messages (kept in"
                      " the outbox)", refused=refused - self._refused_reported,
                      refused_total=refused, last=pub_stats.last_refusal)
            self._refused_reported = refused
        self.rejections.report_suppressed()
        self.notifier.status(
            f"{self.forecasts_issued()} forecasts, {self.outbox.stats.queued} queued"
        )

    def watchdog_due(self) -> None:
        """Ping the systemd watchdog when due, if the publisher's thread lives."""
        if self.clock.monotonic() >= self._next_wd:
            self._next_wd = self.clock.monotonic() + self._wd_s
            if self.publisher.is_alive():
                self.notifier.watchdog()
