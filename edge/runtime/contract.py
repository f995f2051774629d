"""The MQTT contract, defined once: topics, streams, schema version, payload shapes.

Responsible for: the names the agent publishes under and the monitor reads
(``<prefix>/<site_id>/<device_id>/<stream>``), which streams carry a ``seq``,
which are retained, the reserved device id of the monitor, the forecast
quantities and units, and :func:`parse_topic` (the inverse of
:meth:`Topics.of`). docs/architecture.md describes the payloads in prose;
this module is what code imports, on the device (:mod:`edge.runtime.messages`)
and in the cloud (:mod:`trainer.monitor`).

Does NOT: build or encode payloads (:mod:`edge.runtime.messages`), or do I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "FORECAST_QUANTITIES",
    "FORECAST_UNITS",
    "MONITOR_DEVICE",
    "QUANTILES",
    "RETAINED_STREAMS",
    "SCHEMA_VERSION",
    "SEQ_STREAMS",
    "SHADOW_FORECAST_TOPIC",
    "STREAMS",
    "TopicError",
    "TopicParts",
    "Topics",
    "parse_topic",
]

#: ``schema_version`` of every payload.
SCHEMA_VERSION = 1
#: Streams of the topic tree (the last topic level; ``cmd`` may have sub-levels).
STREAMS = ("reading", "forecast", "status", "events", "model", "cmd", "alerts")
#: Streams whose ``seq`` counts (per device and stream) for duplicates and loss.
SEQ_STREAMS = ("reading", "forecast", "events")
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


@dataclass(frozen=True, slots=True)
class Topics:
    """The topic tree ``<prefix>/<site_id>/<device_id>/<stream>``."""

    site_id: str
    gateway_id: str = "gateway"
    prefix: str = "helio"

    def of(self, device_id: str, stream: str) -> str:
        """Topic of ``stream`` for ``device_id``."""
        return f"{self.prefix}/{self.site_id}/{device_id}/{stream}"

    def gateway(self, stream: str) -> str:
        """Topic of one of the gateway's own streams."""
        return self.of(self.gateway_id, stream)

    @property
    def status(self) -> str:
        """Retained status / Last Will topic."""
        return self.gateway("status")

    @property
    def cmd(self) -> str:
        """Inbound command topic."""
        return self.gateway("cmd")


class TopicError(ValueError):
    """A topic outside the tree."""


@dataclass(frozen=True, slots=True)
class TopicParts:
    """The levels of a topic of the tree (``stream`` keeps any sub-levels)."""

    site_id: str
    device_id: str
    stream: str


def parse_topic(topic: str, prefix: str = "helio") -> TopicParts:
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
