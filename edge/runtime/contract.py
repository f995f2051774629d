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
"""

from __future__ import annotations

import functools
import json
import math
import re
import types
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from firmware_bridge.timestamps import parse_utc

__all__ = [
    "DEFAULT_PREFIX",
    "EPOCH_RE",
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
    "read_body",
    "tree_filter",
]

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


# ------------------------------------------------------------ payload shapes

#: Largest sequence number (SQLite INTEGER is signed 64-bit).
MAX_SEQ = 2**63 - 1
#: Largest payload looked at; a bundle rollout (``cmd/model``) is the big one. [bytes]
MAX_PAYLOAD_BYTES = 8 * 1024 * 1024
#: An outbox epoch: the random id of one outbox database.
EPOCH_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: The epoch of messages sent before epochs existed (all of them count as one).
LEGACY_EPOCH = ""
#: Streams whose payload must carry ``schema_version`` and the ids of the topic.
DATA_STREAMS = (*SEQ_STREAMS, "status", "model")
EventLevel = Literal["info", "warning", "error"]
StatusState = Literal["online", "offline"]
EVENT_LEVELS: tuple[str, ...] = get_args(EventLevel)
STATUS_STATES: tuple[str, ...] = get_args(StatusState)
_MAX_TEXT = 4096
_MAX_ENTRIES = 10_000


class ContractError(ValueError):
    """A message that does not follow the payload contract (the text says why)."""


def parse_time(value: Any) -> float | None:
    """ISO 8601 text with ``Z`` or an offset -> UTC epoch seconds, else None. [s]

    Through :func:`firmware_bridge.timestamps.parse_utc`, so a naive time
    (no timezone) is not a time here either.
    """
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return parse_utc(value).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def decode_payload(payload: bytes) -> dict[str, Any]:
    """UTF-8 JSON object -> dict (no BOM, no UTF-16/32, finite numbers only).

    Raises
    ------
    ContractError
        Too large, not UTF-8, not JSON, or not an object.
    """
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ContractError(f"payload of {len(payload)} bytes is over {MAX_PAYLOAD_BYTES}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractError(f"payload is not JSON (not UTF-8: {exc.reason})") from None
    try:
        body = json.loads(text, parse_constant=_no_constant)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ContractError(f"payload is not JSON: {exc}") from None
    except ValueError as exc:  # NaN, Infinity
        raise ContractError(f"payload is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ContractError("payload is not a JSON object")
    return body


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# ------------------------------------------------- reading a body by its schema
#
# Each stream's payload is one frozen dataclass below. Its type hints are the
# checks: ``str`` text (at most 4096 characters; ``pattern`` in the field's
# metadata), ``bool`` true/false, ``int`` an integer in the field's ``range``
# (default +-2**63-1), ``float`` a finite number (an integer stays an
# integer), ``datetime`` ISO 8601 with ``Z`` or an offset (read by
# ``parse_utc``: a naive time is refused), ``Literal`` one of its values,
# ``Mapping[str, X]`` an object of X, ``tuple[X, ...]`` a list of X (at most
# 10 000 entries), a nested dataclass an object of that shape, ``X | None``
# also null. A field with a default may be missing (or null); one without
# may not. Keys the schema does not name are ignored (newer senders).


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _describe(tp: Any, meta: Mapping[str, Any]) -> str:
    origin = get_origin(tp)
    if tp is type(None):
        return "null"
    if tp is bool:
        return "true or false"
    if tp is int:
        lo, hi = meta.get("range", (-MAX_SEQ, MAX_SEQ))
        return f"an integer in {lo}..{hi}"
    if tp is float:
        return "a finite number"
    if tp is str:
        return "text"
    if tp is datetime:
        return "an ISO 8601 time"
    if origin is Literal:
        names = [str(a) for a in get_args(tp)]
        return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]
    if origin in (Union, types.UnionType):
        return ", ".join(_describe(a, meta) for a in get_args(tp)).replace(", null", " or null")
    if origin is tuple:
        return "a list"
    return "an object"


#: Where a value sits in a body, built only when an error needs the text:
#: None (the body) or (parent, key or list index).
_Path = tuple[Any, str | int] | None
#: A compiled check: (value, where) -> the typed value, or ContractError.
_Reader = Callable[[Any, _Path], Any]


def _where(path: _Path) -> str:
    parts: list[str] = []
    while path is not None:
        path, key = path
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key[:40]}")
    return "".join(reversed(parts)).lstrip(".")


def _fail(path: _Path, tp: Any, value: Any, meta: Mapping[str, Any]) -> ContractError:
    return ContractError(f"{_where(path)} must be {_describe(tp, meta)}, got {_show(value)}")


_READERS: dict[tuple[Any, ...], _Reader] = {}


def _reader(tp: Any, meta: Mapping[str, Any]) -> _Reader:
    """The check of type ``tp`` (see above), compiled once per type and metadata."""
    key = (tp, *sorted(meta.items(), key=lambda kv: kv[0]))
    reader = _READERS.get(key)
    if reader is None:
        reader = _READERS[key] = _compile(tp, meta)
    return reader


def _compile(tp: Any, meta: Mapping[str, Any]) -> _Reader:
    if tp is Any:
        return lambda v, _p: v
    if tp is str:
        pattern = meta.get("pattern")

        def text(v: Any, p: _Path) -> Any:
            if not isinstance(v, str) or len(v) > _MAX_TEXT:
                raise _fail(p, tp, v, meta)
            if pattern is not None and not pattern.fullmatch(v):
                raise ContractError(f"{_where(p)} must be {meta['pattern_text']}, got {_show(v)}")
            return v
        return text
    if tp is bool:
        def boolean(v: Any, p: _Path) -> Any:
            if v is True or v is False:
                return v
            raise _fail(p, tp, v, meta)
        return boolean
    if tp is int:
        lo, hi = meta.get("range", (-MAX_SEQ, MAX_SEQ))

        def integer(v: Any, p: _Path) -> Any:
            if type(v) is not int or not lo <= v <= hi:
                raise _fail(p, tp, v, meta)
            return v
        return integer
    if tp is float:
        def number(v: Any, p: _Path) -> Any:
            t = type(v)
            if (t is float and math.isfinite(v)) or (t is int and -MAX_SEQ <= v <= MAX_SEQ):
                return v
            raise _fail(p, tp, v, meta)
        return number
    if tp is datetime:
        def time(v: Any, p: _Path) -> Any:
            if not isinstance(v, str) or len(v) > 64:
                raise _fail(p, tp, v, meta)
            try:
                stamp = parse_utc(v)
                stamp.timestamp()
            except (ValueError, OverflowError, OSError) as exc:
                raise ContractError(f"{_where(p)} must be an ISO 8601 time with Z or an offset"
                                    f" ({exc})") from None
            return stamp
        return time
    origin = get_origin(tp)
    if origin is Literal:
        allowed = frozenset(get_args(tp))

        def one_of(v: Any, p: _Path) -> Any:
            if isinstance(v, bool) or not isinstance(v, str | int) or v not in allowed:
                raise _fail(p, tp, v, meta)
            return v
        return one_of
    if origin in (Union, types.UnionType):
        nullable = type(None) in get_args(tp)
        alts = [_reader(a, meta) for a in get_args(tp) if a is not type(None)]
        if len(alts) == 1:
            only = alts[0]

            def optional(v: Any, p: _Path) -> Any:
                return None if v is None else only(v, p)
            return optional

        def either(v: Any, p: _Path) -> Any:
            if v is None and nullable:
                return None
            for alt in alts:
                try:
                    return alt(v, p)
                except ContractError:
                    continue
            raise _fail(p, tp, v, meta)
        return either
    if origin is tuple:
        item = _reader(get_args(tp)[0], {})

        def items(v: Any, p: _Path) -> Any:
            if not isinstance(v, list) or len(v) > _MAX_ENTRIES:
                raise _fail(p, tp, v, meta)
            return tuple(item(x, (p, i)) for i, x in enumerate(v))
        return items
    if origin is Mapping:
        value_type = get_args(tp)[1]
        entry = None if value_type is Any else _reader(value_type, {})

        def entries(v: Any, p: _Path) -> Any:
            if not isinstance(v, dict):
                raise _fail(p, tp, v, meta)
            if len(v) > _MAX_ENTRIES:
                raise ContractError(f"{_where(p)} has {len(v)} entries")
            if entry is None:
                return v
            return {k: entry(x, (p, k)) for k, x in v.items()}
        return entries
    if isinstance(tp, type) and issubclass(tp, Schema):
        return tp._read
    raise TypeError(f"no reader for {tp!r}")  # a schema written wrong, not a bad message


_ABSENT = object()


@dataclass(frozen=True, slots=True)
class _Slot:
    """How one field of a schema is read (cached per schema class)."""

    name: str
    hint: Any
    meta: Mapping[str, Any]
    read: _Reader
    default: Callable[[], Any] | None  # None: required


_PLANS: dict[type, tuple[_Slot, ...]] = {}
_NAMES: dict[type, frozenset[str]] = {}


def _plan(cls: type) -> tuple[_Slot, ...]:
    plan = _PLANS.get(cls)
    if plan is None:
        hints = get_type_hints(cls)
        slots = []
        for f in fields(cls):  # type: ignore[arg-type]
            if f.default is not MISSING:
                default: Callable[[], Any] | None = functools.partial(_same, f.default)
            elif f.default_factory is not MISSING:
                default = f.default_factory
            else:
                default = None
            hint = hints[f.name]
            slots.append(_Slot(f.name, hint, f.metadata, _reader(hint, f.metadata), default))
        plan = _PLANS[cls] = tuple(slots)
    return plan


def _same(value: Any) -> Any:
    return value


_S = TypeVar("_S", bound="Schema")


class Schema:
    """Base of the payload schemas: :meth:`from_body` reads a decoded body into one."""

    __slots__ = ()

    @classmethod
    def field_names(cls) -> frozenset[str]:
        """The payload keys this schema names."""
        names = _NAMES.get(cls)
        if names is None:
            names = _NAMES[cls] = frozenset(slot.name for slot in _plan(cls))
        return names

    @classmethod
    def from_body(cls: type[_S], body: Any) -> _S:
        """The typed view of ``body``.

        Raises
        ------
        ContractError
            Naming the first field (with its path, e.g.
            ``forecasts[0].pv_power.p50``) that breaks the schema.
        """
        return cls._read(body, None)

    @classmethod
    def _read(cls: type[_S], body: Any, path: _Path) -> _S:
        if not isinstance(body, dict):
            raise ContractError(f"{_where(path) or 'payload'} must be an object,"
                                f" got {_show(body)}")
        values: dict[str, Any] = {}
        for slot in _plan(cls):
            value = body.get(slot.name, _ABSENT)
            if slot.default is not None and (value is _ABSENT or value is None):
                values[slot.name] = slot.default()
            elif value is _ABSENT:
                must = _describe(slot.hint, slot.meta)
                raise ContractError(f"{_where((path, slot.name))} is missing (must be {must})")
            else:
                values[slot.name] = slot.read(value, (path, slot.name))
        return cls(**values)


# ----------------------------------------------------------------- the schemas

_SEQ: Mapping[str, Any] = {"range": (1, MAX_SEQ)}
_VERSION: Mapping[str, Any] = {"range": (SCHEMA_VERSION, SCHEMA_VERSION)}
_EPOCH: Mapping[str, Any] = {"pattern": EPOCH_RE, "pattern_text": "1-64 of [A-Za-z0-9_-]"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope(Schema):
    """What any message of the tree may carry; the whole schema of streams not listed below."""

    #: Payload schema version; :data:`SCHEMA_VERSION`. [-]
    schema_version: int | None = field(default=None, metadata=_VERSION)
    #: Site id; equal to the topic's.
    site_id: str | None = None
    #: Device id; equal to the topic's.
    device_id: str | None = None
    #: Stream; equal to the topic's.
    stream: str | None = None
    #: Sequence number per (device, stream, epoch), from 1. [-]
    seq: int | None = field(default=None, metadata=_SEQ)
    #: Outbox epoch (:data:`EPOCH_RE`); missing: :data:`LEGACY_EPOCH`.
    epoch: str = field(default=LEGACY_EPOCH, metadata=_EPOCH)
    #: When the message was made, UTC.
    timestamp: datetime | None = None
    #: False while the sender's system clock is not synchronised.
    clock_synced: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class _DataEnvelope(Envelope):
    """The envelope of the agent's own streams: version and ids are required."""

    schema_version: int = field(metadata=_VERSION)
    site_id: str
    device_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class _Sequenced(_DataEnvelope):
    """The envelope of the sequenced streams (:data:`SEQ_STREAMS`)."""

    seq: int = field(metadata=_SEQ)
    timestamp: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadingBody(_Sequenced):
    """``reading``: one source device's values, canonical names in SI units."""

    #: Name -> value in the unit of ``units`` (null: not finite at the source).
    values: Mapping[str, float | str | None]
    #: Name -> unit (``W``, ``V``, ``A``, ``%``, ``°C``, ...; ``""`` without one).
    units: Mapping[str, str] = field(default_factory=dict)
    #: Names whose values are held over from an earlier frame.
    stale: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Quantiles(Schema):
    """P10/P50/P90 of one forecast quantity (:data:`QUANTILES`), in its unit."""

    #: 10 % quantile. [W/m²], [W] or [Wh]
    p10: float | None = None
    #: Median. [W/m²], [W] or [Wh]
    p50: float | None = None
    #: 90 % quantile. [W/m²], [W] or [Wh]
    p90: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ForecastEntry(Schema):
    """One horizon of a forecast: the period ``period_end - step`` to ``period_end``."""

    #: Lead time after ``issue_time``. [min]
    horizon_min: int = field(metadata={"range": (0, 366 * 1440)})
    #: End of the period, UTC.
    period_end: datetime
    #: ISO 8601 duration of the period (``PT15M``).
    period: str | None = None
    #: Global horizontal irradiance. [W/m²]
    ghi: Quantiles | None = None
    #: Direct normal irradiance. [W/m²]
    dni: Quantiles | None = None
    #: Diffuse horizontal irradiance. [W/m²]
    dhi: Quantiles | None = None
    #: AC PV power. [W]
    pv_power: Quantiles | None = None
    #: PV energy of the period (its power times the period). [Wh]
    pv_energy: Quantiles | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelRef(Schema):
    """The model that made a forecast."""

    #: Model version (manifest ``model_version``).
    version: str
    #: SHA-256 of the model file, hex.
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EnergyOutlook(Schema):
    """The PV energy outlook of a forecast (:func:`edge.forecasting.energy.energy_outlook`)."""

    #: Energy of the next three hours. [Wh]
    next_3h: Quantiles | None = None
    #: Energy from now to the end of the local day. [Wh]
    rest_of_today: Quantiles | None = None
    #: End of the local day, UTC (null when unknown).
    day_end: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ForecastBody(_Sequenced):
    """``forecast`` (and ``forecast/shadow``): quantile forecasts per horizon."""

    #: When the forecast was issued, UTC.
    issue_time: datetime
    #: The model that made it.
    model: ModelRef
    #: True for a shadow model on trial (published on ``forecast/shadow``).
    shadow: bool
    #: True when some inputs were held over from earlier frames.
    inputs_stale: bool = False
    #: Length of each period. [min]
    step_minutes: int = field(metadata={"range": (1, 1440)})
    #: Quantity -> unit (:data:`FORECAST_UNITS` plus ``pv_energy: Wh``).
    units: Mapping[str, str] = field(default_factory=dict)
    #: One entry per horizon, in horizon order.
    forecasts: tuple[ForecastEntry, ...]
    #: The energy outlook, when the agent computes one.
    pv_energy: EnergyOutlook | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceHealth(Schema):
    """One source device in ``status.devices`` (``DeviceStats.to_dict``)."""

    #: The port is open and the device answers.
    connected: bool | None = None
    #: Frames decoded. [-]
    frames_good: float | None = None
    #: Frames with a bad checksum. [-]
    checksum_errors: float | None = None
    #: Replies the protocol refused. [-]
    protocol_errors: float | None = None
    #: Polls without a reply. [-]
    timeouts: float | None = None
    #: Port reopened. [-]
    reconnects: float | None = None
    #: Time of the last good reading, UTC.
    last_reading: datetime | None = None
    #: No fresh reading within the stale limit.
    stale: bool | None = None
    #: Label or field code the tables do not know -> times seen. [-]
    unknown_fields: Mapping[str, float] = field(default_factory=dict)
    #: Commands the device refused and that are no longer asked.
    unsupported_commands: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusModel(Schema):
    """The running model in ``status`` (both fields optional)."""

    #: Model version.
    version: str | None = None
    #: SHA-256 of the model file, hex.
    sha256: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxCounts(Schema):
    """The outbox in ``status``."""

    #: Messages waiting. [-]
    queued: float | None = None
    #: Messages evicted since the outbox was created. [-]
    evicted: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusBody(_DataEnvelope):
    """``status`` (retained heartbeat; the Last Will has only the envelope and ``state``)."""

    #: Gateway state.
    state: StatusState
    #: Device id -> health.
    devices: Mapping[str, DeviceHealth] = field(default_factory=dict)
    #: The outbox.
    outbox: OutboxCounts | None = None
    #: The running model.
    model: StatusModel | None = None
    #: Time since the agent started. [s]
    uptime_s: float | None = None
    #: Model rollout state (:meth:`edge.runtime.rollout.Rollout.status`).
    rollout: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EventBody(_Sequenced):
    """``events``: something happened on the gateway."""

    #: Severity.
    level: EventLevel
    #: Machine-readable kind (``device_stale``, ``model_promoted``, ...).
    code: str
    #: Human-readable text.
    message: str | None = None
    #: Details of the event.
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelBody(_DataEnvelope):
    """``model`` (retained): the model the agent runs."""

    #: Model version.
    version: str
    #: SHA-256 of the model file, hex.
    sha256: str
    #: The gate passed when the bundle was built.
    blessed: bool | None = None
    #: When the bundle was built (manifest ``created``).
    created: str | None = None
    #: ``active`` (the running model).
    role: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandBody(Envelope):
    """``cmd``: one whitelisted command (:mod:`edge.runtime.inbound` decides which)."""

    #: The command name.
    command: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestModel(Schema):
    """``manifest.model`` of a rollout command."""

    #: SHA-256 of the model file, hex.
    sha256: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestSummary(Schema):
    """What the monitor reads of a bundle manifest carried by a rollout command."""

    #: The model file.
    model: ManifestModel | None = None
    #: Model version.
    model_version: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelCommandBody(Envelope):
    """``cmd/model``: a signed install or rollback (:mod:`trainer.publishing` builds it).

    The device checks the signed fields (:mod:`edge.runtime.signed_commands`);
    here every field is optional and typed when present.
    """

    #: ``install`` or ``rollback``.
    command: str | None = None
    #: Accepted once per gateway.
    rollout_id: str | None = None
    #: When the command was signed, UTC.
    issued: datetime | None = None
    #: When it stops being valid, UTC.
    expires: datetime | None = None
    #: Model version of the bundle.
    version: str | None = None
    #: SHA-256 of the model file, hex.
    sha256: str | None = None
    #: The bundle's manifest (validation metrics for the monitor).
    manifest: ManifestSummary | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertBody(_DataEnvelope):
    """``alerts`` of the monitor's own device (:data:`MONITOR_DEVICE`)."""

    #: Severity.
    level: EventLevel
    #: ``offline``, ``rmse_drift``, ``negative_skill``, ``input_drift``.
    code: str
    #: ``raised`` or ``cleared``.
    state: Literal["raised", "cleared"]
    #: Human-readable text.
    message: str | None = None
    #: Details (``device`` the alert is about, ...).
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanSeries(Schema):
    """P10/P50/P90 of one plan quantity per plan step (one value per ``period_end``)."""

    #: 10 % quantile per step. [-] or [W]
    p10: tuple[float, ...]
    #: Median per step. [-] or [W]
    p50: tuple[float, ...]
    #: 90 % quantile per step. [-] or [W]
    p90: tuple[float, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanEnergy(Schema):
    """P10/P50/P90 of one energy of the plan (quantiles across scenarios). [Wh]"""

    #: 10 % quantile. [Wh]
    p10: float
    #: Median. [Wh]
    p50: float
    #: 90 % quantile. [Wh]
    p90: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanBody(_Sequenced):
    """``plan``: the site's energy plan (:meth:`edge.planning.plan.EnergyPlan.to_body`).

    Every per-step list (``soc``, ``load_power``, ``pv_power``,
    ``pv_potential_p50``) has one value per ``period_end``; SOC values and
    ``reserve_soc`` lie in [0, 1].
    """

    #: Plan start (a period end), UTC.
    issued: datetime
    #: Plan step. [s]
    step_s: int = field(metadata={"range": (60, 86400)})
    #: End of each plan step, UTC.
    period_end: tuple[datetime, ...]
    #: State of charge per step. [-]
    soc: PlanSeries
    #: AC load per step. [W]
    load_power: PlanSeries
    #: Delivered PV (what the load and the battery take) per step. [W]
    pv_power: PlanSeries
    #: Median of what the array could produce per step. [W]
    pv_potential_p50: tuple[float, ...]
    #: The site's reserve. [-]
    reserve_soc: float
    #: First step end at which P10 SOC is at or below the reserve (null: not within the plan).
    reserve_at: datetime | None = None
    #: The same for P50 SOC (null: not within the plan).
    reserve_at_p50: datetime | None = None
    #: Start of the first sunlit period after the coming night, UTC.
    next_sunrise: datetime
    #: Delivered PV minus DC demand until the next sunrise; negative is a deficit. [Wh]
    balance_to_sunrise_wh: PlanEnergy
    #: Delivered PV over the plan. [Wh]
    pv_energy_wh: PlanEnergy
    #: AC load over the plan. [Wh]
    load_energy_wh: PlanEnergy
    #: PV the array could give until today's sunset beyond what the load and battery take. [Wh]
    surplus_today_wh: PlanEnergy
    #: The load forecast method the device chose (``site_file`` without history).
    load_method: str
    #: Its walk-forward skill against persistence (null: not yet known). [-]
    load_skill: float | None = None
    #: The PV method (``model+climatology``, ``prior``, ...).
    pv_method: str
    #: Calibration scale on the scenario spread. [-]
    spread_scale: float
    #: ``default`` or ``calibrated``.
    spread_source: str
    #: The learned battery (:meth:`edge.planning.battery.BatteryEstimate.to_body`).
    battery: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.period_end)
        if n == 0:
            raise ContractError("period_end must not be empty")
        for name in ("soc", "load_power", "pv_power"):
            series: PlanSeries = getattr(self, name)
            for q in QUANTILES:
                got = len(getattr(series, q))
                if got != n:
                    raise ContractError(f"{name}.{q} has {got} values for {n} period_end")
        if len(self.pv_potential_p50) != n:
            raise ContractError(f"pv_potential_p50 has {len(self.pv_potential_p50)} values"
                                f" for {n} period_end")
        for q in QUANTILES:
            bad = [v for v in getattr(self.soc, q) if not 0.0 <= v <= 1.0]
            if bad:
                raise ContractError(f"soc.{q} must lie in [0, 1], got {_show(bad[0])}")
        if not 0.0 <= self.reserve_soc <= 1.0:
            raise ContractError(f"reserve_soc must lie in [0, 1], got {_show(self.reserve_soc)}")


