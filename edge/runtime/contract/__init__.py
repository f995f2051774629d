"""The MQTT contract, defined once: topics, streams, schema version, payload schemas.

Responsible for: the names the agent publishes under and the monitor reads
(``<prefix>/<site_id>/<device_id>/<stream>``, :class:`Topics`, the filters
:func:`fleet_filter` and :func:`tree_filter`, :data:`DEFAULT_PREFIX`),
which streams carry a ``seq``, which are retained, the reserved device id
of the monitor, the forecast quantities and units, :func:`parse_topic` (the
inverse of :meth:`Topics.of`), and one schema per stream: a frozen
dataclass (:class:`ReadingBody`, :class:`ForecastBody`,
:class:`StatusBody`, :class:`EventBody`, :class:`ModelBody`,
:class:`CommandBody`, :class:`ModelCommandBody`, :class:`AlertBody`,
:class:`PlanBody`;
:data:`SCHEMAS`) whose type hints are the checks. :func:`decode_payload`
and :func:`read_body` / :func:`check_body` decide whether one message
follows the contract and say why not in one line, naming the field
(every field the monitor's store reads is checked for type and range, so
the store never meets a value it cannot bind: a ``seq`` of 2**63, a list
where a number belongs, UTF-16 text); ``XBody.from_body(d)`` is the typed
read of one stream. Every time is read by
:func:`firmware_bridge.timestamps.parse_utc`: a naive time is refused. The
outbox *epoch* (:data:`EPOCH_RE`) is the random id of one outbox database,
sent in every message; messages without one belong to
:data:`LEGACY_EPOCH`. docs/architecture.md lists the same fields; this
module is what code imports, on the device (:mod:`edge.runtime.messages`
builds bodies with these field names) and in the cloud
(:mod:`trainer.monitor`, :mod:`trainer.publishing`).

Does NOT: build or encode payloads (:mod:`edge.runtime.messages`), check
the signature of a command (:mod:`edge.runtime.signed_commands`), or do I/O.

The package: :mod:`.topics` (names and filters), :mod:`.payload` (caps,
decoding, times), :mod:`.schema` (reading a body by its dataclass) and
:mod:`.streams` (one schema per stream, :func:`read_body`, :func:`check_body`);
everything is imported from here.

Must not import: anything of ``edge`` but ``firmware_bridge.timestamps``
(the device and the cloud both build on it), ``trainer``, or any I/O.
"""

from __future__ import annotations

from edge.runtime.contract.payload import (
    EPOCH_RE,
    EVENT_LEVELS,
    LEGACY_EPOCH,
    MAX_PAYLOAD_BYTES,
    MAX_SEQ,
    STREAM_DEFAULT_BYTES,
    STREAM_MAX_BYTES,
    ContractError,
    decode_payload,
    parse_time,
    payload_limit,
)
from edge.runtime.contract.schema import (
    Schema,
)
from edge.runtime.contract.streams import (
    SCHEMAS,
    AlertBody,
    CommandBody,
    DeviceHealth,
    EnergyOutlook,
    Envelope,
    EventBody,
    ForecastBody,
    ForecastEntry,
    ManifestModel,
    ManifestSummary,
    ModelBody,
    ModelCommandBody,
    ModelRef,
    OutboxCounts,
    PlanBody,
    PlanEnergy,
    PlanSeries,
    Quantiles,
    ReadingBody,
    StatusBody,
    StatusModel,
    check_body,
    read_body,
)
from edge.runtime.contract.topics import (
    DEFAULT_PREFIX,
    FORECAST_QUANTITIES,
    FORECAST_UNITS,
    MONITOR_DEVICE,
    QUANTILES,
    RETAINED_STREAMS,
    SCHEMA_VERSION,
    SEQ_STREAMS,
    SHADOW_FORECAST_TOPIC,
    STREAMS,
    TopicError,
    TopicParts,
    Topics,
    fleet_filter,
    parse_topic,
    tree_filter,
)

__all__ = [
    "DEFAULT_PREFIX",
    "EPOCH_RE",
    "EVENT_LEVELS",
    "FORECAST_QUANTITIES",
    "FORECAST_UNITS",
    "LEGACY_EPOCH",
    "MAX_PAYLOAD_BYTES",
    "MAX_SEQ",
    "MONITOR_DEVICE",
    "QUANTILES",
    "RETAINED_STREAMS",
    "SCHEMAS",
    "SCHEMA_VERSION",
    "SEQ_STREAMS",
    "SHADOW_FORECAST_TOPIC",
    "STREAMS",
    "STREAM_DEFAULT_BYTES",
    "STREAM_MAX_BYTES",
    "AlertBody",
    "CommandBody",
    "ContractError",
    "DeviceHealth",
    "EnergyOutlook",
    "Envelope",
    "EventBody",
    "ForecastBody",
    "ForecastEntry",
    "ManifestModel",
    "ManifestSummary",
    "ModelBody",
    "ModelCommandBody",
    "ModelRef",
    "OutboxCounts",
    "PlanBody",
    "PlanEnergy",
    "PlanSeries",
    "Quantiles",
    "ReadingBody",
    "Schema",
    "StatusBody",
    "StatusModel",
    "TopicError",
    "TopicParts",
    "Topics",
    "check_body",
    "decode_payload",
    "fleet_filter",
    "parse_time",
    "parse_topic",
    "payload_limit",
    "read_body",
    "tree_filter",
]
