"""Typed rows the monitor store hands out and takes in.

Responsible for: the value types of the :class:`~trainer.monitor.store.MonitorStore`
interface, the same for every backend: what a message becomes before it is
written (:class:`FleetMessage`), what a batch did (:class:`BatchResult`), and
one row type per read query.

Does NOT: hold SQL or know a database (see :mod:`trainer.monitor.store.sqlite`).

Times are UTC epoch seconds [s] throughout. Rows that pandas turns into
frames are NamedTuples (``pd.DataFrame(rows, columns=Row._fields)``); rows that
end up in JSON are frozen dataclasses (``dataclasses.asdict``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from edge.runtime.contract import LEGACY_EPOCH

__all__ = [
    "AlertRow",
    "BandPoint",
    "BatchResult",
    "BucketMean",
    "BucketValue",
    "DailyErrors",
    "ErrorStats",
    "EventRow",
    "FleetMessage",
    "ForecastPoint",
    "LatestForecast",
    "ModelRow",
    "OpenPlan",
    "OpenPoint",
    "PlanErrorStats",
    "PlanOutcome",
    "PlanScorePoint",
    "PlanScoreRow",
    "Reject",
    "ReserveStats",
    "ScoreRow",
    "ScoredPoint",
    "SkillBucket",
    "StatusRow",
    "StoreBusy",
    "StoredPlan",
    "StreamStat",
    "ValuesRow",
]


class StoreBusy(Exception):  # noqa: N818 (a state to retry on, not a failure)
    """Another writer holds the database; nothing of the batch is stored, retry it."""


@dataclass(frozen=True, slots=True)
class FleetMessage:
    """One parsed message from ``helio/<site>/<device>/<stream>``.

    Attributes
    ----------
    site, device, stream : str
        From the topic (``stream`` may hold a slash: ``cmd/model``).
    seq : int or None
        Sequence number (None for the Last Will and commands).
    ts : float or None
        Message timestamp, UTC epoch. [s]
    received : float
        When the monitor received it, UTC epoch. [s]
    body : dict
        The decoded JSON payload.
    raw : bytes
        The payload as received (readings are stored verbatim).
    epoch : str
        The sender's outbox epoch (``""`` when the message has none).
    topic : str
        The topic it came on (for ``rejected``).
    """

    site: str
    device: str
    stream: str
    seq: int | None
    ts: float | None
    received: float
    body: dict[str, Any] = field(default_factory=dict)
    raw: bytes = b""
    epoch: str = LEGACY_EPOCH
    topic: str = ""


#: A message refused before the store: (topic, payload, reason, received [s]).
Reject = tuple[str, bytes, str, float]


@dataclass(slots=True)
class BatchResult:
    """Counts of one ``write_batch``."""

    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    other: int = 0


# ---------------------------------------------------------------- fleet state


@dataclass(frozen=True, slots=True)
class StreamStat:
    """Accounting of one (site, device, stream, epoch).

    ``lost`` is ``max_seq - first_seq + 1 - received`` for sequenced streams
    (never below 0) and 0 for the others.
    """

    site: str
    device: str
    stream: str
    epoch: str
    received: int
    duplicates: int
    lost: int
    last_seen: float | None


@dataclass(frozen=True, slots=True)
class StatusRow:
    """The newest status (heartbeat or Last Will) of a gateway; ``payload`` is its body."""

    site: str
    device: str
    state: str
    received: float
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class EventRow:
    """One stored event."""

    site: str
    device: str
    ts: float | None
    level: str
    code: str
    message: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ModelRow:
    """The model a gateway last reported in one role (``active`` or ``shadow``)."""

    site: str
    device: str
    version: str
    sha256: str
    blessed: bool
    received: float


@dataclass(frozen=True, slots=True)
class AlertRow:
    """One alarm; ``cleared`` is None while it is open."""

    site: str
    device: str
    code: str
    key: str
    level: str
    raised: float
    cleared: float | None
    message: str
    data: dict[str, Any]


# ------------------------------------------------------------------- readings


class ValuesRow(NamedTuple):
    """Reading values of one message, in the order they were asked for (None if absent)."""

    device: str
    ts: float
    values: tuple[Any, ...]


class BucketMean(NamedTuple):
    """Mean of a numeric reading value of one device in bucket ``bucket`` (= ts // size)."""

    device: str
    bucket: int
    mean: float


class BucketValue(NamedTuple):
    """A value in bucket ``bucket`` (= ts // size); None where nothing was computable."""

    bucket: int
    value: float | None


# ------------------------------------------------------------------ forecasts


class BandPoint(NamedTuple):
    """Quantiles of the forecasts for one period end (means over gateways)."""

    period_end: float
    p10: float | None
    p50: float | None
    p90: float | None


class ForecastPoint(NamedTuple):
    """One forecast point: period end, quantiles, horizon [min]."""

    period_end: float
    p10: float | None
    p50: float | None
    p90: float | None
    horizon_min: int


@dataclass(frozen=True, slots=True)
class LatestForecast:
    """The newest live forecast of a site for one target."""

    device: str
    issue: float
    points: list[ForecastPoint]


class OpenPoint(NamedTuple):
    """A forecast point not scored yet; ``id`` is the backend's handle for marking it."""

    id: int
    device: str
    target: str
    horizon_min: int
    issue: float
    shadow: int
    model_sha: str
    period_end: float
    period_s: float
    p50: float | None


# --------------------------------------------------------------------- scores


class ScoreRow(NamedTuple):
    """One scored forecast point: forecast P50, smart persistence and actual."""

    site: str
    device: str
    target: str
    horizon_min: int
    issue: float
    shadow: int
    model_sha: str
    period_end: float
    forecast: float
    persistence: float
    actual: float


class ScoredPoint(NamedTuple):
    """A forecast point joined with its score (for the report's figures)."""

    period_end: float
    p10: float | None
    p50: float | None
    p90: float | None
    actual: float
    persistence: float
    shadow: int


class ErrorStats(NamedTuple):
    """Mean squared errors of one group of scores (``horizon_min`` 0 when pooled)."""

    site: str
    device: str
    target: str
    horizon_min: int
    model_sha: str
    shadow: bool
    n: int
    mse: float
    mse_persistence: float


class SkillBucket(NamedTuple):
    """Mean squared errors of the scores of one time bucket, horizon and shadow flag."""

    bucket: int
    horizon_min: int
    shadow: int
    n: int
    mse: float
    mse_persistence: float


class DailyErrors(NamedTuple):
    """Mean squared errors of one device's live scores of one target on one UTC day."""

    device: str
    target: str
    day: int
    n: int
    mse: float
    mse_persistence: float


# ---------------------------------------------------------------------- plans


@dataclass(frozen=True, slots=True)
class StoredPlan:
    """One stored energy plan; ``body`` is the plan message's body (``EnergyPlan.to_body``).

    ``id`` is the backend's handle for marking it scored; ``issued`` and
    ``horizon_end`` (the last period end) are epoch seconds. [s]
    """

    id: int
    site: str
    device: str
    issued: float
    horizon_end: float
    body: dict[str, Any]


#: A plan not scored yet (the same fields as :class:`StoredPlan`).
OpenPlan = StoredPlan


class PlanOutcome(NamedTuple):
    """What scoring found about one plan as a whole.

    ``scored`` is 1 when its SOC was measured (the reserve was judged), 2
    when nothing of it could be scored; ``reserve_measured`` is the first
    time [s] the measured SOC was at or below the plan's reserve within its
    horizon (None: never).
    """

    id: int
    scored: int
    reserve_measured: float | None


class PlanScoreRow(NamedTuple):
    """One plan at one horizon: SOC quantiles and measured SOC [-], load P50, actual and
    persistence of yesterday [W] (None where not measured)."""

    site: str
    device: str
    issued: float
    horizon_min: int
    target_time: float
    soc_p10: float | None
    soc_p50: float | None
    soc_p90: float | None
    soc_actual: float | None
    load_p50: float | None
    load_actual: float | None
    load_persistence: float | None


class PlanScorePoint(NamedTuple):
    """A scored plan horizon by target time (the dashboard's past-plans line)."""

    target_time: float
    soc_p50: float | None
    soc_actual: float | None


class PlanErrorStats(NamedTuple):
    """Plan errors of one (site, device, horizon) over a window.

    ``n_soc`` plan horizons with a measured SOC: mean absolute error of P50
    SOC [-] and the share inside P10-P90 [-]; ``n_load`` with a measured load
    and yesterday's: mean absolute error of the P50 load and of persistence. [W]
    """

    site: str
    device: str
    horizon_min: int
    n_soc: int
    soc_mae: float | None
    coverage: float | None
    n_load: int
    load_mae: float | None
    load_mae_persistence: float | None


class ReserveStats(NamedTuple):
    """Time-to-reserve outcomes of one (site, device) over plans issued in a window.

    ``n`` plans judged; ``both`` predicted (P10: ``reserve_at``) and measured
    reaching the reserve within the horizon, with the mean absolute and mean
    signed error (measured minus predicted) [s]; ``false_alarms`` predicted
    but not reached, ``misses`` reached but not predicted; the ``*_p50``
    fields the same for ``reserve_at_p50``.
    """

    site: str
    device: str
    n: int
    both: int
    mae_s: float | None
    bias_s: float | None
    false_alarms: int
    misses: int
    both_p50: int
    mae_p50_s: float | None
    bias_p50_s: float | None
    false_alarms_p50: int
    misses_p50: int
