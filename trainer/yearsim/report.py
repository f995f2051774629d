"""Plan accuracy of a year simulation: metrics, the text table and the JSON report.

Responsible for: scoring a :class:`~trainer.yearsim.runner.Record` against
what happened, and against the naive plan (yesterday's measured load and
delivered PV repeated through the same battery model), with these
definitions (decided before any result was seen; the goals are the issue's
and are reported, never tuned to):

scored issues
    plans issued from the end of the first simulated day on (the naive plan
    needs yesterday), and only at horizons whose truth is inside the run.
SOC P50 MAE at h
    mean ``|P50 SOC(issue + h) - true SOC(issue + h)|`` [-], h = 1, 3, 12, 24 h.
coverage
    share of (issue, step) pairs over the 24 h ahead (and at 3/12/24 h) with
    ``P10 <= true SOC <= P90``; the goal is 0.75-0.85 (the nominal 0.8).
time to reserve
    for issues whose true SOC is above the reserve: the first step within
    24 h at which the true SOC is at or below the reserve (an *event*)
    against the plan's ``reserve_at`` (P10) and ``reserve_at_p50`` (and the
    naive plan's first step at or below it). *hit*: both within 24 h, the
    error is ``plan - true`` [h] (negative = warned early); *missed*: the
    truth reached it, the plan said not within 24 h; *false alarm*: the
    plan said so, the truth did not.
load skill
    ``1 - MAE(plan load P50) / MAE(persistence)`` over the 24 h ahead,
    persistence being the measured load at the same time yesterday (which
    is also the naive plan's load).
day-ahead PV skill
    over the steps beyond the bundle's 3 h (3-24 h ahead): the plan's
    potential PV P50 against the true potential, ``1 - MAE / MAE(baseline)``
    with the baselines persistence of yesterday (the true potential 24 h
    earlier: stronger than anything the device measures while curtailed)
    and climatology (the mean true potential at that time of day over the
    previous 28 days). Delivered PV is scored the same way against the
    measured delivered PV of yesterday (the naive plan's PV).

Does NOT: simulate (``runner``).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from trainer.yearsim.runner import HORIZON_STEPS, Record

__all__ = ["GOAL_COVERAGE", "GOAL_LOAD_SKILL", "GOAL_SOC_BELOW_NAIVE", "format_table", "score",
           "to_json"]

#: The issue's goals: SOC P50 MAE at 12 h this share below the naive plan's [-],
#: the P10-P90 coverage band [-], and load skill above this [-].
GOAL_SOC_BELOW_NAIVE = 0.25
GOAL_COVERAGE = (0.75, 0.85)
GOAL_LOAD_SKILL = 0.0
_DAY = 96
_HOURS = (1, 3, 12, 24)
_CLIM_DAYS = 28
FloatArray = npt.NDArray[np.float64]


def _f(x: float, nd: int = 4) -> float | None:
    """Rounded, JSON-safe (None for NaN)."""
    return round(float(x), nd) if math.isfinite(x) else None


def _at(series: FloatArray, idx: npt.NDArray[np.int64]) -> FloatArray:
    """``series[idx]`` with NaN where ``idx`` is outside the run."""
    ok = (idx >= 0) & (idx < series.size)
    out = np.full(idx.shape, np.nan)
    out[ok] = series[idx[ok]]
    return out


def _mae(err: FloatArray) -> float:
    e = err[np.isfinite(err)]
    return float(np.mean(np.abs(e))) if e.size else math.nan


def _skill(model: FloatArray, base: FloatArray) -> tuple[float, float, float]:
    """(MAE model, MAE baseline, skill) over the pairs where both exist."""
    ok = np.isfinite(model) & np.isfinite(base)
    m, b = _mae(model[ok]), _mae(base[ok])
    return m, b, (1.0 - m / b) if b > 0 else math.nan


def _bias(err: FloatArray) -> float:
    e = err[np.isfinite(err)]
    return float(np.mean(e)) if e.size else math.nan


def _climatology(series: FloatArray) -> FloatArray:
    """Mean of ``series`` at the same time of day over the previous 28 days."""
    n = series.size
    out = np.full(n, np.nan)
    for j in range(_DAY, n):
        past = series[max(j - _CLIM_DAYS * _DAY, j % _DAY):j:_DAY]
        past = past[np.isfinite(past)]
        if past.size:
            out[j] = past.mean()
    return out


def _first_at_or_below(values: FloatArray, reserve: float) -> npt.NDArray[np.int64]:
    """First 1-based column per row with ``value <= reserve``; 0 where none."""
    below = values <= reserve
    first = np.argmax(below, axis=1) + 1
    return np.where(below.any(axis=1), first, 0).astype(np.int64)


def _reserve_stats(true_k: npt.NDArray[np.int64], plan_k: npt.NDArray[np.int64]) -> dict[str, Any]:
    hit = (true_k > 0) & (plan_k > 0)
    err_h = (plan_k[hit] - true_k[hit]) * 0.25
    return {
        "events": int((true_k > 0).sum()),
        "hits": int(hit.sum()),
        "missed": int(((true_k > 0) & (plan_k == 0)).sum()),
        "false_alarms": int(((true_k == 0) & (plan_k > 0)).sum()),
        "mae_h": _f(float(np.mean(np.abs(err_h))) if err_h.size else math.nan, 2),
        "bias_h": _f(float(np.mean(err_h)) if err_h.size else math.nan, 2),
    }


def score(rec: Record) -> dict[str, Any]:
    """Every metric of the report as a JSON-ready dict."""
    n = rec.n
    issues = np.arange(n)
    k = np.arange(1, HORIZON_STEPS + 1)
    idx = issues[:, None] + k[None, :]
    scored = (issues >= _DAY)[:, None] & (idx < n)
    truth = np.where(scored, _at(rec.truth_soc, idx), np.nan)
    soc = {q: rec.soc[q].astype(float) for q in rec.soc}
    naive = rec.naive.astype(float)

    soc_out: dict[str, Any] = {}
    for h in _HOURS:
        c = 4 * h - 1
        plan_mae = _mae(soc["p50"][:, c] - truth[:, c])
        naive_mae = _mae(naive[:, c] - truth[:, c])
        soc_out[f"{h}h"] = {
            "plan_mae": _f(plan_mae), "naive_mae": _f(naive_mae),
            "below_naive": _f(1.0 - plan_mae / naive_mae if naive_mae > 0 else math.nan, 3),
        }

    inside = (soc["p10"] <= truth) & (truth <= soc["p90"])
    have = np.isfinite(truth) & np.isfinite(soc["p10"]) & np.isfinite(soc["p90"])
    coverage = {"24h_ahead": _f(float(inside[have].mean()) if have.any() else math.nan, 3)}
    for h in (3, 12, 24):
        c = 4 * h - 1
        coverage[f"{h}h"] = _f(float(inside[have[:, c], c].mean()) if have[:, c].any()
                               else math.nan, 3)
    width = np.where(have, soc["p90"] - soc["p10"], np.nan)
    coverage["mean_width"] = _f(float(np.nanmean(width)) if have.any() else math.nan, 3)

    # time to reserve, within 24 h, for issues above the reserve with a full day of truth
    ok = (issues >= _DAY) & (issues + HORIZON_STEPS < n) & (rec.truth_soc > rec.reserve_soc)
    true_k = _first_at_or_below(truth[ok], rec.reserve_soc)
    reserve = {
        "reserve_soc": rec.reserve_soc,
        "issues": int(ok.sum()),
        "p10": _reserve_stats(true_k, rec.reserve_k["p10"][ok].astype(np.int64)),
        "p50": _reserve_stats(true_k, rec.reserve_k["p50"][ok].astype(np.int64)),
        "naive": _reserve_stats(true_k, _first_at_or_below(naive[ok], rec.reserve_soc)),
    }

    load_truth = np.where(scored, _at(rec.truth_load, idx), np.nan)
    persistence = np.where(scored, _at(rec.meas_load, idx - _DAY), np.nan)
    lm, lb, ls = _skill(rec.load_p50.astype(float) - load_truth, persistence - load_truth)
    load = {"plan_mae_w": _f(lm, 1), "persistence_mae_w": _f(lb, 1), "skill": _f(ls, 3)}

    beyond = scored & (k[None, :] > 12)  # beyond the bundle's 3 h
    pot_truth = np.where(beyond, _at(rec.truth_pv_potential, idx), np.nan)
    pot_plan = rec.pv_potential_p50.astype(float) - pot_truth
    pm, pb, ps = _skill(pot_plan, _at(rec.truth_pv_potential, idx - _DAY) - pot_truth)
    _, cb, cs = _skill(pot_plan, _at(_climatology(rec.truth_pv_potential), idx) - pot_truth)
    del_truth = np.where(beyond, _at(rec.truth_pv, idx), np.nan)
    dm, db, ds = _skill(rec.pv_p50.astype(float) - del_truth,
                        _at(rec.meas_pv, idx - _DAY) - del_truth)
    pv = {
        "potential": {"plan_mae_w": _f(pm, 1), "plan_bias_w": _f(_bias(pot_plan), 1),
                      "persistence_mae_w": _f(pb, 1),
                      "skill_vs_persistence": _f(ps, 3), "climatology_mae_w": _f(cb, 1),
                      "skill_vs_climatology": _f(cs, 3)},
        "delivered": {"plan_mae_w": _f(dm, 1), "yesterday_mae_w": _f(db, 1),
                      "skill_vs_yesterday": _f(ds, 3)},
    }

    cov = coverage["24h_ahead"]
    below12 = soc_out["12h"]["below_naive"]
    lo, hi = GOAL_COVERAGE
    goals = {
        "soc_mae_12h_below_naive": {
            "goal": f">= {GOAL_SOC_BELOW_NAIVE}", "value": below12,
            "met": below12 is not None and below12 >= GOAL_SOC_BELOW_NAIVE},
        "coverage": {"goal": f"{lo}-{hi}", "value": cov,
                     "met": cov is not None and lo <= cov <= hi},
        "load_skill": {"goal": f"> {GOAL_LOAD_SKILL}", "value": load["skill"],
                       "met": load["skill"] is not None and load["skill"] > GOAL_LOAD_SKILL},
    }
    cpu = np.asarray(rec.plan_cpu_ms) if rec.plan_cpu_ms else np.array([math.nan])
    days = n / _DAY
    return {
        "days": days,
        "start": rec.start.isoformat().replace("+00:00", "Z"),
        "scored_issues": int((issues >= _DAY).sum()),
        "soc_p50_mae": soc_out,
        "coverage_p10_p90": coverage,
        "time_to_reserve": reserve,
        "load": load,
        "pv_day_ahead": pv,
        "goals": goals,
        "methods": {"load": dict(rec.load_methods), "pv": dict(rec.pv_methods)},
        "battery": {"capacity_wh_end": _f(float(rec.capacity_wh[-1]), 1),
                    "capacity_source_end": rec.capacity_source},
        "truth": {
            "load_wh_per_day": _f(float(np.nansum(rec.truth_load)) * 0.25 / days, 1),
            "pv_wh_per_day": _f(float(np.nansum(rec.truth_pv)) * 0.25 / days, 1),
            "pv_potential_wh_per_day": _f(float(np.nansum(rec.truth_pv_potential)) * 0.25
                                          / days, 1),
            "soc_min": _f(float(np.nanmin(rec.truth_soc)), 3),
            "hours_at_or_below_reserve": _f(float((rec.truth_soc <= rec.reserve_soc).sum())
                                            * 0.25, 2),
            "grid_hours_per_day": _f(float(rec.truth_grid.sum()) * 0.25 / days, 2),
        },
        "cost": {"wall_s": _f(rec.wall_s, 1),
                 "plan_update_cpu_ms_mean": _f(float(np.mean(cpu)), 2),
                 "plan_update_cpu_ms_p95": _f(float(np.percentile(cpu, 95)), 2),
                 "plan_update_cpu_ms_max": _f(float(np.max(cpu)), 2)},
    }


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100.0 * x:+.0f} %"


def _num(x: float | None, fmt: str = "{:.3f}") -> str:
    return "n/a" if x is None else fmt.format(x)


def format_table(head: str, report: dict[str, Any]) -> str:
    """The report as a text table (``head`` is its first line)."""
    rows: list[tuple[str, str, str, str]] = []
    for h, m in report["soc_p50_mae"].items():
        below = m["below_naive"]
        rows.append((f"SOC P50 MAE {h:>3} [-]", _num(m["plan_mae"]), _num(m["naive_mae"]),
                     f"{_pct(None if below is None else -below)} vs naive"))
    cov = report["coverage_p10_p90"]
    rows.append(("SOC P10-P90 coverage, 24 h [-]", _num(cov["24h_ahead"]), "-",
                 f"3 h {_num(cov['3h'])}, 12 h {_num(cov['12h'])}, 24 h {_num(cov['24h'])}; "
                 f"width {_num(cov['mean_width'])}"))
    ttr = report["time_to_reserve"]
    for q in ("p50", "p10"):
        s, nv = ttr[q], ttr["naive"]
        rows.append((f"time to reserve {q.upper()} MAE [h]", _num(s["mae_h"], "{:.2f}"),
                     _num(nv["mae_h"], "{:.2f}"),
                     f"bias {_num(s['bias_h'], '{:+.2f}')} h; events {s['events']}, hits "
                     f"{s['hits']}, missed {s['missed']}, false alarms {s['false_alarms']}"
                     f" (naive {nv['hits']}/{nv['missed']}/{nv['false_alarms']})"))
    ld = report["load"]
    rows.append(("load MAE, 24 h [W]", _num(ld["plan_mae_w"], "{:.0f}"),
                 _num(ld["persistence_mae_w"], "{:.0f}"),
                 f"skill vs persistence {_num(ld['skill'])}"))
    pot = report["pv_day_ahead"]["potential"]
    rows.append(("PV potential MAE, 3-24 h [W]", _num(pot["plan_mae_w"], "{:.0f}"),
                 _num(pot["persistence_mae_w"], "{:.0f}"),
                 f"skill vs yesterday {_num(pot['skill_vs_persistence'])}, vs climatology "
                 f"{_num(pot['skill_vs_climatology'])} ({_num(pot['climatology_mae_w'], '{:.0f}')}"
                 f" W); plan bias {_num(pot['plan_bias_w'], '{:+.0f}')} W"))
    dl = report["pv_day_ahead"]["delivered"]
    rows.append(("PV delivered MAE, 3-24 h [W]", _num(dl["plan_mae_w"], "{:.0f}"),
                 _num(dl["yesterday_mae_w"], "{:.0f}"),
                 f"skill vs yesterday {_num(dl['skill_vs_yesterday'])}"))
    widths = [max(len(r[i]) for r in [*rows, ("metric", "plan", "naive", "")]) for i in range(3)]
    lines = [head, f"{'metric':<{widths[0]}}  {'plan':>{widths[1]}}  {'naive':>{widths[2]}}  notes"]
    lines += [f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c:>{widths[2]}}  {d}" for a, b, c, d in rows]
    lines.append("goals (reported, not tuned to): " + "; ".join(
        f"{name} {g['goal']}: {'met' if g['met'] else 'MISSED'} ({g['value']})"
        for name, g in report["goals"].items()))
    t, cost, meth = report["truth"], report["cost"], report["methods"]
    lines.append(f"truth: load {t['load_wh_per_day']} Wh/d, PV delivered {t['pv_wh_per_day']} "
                 f"of {t['pv_potential_wh_per_day']} Wh/d, min SOC {t['soc_min']}, "
                 f"{t['hours_at_or_below_reserve']} h at/below reserve, grid "
                 f"{t['grid_hours_per_day']} h/d")
    lines.append(f"device: load methods {meth['load']}, PV methods {meth['pv']}, battery "
                 f"{report['battery']['capacity_wh_end']} Wh "
                 f"({report['battery']['capacity_source_end']}); plan update CPU mean "
                 f"{cost['plan_update_cpu_ms_mean']} ms, p95 {cost['plan_update_cpu_ms_p95']} ms, "
                 f"max {cost['plan_update_cpu_ms_max']} ms;"
                 f" wall {cost['wall_s']} s")
    return "\n".join(lines)


def to_json(report: dict[str, Any]) -> str:
    """The report as JSON text (strict: no NaN)."""
    return json.dumps(report, indent=2, sort_keys=True, allow_nan=False)
