"""What the dashboard shows, read from the monitor's store.

Responsible for: small read-only query functions, one per thing a page or
``/metrics`` shows, each returning plain JSON-ready values (dicts, lists,
floats; NaN becomes None). Every query names its columns, so columns the
store gains later (an ``epoch``, a ``rejected`` table) do not break it; a
table that an older store lacks counts as empty.

Does NOT: write anything, talk HTTP (see :mod:`trainer.monitor.dashboard.server`)
or compute scores (see :mod:`trainer.monitor.scoring`).

Time windows of a site's page end at the site's newest reading, not at the
wall clock, so a site that went quiet still shows its last days and a
simulated or back-filled site shows its own time; they start at the site's
first reading when that is later than the window's start.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from trainer.monitor.fleet import fleet_table
from trainer.monitor.scoring import rolling_metrics
from trainer.monitor.store import Store

__all__ = [
    "ROLLOUT_CODES",
    "ReadOnlyStore",
    "alerts",
    "counters",
    "fleet",
    "models",
    "rejected_count",
    "rollout_events",
    "site_page",
    "site_skill",
    "sites",
]

#: event codes that make up a gateway's rollout history
ROLLOUT_CODES = ("model_received", "model_shadow_started", "model_promoted",
                 "model_rolled_back", "model_refused", "rollout_state_reset",
                 "rollout_state_ignored")

#: rollout event code -> the rollout state it leaves behind
_ROLLOUT_STATE = {"model_shadow_started": "shadow", "model_promoted": "promoted",
                  "model_rolled_back": "rolled back", "model_refused": "refused"}


class ReadOnlyStore(Store):
    """A :class:`Store` connection that never writes (``PRAGMA query_only``).

    Opening it creates no schema and takes no write lock, so the dashboard
    can read while ``helio-monitor run`` writes the same file.

    Parameters
    ----------
    path : str or Path
        An existing store file.
    timeout_s : float
        Busy timeout. [s]
    """

    def __init__(self, path: str | Path, *, timeout_s: float = 10.0) -> None:
        if not Path(path).exists():
            raise FileNotFoundError(f"no monitor store at {path}")
        self.path = str(path)
        self.db = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None,
                                  check_same_thread=False)
        self.db.execute("PRAGMA query_only=ON")


def _finite(x: Any) -> Any:
    """NaN/inf -> None (JSON has no NaN)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _rows(store: Store, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
    """``store.query`` where a missing table (an older store) reads as no rows."""
    try:
        return store.query(sql, params)
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc) or "no such column" in str(exc):
            return []
        raise


# ------------------------------------------------------------------ fleet


def sites(store: Store) -> list[str]:
    """Every site id the store has heard of."""
    found = {r[0] for r in _rows(store, "SELECT DISTINCT site FROM streams")}
    found |= {r[0] for r in _rows(store, "SELECT DISTINCT site FROM status")}
    return sorted(found)


