"""The fleet view: one row per gateway, and the offline watch.

Responsible for: combining the stored status (retained heartbeat or Last
Will), stream counters, model and scores into :class:`FleetRow` values and a
plain-text table, and the periodic task that raises/clears ``offline``
alarms.

Does NOT: talk MQTT or write anything but alarms.

A gateway is *online* when its last status says ``online`` and that status
(the agent republishes it every ``heartbeat_s``) was received less than
``offline_after_s`` ago; *offline* when the Last Will (or a clean shutdown)
said so; *silent* when the status says online but the heartbeat stopped
(the broker has not yet noticed a dead link, or the monitor restarted).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from typing import Any

from trainer.monitor.ingest import Alert
from trainer.monitor.scoring import rolling_metrics
from trainer.monitor.store import MonitorStore

__all__ = ["FleetRow", "OfflineWatch", "fleet_table", "format_table"]


@dataclasses.dataclass(frozen=True, slots=True)
class FleetRow:
    """One gateway of the fleet.

    Attributes
    ----------
    site, gateway : str
        Identifiers from the topics.
    state : str
        ``online``, ``offline``, ``silent`` or ``unknown`` (no status yet).
    last_seen : float or None
        Latest receive time of any message from the gateway or its source
        devices, epoch. [s]
    received, lost, duplicates : int
        Sequenced messages stored, missing (sequence gaps) and dropped copies.
    model_version : str
        Active model reported by the gateway.
    skill : float
        Rolling daytime skill of P50 PV power against smart persistence over
        all horizons (NaN when nothing is scored yet). [-]
    devices : dict
        Source device -> health from the status (connected, frames_good,
        checksum_errors, timeouts, reconnects, stale).
    """

    site: str
    gateway: str
    state: str
    last_seen: float | None
    received: int
    lost: int
    duplicates: int
    model_version: str
    skill: float
    devices: dict[str, Any]

    @property
    def loss_fraction(self) -> float:
        """``lost / (received + lost)``. [-]"""
        total = self.received + self.lost
        return self.lost / total if total else 0.0


def _state(state: str, received: float, now: float, offline_after_s: float) -> str:
    if state == "online":
        return "online" if now - received <= offline_after_s else "silent"
    return state or "unknown"


def fleet_table(
    store: MonitorStore,
    *,
    now: float | None = None,
    offline_after_s: float = 180.0,
    skill_window_s: float = 7 * 86400.0,
    site: str | None = None,
) -> list[FleetRow]:
    """The fleet table from the store.

    Parameters
    ----------
    store : MonitorStore
        The monitor's store.
    now : float, optional
        Epoch seconds (default: the system clock). [s]
    offline_after_s : float
        Heartbeat timeout, normally about 3x the agents' ``heartbeat_s``. [s]
    skill_window_s : float
        Rolling window of the skill column, back from the newest score. [s]
    site : str, optional
        Only this site.
    """
    now = time.time() if now is None else now
    streams = store.stream_stats(site)
    statuses = {(r.site, r.device): (r.state, r.received, r.payload)
                for r in store.statuses(site)}
    gateways = set(statuses)
    # sites that send but have no status yet: their gateway-level streams
    gateways |= {(r.site, r.device) for r in streams
                 if r.stream in ("forecast", "events", "model")}
    rows = []
    for s, gw in sorted(gateways):
        state, received, payload = statuses.get((s, gw), ("unknown", 0.0, {}))
        devices = payload.get("devices") or {}
        members = {gw, *devices} if devices else {r.device for r in streams if r.site == s}
        mine = [r for r in streams if r.site == s and r.device in members]
        seen = [r.last_seen for r in mine if r.last_seen is not None]
        rows.append(FleetRow(
            site=s, gateway=gw, state=_state(state, received, now, offline_after_s),
            last_seen=max(seen) if seen else None,
            received=sum(r.received for r in mine if r.stream in ("reading", "forecast",
                                                                    "events")),
            lost=sum(r.lost for r in mine), duplicates=sum(r.duplicates for r in mine),
            model_version=_model_version(store, s, gw, payload),
            skill=_skill(store, s, gw, skill_window_s), devices=devices,
        ))
    return rows


def _model_version(store: MonitorStore, site: str, gw: str, status: dict[str, Any]) -> str:
    rows = store.active_models(site, gw)
    if rows:
        return rows[0].version
    return str((status.get("model") or {}).get("version", ""))


def _skill(store: MonitorStore, site: str, gw: str, window_s: float) -> float:
    newest = store.newest_score(site, gw)
    if newest is None:
        return math.nan
    metrics = [m for m in rolling_metrics(store, site, since=newest - window_s,
                                          target="pv_power", by_horizon=False)
               if m.device == gw and not m.shadow]
    if not metrics:
        return math.nan
    best = max(metrics, key=lambda m: m.n)  # the model that made most of the window
    return best.skill


def _ago(t: float | None, now: float) -> str:
    if t is None:
        return "never"
    s = max(now - t, 0.0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s / size:.0f}{unit} ago"
    return f"{s:.0f}s ago"


def _health(devices: dict[str, Any]) -> str:
    parts = []
    for name, h in sorted(devices.items()):
        flag = "ok" if h.get("connected") and not h.get("stale") else (
            "stale" if h.get("connected") else "down")
        errs = int(h.get("checksum_errors", 0) or 0) + int(h.get("timeouts", 0) or 0)
        parts.append(f"{name}:{flag}" + (f"({errs} err)" if errs else ""))
    return " ".join(parts) or "-"


def format_table(rows: Sequence[FleetRow], *, now: float | None = None) -> str:
    """Plain-text fleet table (one line per gateway)."""
    now = time.time() if now is None else now
    head = ("SITE", "GATEWAY", "STATE", "LAST SEEN", "RECEIVED", "LOST", "LOSS", "DUP",
            "MODEL", "SKILL", "DEVICES")
    lines = [head]
    for r in rows:
        skill = "-" if math.isnan(r.skill) else f"{r.skill:+.2f}"
        lines.append((r.site, r.gateway, r.state, _ago(r.last_seen, now), str(r.received),
                      str(r.lost), f"{100 * r.loss_fraction:.1f}%", str(r.duplicates),
                      r.model_version or "-", skill, _health(r.devices)))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=False)).rstrip()
                     for line in lines)


class OfflineWatch:
    """Periodic task: alarm when a gateway goes offline or silent, clear when back."""

    def __init__(self, store: MonitorStore, *, offline_after_s: float = 180.0) -> None:
        self.store = store
        self.offline_after_s = offline_after_s

    def __call__(self, now: float) -> Sequence[Alert]:
        """Alerts raised or cleared since the last call."""
        out = []
        for row in fleet_table(self.store, now=now, offline_after_s=self.offline_after_s):
            base = {"site": row.site, "device": row.gateway, "code": "offline", "key": ""}
            if row.state in ("offline", "silent"):
                ago = _ago(row.last_seen, now)
                msg = f"{row.site}/{row.gateway} is {row.state} (last seen {ago})"
                if self.store.raise_alert(**base, level="warning", ts=now, message=msg,
                                          data={"state": row.state}):
                    out.append(Alert(row.site, row.gateway, "offline", "warning", msg, now,
                                     {"state": row.state}))
            elif row.state == "online" and self.store.clear_alert(**base, ts=now):
                out.append(Alert(row.site, row.gateway, "offline", "info",
                                 f"{row.site}/{row.gateway} is back online", now, cleared=True))
        return out
