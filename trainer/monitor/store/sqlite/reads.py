"""The read queries of the SQLite store: fleet state, readings, forecasts, scores.

Responsible for: every query the fleet table, scoring, drift, the report,
the export, the dashboard and ``/metrics`` need, each returning typed rows
(:mod:`trainer.monitor.store.records`). Every query names its columns, so
columns the schema gains later do not break it; a table or column that an
older file lacks reads as empty.

Does NOT: write (see :mod:`trainer.monitor.store.sqlite.writer`).

Reading values live in the verbatim JSON body and are read with
``json_extract(body, '$.values.<name>')``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from edge.runtime.contract import SEQ_STREAMS
from trainer.monitor.store.records import (
    BandPoint,
    BucketMean,
    BucketValue,
    DailyErrors,
    ErrorStats,
    EventRow,
    ForecastPoint,
    LatestForecast,
    ModelRow,
    OpenPlan,
    OpenPoint,
    PlanErrorStats,
    PlanScorePoint,
    ReserveStats,
    ScoredPoint,
    SkillBucket,
    StatusRow,
    StoredPlan,
    StreamStat,
    ValuesRow,
)
from trainer.monitor.store.sqlite.connection import SqliteConnection

__all__ = ["SqliteReads"]


#: streams whose sequence gaps are losses (the plan stream is sequenced like forecasts)
_SEQUENCED = frozenset(SEQ_STREAMS) | {"plan"}


def _path(name: str) -> str:
    """The JSON path of reading value ``name``."""
    return f"$.values.{name}"


def _object(text: Any) -> dict[str, Any]:
    """A stored JSON object (anything else, or broken JSON, reads as empty)."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _opt(x: Any) -> float | None:
    return float(x) if x is not None else None


