"""The discovery tracker: what Home Assistant has been told about each device.

Responsible for: the collaborator that remembers, per device, the reading
names seen and the identity values its Home Assistant device block shows
(product id, serial number, firmware, rated power), announces a device again
when a new name or a changed identity arrives, and announces every device
and the forecast (and energy plan) entities when Home Assistant (re)starts or the agent
(re)connects. The payloads come from :mod:`edge.runtime.discovery`.

Does NOT: build discovery payloads, or decide when Home Assistant restarted
(the agent's inbound handling calls :meth:`DiscoveryTracker.announce_all`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from edge.runtime import discovery
from edge.runtime.interfaces import Collaborator

if TYPE_CHECKING:
    from edge.runtime.interfaces import PublisherLike
    from firmware_bridge.readings import Reading

__all__ = ["IDENTITY_VALUES", "DiscoveryTracker"]

#: reading values that describe a device; a change re-announces it to Home Assistant
IDENTITY_VALUES = ("product_id", "serial_number", "firmware_version",
                   "rated_ac_output_apparent_power")


class DiscoveryTracker(Collaborator):
    """Announces devices to Home Assistant as their readings reveal them.

    Parameters
    ----------
    context : DiscoveryContext
        Topics, prefix and software version of the announcements.
    publisher : PublisherLike
        Announcements are published live (not stored).
    enabled : bool
        ``[discovery] enabled``; when False nothing is announced.
    horizons_min : callable
        ``horizons_min()`` -> the active model's horizons, for the forecast entities. [min]
    quantities : mapping, optional
        ``firmware_bridge.readings.QUANTITIES`` (units, kinds).
    protocols : mapping, optional
        Device id -> protocol name (shown in Home Assistant).
    plan : bool
        The energy plan runs: announce its entities with the forecasts'.
    """

    def __init__(self, context: discovery.DiscoveryContext, publisher: PublisherLike, *,
                 enabled: bool, horizons_min: Callable[[], Sequence[int]],
                 quantities: Mapping[str, Any] | None = None,
                 protocols: Mapping[str, str] | None = None, plan: bool = False) -> None:
        self.context, self.publisher, self.enabled = context, publisher, enabled
        self.plan = plan
        self.horizons_min = horizons_min
        self.quantities = quantities or {}
        self.protocols = dict(protocols or {})
        #: per device, the reading names announced
        self.seen: dict[str, set[str]] = {}
        #: per device, what the Home Assistant device block shows (serial, firmware, ratings)
        self.identity: dict[str, dict[str, Any]] = {}

    def on_reading(self, reading: Reading) -> None:
        """Announce the device again when the reading has a new name or identity value."""
        seen = self.seen.setdefault(reading.device_id, set())
        new = set(reading.values) - seen
        ident = {k: reading.values[k] for k in IDENTITY_VALUES if k in reading.values}
        old_ident = self.identity.setdefault(reading.device_id, {})
        changed = any(old_ident.get(k) != v for k, v in ident.items())
        old_ident.update(ident)
        if (new or changed) and self.enabled:
            seen |= new
            self.announce_device(reading.device_id)

    def announce_all(self) -> None:
        """Every device seen so far and the gateway's forecast entities."""
        if not self.enabled:
            return
        for dev_id in self.seen:
            self.announce_device(dev_id)
        for topic, payload in discovery.forecast_configs(self.context, self.horizons_min(),
                                                         plan=self.plan):
            self.publisher.publish_live(topic, payload)

    def announce_device(self, dev_id: str) -> None:
        """One device's entities, with the names seen and its identity."""
        for topic, payload in discovery.reading_configs(
            self.context, dev_id, self.seen.get(dev_id, ()), self.quantities,
            protocol=self.protocols.get(dev_id, ""), identity=self.identity.get(dev_id),
        ):
            self.publisher.publish_live(topic, payload)
