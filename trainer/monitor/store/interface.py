"""The monitor store's interface: everything the rest of the monitor calls.

Responsible for: :class:`MonitorStore`, the typing Protocol a backend
implements (:class:`trainer.monitor.store.sqlite.SqliteStore` today). The
ingest loop, scoring, drift, the fleet table, the report, the export, the
dashboard and ``/metrics`` use nothing else, so a second backend is a second
class with these methods.

Does NOT: implement anything.

Contract every backend keeps:

* Delivery is at least once, so ``(site, device, stream, epoch, seq)`` is
  unique: a second copy is dropped and counted as a duplicate. The *epoch*
  is the random id of the sending device's outbox database; messages
  without one belong to the legacy epoch ``""``.
* Data loss of a stream is ``max_seq - first_seq + 1 - received`` per
  epoch, ``first_seq`` being the lowest sequence number the store has seen.
* :meth:`MonitorStore.write_batch` returns only once the batch is durable
  (the monitor acknowledges messages after that). A message the backend
  cannot take is rolled back alone and kept in ``rejected`` with the error;
  a failure not about one message raises and stores nothing of the batch
  (:class:`~trainer.monitor.store.records.StoreBusy` when retrying can help).
* A status is replaced in the order its device's clock cannot spoil: within
  one epoch by ``seq``, else by receive time; the Last Will (no ``seq``)
  always wins.
* Reads on a store that an older version wrote count missing parts as empty.

Times are UTC epoch seconds. [s]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from trainer.monitor.store.records import (
    AlertRow,
    BandPoint,
    BatchResult,
    BucketMean,
    BucketValue,
    DailyErrors,
    ErrorStats,
    EventRow,
    FleetMessage,
    LatestForecast,
    ModelRow,
    OpenPlan,
    OpenPoint,
    PlanErrorStats,
    PlanOutcome,
    PlanScorePoint,
    PlanScoreRow,
    Reject,
    ReserveStats,
    ScoredPoint,
    ScoreRow,
    SkillBucket,
    StatusRow,
    StoredPlan,
    StreamStat,
    ValuesRow,
)

__all__ = ["MonitorStore"]


class MonitorStore(Protocol):
    """The monitor's database of readings, forecasts, plans, status, events, scores and alarms."""

    # ------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Release the connection."""
        ...

    def change_counter(self) -> int:
        """A number that changes whenever another connection commits (for live pages)."""
        ...

    # --------------------------------------------------------------- writes

    def write_batch(self, messages: Sequence[FleetMessage],
                    rejects: Sequence[Reject] = ()) -> BatchResult:
        """Store ``messages`` and the ``rejects`` refused before the store, durably, at once."""
        ...

    def add_manifest(self, manifest: dict[str, Any]) -> None:
        """Remember a bundle manifest (validation metrics) by its model SHA-256."""
        ...

    def write_scores(self, scores: Sequence[ScoreRow], scored: Sequence[int]) -> None:
        """Store ``scores`` and mark the points with these :attr:`OpenPoint.id` scored, at once."""
        ...

    def write_plan_scores(self, scores: Sequence[PlanScoreRow],
                          outcomes: Sequence[PlanOutcome]) -> None:
        """Store plan-horizon ``scores`` and each plan's outcome (marking it scored), at once."""
        ...

    def raise_alert(self, *, site: str, device: str, code: str, key: str, level: str,
                    ts: float, message: str, data: dict[str, Any]) -> bool:
        """Record an alarm unless the same (site, device, code, key) is open; True if new."""
        ...

    def clear_alert(self, *, site: str, device: str, code: str, key: str, ts: float) -> bool:
        """Close the open alarm (site, device, code, key); True if there was one."""
        ...

    # ----------------------------------------------------------- fleet state

    def sites(self) -> list[str]:
        """Every site that sent anything or has a status, sorted."""
        ...

    def stream_stats(self, site: str | None = None) -> list[StreamStat]:
        """Per (site, device, stream, epoch): received, duplicates, lost, last seen."""
        ...

    def statuses(self, site: str | None = None) -> list[StatusRow]:
        """The current status of every gateway (of ``site``)."""
        ...

    def gateway(self, site: str) -> str | None:
        """A device of ``site`` that sends forecasts or status (the first by name)."""
        ...

    def events(self, *, site: str | None = None, device: str | None = None,
               codes: Sequence[str] = (), limit: int = 200) -> list[EventRow]:
        """Events with one of ``codes`` (all when empty), newest first."""
        ...

    def active_models(self, site: str | None = None,
                      device: str | None = None) -> list[ModelRow]:
        """The models gateways report as active, by site and device."""
        ...

    def manifest(self, sha256: str) -> dict[str, Any] | None:
        """The stored manifest of the model with ``sha256``, if any."""
        ...

    def model_versions(self) -> dict[str, str]:
        """Model SHA-256 -> version, from the forecasts and manifests seen."""
        ...

    def rejected_count(self) -> int:
        """Messages kept in ``rejected``."""
        ...

    def alerts(self, site: str | None = None, *, open_only: bool = False) -> list[AlertRow]:
        """Stored alarms, newest first."""
        ...

    def open_alert_counts(self) -> dict[tuple[str, str], int]:
        """(site, device) -> number of open alarms."""
        ...

    # -------------------------------------------------------------- readings

    def reading_sites(self) -> list[str]:
        """Sites that have readings."""
        ...

    def reading_span(self, site: str) -> tuple[float | None, float | None]:
        """Timestamps of the oldest and newest reading of ``site`` (None, None without)."""
        ...

    def reading_counts(self, site: str, since: float, until: float) -> list[int]:
        """Readings per device of ``site`` with ``since < ts <= until``."""
        ...

    def reading_values(self, site: str, names: Sequence[str], since: float, until: float,
                       *, require: str | None = None,
                       device: str | None = None) -> list[ValuesRow]:
        """Values ``names`` of the readings with ``since < ts <= until``, by time.

        ``require`` keeps only readings that have that value; ``device`` only
        that device's.
        """
        ...

    def reading_means(self, site: str, name: str, since: float, until: float,
                      bucket_s: float) -> list[BucketMean]:
        """Per device and bucket of ``bucket_s`` [s]: the mean of numeric value ``name``."""
        ...

    def battery_power(self, site: str, device: str, since: float, until: float,
                      bucket_s: float) -> list[BucketValue]:
        """Bucket means of battery voltage x current [W] (positive: charging) of ``device``."""
        ...

    # ------------------------------------------------------------- forecasts

    def forecast_horizons(self, site: str) -> list[int]:
        """Horizons [min] of the forecast points of ``site``, ascending."""
        ...

    def forecast_band(self, site: str, target: str, horizon_min: int, since: float,
                      until: float) -> list[BandPoint]:
        """Live quantiles of one horizon by period end in ``(since, until]``."""
        ...

    def latest_forecast(self, site: str, target: str,
                        max_horizon_min: int) -> LatestForecast | None:
        """The newest live forecast of ``site``, horizons up to ``max_horizon_min`` [min]."""
        ...

    def unscored_sites(self) -> list[str]:
        """Sites with forecast points not scored yet."""
        ...

    def open_points(self, site: str, until: float) -> list[OpenPoint]:
        """Unscored forecast points of ``site`` whose period ends at or before ``until``."""
        ...

    # ---------------------------------------------------------------- scores

    def score_horizons(self, site: str) -> list[int]:
        """Horizons [min] that have scores, ascending."""
        ...

    def newest_score(self, site: str, device: str | None = None) -> float | None:
        """Period end of the newest score of ``site`` (and ``device``)."""
        ...

    def newest_scores(self) -> dict[str, float]:
        """Site -> period end of its newest score."""
        ...

    def error_stats(self, site: str | None = None, *, since: float, until: float,
                    target: str | None = None, by_horizon: bool = True) -> list[ErrorStats]:
        """Squared errors per site, device, target, horizon, model and shadow flag.

        Scores with ``since <= period_end <= until``; ``by_horizon`` False
        pools the horizons (``horizon_min`` 0).
        """
        ...

    def skill_buckets(self, site: str, target: str, since: float, until: float,
                      bucket_s: float) -> list[SkillBucket]:
        """Squared errors per bucket of ``bucket_s`` [s], horizon and shadow flag."""
        ...

    def daily_errors(self, site: str) -> list[DailyErrors]:
        """Squared errors of live scores per device, target and UTC day, by day."""
        ...

    def scored_points(self, site: str, target: str, horizon_min: int,
                      since: float) -> list[ScoredPoint]:
        """Forecast points with their scores, period end at or after ``since``, by time."""
        ...

    # ----------------------------------------------------------------- plans

    def latest_plan(self, site: str) -> StoredPlan | None:
        """The newest plan of ``site`` (by issue time), if any."""
        ...

    def unscored_plan_sites(self) -> list[str]:
        """Sites with plans not scored yet."""
        ...

    def open_plans(self, site: str, until: float) -> list[OpenPlan]:
        """Unscored plans of ``site`` whose horizon ends at or before ``until``, by issue."""
        ...

    def plan_error_stats(self, site: str | None = None, *, since: float,
                         until: float) -> list[PlanErrorStats]:
        """Plan errors per site, device and horizon, target times in ``[since, until]``."""
        ...

    def plan_reserve_stats(self, site: str | None = None, *, since: float,
                           until: float) -> list[ReserveStats]:
        """Time-to-reserve outcomes per site and device of judged plans issued in the window."""
        ...

    def newest_plan_scores(self) -> dict[str, float]:
        """Site -> target time of its newest plan score. [s]"""
        ...

    def plan_score_points(self, site: str, horizon_min: int, since: float,
                          until: float) -> list[PlanScorePoint]:
        """Scored P50 SOC and measured SOC of one horizon, target times in ``(since, until]``."""
        ...
