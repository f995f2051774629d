"""Weather and telemetry readers: any file to one canonical, UTC, centred frame.

Responsible for: reading a file with any ``pvlib.iotools`` reader by name
(``--format tmy3`` calls ``pvlib.iotools.read_tmy3``), a plain CSV, or the
``helio`` telemetry export of the monitor; renaming columns to the
canonical names; converting time to UTC; and moving every timestamp to the
*centre* of its averaging interval, so solar geometry computed at the
timestamp matches the data.

Does NOT: quality-control values (:mod:`trainer.qc`), resample to the model
step (:mod:`trainer.dataset`), or download anything.

Canonical frame
---------------
Index: ``DatetimeIndex`` in UTC, sorted, at interval centres (instantaneous
samples keep their time). Columns, when the source has them: ``ghi``,
``dni``, ``dhi`` [W/m²], ``temp_air`` [°C], ``pv_power`` [W] and, for
telemetry, ``charge_state`` (str), ``battery_voltage`` [V]. ``frame.attrs``
and the returned metadata hold ``interval_minutes`` (averaging interval, 0
for instantaneous samples), ``interval_label`` (``"center"``),
``source_interval_label``, ``latitude``, ``longitude``, ``altitude`` and
``location_source`` (``"file"`` or ``"site"``).

Timestamp conventions of the sources (``READERS``)
--------------------------------------------------
==============  ========  =======================================================
format          label     note
==============  ========  =======================================================
tmy3            end       hourly means of the preceding hour; ``coerce_year=1990``
tmy2, epw       start     pvlib moves the file's hour-ending stamp back one hour
srml            start     the file's HHMM (1-2400, local standard time) ends the
                          interval; pvlib moves it back one interval (Etc/GMT+8)
bsrn            start     "time labels denote the start of a time interval"
                          (GCOS-174); LR0100 1-min means, UTC
cams            start     read with ``label="left"``
crn             end       5-min means labelled by the interval end
surfrad, solrad end       1-min means (3-min in older files), UTC; the files' own
                          solar zenith column sits before the stamp, not after
midc            end       1-min means
solaranywhere   center    index is the observation time (middle of the period)
nsrdb_psm4      instant   satellite-derived values at the stamp
pvgis_tmy,      instant   SARAH-based values are instantaneous at the stamp
pvgis_hourly
csv, helio      end       this project's formats (below)
==============  ========  =======================================================

``read_weather(..., interval_label=...)`` overrides the table when a file is
known to differ.

The ``csv`` format
------------------
One header row. ``timestamp`` (ISO 8601; UTC when no offset is given), then
``ghi`` [W/m²] and optionally ``dni``, ``dhi`` [W/m²], ``temp_air`` [°C],
``pv_power`` [W]. Each row is the mean over the interval *ending* at
``timestamp``; the interval is the row spacing. Other columns are ignored.

The ``helio`` format (telemetry exported by ``helio-monitor``)
--------------------------------------------------------------
One header row, one row per site and interval, in this column order::

    timestamp,site_id,ghi,dni,dhi,temp_air,pv_power,pv_voltage,battery_voltage,charge_state,samples

* ``timestamp``: ISO 8601 UTC with ``Z``, END of the averaging interval
  (1 minute by default; the row spacing).
* ``site_id``: the site's id (``[A-Za-z0-9_-]``). A file may hold several
  sites; pass ``site=`` to pick one (else exactly one must be present).
* ``ghi``, ``dni``, ``dhi``: interval means from a pyranometer. [W/m²]
  Empty when the site has none: with ``site=`` a :class:`edge.forecasting.site.Site`,
  ``ghi`` is then derived from ``pv_power`` through the array model
  (:func:`edge.forecasting.forecast.ghi_from_pv_power`; NaN while curtailed or
  clipped), and ``ghi_source`` in the metadata says ``"pv_power"``.
* ``temp_air``: interval mean air temperature. [°C] May be empty.
* ``pv_power``: interval mean PV (charge controller input) power. [W]
* ``pv_voltage``, ``battery_voltage``: interval means. [V] May be empty.
* ``charge_state``: the charger state (``firmware_bridge.readings.CHARGE_STATES``)
  that held for most of the interval; ``absorption``/``float``/... mark
  curtailment, which :mod:`trainer.qc` excludes from PV targets.
* ``samples``: readings averaged into the row (integer, may be empty).

Empty fields are missing values.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pvlib.iotools

from edge.forecasting.forecast import ghi_from_pv_power
from edge.forecasting.site import SiteConfig
from edge.forecasting.solar import clear_sky
from trainer.linke import with_linke_turbidity

__all__ = [
    "CANONICAL_COLUMNS",
    "CURTAILING_STATES",
    "FORMATS",
    "HELIO_COLUMNS",
    "READERS",
    "DataError",
    "ReaderSpec",
    "median_spacing_minutes",
    "read_weather",
    "site_from_metadata",
]

log = logging.getLogger(__name__)

IntervalLabel = Literal["start", "center", "end", "instant"]

#: Canonical numeric weather columns (units in the module docstring).
CANONICAL_COLUMNS = ("ghi", "dni", "dhi", "temp_air", "pv_power")
#: ``charge_state`` values during which the charger curtails the array (PV power
#: then says nothing about the sky).
CURTAILING_STATES = frozenset({"absorption", "float", "storage", "equalize",
                               "repeated_absorption"})
#: Columns of the ``helio`` telemetry CSV, in order.
HELIO_COLUMNS = ("timestamp", "site_id", "ghi", "dni", "dhi", "temp_air", "pv_power",
                 "pv_voltage", "battery_voltage", "charge_state", "samples")


class DataError(ValueError):
    """Input data cannot be used: unreadable, wrong columns, no timestamps, empty."""


def _srml_columns(df: pd.DataFrame) -> pd.DataFrame:
    """SRML names a column by element and instrument (``ghi_0``, ``ghi_2``, ...).

    Each canonical quantity takes the first instrument column, in file
    order, that holds any value (pvlib has already blanked flag-99 values).
    """
    out = df.copy()
    for name in ("ghi", "dni", "dhi", "temp_air"):
        cols = [c for c in df.columns if re.fullmatch(rf"{name}_\d+", str(c))]
        with_data = [c for c in cols if df[c].notna().any()]
        if with_data and name not in df.columns:
            out[name] = df[with_data[0]]
    return out


def _tmy2_columns(df: pd.DataFrame) -> pd.DataFrame:
    out = df.rename(columns={"GHI": "ghi", "DNI": "dni", "DHI": "dhi"})
    out["temp_air"] = df["DryBulb"] / 10.0  # TMY2 stores tenths of a degree
    return out


@dataclasses.dataclass(frozen=True, slots=True)
class ReaderSpec:
    """How to read one pvlib format.

    Attributes
    ----------
    function : str
        Name in ``pvlib.iotools``.
    interval_label : str
        ``start``, ``center``, ``end`` or ``instant``.
    interval_minutes : float or None
        Averaging interval; None = the median row spacing.
    kwargs : mapping
        Extra keyword arguments for the reader.
    fix_columns : callable or None
        Source-specific renaming/unit conversion to canonical columns.
    """

    function: str
    interval_label: IntervalLabel
    interval_minutes: float | None = None
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    fix_columns: Callable[[pd.DataFrame], pd.DataFrame] | None = None


#: format name -> reader (the pvlib function name without ``read_``).
READERS: Mapping[str, ReaderSpec] = {
    "tmy3": ReaderSpec("read_tmy3", "end", 60.0, {"coerce_year": 1990, "map_variables": True}),
    "tmy2": ReaderSpec("read_tmy2", "start", 60.0, fix_columns=_tmy2_columns),
    "epw": ReaderSpec("read_epw", "start", 60.0, {"coerce_year": 1990}),
    "bsrn": ReaderSpec("read_bsrn", "start"),
    "surfrad": ReaderSpec("read_surfrad", "end", kwargs={"map_variables": True}),
    "solrad": ReaderSpec("read_solrad", "end"),
    "midc": ReaderSpec("read_midc", "end"),
    "srml": ReaderSpec("read_srml", "start", kwargs={"map_variables": True},
                       fix_columns=_srml_columns),
    "crn": ReaderSpec("read_crn", "end", 5.0, {"map_variables": True}),
    "cams": ReaderSpec("read_cams", "start", kwargs={"label": "left", "map_variables": True}),
    "solaranywhere": ReaderSpec("read_solaranywhere", "center",
                                kwargs={"map_variables": True}),
    "nsrdb_psm4": ReaderSpec("read_nsrdb_psm4", "instant", kwargs={"map_variables": True}),
    "pvgis_tmy": ReaderSpec("read_pvgis_tmy", "instant", kwargs={"map_variables": True}),
    "pvgis_hourly": ReaderSpec("read_pvgis_hourly", "instant", kwargs={"map_variables": True}),
}

#: Every accepted ``fmt``.
FORMATS: tuple[str, ...] = (*READERS, "csv", "helio")

#: Column names seen in sources that map to canonical names.
_ALIASES: Mapping[str, str] = {
    "GHI": "ghi", "DNI": "dni", "DHI": "dhi", "Temperature": "temp_air",
    "temp": "temp_air", "air_temperature": "temp_air",
    "Global Horizontal [W/m^2]": "ghi", "Direct Normal [W/m^2]": "dni",
    "Diffuse Horizontal [W/m^2]": "dhi", "Air Temperature [deg C]": "temp_air",
    "Global PSP [W/m^2]": "ghi", "Direct NIP [W/m^2]": "dni", "Diffuse PSP [W/m^2]": "dhi",
}


def read_weather(
    path: str | Path,
    fmt: str,
    *,
    site: Any = None,
    interval_label: IntervalLabel | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a weather or telemetry file into the canonical frame.

    Parameters
    ----------
    path : str or Path
        The file.
    fmt : str
        A key of :data:`READERS`, ``"csv"`` or ``"helio"``.
    site : edge.forecasting.site.Site or edge.forecasting.site.SiteConfig, optional
        Location when the file has none (and the site to pick in a
        multi-site ``helio`` file). A full ``Site`` also lets ``helio`` rows
        without GHI derive it from PV power.
    interval_label : str, optional
        Override the format's timestamp convention.

    Returns
    -------
    frame : pandas.DataFrame
        Canonical frame (see the module docstring).
    metadata : dict
        The reader's metadata plus the canonical keys.

    Raises
    ------
    DataError
        Unknown format, unreadable file, no timestamps, no ``ghi`` (and no
        way to derive it), no location, or no rows.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if fmt == "csv":
        frame, label, interval = _read_csv(path), interval_label or "end", None
        meta: dict[str, Any] = {}
    elif fmt == "helio":
        frame, meta = _read_helio(path, site)
        label, interval = interval_label or "end", None
    elif fmt in READERS:
        spec = READERS[fmt]
        frame, meta = _read_pvlib(path, spec)
        label, interval = interval_label or spec.interval_label, spec.interval_minutes
    else:
        raise DataError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    frame = _finish(frame, path, fmt)
    if interval is None:
        interval = median_spacing_minutes(frame.index)
    if label == "instant":
        interval = 0.0
    frame.index = frame.index + pd.Timedelta(minutes=_centre_shift(label, interval))
    meta = {**meta, **_location(meta, site, path)}
    meta.update(format=fmt, interval_minutes=float(interval), interval_label="center",
                source_interval_label=label)
    if fmt == "helio":
        frame, meta = _helio_ghi(frame, meta, site)
    if "ghi" not in frame.columns or frame["ghi"].isna().all():
        raise DataError(f"{path}: no GHI values (columns: {list(frame.columns)})")
    frame.attrs = {k: meta[k] for k in ("interval_minutes", "interval_label",
                                         "source_interval_label", "latitude", "longitude",
                                         "altitude", "location_source", "format")}
    return frame, meta


def _centre_shift(label: str, interval: float) -> float:
    return {"start": interval / 2.0, "end": -interval / 2.0}.get(label, 0.0)


def _read_pvlib(path: Path, spec: ReaderSpec) -> tuple[pd.DataFrame, dict[str, Any]]:
    reader = getattr(pvlib.iotools, spec.function)
    try:
        result = reader(str(path), **spec.kwargs)
    except Exception as exc:  # pvlib raises many kinds on malformed files
        raise DataError(f"{path}: {spec.function} cannot read it: {exc}") from exc
    data, meta = result if isinstance(result, tuple) else (result, {})
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"{path}: {spec.function} returned no table")
    if spec.fix_columns is not None:
        data = spec.fix_columns(data)
    meta = dict(meta) if isinstance(meta, Mapping) else {"metadata": meta}
    # some readers nest the location (PVGIS: inputs.location) or keep it in columns (CRN)
    inputs = meta.get("inputs")
    nests = (meta.get("location"), inputs.get("location") if isinstance(inputs, Mapping) else None)
    for nested in nests:
        if isinstance(nested, Mapping):
            meta = {**nested, **meta}
    for key in ("latitude", "longitude", "elevation"):
        if key not in meta and key in data.columns and data[key].notna().any():
            meta[key] = float(data[key].dropna().iloc[0])
    return data, meta


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        raw = pd.read_csv(path)
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: not a readable CSV: {exc}") from exc
    return _index_by_timestamp(raw, path)


def _index_by_timestamp(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    if "timestamp" not in raw.columns:
        raise DataError(f"{path}: no 'timestamp' column (columns: {list(raw.columns)})")
    try:
        ts = pd.to_datetime(raw["timestamp"], utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: unparseable timestamps: {exc}") from exc
    if ts.isna().any():
        raise DataError(f"{path}: {int(ts.isna().sum())} rows have no timestamp")
    return raw.drop(columns="timestamp").set_index(pd.DatetimeIndex(ts))


def _read_helio(path: Path, site: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    try:
        raw = pd.read_csv(path, dtype={"site_id": str, "charge_state": str})
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: not a readable CSV: {exc}") from exc
    missing = [c for c in ("timestamp", "site_id", "pv_power") if c not in raw.columns]
    if missing:
        raise DataError(f"{path}: helio telemetry needs columns {missing} "
                        f"(layout: {','.join(HELIO_COLUMNS)})")
    ids = sorted(raw["site_id"].dropna().unique())
    want = _site_config(site).id if site is not None else None
    if want is None:
        if len(ids) != 1:
            raise DataError(f"{path}: holds sites {ids}; pass the site to pick one")
        want = ids[0]
    raw = raw[raw["site_id"] == want]
    if raw.empty:
        raise DataError(f"{path}: no rows for site {want!r} (sites: {ids})")
    frame = _index_by_timestamp(raw.drop(columns="site_id"), path)
    return frame, {"site_id": want}


def _helio_ghi(frame: pd.DataFrame, meta: dict[str, Any], site: Any
               ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Fill GHI from PV power when the telemetry has no pyranometer."""
    has_ghi = "ghi" in frame.columns and frame["ghi"].notna().any()
    meta["ghi_source"] = "pyranometer" if has_ghi else "pv_power"
    if has_ghi:
        return frame, meta
    array = getattr(site, "array", None)
    if array is None:
        raise DataError("helio telemetry has no GHI; pass the full Site (with its array) "
                        "to derive GHI from PV power")
    geo = clear_sky(with_linke_turbidity(_site_config(site)), pd.DatetimeIndex(frame.index))
    temp = frame["temp_air"] if "temp_air" in frame.columns else None
    power = frame["pv_power"].to_numpy(dtype=float)
    if "charge_state" in frame.columns:  # a curtailed array says nothing about the sky
        curtailed = frame["charge_state"].isin(CURTAILING_STATES).fillna(False)
        power = np.where(curtailed.to_numpy(dtype=bool), np.nan, power)
    frame = frame.copy()
    frame["ghi"] = ghi_from_pv_power(
        power, geo, array, temp_air=None if temp is None else temp.to_numpy(dtype=float),
    )
    return frame, meta


