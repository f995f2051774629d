"""Export a site's stored telemetry as the ``helio`` CSV that ``helio-train fit`` reads.

Responsible for: averaging the readings of one site into fixed intervals
and writing exactly the layout documented in :mod:`trainer.data` (columns
:data:`trainer.data.HELIO_COLUMNS`, timestamp = END of the interval, ISO
8601 UTC with ``Z``, empty fields for missing values).

Does NOT: quality-control (``trainer.qc`` does, using ``charge_state`` to
drop curtailed PV), or invent irradiance: ``ghi``/``dni``/``dhi`` are only
filled from ``ghi``/``dni``/``dhi`` readings (a pyranometer), ``temp_air``
from ``ambient_temperature`` or ``temp_air`` readings.

Per interval ``(end - interval, end]``: ``pv_power`` is the sum over source
devices of each one's mean ``pv_power`` (as in scoring); ``pv_voltage``,
``battery_voltage``, ``charge_state`` (most frequent) and ``samples`` come
from the *PV device*, the source device with the largest total PV power in
the export. Intervals without any reading are left out.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from trainer.data import HELIO_COLUMNS
from trainer.monitor.store import MonitorStore

__all__ = ["export_frame", "write_helio_csv"]

_VALUES = ("pv_power", "pv_voltage", "battery_voltage", "charge_state", "ghi", "dni", "dhi",
           "ambient_temperature", "temp_air")


def _load(store: MonitorStore, site: str, since: float, until: float) -> pd.DataFrame:
    rows = store.reading_values(site, _VALUES, since, until)
    frame = pd.DataFrame([(r.device, r.ts, *r.values) for r in rows],
                         columns=["device", "ts", *_VALUES])
    for v in _VALUES:
        if v != "charge_state":
            frame[v] = pd.to_numeric(frame[v], errors="coerce")
    return frame


def _mode(s: pd.Series) -> str | None:
    s = s.dropna()
    return str(s.mode().iloc[0]) if len(s) else None


def export_frame(
    store: MonitorStore, site: str, *, since: float, until: float, interval_s: float = 60.0
) -> pd.DataFrame:
    """The helio rows of ``site`` for intervals ending in ``(since, until]``.

    Parameters
    ----------
    store : MonitorStore
        The monitor's store.
    site : str
        Site id.
    since, until : float
        Epoch seconds. [s]
    interval_s : float
        Averaging interval. [s]

    Returns
    -------
    pandas.DataFrame
        Columns :data:`trainer.data.HELIO_COLUMNS` (``timestamp`` as text).
    """
    raw = _load(store, site, since - interval_s, until)
    if raw.empty:
        return pd.DataFrame(columns=list(HELIO_COLUMNS))
    raw["end"] = np.ceil(raw["ts"].to_numpy(dtype=float) / interval_s) * interval_s
    raw = raw[(raw["end"] > since) & (raw["end"] <= until)]
    totals = raw.groupby("device")["pv_power"].sum(min_count=1).dropna()
    per_dev = raw.groupby(["end", "device"])["pv_power"].mean().unstack()
    out = pd.DataFrame(index=pd.Index(sorted(raw["end"].unique()), name="end"))
    out["pv_power"] = per_dev.sum(axis=1, min_count=1) if not per_dev.empty else np.nan
    pv_dev = raw[raw["device"] == totals.idxmax()] if len(totals) else raw.iloc[0:0]
    g = pv_dev.groupby("end")
    out["pv_voltage"] = g["pv_voltage"].mean()
    out["battery_voltage"] = g["battery_voltage"].mean()
    out["charge_state"] = g["charge_state"].agg(_mode)
    out["samples"] = g["ts"].count()
    every = raw.groupby("end")
    for name in ("ghi", "dni", "dhi"):
        out[name] = every[name].mean()
    out["temp_air"] = every["ambient_temperature"].mean().fillna(every["temp_air"].mean())
    out["site_id"] = site
    out["timestamp"] = pd.to_datetime(out.index.to_numpy(), unit="s", utc=True).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    out["samples"] = out["samples"].astype("Int64")
    return out.reset_index(drop=True)[list(HELIO_COLUMNS)]


def write_helio_csv(
    store: MonitorStore, site: str, out: str | Path, *, since: float, until: float = math.inf,
    interval_s: float = 60.0,
) -> int:
    """Write the helio CSV of ``site`` to ``out``; returns the number of rows."""
    if not math.isfinite(until):
        until = store.reading_span(site)[1] or since
    frame = export_frame(store, site, since=since, until=until, interval_s=interval_s)
    frame.to_csv(out, index=False, float_format="%.6g", na_rep="")
    return len(frame)
