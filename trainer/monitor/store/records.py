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
    "OpenPoint",
    "Reject",
    "ScoreRow",
    "ScoredPoint",
    "SkillBucket",
    "StatusRow",
    "StoreBusy",
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
