"""Topics and streams of the MQTT contract: names, filters, retained and sequenced streams.

Responsible for: ``<prefix>/<site_id>/<device_id>/<stream>`` (:class:`Topics`,
:func:`fleet_filter`, :func:`tree_filter`, :data:`DEFAULT_PREFIX`, :func:`parse_topic`),
which streams carry a ``seq`` and which are retained, the monitor's reserved device id,
the forecast quantities and units.

Does NOT: read payloads (:mod:`.payload`, :mod:`.streams`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: ``schema_version`` of every payload.
SCHEMA_VERSION = 1
#: Streams of the topic tree (the last topic level; ``cmd`` may have sub-levels).
STREAMS = ("reading", "forecast", "status", "events", "model", "cmd", "alerts", "plan")
#: Streams whose ``seq`` counts (per device and stream) for duplicates and loss.
SEQ_STREAMS = ("reading", "forecast", "events", "plan")
#: Topic suffix of a shadow model's forecasts (``<prefix>/<site>/<gw>/forecast/shadow``):
#: the ``forecast`` stream (same ``seq`` counter) on its own topic, so consumers of
#: ``forecast`` (Home Assistant) never see a model on trial.
SHADOW_FORECAST_TOPIC = "forecast/shadow"
#: Streams published retained (state, not history).
RETAINED_STREAMS = ("status", "model")
#: Device id reserved for the fleet monitor's own topics (``<prefix>/<site>/monitor/alerts``).
MONITOR_DEVICE = "monitor"
#: Forecast quantities, in payload order, and their units.
FORECAST_UNITS: Mapping[str, str] = {"ghi": "W/m2", "dni": "W/m2", "dhi": "W/m2", "pv_power": "W"}
FORECAST_QUANTITIES: tuple[str, ...] = tuple(FORECAST_UNITS)
#: Quantile keys of each forecast quantity, in order.
QUANTILES = ("p10", "p50", "p90")


#: Topic prefix of the tree unless configured otherwise (``[mqtt] topic_prefix``, ``--prefix``).
DEFAULT_PREFIX = "helio"


@dataclass(frozen=True, slots=True)
class Topics:
    """The topic tree ``<prefix>/<site_id>/<device_id>/<stream>``."""

    site_id: str
    gateway_id: str = "gateway"
    prefix: str = DEFAULT_PREFIX

    def of(self, device_id: str, stream: str) -> str:
        """Topic of ``stream`` for ``device_id``."""
        return f"{self.prefix}/{self.site_id}/{device_id}/{stream}"

    def gateway(self, stream: str) -> str:
        """Topic of one of the gateway's own streams."""
        return self.of(self.gateway_id, stream)

    def every_device(self, stream: str) -> str:
        """Filter of ``stream`` from every device of the site (``<prefix>/<site>/+/<stream>``)."""
        return self.of("+", stream)

    @property
    def status(self) -> str:
        """Retained status / Last Will topic."""
        return self.gateway("status")

    @property
    def plan(self) -> str:
        """The energy plan topic (``plan``: QoS 1, not retained, sequenced)."""
        return self.gateway("plan")

    @property
    def cmd(self) -> str:
        """Inbound command topic."""
        return self.gateway("cmd")

    @property
    def cmd_model(self) -> str:
        """Inbound model rollout topic (``cmd/model``: signed install and rollback commands)."""
        return self.gateway("cmd/model")


def fleet_filter(stream: str = "#", prefix: str = DEFAULT_PREFIX) -> str:
    """Filter of ``stream`` from every site and device (``<prefix>/+/+/<stream>``)."""
    return f"{prefix}/+/+/{stream}"


def tree_filter(prefix: str = DEFAULT_PREFIX) -> str:
    """Filter of every topic under the prefix (``<prefix>/#``)."""
    return f"{prefix}/#"


class TopicError(ValueError):
    """A topic outside the tree."""


@dataclass(frozen=True, slots=True)
class TopicParts:
    """The levels of a topic of the tree (``stream`` keeps any sub-levels)."""

    site_id: str
    device_id: str
    stream: str


def parse_topic(topic: str, prefix: str = DEFAULT_PREFIX) -> TopicParts:
    """Split ``<prefix>/<site>/<device>/<stream>[/...]``.

    Raises
    ------
    TopicError
        When the prefix differs or a level is missing or empty.
    """
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != prefix or not all(parts[1:4]):
        raise TopicError(f"topic {topic!r} is not {prefix}/<site>/<device>/<stream>")
    return TopicParts(parts[1], parts[2], "/".join(parts[3:]))


