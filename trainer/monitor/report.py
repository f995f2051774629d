"""HTML (or PNG) report of one site: forecast against actual, skill, fleet state, alarms.

Responsible for: the figures (matplotlib, Agg backend, no display) and a
self-contained HTML page with the PNGs embedded as base64.

Does NOT: score (it reads :mod:`trainer.monitor.scoring` results) or fetch
anything.
"""

from __future__ import annotations

import base64
import html
import io
import math
import time
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from trainer.monitor.fleet import fleet_table, format_table
from trainer.monitor.scoring import rolling_metrics
from trainer.monitor.store import MonitorStore, ScoredPoint

__all__ = ["forecast_figure", "render_html", "skill_figure", "write_report"]


def _points(store: MonitorStore, site: str, horizon: int, since: float,
            target: str) -> pd.DataFrame:
    rows = store.scored_points(site, target, horizon, since)
    frame = pd.DataFrame(rows, columns=ScoredPoint._fields)
    frame.index = pd.to_datetime(frame["period_end"], unit="s", utc=True)
    return frame


def forecast_figure(store: MonitorStore, site: str, *, horizons: Sequence[int], since: float,
                    target: str = "pv_power") -> Figure:
    """Forecast P50 with its P10-P90 band against the actual, one panel per horizon."""
    fig, axes = plt.subplots(len(horizons), 1, figsize=(10, 2.8 * len(horizons)),
                             squeeze=False, sharex=True)
    for ax, h in zip(axes[:, 0], horizons, strict=True):
        pts = _points(store, site, h, since, target)
        live = pts[pts["shadow"] == 0]
        if not live.empty:
            ax.fill_between(live.index, live["p10"], live["p90"], alpha=0.25, step="mid",
                            label="P10-P90")
            ax.plot(live.index, live["p50"], ".", ms=3, label="forecast P50")
            ax.plot(live.index, live["persistence"], "x", ms=2, alpha=0.5,
                    label="smart persistence")
        ax.plot(pts.index, pts["actual"], "k.", ms=2, label="actual")
        shadow = pts[pts["shadow"] == 1]
        if not shadow.empty:
            ax.plot(shadow.index, shadow["p50"], "+", ms=3, label="shadow model P50")
        ax.set_ylabel(f"{target} [{'W' if target == 'pv_power' else 'W/m2'}]")
        ax.set_title(f"{site}: {h} min ahead (daytime periods)", fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def skill_figure(store: MonitorStore, site: str, *, since: float,
                 target: str = "pv_power") -> Figure:
    """RMSE (forecast and smart persistence) and skill by horizon, live models."""
    ms = [m for m in rolling_metrics(store, site, since=since, target=target) if not m.shadow]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.2))
    for sha in sorted({m.model_sha for m in ms}):
        mine = sorted((m for m in ms if m.model_sha == sha), key=lambda m: m.horizon_min)
        h = [m.horizon_min for m in mine]
        a1.plot(h, [m.rmse for m in mine], "o-", label=f"model {sha[:8]}")
        a1.plot(h, [m.rmse_persistence for m in mine], "s--", label="smart persistence")
        a2.plot(h, [m.skill for m in mine], "o-", label=f"model {sha[:8]}")
    a1.set(xlabel="horizon [min]", ylabel="RMSE", title="daytime RMSE")
    a2.axhline(0.0, color="k", lw=0.8)
    a2.set(xlabel="horizon [min]", ylabel="skill [-]", title="skill vs smart persistence")
    for ax in (a1, a2):
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _horizons(store: MonitorStore, site: str) -> list[int]:
    hs = store.score_horizons(site)
    if len(hs) <= 2:
        return hs or [15]
    return [hs[0], hs[len(hs) // 2], hs[-1]]


def render_html(store: MonitorStore, site: str, *, days: float = 7.0,
                now: float | None = None) -> str:
    """The report page of ``site`` over the last ``days`` of scores."""
    now = time.time() if now is None else now
    newest = store.newest_score(site)
    since = (newest or now) - days * 86400
    figs = [_png(forecast_figure(store, site, horizons=_horizons(store, site), since=since)),
            _png(skill_figure(store, site, since=since))]
    rows = fleet_table(store, now=now, site=site)
    metrics = [m for m in rolling_metrics(store, site, since=since) if not m.shadow]
    alerts = store.alerts(site)[:50]
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(site)}</title>"
             "<style>body{font-family:sans-serif;margin:1em}td,th{padding:2px 8px;"
             "border-bottom:1px solid #ddd;font-size:12px}</style></head><body>",
             f"<h1>Helio Edge site {esc(site)}</h1>",
             f"<p>Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(now))}; "
             f"scores over the {days:g} days up to the newest scored period.</p>",
             "<h2>Gateways</h2><pre>" + esc(format_table(rows, now=now)) + "</pre>",
             "<h2>Forecast against actual</h2>"]
    parts += [f"<img alt='figure' src='data:image/png;base64,{base64.b64encode(p).decode()}'>"
              for p in figs]
    parts.append("<h2>Rolling daytime metrics</h2><table><tr><th>device</th><th>target</th>"
                 "<th>horizon [min]</th><th>model</th><th>n</th><th>RMSE</th>"
                 "<th>RMSE persistence</th><th>skill</th></tr>")
    for m in metrics:
        skill = "-" if math.isnan(m.skill) else f"{m.skill:+.2f}"
        parts.append(f"<tr><td>{esc(m.device)}</td><td>{m.target}</td><td>{m.horizon_min}</td>"
                     f"<td>{esc(m.model_sha[:12])}</td><td>{m.n}</td><td>{m.rmse:.1f}</td>"
                     f"<td>{m.rmse_persistence:.1f}</td><td>{skill}</td></tr>")
    parts.append("</table><h2>Alarms</h2><table><tr><th>raised</th><th>state</th>"
                 "<th>code</th><th>message</th></tr>")
    for a in alerts:
        state = "open" if a.cleared is None else "cleared"
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(a.raised))
        parts.append(f"<tr><td>{when}</td><td>{state}</td><td>{esc(a.code)}</td>"
                     f"<td>{esc(a.message)}</td></tr>")
    parts.append("</table></body></html>")
    return "\n".join(parts)


def write_report(store: MonitorStore, site: str, out: str | Path, *, days: float = 7.0) -> Path:
    """Write ``out``: a self-contained HTML page, or the forecast figure for ``.png``."""
    path = Path(out)
    if path.suffix.lower() == ".png":
        newest = store.newest_score(site)
        since = (newest or time.time()) - days * 86400
        path.write_bytes(_png(forecast_figure(store, site, horizons=_horizons(store, site),
                                              since=since)))
    else:
        path.write_text(render_html(store, site, days=days), encoding="utf-8")
    return path