class SqliteReads(SqliteConnection):
    """The read half of :class:`~trainer.monitor.store.sqlite.SqliteStore`."""

    def change_counter(self) -> int:
        """Changes whenever another connection commits (``PRAGMA data_version``)."""
        return int(self._scalar("PRAGMA data_version"))

    # ----------------------------------------------------------- fleet state

    def sites(self) -> list[str]:
        """Every site that sent anything or has a status, sorted."""
        found = {r[0] for r in self._read("SELECT DISTINCT site FROM streams")}
        found |= {r[0] for r in self._read("SELECT DISTINCT site FROM status")}
        return sorted(found)

    def stream_stats(self, site: str | None = None) -> list[StreamStat]:
        """Per stream and epoch: received, duplicates, lost (sequence gaps), last_seen."""
        sql = (
            "SELECT site, device, stream, epoch, first_seq, max_seq, received, duplicates,"
            " last_seen FROM streams" + (" WHERE site=?" if site else "")
            + " ORDER BY site, device, stream, last_seen"
        )
        out = []
        for s, d, st, ep, first, last, rec, dup, seen in self._read(sql, [site] if site else []):
            lost = (last - first + 1 - rec) if first is not None and st in _SEQUENCED else 0
            out.append(StreamStat(s, d, st, ep, rec, dup, max(lost, 0), seen))
        return out

    def statuses(self, site: str | None = None) -> list[StatusRow]:
        """The current status of every gateway (of ``site``)."""
        sql = ("SELECT site, device, state, received, payload FROM status"
               + (" WHERE site=?" if site else ""))
        return [StatusRow(s, d, st, rec, _object(p))
                for s, d, st, rec, p in self._read(sql, [site] if site else [])]

    def gateway(self, site: str) -> str | None:
        """A device of ``site`` that sends forecasts or status (the first by name)."""
        value = self._scalar(
            "SELECT device FROM forecasts WHERE site=? UNION SELECT device FROM status"
            " WHERE site=? ORDER BY 1 LIMIT 1", [site, site])
        return None if value is None else str(value)

    def events(self, *, site: str | None = None, device: str | None = None,
               codes: Sequence[str] = (), limit: int = 200) -> list[EventRow]:
        """Events with one of ``codes`` (all when empty), newest first."""
        where: list[str] = []
        params: list[Any] = []
        if codes:
            where.append(f"code IN ({','.join('?' * len(codes))})")
            params += codes
        if site:
            where.append("site=?")
            params.append(site)
        if device:
            where.append("device=?")
            params.append(device)
        rows = self._read(
            "SELECT site, device, ts, level, code, message, data FROM events"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY ts DESC, seq DESC LIMIT ?", [*params, limit])
        return [EventRow(s, d, ts, level, code, message, _object(data))
                for s, d, ts, level, code, message, data in rows]

    def active_models(self, site: str | None = None,
                      device: str | None = None) -> list[ModelRow]:
        """The models gateways report as active, by site and device."""
        where = ["role='active'"]
        params: list[Any] = []
        if site:
            where.append("site=?")
            params.append(site)
        if device:
            where.append("device=?")
            params.append(device)
        rows = self._read("SELECT site, device, version, sha256, blessed, received FROM models"
                          f" WHERE {' AND '.join(where)} ORDER BY site, device", params)
        return [ModelRow(s, d, str(v), str(sha), bool(b), rec) for s, d, v, sha, b, rec in rows]

    def manifest(self, sha256: str) -> dict[str, Any] | None:
        """The stored manifest of the model with ``sha256``, if any."""
        text = self._scalar("SELECT manifest FROM manifests WHERE sha256=?", [sha256])
        return None if text is None else dict(json.loads(text))

    def model_versions(self) -> dict[str, str]:
        """Model SHA-256 -> version, from the forecasts and manifests seen."""
        out = {str(s): str(v) for s, v in self._read(
            "SELECT DISTINCT model_sha, model_version FROM forecasts")}
        out.update({str(s): str(v) for s, v in self._read(
            "SELECT sha256, version FROM manifests")})
        return out

    def rejected_count(self) -> int:
        """Messages kept in ``rejected``."""
        return int(self._scalar("SELECT count(*) FROM rejected") or 0)

    # -------------------------------------------------------------- readings

    def reading_sites(self) -> list[str]:
        """Sites that have readings."""
        return [str(r[0]) for r in self._read("SELECT DISTINCT site FROM readings")]

    def reading_span(self, site: str) -> tuple[float | None, float | None]:
        """Timestamps of the oldest and newest reading of ``site`` (None, None without)."""
        rows = self._read("SELECT min(ts), max(ts) FROM readings WHERE site=?", [site])
        if not rows:
            return None, None
        return _opt(rows[0][0]), _opt(rows[0][1])

    def reading_counts(self, site: str, since: float, until: float) -> list[int]:
        """Readings per device of ``site`` with ``since < ts <= until``."""
        return [int(r[0]) for r in self._read(
            "SELECT count(*) FROM readings WHERE site=? AND ts>? AND ts<=? GROUP BY device",
            [site, since, until])]

    def reading_values(self, site: str, names: Sequence[str], since: float, until: float,
                       *, require: str | None = None,
                       device: str | None = None) -> list[ValuesRow]:
        """Values ``names`` of the readings with ``since < ts <= until``, by time."""
        cols = ", ".join("json_extract(body, ?)" for _ in names)
        params: list[Any] = [*(_path(n) for n in names), site, since, until]
        sql = f"SELECT device, ts, {cols} FROM readings WHERE site=? AND ts>? AND ts<=?"
        if device is not None:
            sql += " AND device=?"
            params.append(device)
        if require is not None:
            sql += " AND json_extract(body, ?) IS NOT NULL"
            params.append(_path(require))
        return [ValuesRow(d, ts, tuple(values))
                for d, ts, *values in self._read(sql + " ORDER BY ts", params)]

    def reading_means(self, site: str, name: str, since: float, until: float,
                      bucket_s: float) -> list[BucketMean]:
        """Per device and bucket of ``bucket_s`` [s]: the mean of numeric value ``name``."""
        rows = self._read(
            "SELECT device, CAST(ts / ? AS INTEGER) AS b,"
            " avg(CAST(json_extract(body, ?) AS REAL)) FROM readings"
            " WHERE site=? AND ts>? AND ts<=? AND json_type(body, ?) IN ('real', 'integer')"
            " GROUP BY device, b ORDER BY device, b",
            [bucket_s, _path(name), site, since, until, _path(name)])
        return [BucketMean(d, int(b), float(v)) for d, b, v in rows]

    def battery_power(self, site: str, device: str, since: float, until: float,
                      bucket_s: float) -> list[BucketValue]:
        """Bucket means of battery voltage x current [W] (positive: charging) of ``device``.

        The current is ``battery_current``, else charge minus discharge current.
        """
        v = "CAST(json_extract(body, '$.values.battery_voltage') AS REAL)"
        i = ("coalesce(CAST(json_extract(body, '$.values.battery_current') AS REAL),"
             " coalesce(CAST(json_extract(body, '$.values.battery_charge_current') AS REAL), 0)"
             " - coalesce(CAST(json_extract(body, '$.values.battery_discharge_current') AS REAL),"
             " 0))")
        rows = self._read(f"SELECT CAST(ts / ? AS INTEGER) AS b, avg({v} * {i}) FROM readings"
                          " WHERE site=? AND device=? AND ts>? AND ts<=? GROUP BY b ORDER BY b",
                          [bucket_s, site, device, since, until])
        return [BucketValue(int(b), _opt(p)) for b, p in rows]

    # ------------------------------------------------------------- forecasts

    def forecast_horizons(self, site: str) -> list[int]:
        """Horizons [min] of the forecast points of ``site``, ascending."""
        return [int(r[0]) for r in self._read(
            "SELECT DISTINCT horizon_min FROM forecast_points WHERE site=?"
            " ORDER BY horizon_min", [site])]

    def forecast_band(self, site: str, target: str, horizon_min: int, since: float,
                      until: float) -> list[BandPoint]:
        """Live quantiles of one horizon by period end in ``(since, until]``."""
        rows = self._read(
            "SELECT period_end, avg(p10), avg(p50), avg(p90) FROM forecast_points"
            " WHERE site=? AND target=? AND horizon_min=? AND shadow=0 AND period_end>?"
            " AND period_end<=? GROUP BY period_end ORDER BY period_end",
            [site, target, horizon_min, since, until])
        return [BandPoint(float(t), _opt(a), _opt(b), _opt(c)) for t, a, b, c in rows]

    def latest_forecast(self, site: str, target: str,
                        max_horizon_min: int) -> LatestForecast | None:
        """The newest live forecast of ``site``, horizons up to ``max_horizon_min`` [min]."""
        rows = self._read("SELECT device, max(issue) FROM forecast_points"
                          " WHERE site=? AND target=? AND shadow=0", [site, target])
        if not rows or rows[0][1] is None:
            return None
        device, issue = rows[0]
        pts = self._read(
            "SELECT period_end, p10, p50, p90, horizon_min FROM forecast_points"
            " WHERE site=? AND device=? AND target=? AND shadow=0 AND issue=?"
            " AND horizon_min<=? ORDER BY period_end",
            [site, device, target, issue, max_horizon_min])
        return LatestForecast(str(device), float(issue),
                              [ForecastPoint(float(t), a, b, c, int(h)) for t, a, b, c, h in pts])

    def unscored_sites(self) -> list[str]:
        """Sites with forecast points not scored yet."""
        return [str(r[0]) for r in self._read(
            "SELECT DISTINCT site FROM forecast_points WHERE scored=0")]

    def open_points(self, site: str, until: float) -> list[OpenPoint]:
        """Unscored forecast points of ``site`` whose period ends at or before ``until``."""
        return [OpenPoint(*r) for r in self._read(
            "SELECT rowid, device, target, horizon_min, issue, shadow, model_sha, period_end,"
            " period_s, p50 FROM forecast_points WHERE site=? AND scored=0 AND period_end<=?",
            [site, until])]

    # ---------------------------------------------------------------- scores

    def score_horizons(self, site: str) -> list[int]:
        """Horizons [min] that have scores, ascending."""
        return [int(r[0]) for r in self._read(
            "SELECT DISTINCT horizon_min FROM scores WHERE site=? ORDER BY horizon_min", [site])]

    def newest_score(self, site: str, device: str | None = None) -> float | None:
        """Period end of the newest score of ``site`` (and ``device``)."""
        if device is None:
            return _opt(self._scalar("SELECT max(period_end) FROM scores WHERE site=?", [site]))
        return _opt(self._scalar("SELECT max(period_end) FROM scores WHERE site=? AND device=?",
                                 [site, device]))

    def newest_scores(self) -> dict[str, float]:
        """Site -> period end of its newest score."""
        return {str(s): float(t) for s, t in self._read(
            "SELECT site, max(period_end) FROM scores GROUP BY site")}

    def error_stats(self, site: str | None = None, *, since: float, until: float,
                    target: str | None = None, by_horizon: bool = True) -> list[ErrorStats]:
        """Squared errors per site, device, target, horizon, model and shadow flag."""
        hz = "horizon_min" if by_horizon else "0"
        where = ["period_end>=?", "period_end<=?"]
        params: list[Any] = [since, until if math.isfinite(until) else 1e18]
        if site:
            where.append("site=?")
            params.append(site)
        if target:
            where.append("target=?")
            params.append(target)
        rows = self._read(
            f"SELECT site, device, target, {hz} AS h, model_sha, shadow, count(*),"
            " avg((forecast-actual)*(forecast-actual)),"
            " avg((persistence-actual)*(persistence-actual))"
            f" FROM scores WHERE {' AND '.join(where)}"
            " GROUP BY site, device, target, h, model_sha, shadow"
            " ORDER BY site, device, target, h", params)
        return [ErrorStats(s, d, t, int(h), sha, bool(sh), int(n), float(mf), float(mp))
                for s, d, t, h, sha, sh, n, mf, mp in rows]

    def skill_buckets(self, site: str, target: str, since: float, until: float,
                      bucket_s: float) -> list[SkillBucket]:
        """Squared errors per bucket of ``bucket_s`` [s], horizon and shadow flag."""
        rows = self._read(
            "SELECT CAST(period_end / ? AS INTEGER) AS b, horizon_min, shadow, count(*),"
            " avg((forecast-actual)*(forecast-actual)),"
            " avg((persistence-actual)*(persistence-actual)) FROM scores"
            " WHERE site=? AND target=? AND period_end>? AND period_end<=?"
            " GROUP BY b, horizon_min, shadow ORDER BY horizon_min, shadow, b",
            [bucket_s, site, target, since, until])
        return [SkillBucket(int(b), int(h), int(sh), int(n), float(mf), float(mp))
                for b, h, sh, n, mf, mp in rows]

    def daily_errors(self, site: str) -> list[DailyErrors]:
        """Squared errors of live scores per device, target and UTC day, by day."""
        rows = self._read(
            "SELECT device, target, CAST(period_end / 86400 AS INTEGER) AS day, count(*),"
            " avg((forecast-actual)*(forecast-actual)),"
            " avg((persistence-actual)*(persistence-actual))"
            " FROM scores WHERE site=? AND shadow=0 GROUP BY device, target, day ORDER BY day",
            [site])
        return [DailyErrors(str(d), str(t), int(day), int(n), float(mf), float(mp))
                for d, t, day, n, mf, mp in rows]

    def scored_points(self, site: str, target: str, horizon_min: int,
                      since: float) -> list[ScoredPoint]:
        """Forecast points with their scores, period end at or after ``since``, by time."""
        return [ScoredPoint(*r) for r in self._read(
            "SELECT p.period_end, p.p10, p.p50, p.p90, s.actual, s.persistence, p.shadow"
            " FROM forecast_points p JOIN scores s ON s.site=p.site AND s.device=p.device AND"
            " s.target=p.target AND s.horizon_min=p.horizon_min AND s.issue=p.issue AND"
            " s.shadow=p.shadow AND s.model_sha=p.model_sha"
            " WHERE p.site=? AND p.target=? AND p.horizon_min=? AND p.period_end>=?"
            " ORDER BY p.period_end", [site, target, horizon_min, since])]

    # ----------------------------------------------------------------- plans

    def _plans(self, where: str, params: Sequence[Any], tail: str = "") -> list[StoredPlan]:
        rows = self._read("SELECT rowid, site, device, issued, horizon_end, body FROM plans"
                          f" WHERE {where}{tail}", params)
        return [StoredPlan(int(i), str(s), str(d), float(t), float(e), _object(b))
                for i, s, d, t, e, b in rows]

    def latest_plan(self, site: str) -> StoredPlan | None:
        """The newest plan of ``site`` (by issue time), if any."""
        found = self._plans("site=?", [site], " ORDER BY issued DESC, received DESC LIMIT 1")
        return found[0] if found else None

    def unscored_plan_sites(self) -> list[str]:
        """Sites with plans not scored yet."""
        return [str(r[0]) for r in self._read("SELECT DISTINCT site FROM plans WHERE scored=0")]

    def open_plans(self, site: str, until: float) -> list[OpenPlan]:
        """Unscored plans of ``site`` whose horizon ends at or before ``until``, by issue."""
        return self._plans("site=? AND scored=0 AND horizon_end<=?", [site, until],
                           " ORDER BY issued")

    def plan_error_stats(self, site: str | None = None, *, since: float,
                         until: float) -> list[PlanErrorStats]:
        """Plan errors per site, device and horizon, target times in ``[since, until]``."""
        where = ["target_time>=?", "target_time<=?"]
        params: list[Any] = [since, until if math.isfinite(until) else 1e18]
        if site:
            where.append("site=?")
            params.append(site)
        rows = self._read(
            "SELECT site, device, horizon_min,"
            " count(soc_actual), avg(abs(soc_p50-soc_actual)),"
            " avg(CASE WHEN soc_actual IS NULL THEN NULL WHEN soc_actual>=soc_p10"
            " AND soc_actual<=soc_p90 THEN 1.0 ELSE 0.0 END),"
            " sum(load_actual IS NOT NULL AND load_persistence IS NOT NULL"
            " AND load_p50 IS NOT NULL),"
            " avg(CASE WHEN load_persistence IS NULL THEN NULL ELSE abs(load_p50-load_actual) END),"
            " avg(CASE WHEN load_p50 IS NULL THEN NULL ELSE abs(load_persistence-load_actual) END)"
            f" FROM plan_scores WHERE {' AND '.join(where)}"
            " GROUP BY site, device, horizon_min ORDER BY site, device, horizon_min", params)
        return [PlanErrorStats(str(s), str(d), int(h), int(ns), _opt(mae), _opt(cov),
                               int(nl or 0), _opt(lm), _opt(lp))
                for s, d, h, ns, mae, cov, nl, lm, lp in rows]

    def plan_reserve_stats(self, site: str | None = None, *, since: float,
                           until: float) -> list[ReserveStats]:
        """Time-to-reserve outcomes per site and device of judged plans issued in the window."""
        where = ["scored=1", "issued>=?", "issued<=?"]
        params: list[Any] = [since, until if math.isfinite(until) else 1e18]
        if site:
            where.append("site=?")
            params.append(site)
        cols = []
        for at in ("reserve_at", "reserve_at_p50"):
            both = f"{at} IS NOT NULL AND reserve_measured IS NOT NULL"
            cols += [f"sum({both})",
                     f"avg(CASE WHEN {both} THEN abs(reserve_measured-{at}) END)",
                     f"avg(CASE WHEN {both} THEN reserve_measured-{at} END)",
                     f"sum({at} IS NOT NULL AND reserve_measured IS NULL)",
                     f"sum({at} IS NULL AND reserve_measured IS NOT NULL)"]
        rows = self._read(
            f"SELECT site, device, count(*), {', '.join(cols)}"
            f" FROM plans WHERE {' AND '.join(where)} GROUP BY site, device"
            " ORDER BY site, device", params)
        return [ReserveStats(str(s), str(d), int(n), int(b or 0), _opt(m), _opt(bias),
                             int(fa or 0), int(mi or 0), int(b5 or 0), _opt(m5), _opt(bias5),
                             int(fa5 or 0), int(mi5 or 0))
                for s, d, n, b, m, bias, fa, mi, b5, m5, bias5, fa5, mi5 in rows]

    def newest_plan_scores(self) -> dict[str, float]:
        """Site -> target time of its newest plan score. [s]"""
        return {str(s): float(t) for s, t in self._read(
            "SELECT site, max(target_time) FROM plan_scores GROUP BY site")}

    def plan_score_points(self, site: str, horizon_min: int, since: float,
                          until: float) -> list[PlanScorePoint]:
        """Scored P50 SOC and measured SOC of one horizon, target times in ``(since, until]``."""
        return [PlanScorePoint(float(t), _opt(p), _opt(a)) for t, p, a in self._read(
            "SELECT target_time, avg(soc_p50), avg(soc_actual) FROM plan_scores"
            " WHERE site=? AND horizon_min=? AND target_time>? AND target_time<=?"
            " GROUP BY target_time ORDER BY target_time", [site, horizon_min, since, until])]
