"""What the dashboard shows, read from the monitor's store.

Responsible for: small read-only functions, one per thing a page or
``/metrics`` shows, each returning plain JSON-ready values (dicts, lists,
floats; NaN becomes None), built from the store's typed reads (a part an
older store lacks counts as empty there).

Does NOT: query the database itself (see :mod:`trainer.monitor.store`),
write anything, talk HTTP (see :mod:`trainer.monitor.dashboard.server`) or
compute scores (see :mod:`trainer.monitor.scoring`).

Time windows of a site's page end at the site's newest reading, not at the
wall clock, so a site that went quiet still shows its last days and a
simulated or back-filled site shows its own time; they start at the site's
first reading when that is later than the window's start.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from typing import Any

from edge.runtime.contract import parse_time
from trainer.monitor.fleet import fleet_table
from trainer.monitor.plan_scoring import plan_metrics, soc_device
from trainer.monitor.scoring import rolling_metrics
from trainer.monitor.store import MonitorStore, ReadOnlyStore

__all__ = [
    "ROLLOUT_CODES",
    "ReadOnlyStore",
    "alerts",
    "counters",
    "fleet",
    "models",
    "plan_summary",
    "plan_window",
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


def _finite(x: Any) -> Any:
    """NaN/inf -> None (JSON has no NaN)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


# ------------------------------------------------------------------ fleet


def sites(store: MonitorStore) -> list[str]:
    """Every site id the store has heard of."""
    return store.sites()


def _statuses(store: MonitorStore,
              site: str | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r.site, r.device): r.payload for r in store.statuses(site)}


def _last_rollout_event(store: MonitorStore, site: str, gateway: str) -> dict[str, Any] | None:
    rows = store.events(site=site, device=gateway, codes=tuple(_ROLLOUT_STATE), limit=1)
    if not rows:
        return None
    return {"code": rows[0].code, "ts": rows[0].ts, "message": rows[0].message}