def _statuses(store: Store, site: str | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    sql = "SELECT site, device, payload FROM status" + (" WHERE site=?" if site else "")
    out = {}
    for s, d, payload in _rows(store, sql, [site] if site else []):
        try:
            body = json.loads(payload or "{}")
        except ValueError:
            body = {}
        out[(s, d)] = body if isinstance(body, dict) else {}
    return out


def _last_rollout_event(store: Store, site: str, gateway: str) -> dict[str, Any] | None:
    marks = ",".join("?" * len(_ROLLOUT_STATE))
    rows = _rows(store, "SELECT code, ts, message FROM events WHERE site=? AND device=?"
                 f" AND code IN ({marks}) ORDER BY ts DESC, seq DESC LIMIT 1",
                 [site, gateway, *_ROLLOUT_STATE])
    if not rows:
        return None
    code, ts, message = rows[0]
    return {"code": code, "ts": ts, "message": message}


def rollout_state(store: Store, site: str, gateway: str,
                  status: dict[str, Any] | None = None) -> dict[str, Any]:
    """A gateway's rollout state: ``shadow`` (with the candidate), or the last outcome.

    The status heartbeat's ``rollout`` section wins (it is what the agent
    says now); without one, the newest rollout event decides; ``idle`` when
    there is neither.
    """
    status = status if status is not None else _statuses(store, site).get((site, gateway), {})
    ro = status.get("rollout")
    if isinstance(ro, dict) and ro.get("state") == "shadow":
        cand = ro.get("candidate") or {}
        return {"state": "shadow", "candidate": cand.get("version", ""),
                "pairs": ro.get("pairs"), "shadow_for_s": ro.get("shadow_for_s")}
    last = _last_rollout_event(store, site, gateway)
    if last is None:
        return {"state": "idle"}
    state = _ROLLOUT_STATE.get(last["code"], "idle")
    if state == "shadow":  # the heartbeat did not say shadow (older agent or none yet)
        return {"state": "shadow", "since": last["ts"], "message": last["message"]}
    return {"state": state, "since": last["ts"], "message": last["message"]}


def _open_alerts(store: Store) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for s, d, n in _rows(store, "SELECT site, device, count(*) FROM alerts"
                         " WHERE cleared IS NULL GROUP BY site, device"):
        out[(s, d)] = int(n)
    return out


def fleet(store: Store, *, now: float | None = None,
          offline_after_s: float = 180.0) -> list[dict[str, Any]]:
    """One row per gateway: state, last seen, loss, model, rollout, 7-day skill, open alerts.

    Open alerts of a site's source devices and of the monitor itself
    (``offline``, drift) count towards the site's gateway.
    """
    now = time.time() if now is None else now
    rows = fleet_table(store, now=now, offline_after_s=offline_after_s)
    statuses = _statuses(store)
    open_alerts = _open_alerts(store)
    out = []
    for r in rows:
        status = statuses.get((r.site, r.gateway), {})
        members = {r.gateway, *r.devices}
        n_alerts = sum(n for (s, d), n in open_alerts.items()
                       if s == r.site and (d in members or d == "monitor"))
        out.append({
            "site": r.site, "gateway": r.gateway, "state": r.state,
            "last_seen": r.last_seen, "last_seen_ago_s": None if r.last_seen is None
            else max(now - r.last_seen, 0.0),
            "received": r.received, "lost": r.lost, "duplicates": r.duplicates,
            "loss": r.loss_fraction, "model_version": r.model_version,
            "rollout": rollout_state(store, r.site, r.gateway, status),
            "skill_7d": _finite(r.skill), "open_alerts": n_alerts,
            "devices": {k: {"connected": bool(v.get("connected")),
                            "stale": bool(v.get("stale"))} for k, v in r.devices.items()},
        })
    return out


def rejected_count(store: Store) -> int:
    """Messages the monitor refused (kept in ``rejected``)."""
    rows = _rows(store, "SELECT count(*) FROM rejected")
    return int(rows[0][0]) if rows else 0


def counters(store: Store) -> list[dict[str, Any]]:
    """Per (site, device, stream): stored, duplicates and lost (sequence gaps)."""
    return store.stream_stats()


# ------------------------------------------------------------------- site


def _anchor(store: Store, site: str) -> float | None:
    rows = _rows(store, "SELECT max(ts) FROM readings WHERE site=?", [site])
    return float(rows[0][0]) if rows and rows[0][0] is not None else None


def _bucket_s(span_s: float, points: int = 300, spacing_s: float = 0.0) -> float:
    """A round bucket size: at most about ``points`` buckets over ``span_s``, and at
    least twice the readings' spacing ``spacing_s`` (so every device has a sample in
    most buckets and the site sum exists). [s]"""
    for size in (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400):
        if span_s / size <= points and size >= 2 * spacing_s:
            return float(size)
    return 86400.0


def _spacing(store: Store, site: str, since: float, until: float) -> float:
    """Mean spacing of the sparsest device's readings in the window. [s]"""
    rows = _rows(store, "SELECT count(*) FROM readings WHERE site=? AND ts>? AND ts<=?"
                 " GROUP BY device", [site, since, until])
    counts = [int(r[0]) for r in rows if r[0]]
    return (until - since) / min(counts) if counts else 0.0


def _value_series(store: Store, site: str, name: str, *, since: float, until: float,
                  bucket: float) -> dict[str, list[tuple[float, float]]]:
    """Bucket means of reading value ``name`` per device: ``{device: [(t_mid, mean)]}``."""
    rows = _rows(
        store,
        "SELECT device, CAST(ts / ? AS INTEGER) AS b, avg(CAST(json_extract(body, ?) AS REAL))"
        " FROM readings WHERE site=? AND ts>? AND ts<=? AND json_type(body, ?) IN"
        " ('real', 'integer') GROUP BY device, b ORDER BY device, b",
        [bucket, f"$.values.{name}", site, since, until, f"$.values.{name}"])
    out: dict[str, list[tuple[float, float]]] = {}
    for device, b, v in rows:
        out.setdefault(device, []).append(((b + 0.5) * bucket, float(v)))
    return out


def _site_sum(series: dict[str, list[tuple[float, float]]]) -> list[list[float]]:
    """Sum over devices of bucket means, only where every device has the bucket."""
    if not series:
        return []
    by_t: dict[float, list[float]] = {}
    for points in series.values():
        for t, v in points:
            by_t.setdefault(t, []).append(v)
    n = len(series)
    return [[t, sum(vs)] for t, vs in sorted(by_t.items()) if len(vs) == n]


def _battery(store: Store, site: str, since: float, until: float,
             bucket: float) -> dict[str, Any]:
    """SOC [%] and battery power [W] (positive: charging) of the device reporting SOC."""
    soc = _value_series(store, site, "battery_soc", since=since, until=until, bucket=bucket)
    if not soc:
        return {"device": None, "soc": [], "power": []}
    device = sorted(soc)[0]
    v = "CAST(json_extract(body, '$.values.battery_voltage') AS REAL)"
    i = ("coalesce(CAST(json_extract(body, '$.values.battery_current') AS REAL),"
         " coalesce(CAST(json_extract(body, '$.values.battery_charge_current') AS REAL), 0)"
         " - coalesce(CAST(json_extract(body, '$.values.battery_discharge_current') AS REAL), 0))")
    rows = _rows(store, f"SELECT CAST(ts / ? AS INTEGER) AS b, avg({v} * {i}) FROM readings"
                 " WHERE site=? AND device=? AND ts>? AND ts<=? GROUP BY b ORDER BY b",
                 [bucket, site, device, since, until])
    return {"device": device, "soc": [[t, s] for t, s in soc[device]],
            "power": [[(b + 0.5) * bucket, float(p)] for b, p in rows if p is not None]}


def _horizons(store: Store, site: str) -> list[int]:
    return [int(r[0]) for r in _rows(
        store, "SELECT DISTINCT horizon_min FROM forecast_points WHERE site=?"
        " ORDER BY horizon_min", [site])]


def _band_past(store: Store, site: str, target: str, horizon: int, *, since: float,
               until: float) -> list[list[float | None]]:
    """Live P10/P50/P90 of one horizon by period end: ``[[t, p10, p50, p90], ...]``."""
    rows = _rows(store, "SELECT period_end, avg(p10), avg(p50), avg(p90) FROM forecast_points"
                 " WHERE site=? AND target=? AND horizon_min=? AND shadow=0 AND period_end>?"
                 " AND period_end<=? GROUP BY period_end ORDER BY period_end",
                 [site, target, horizon, since, until])
    return [[float(t), *[float(x) if x is not None else None for x in q]] for t, *q in rows]


def _band_latest(store: Store, site: str, target: str,
                 max_horizon_min: int) -> dict[str, Any]:
    """The newest live forecast, all horizons up to ``max_horizon_min``."""
    rows = _rows(store, "SELECT device, max(issue) FROM forecast_points"
                 " WHERE site=? AND target=? AND shadow=0", [site, target])
    if not rows or rows[0][1] is None:
        return {"issue": None, "points": []}
    device, issue = rows[0]
    pts = _rows(store, "SELECT period_end, p10, p50, p90, horizon_min FROM forecast_points"
                " WHERE site=? AND device=? AND target=? AND shadow=0 AND issue=?"
                " AND horizon_min<=? ORDER BY period_end",
                [site, device, target, issue, max_horizon_min])
    return {"issue": float(issue), "device": device,
            "points": [[float(t), p10, p50, p90, int(h)] for t, p10, p50, p90, h in pts]}


def site_skill(store: Store, site: str, *, since: float, until: float,
               target: str = "pv_power") -> dict[str, Any]:
    """Skill against smart persistence by horizon, live and shadow side by side.

    Returns ``{"bucket_s", "series": [{horizon_min, shadow, points: [[t, skill, n]]}],
    "window": [{horizon_min, shadow, model_sha, version, n, rmse, rmse_persistence,
    skill}]}``; a bucket is an hour when the window is at most two days, a day
    otherwise.
    """
    bucket = 3600.0 if until - since <= 2 * 86400 else 86400.0
    rows = _rows(store, "SELECT CAST(period_end / ? AS INTEGER) AS b, horizon_min, shadow,"
                 " count(*), avg((forecast-actual)*(forecast-actual)),"
                 " avg((persistence-actual)*(persistence-actual)) FROM scores"
                 " WHERE site=? AND target=? AND period_end>? AND period_end<=?"
                 " GROUP BY b, horizon_min, shadow ORDER BY horizon_min, shadow, b",
                 [bucket, site, target, since, until])
    series: dict[tuple[int, int], list[list[Any]]] = {}
    for b, h, sh, n, mf, mp in rows:
        skill = 1.0 - math.sqrt(mf) / math.sqrt(mp) if mp and mp > 0 else None
        series.setdefault((int(h), int(sh)), []).append([(b + 0.5) * bucket, skill, int(n)])
    versions = _versions(store)
    window = [
        {"horizon_min": m.horizon_min, "shadow": m.shadow, "model_sha": m.model_sha,
         "version": versions.get(m.model_sha, ""), "n": m.n, "rmse": _finite(m.rmse),
         "rmse_persistence": _finite(m.rmse_persistence), "skill": _finite(m.skill)}
        for m in rolling_metrics(store, site, since=since, until=until, target=target)
    ]
    return {"bucket_s": bucket, "window": window,
            "series": [{"horizon_min": h, "shadow": bool(sh), "points": pts}
                       for (h, sh), pts in sorted(series.items())]}


def _versions(store: Store) -> dict[str, str]:
    """model SHA-256 -> version, from the forecasts and manifests seen."""
    out = {str(s): str(v) for s, v in _rows(
        store, "SELECT DISTINCT model_sha, model_version FROM forecasts")}
    out.update({str(s): str(v) for s, v in _rows(store, "SELECT sha256, version FROM manifests")})
    return out


def alerts(store: Store, site: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Alarm history (open and cleared), newest first."""
    return store.alerts(site)[:limit]


def rollout_events(store: Store, site: str | None = None,
                   limit: int = 200) -> list[dict[str, Any]]:
    """Model and rollout events of the gateways, newest first."""
    marks = ",".join("?" * len(ROLLOUT_CODES))
    rows = _rows(store, "SELECT site, device, ts, level, code, message, data FROM events"
                 f" WHERE code IN ({marks})" + (" AND site=?" if site else "")
                 + " ORDER BY ts DESC, seq DESC LIMIT ?",
                 [*ROLLOUT_CODES, *([site] if site else []), limit])
    out = []
    for s, d, ts, level, code, message, data in rows:
        try:
            extra = json.loads(data or "{}")
        except ValueError:
            extra = {}
        out.append({"site": s, "device": d, "ts": ts, "level": level, "code": code,
                    "message": message, "data": extra})
    return out


def site_page(store: Store, site: str, *, days: float = 2.0, ahead_min: int = 180,
              now: float | None = None) -> dict[str, Any] | None:
    """Everything the site page draws; None when the store does not know ``site``.

    Parameters
    ----------
    store : Store
        The monitor's store.
    site : str
        Site id.
    days : float
        Length of the history window, back from the newest reading. [days]
    ahead_min : int
        How far ahead the newest forecast is drawn. [min]
    now : float, optional
        Window end when the site has no reading yet (default: the clock). [s]
    """
    if site not in sites(store):
        return None
    until = _anchor(store, site) or (time.time() if now is None else now)
    first = _rows(store, "SELECT min(ts) FROM readings WHERE site=?", [site])
    since = until - days * 86400.0
    if first and first[0][0] is not None and first[0][0] > since:
        since = float(first[0][0]) - 60.0  # a site younger than the window: its whole life
    bucket = _bucket_s(until - since, spacing_s=_spacing(store, site, since, until))
    horizons = _horizons(store, site)
    band_h = horizons[0] if horizons else None
    pv = _value_series(store, site, "pv_power", since=since, until=until, bucket=bucket)
    ghi = _value_series(store, site, "ghi", since=since, until=until, bucket=bucket)
    return {
        "site": site, "since": since, "until": until, "bucket_s": bucket,
        "horizons": horizons, "band_horizon_min": band_h,
        "pv": {
            "devices": sorted(pv),
            "measured": _site_sum(pv),
            "band": [] if band_h is None else _band_past(
                store, site, "pv_power", band_h, since=since, until=until + ahead_min * 60),
            "latest": _band_latest(store, site, "pv_power", ahead_min),
        },
        "ghi": {
            "measured": _site_sum(ghi),
            "band": [] if band_h is None else _band_past(
                store, site, "ghi", band_h, since=since, until=until + ahead_min * 60),
            "latest": _band_latest(store, site, "ghi", ahead_min),
        },
        "battery": _battery(store, site, since, until, bucket),
        "skill": site_skill(store, site, since=since, until=until),
        "gateways": [g for g in fleet(store, now=now) if g["site"] == site],
        "alerts": alerts(store, site),
        "rollout": rollout_events(store, site),
    }


# ----------------------------------------------------------------- models


def models(store: Store, *, window_s: float = 7 * 86400.0) -> dict[str, Any]:
    """Which model runs where, shadow results, and the promotion/rollback history.

    Shadow results pool all horizons of P50 PV power per model over the
    ``window_s`` before each site's newest score.
    """
    statuses = _statuses(store)
    running = []
    for s, d, version, sha, blessed, received in _rows(
            store, "SELECT site, device, version, sha256, blessed, received FROM models"
            " WHERE role='active' ORDER BY site, device"):
        running.append({"site": s, "gateway": d, "version": version, "sha256": sha,
                        "blessed": bool(blessed), "since": received,
                        "rollout": rollout_state(store, s, d, statuses.get((s, d), {}))})
    known = {(r["site"], r["gateway"]) for r in running}
    for (s, d), st in sorted(statuses.items()):  # gateways that sent no model message yet
        model = st.get("model") or {}
        if (s, d) not in known and model:
            running.append({"site": s, "gateway": d, "version": model.get("version", ""),
                            "sha256": model.get("sha256", ""), "blessed": None,
                            "since": None, "rollout": rollout_state(store, s, d, st)})
    versions = _versions(store)
    results = []
    for s, newest in _rows(store, "SELECT site, max(period_end) FROM scores GROUP BY site"):
        for m in rolling_metrics(store, s, since=newest - window_s, target="pv_power",
                                 by_horizon=False):
            results.append({"site": s, "gateway": m.device, "model_sha": m.model_sha,
                            "version": versions.get(m.model_sha, ""), "shadow": m.shadow,
                            "n": m.n, "rmse": _finite(m.rmse),
                            "rmse_persistence": _finite(m.rmse_persistence),
                            "skill": _finite(m.skill)})
    return {"running": running, "results": results, "history": rollout_events(store)}


def skill_by_horizon(store: Store, *, window_s: float = 7 * 86400.0) -> list[dict[str, Any]]:
    """Per site, gateway, horizon, model and shadow flag: rolling skill over ``window_s``."""
    versions = _versions(store)
    out = []
    for s, newest in _rows(store, "SELECT site, max(period_end) FROM scores GROUP BY site"):
        for m in rolling_metrics(store, s, since=newest - window_s, target="pv_power"):
            out.append({"site": s, "gateway": m.device, "horizon_min": m.horizon_min,
                        "shadow": m.shadow, "version": versions.get(m.model_sha, ""),
                        "n": m.n, "skill": _finite(m.skill)})
    return out


def to_json_ready(rows: Sequence[Any]) -> list[Any]:
    """Replace NaN with None recursively (JSON has no NaN)."""
    def fix(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: fix(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [fix(v) for v in x]
        return _finite(x)
    return [fix(r) for r in rows]