def _finish(frame: pd.DataFrame, path: Path, fmt: str) -> pd.DataFrame:
    """Canonical columns, numeric types, UTC, sorted; raise if empty."""
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise DataError(f"{path}: the {fmt} reader gave no timestamps")
    if frame.empty:
        raise DataError(f"{path}: no data rows")
    frame = frame.rename(columns={k: v for k, v in _ALIASES.items()
                                  if k in frame.columns and v not in frame.columns})
    keep = [c for c in (*CANONICAL_COLUMNS, "pv_voltage", "battery_voltage", "samples")
            if c in frame.columns]
    out = frame[keep].apply(pd.to_numeric, errors="coerce").astype(float)
    if "charge_state" in frame.columns:
        out["charge_state"] = frame["charge_state"].astype("string").str.strip().str.lower()
    idx = frame.index
    if idx.tz is None:
        log.warning("%s: timestamps carry no time zone; taking them as UTC", path)
        idx = idx.tz_localize("UTC")
    out.index = pd.DatetimeIndex(idx.tz_convert("UTC"), name="time")
    return out.sort_index(kind="stable")


def _site_config(site: Any) -> Any:
    return getattr(site, "site", site)


def _location(meta: Mapping[str, Any], site: Any, path: Path) -> dict[str, Any]:
    lat = _first(meta, ("latitude", "Latitude", "latitude_north", "lat"))
    lon = _first(meta, ("longitude", "Longitude", "longitude_east", "lon"))
    alt = _first(meta, ("altitude", "elevation", "Elevation", "Altitude"))
    if lat is not None and lon is not None:
        return {"latitude": lat, "longitude": lon, "altitude": alt or 0.0,
                "location_source": "file"}
    if site is None:
        raise DataError(f"{path}: the file has no location; pass the site config")
    sc = _site_config(site)
    return {"latitude": float(sc.latitude), "longitude": float(sc.longitude),
            "altitude": float(sc.altitude), "location_source": "site"}