#: The schema of each stream (the last topic levels); others get :class:`Envelope`.
SCHEMAS: Mapping[str, type[Envelope]] = {
    "reading": ReadingBody, "forecast": ForecastBody, "status": StatusBody,
    "events": EventBody, "model": ModelBody, "cmd": CommandBody, "cmd/model": ModelCommandBody,
    "alerts": AlertBody, "plan": PlanBody,
}


def read_body(site: str, device: str, stream: str, body: Mapping[str, Any]) -> Envelope:
    """The typed view of one payload received on ``<prefix>/<site>/<device>/<stream>``.

    First the topic: ``site_id`` and ``device_id`` (required on
    :data:`DATA_STREAMS`) and ``stream`` must equal the topic's; then the
    stream's schema (:data:`SCHEMAS`).

    Raises
    ------
    ContractError
        With the first violation found.
    """
    data = stream in DATA_STREAMS
    for key, expected in (("site_id", site), ("device_id", device)):
        if (key in body or data) and body.get(key) != expected:
            raise ContractError(f"{key} {_show(body.get(key))} contradicts the topic"
                                f" ({expected!r})")
    if "stream" in body and body["stream"] != stream:
        raise ContractError(f"stream {_show(body['stream'])} contradicts the topic ({stream!r})")
    return SCHEMAS.get(stream, Envelope).from_body(body)


def check_body(site: str, device: str, stream: str, body: Mapping[str, Any]) -> None:
    """Check one decoded payload received on ``<prefix>/<site>/<device>/<stream>``.

    :func:`read_body` without keeping the result.

    Raises
    ------
    ContractError
        With the first violation found.
    """
    read_body(site, device, stream, body)