def rollout_state(store: MonitorStore, site: str, gateway: str,
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


def fleet(store: MonitorStore, *, now: float | None = None,
          offline_after_s: float = 180.0) -> list[dict[str, Any]]:
    """One row per gateway: state, last seen, loss, model, rollout, 7-day skill, open alerts.

    Open alerts of a site's source devices and of the monitor itself
    (``offline``, drift) count towards the site's gateway.
    """
    now = time.time() if now is None else now
    rows = fleet_table(store, now=now, offline_after_s=offline_after_s)
    statuses = _statuses(store)
    open_alerts = store.open_alert_counts()
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


def rejected_count(store: MonitorStore) -> int:
    """Messages the monitor refused (kept in ``rejected``)."""
    return store.rejected_count()


def counters(store: MonitorStore) -> list[dict[str, Any]]:
    """Per (site, device, stream): stored, duplicates and lost (sequence gaps)."""
    return [dataclasses.asdict(r) for r in store.stream_stats()]


# ------------------------------------------------------------------- site


def _anchor(store: MonitorStore, site: str) -> float | None:
    return store.reading_span(site)[1]


def _bucket_s(span_s: float, points: int = 300, spacing_s: float = 0.0) -> float:
    """A round bucket size: at most about ``points`` buckets over ``span_s``, and at
    least twice the readings' spacing ``spacing_s`` (so every device has a sample in
    most buckets and the site sum exists). [s]"""
    for size in (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400):
        if span_s / size <= points and size >= 2 * spacing_s:
            return float(size)
    return 86400.0


def _spacing(store: MonitorStore, site: str, since: float, until: float) -> float:
    """Mean spacing of the sparsest device's readings in the window. [s]"""
    counts = [n for n in store.reading_counts(site, since, until) if n]
    return (until - since) / min(counts) if counts else 0.0


def _value_series(store: MonitorStore, site: str, name: str, *, since: float, until: float,
                  bucket: float) -> dict[str, list[tuple[float, float]]]:
    """Bucket means of reading value ``name`` per device: ``{device: [(t_mid, mean)]}``."""
    out: dict[str, list[tuple[float, float]]] = {}
    for device, b, v in store.reading_means(site, name, since, until, bucket):
        out.setdefault(device, []).append(((b + 0.5) * bucket, v))
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


def _battery(store: MonitorStore, site: str, since: float, until: float,
             bucket: float) -> dict[str, Any]:
    """SOC [%] and battery power [W] (positive: charging) of the device reporting SOC."""
    soc = _value_series(store, site, "battery_soc", since=since, until=until, bucket=bucket)
    if not soc:
        return {"device": None, "soc": [], "power": []}
    device = sorted(soc)[0]
    rows = store.battery_power(site, device, since, until, bucket)
    return {"device": device, "soc": [[t, s] for t, s in soc[device]],
            "power": [[(b + 0.5) * bucket, float(p)] for b, p in rows if p is not None]}


def _horizons(store: MonitorStore, site: str) -> list[int]:
    return store.forecast_horizons(site)


def _band_past(store: MonitorStore, site: str, target: str, horizon: int, *, since: float,
               until: float) -> list[list[float | None]]:
    """Live P10/P50/P90 of one horizon by period end: ``[[t, p10, p50, p90], ...]``."""
    return [list(r) for r in store.forecast_band(site, target, horizon, since, until)]


def _band_latest(store: MonitorStore, site: str, target: str,
                 max_horizon_min: int) -> dict[str, Any]:
    """The newest live forecast, all horizons up to ``max_horizon_min``."""
    latest = store.latest_forecast(site, target, max_horizon_min)
    if latest is None:
        return {"issue": None, "points": []}
    return {"issue": latest.issue, "device": latest.device,
            "points": [list(p) for p in latest.points]}


def site_skill(store: MonitorStore, site: str, *, since: float, until: float,
               target: str = "pv_power") -> dict[str, Any]:
    """Skill against smart persistence by horizon, live and shadow side by side.

    Returns ``{"bucket_s", "series": [{horizon_min, shadow, points: [[t, skill, n]]}],
    "window": [{horizon_min, shadow, model_sha, version, n, rmse, rmse_persistence,
    skill}]}``; a bucket is an hour when the window is at most two days, a day
    otherwise.
    """
    bucket = 3600.0 if until - since <= 2 * 86400 else 86400.0
    series: dict[tuple[int, int], list[list[Any]]] = {}
    for b, h, sh, n, mf, mp in store.skill_buckets(site, target, since, until, bucket):
        skill = 1.0 - math.sqrt(mf) / math.sqrt(mp) if mp and mp > 0 else None
        series.setdefault((h, sh), []).append([(b + 0.5) * bucket, skill, n])
    versions = store.model_versions()
    window = [
        {"horizon_min": m.horizon_min, "shadow": m.shadow, "model_sha": m.model_sha,
         "version": versions.get(m.model_sha, ""), "n": m.n, "rmse": _finite(m.rmse),
         "rmse_persistence": _finite(m.rmse_persistence), "skill": _finite(m.skill)}
        for m in rolling_metrics(store, site, since=since, until=until, target=target)
    ]
    return {"bucket_s": bucket, "window": window,
            "series": [{"horizon_min": h, "shadow": bool(sh), "points": pts}
                       for (h, sh), pts in sorted(series.items())]}


#: how far back from a plan's issue time the measured SOC is drawn under it [s]
PLAN_PAST_S = 24 * 3600.0
#: window of the rolling plan metrics, back from the site's newest plan score [s]
PLAN_WINDOW_S = 7 * 86400.0


def _pct(values: Any) -> list[float | None]:
    """A plan's SOC list [-] as percent (the unit of the readings and the SOC chart)."""
    out: list[float | None] = []
    for v in values if isinstance(values, list) else []:
        out.append(round(100.0 * float(v), 2) if isinstance(v, int | float) else None)
    return out


def _energy(q: Any) -> dict[str, Any] | None:
    return {k: _finite(q.get(k)) for k in ("p10", "p50", "p90")} if isinstance(q, dict) else None


def plan_window(store: MonitorStore, site: str | None = None) -> dict[str, Any]:
    """Rolling plan figures per site and gateway over :data:`PLAN_WINDOW_S`.

    Returns ``{site: {"since", "until", "horizons": [{gateway, horizon_min, n_soc,
    soc_mae [-], coverage [-], n_load, load_mae [W], load_mae_persistence [W],
    load_skill [-]}], "reserve": [{gateway, n, both, mae_s, bias_s, false_alarms,
    misses, both_p50, mae_p50_s, bias_p50_s, false_alarms_p50, misses_p50}]}}``.
    """
    out: dict[str, Any] = {}
    for s, newest in sorted(store.newest_plan_scores().items()):
        if site is not None and s != site:
            continue
        since = newest - PLAN_WINDOW_S
        rows = [{"gateway": m.device, "horizon_min": m.horizon_min, "n_soc": m.n_soc,
                 "soc_mae": _finite(m.soc_mae), "coverage": _finite(m.coverage),
                 "n_load": m.n_load, "load_mae": _finite(m.load_mae),
                 "load_mae_persistence": _finite(m.load_mae_persistence),
                 "load_skill": _finite(m.load_skill)}
                for m in plan_metrics(store, s, since=since, until=newest)]
        reserve = [{"gateway": r.device, **{k: v for k, v in r._asdict().items()
                                            if k not in ("site", "device")}}
                   for r in store.plan_reserve_stats(s, since=since - 86400.0, until=newest)]
        out[s] = {"since": since, "until": newest, "horizons": rows, "reserve": reserve}
    return out


def plan_summary(store: MonitorStore, site: str, *, until: float | None = None,
                 since: float | None = None) -> dict[str, Any]:
    """The site's newest plan (SOC in percent), the measured SOC around it, and its metrics.

    ``measured`` is the 15-minute mean SOC [%] of the site's SOC device
    (:func:`trainer.monitor.plan_scoring.soc_device`, the one the scores use) from
    :data:`PLAN_PAST_S` before the plan's issue to the newest reading;
    ``past`` the scored P50 SOC 3 h ahead against the measured SOC [%] over
    ``(since, until]`` (how earlier plans did).
    """
    plan = store.latest_plan(site)
    window = plan_window(store, site).get(site, {"horizons": [], "reserve": []})
    if plan is None:
        return {"latest": None, "measured": [], "past": [], **window}
    b = plan.body
    newest = store.reading_span(site)[1]
    end = max(plan.horizon_end, newest or plan.issued)
    device = soc_device(store, site, plan.issued - PLAN_PAST_S, end)
    soc = _value_series(store, site, "battery_soc", since=plan.issued - PLAN_PAST_S,
                        until=end, bucket=900.0)
    measured = soc.get(device, []) if device is not None else []
    fan = b.get("soc") or {}
    latest = {
        "device": plan.device, "issued": plan.issued, "horizon_end": plan.horizon_end,
        "times": [parse_time(t) for t in b.get("period_end") or []],
        "soc": {q: _pct(fan.get(q)) for q in ("p10", "p50", "p90")},
        "reserve": _finite(100.0 * float(b.get("reserve_soc") or 0.0)),
        "reserve_at": parse_time(b.get("reserve_at")),
        "reserve_at_p50": parse_time(b.get("reserve_at_p50")),
        "next_sunrise": parse_time(b.get("next_sunrise")),
        "balance_to_sunrise_wh": _energy(b.get("balance_to_sunrise_wh")),
        "surplus_today_wh": _energy(b.get("surplus_today_wh")),
        "load_method": b.get("load_method"), "pv_method": b.get("pv_method"),
        "spread_source": b.get("spread_source"),
    }
    lo = plan.issued - PLAN_PAST_S if since is None else since
    hi = end if until is None else until
    past = [[p.target_time, None if p.soc_p50 is None else 100.0 * p.soc_p50,
             None if p.soc_actual is None else 100.0 * p.soc_actual]
            for p in store.plan_score_points(site, 180, lo, hi)]
    return {"latest": latest, "measured": [[t, float(v)] for t, v in measured],
            "past": past, **window}


def alerts(store: MonitorStore, site: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Alarm history (open and cleared), newest first."""
    return [dataclasses.asdict(a) for a in store.alerts(site)[:limit]]


def rollout_events(store: MonitorStore, site: str | None = None,
                   limit: int = 200) -> list[dict[str, Any]]:
    """Model and rollout events of the gateways, newest first."""
    return [dataclasses.asdict(e) for e in store.events(site=site, codes=ROLLOUT_CODES,
                                                         limit=limit)]


def site_page(store: MonitorStore, site: str, *, days: float = 2.0, ahead_min: int = 180,
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
    first = store.reading_span(site)[0]
    since = until - days * 86400.0
    if first is not None and first > since:
        since = first - 60.0  # a site younger than the window: its whole life
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
        "plan": plan_summary(store, site, since=since),
        "skill": site_skill(store, site, since=since, until=until),
        "gateways": [g for g in fleet(store, now=now) if g["site"] == site],
        "alerts": alerts(store, site),
        "rollout": rollout_events(store, site),
    }


# ----------------------------------------------------------------- models


def models(store: MonitorStore, *, window_s: float = 7 * 86400.0) -> dict[str, Any]:
    """Which model runs where, shadow results, and the promotion/rollback history.

    Shadow results pool all horizons of P50 PV power per model over the
    ``window_s`` before each site's newest score.
    """
    statuses = _statuses(store)
    running = []
    for active in store.active_models():
        s, d = active.site, active.device
        running.append({"site": s, "gateway": d, "version": active.version,
                        "sha256": active.sha256, "blessed": active.blessed,
                        "since": active.received,
                        "rollout": rollout_state(store, s, d, statuses.get((s, d), {}))})
    known = {(r["site"], r["gateway"]) for r in running}
    for (s, d), st in sorted(statuses.items()):  # gateways that sent no model message yet
        model = st.get("model") or {}
        if (s, d) not in known and model:
            running.append({"site": s, "gateway": d, "version": model.get("version", ""),
                            "sha256": model.get("sha256", ""), "blessed": None,
                            "since": None, "rollout": rollout_state(store, s, d, st)})
    versions = store.model_versions()
    results = []
    for s, newest in store.newest_scores().items():
        for m in rolling_metrics(store, s, since=newest - window_s, target="pv_power",
                                 by_horizon=False):
            results.append({"site": s, "gateway": m.device, "model_sha": m.model_sha,
                            "version": versions.get(m.model_sha, ""), "shadow": m.shadow,
                            "n": m.n, "rmse": _finite(m.rmse),
                            "rmse_persistence": _finite(m.rmse_persistence),
                            "skill": _finite(m.skill)})
    return {"running": running, "results": results, "history": rollout_events(store)}


def skill_by_horizon(store: MonitorStore, *, window_s: float = 7 * 86400.0) -> list[dict[str, Any]]:
    """Per site, gateway, horizon, model and shadow flag: rolling skill over ``window_s``."""
    versions = store.model_versions()
    out = []
    for s, newest in store.newest_scores().items():
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