def _first(meta: Mapping[str, Any], keys: tuple[str, ...]) -> float | None:
    for k in keys:
        v = meta.get(k)
        try:
            if v is not None and np.isfinite(float(v)):
                return float(v)
        except (TypeError, ValueError):
            continue
    return None


def median_spacing_minutes(idx: pd.DatetimeIndex) -> float:
    """Median positive spacing of ``idx`` (0 for fewer than two stamps). [minutes]"""
    if len(idx) < 2:
        return 0.0
    d = np.diff(idx.as_unit("s").asi8)
    d = d[d > 0]
    return float(np.median(d)) / 60.0 if d.size else 0.0


def site_from_metadata(metadata: Mapping[str, Any], site: Any = None) -> Any:
    """The :class:`edge.forecasting.site.SiteConfig` to compute geometry for a file's data.

    The file's location when it has one (keeping ``site``'s id and monthly
    Linke turbidity only if ``site`` is at the same place, within 0.05
    degrees), else ``site`` itself.

    Raises
    ------
    DataError
        Neither the metadata nor ``site`` give a location.
    """
    sc = _site_config(site) if site is not None else None
    if metadata.get("location_source") != "file":
        if sc is None:
            raise DataError("no location: the data has none and no site was given")
        return sc
    lat, lon = float(metadata["latitude"]), float(metadata["longitude"])
    alt = float(metadata.get("altitude") or 0.0)
    if sc is not None and abs(sc.latitude - lat) < 0.05 and abs(sc.longitude - lon) < 0.05:
        return sc
    name = str(metadata.get("Name") or metadata.get("City") or metadata.get("name") or "")
    ident = "".join(c if c.isalnum() else "-" for c in name.strip().strip('"').lower())
    return SiteConfig(id=ident.strip("-") or "data-site", latitude=lat, longitude=lon,
                      altitude=alt, timezone="UTC", name=name.strip().strip('"'))
