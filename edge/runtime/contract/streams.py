"""One schema per stream: the frozen dataclasses that are the MQTT payload contract.

Responsible for: :class:`ReadingBody`, :class:`ForecastBody`, :class:`StatusBody`,
:class:`EventBody`, :class:`ModelBody`, :class:`CommandBody`, :class:`ModelCommandBody`,
:class:`AlertBody`, :class:`PlanBody` (:data:`SCHEMAS`), and :func:`read_body` /
:func:`check_body`, which check one message against its topic and schema.

Does NOT: build payloads (:mod:`edge.runtime.messages`) or do I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from edge.runtime.contract.payload import (
    DATA_STREAMS,
    EPOCH_RE,
    LEGACY_EPOCH,
    MAX_SEQ,
    ContractError,
    EventLevel,
    StatusState,
)
from edge.runtime.contract.schema import (
    Schema,
    _show,
)
from edge.runtime.contract.topics import (
    QUANTILES,
    SCHEMA_VERSION,
)

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
    #: Messages the broker refused, kept apart and retried later. [-]
    parked: float | None = None


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
