"""The typed seams of the agent: devices, the publisher, events and collaborators.

Responsible for: :class:`DeviceLike` (everything the agent calls on a device;
:class:`firmware_bridge.device.Device` implements it), :class:`PublisherLike`
(the part of :class:`edge.runtime.publisher.MqttPublisher` the agent uses),
:class:`EventSink` (how a collaborator reports an event) and
:class:`Collaborator`, the one shape the agent loop drives.

The loop (:class:`edge.runtime.agent.Agent`) stores each reading, then hands
it to every collaborator's :meth:`Collaborator.on_reading`; after the
readings, the inbound messages and the device checks of a pass it calls
:meth:`Collaborator.on_cycle` with the wall time; every forecast it issues
goes to :meth:`Collaborator.on_forecast`; a clean stop calls
:meth:`Collaborator.on_stop`. The forecast issuer
(:mod:`edge.runtime.forecast_cycle`) and the Home Assistant discovery
tracker (:mod:`edge.runtime.discovery_tracker`) and the energy plan
(:mod:`edge.runtime.planning_cycle`) are collaborators; a generator/inverter
controller plugs in the same way
(``Agent.add_collaborator``) without a change to the loop. A collaborator
runs on the loop's thread, takes its time from the injected
:class:`firmware_bridge.clock.Clock`, and reports through an
:class:`EventSink`; the loop's one broad ``except`` covers it.

Does NOT: implement any of them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from edge.forecasting.engine import ForecastResult
    from firmware_bridge.device import DeviceNotice
    from firmware_bridge.drivers import DeviceStats
    from firmware_bridge.readings import Reading

__all__ = ["Collaborator", "DeviceLike", "EventSink", "PublisherLike", "RefusalCounts"]


class DeviceLike(Protocol):
    """What the agent calls on a device (``firmware_bridge.device.Device``).

    ``poll`` and ``poll_all`` never raise on serial faults; a poller thread
    calls them, the loop calls ``stats`` and ``take_notices``.
    """

    @property
    def stats(self) -> DeviceStats:
        """Counters, with ``stale`` evaluated now."""
        ...

    def poll(self) -> Reading | None:
        """One poll cycle; None when nothing valid arrived."""
        ...

    def poll_all(self) -> list[Reading]:
        """One poll cycle: the device's reading plus one per parallel unit."""
        ...

    def stale_names(self) -> list[str]:
        """Names whose last value is older than the device's staleness limit."""
        ...

    def take_notices(self) -> list[DeviceNotice]:
        """Notices raised since the last call (each once)."""
        ...

    def close(self) -> None:
        """Close the port."""
        ...


class RefusalCounts(Protocol):
    """``edge.runtime.publisher.PublisherStats``: messages the broker refused."""

    @property
    def refused(self) -> int:
        """Messages refused so far. [-]"""
        ...

    @property
    def last_refusal(self) -> str:
        """Reason of the last refusal."""
        ...


class PublisherLike(Protocol):
    """The part of :class:`edge.runtime.publisher.MqttPublisher` the agent uses."""

    @property
    def stats(self) -> RefusalCounts:
        """Counters; the agent reads the refusals."""
        ...

    def set_retained(self, topic: str, payload: bytes) -> None:
        """Publish ``payload`` retained now and on every reconnect."""
        ...

    def publish_live(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish once if connected (not stored)."""
        ...

    def subscribe(self, topic_filter: str, handler: Callable[[str, bytes], None]) -> None:
        """Call ``handler(topic, payload)`` from the network thread for matching messages."""
        ...

    def add_connect_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after every (re)connection."""
        ...

    def is_alive(self) -> bool:
        """The network thread runs."""
        ...


class EventSink(Protocol):
    """``sink(level, code, message, **data)``: one event on the events stream."""

    def __call__(self, level: str, code: str, message: str, /, **data: Any) -> None: ...


class Collaborator(Protocol):
    """One part of the agent the loop drives; subclass it to inherit no-op hooks."""

    def on_reading(self, reading: Reading) -> None:
        """A reading, after it is stored in the outbox (every device, in order)."""
        return None

    def on_cycle(self, now: datetime) -> None:
        """Once per pass of the loop, after readings, inbound messages and device checks."""
        return None

    def on_forecast(self, result: ForecastResult) -> None:
        """A forecast of the active model, after it is stored."""
        return None

    def on_stop(self) -> None:
        """A clean stop, after the last readings are stored (persist state here)."""
        return None


if TYPE_CHECKING:  # mypy checks that the real classes have everything the agent calls
    from edge.runtime.publisher import MqttPublisher
    from firmware_bridge.device import Device

    def _conforms(device: Device, publisher: MqttPublisher) -> tuple[DeviceLike, PublisherLike]:
        return device, publisher
