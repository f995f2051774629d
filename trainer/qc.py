"""Quality control of a canonical weather/telemetry frame before training.

Responsible for: rejecting frames that cannot be used (no timestamps, no
GHI, empty, all night) with a :class:`~trainer.data.DataError`, and, row by
row, setting to NaN what must not be learnt from, counting every flag in a
:class:`QCReport`:

``duplicate``
    Repeated timestamps (the first row is kept, the others dropped).
``ghi_limits``, ``dni_limits``, ``dhi_limits``
    Outside the BSRN "physically possible" limits (Long & Shi 2008):
    ``-4 < GHI < 1.5 Sa mu0^1.2 + 100``, ``-4 < DHI < 0.95 Sa mu0^1.2 + 50``,
    ``-4 < DNI < Sa`` (``Sa`` extraterrestrial irradiance, ``mu0`` cosine of
    the zenith). Small negatives within the limit are set to 0.
``closure``
    With all three components and GHI > 50 W/m2: ``GHI / (DHI + DNI cos z)``
    outside [0.92, 1.08] (zenith < 75 deg) or [0.85, 1.15] (75 to 93 deg),
    or ``DHI / GHI`` above 1.05 / 1.10 (QCRad). All three are dropped:
    which one is wrong cannot be told.
``night``
    Sun below the horizon (refraction-corrected zenith > 90 deg): irradiance
    forced to 0.
``temp_limits``, ``pv_limits``
    Air temperature outside [-60, 60] C; PV power negative beyond -10 W or
    (with the array) above 1.2 x its DC capacity.
``curtailed``
    Telemetry rows with the charger in absorption/float/storage/equalize:
    the controller was throttling the array, so ``pv_power`` says nothing
    about the sky; it is set to NaN (irradiance is kept).

Gaps (missing intervals) are counted, not filled. The index is converted to
UTC (naive timestamps are refused: their zone is unknown).

Does NOT: read files, resample, or decide what to train on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from edge.forecasting.solar import clear_sky
from trainer.data import CURTAILING_STATES, DataError
from trainer.linke import with_linke_turbidity

__all__ = ["CURTAILING_STATES", "FLAGS", "QCReport", "quality_control"]

#: Every flag counted, in report order.
FLAGS = ("duplicate", "ghi_limits", "dni_limits", "dhi_limits", "closure", "night",
         "temp_limits", "pv_limits", "curtailed")


@dataclasses.dataclass(frozen=True)
class QCReport:
    """What quality control found.

    Attributes
    ----------
    rows_in, rows_out : int
        Rows before and after (duplicates dropped).
    counts : mapping
        Rows flagged per :data:`FLAGS` entry.
    daytime_rows : int
        Rows with the sun above the horizon.
    gaps : int
        Places where the spacing exceeds 1.5 x the median spacing.
    missing_rows : int
        Rows those gaps would hold at the median spacing.
    spacing_minutes : float
        Median row spacing. [minutes]
    start, end : pandas.Timestamp
        First and last timestamp (UTC).
    """

    rows_in: int
    rows_out: int
    counts: Mapping[str, int]
    daytime_rows: int
    gaps: int
    missing_rows: int
    spacing_minutes: float
    start: pd.Timestamp
    end: pd.Timestamp

    def summary(self) -> str:
        """One line: rows kept and every non-zero flag count."""
        flags = ", ".join(f"{k} {v}" for k, v in self.counts.items() if v and k != "night")
        return (f"{self.rows_out}/{self.rows_in} rows kept ({self.daytime_rows} daytime), "
                f"{self.gaps} gaps ({self.missing_rows} missing rows); "
                f"flagged: {flags or 'none'}")

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def lines(self) -> list[str]:
        """A short human-readable report, one line per item."""
        out = [f"rows: {self.rows_in} in, {self.rows_out} kept "
               f"({self.daytime_rows} daytime), {self.start:%Y-%m-%d %H:%M} .. "
               f"{self.end:%Y-%m-%d %H:%M} UTC, every {self.spacing_minutes:g} min",
               f"gaps: {self.gaps} ({self.missing_rows} missing rows)"]
        out += [f"{name:>12}: {self.counts.get(name, 0)}" for name in FLAGS]
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the bundle manifest)."""
        return {"rows_in": self.rows_in, "rows_out": self.rows_out,
                "counts": dict(self.counts), "daytime_rows": self.daytime_rows,
                "gaps": self.gaps, "missing_rows": self.missing_rows,
                "spacing_minutes": self.spacing_minutes,
                "start": self.start.isoformat(), "end": self.end.isoformat()}


def quality_control(
    frame: pd.DataFrame, site: Any, *, array: Any = None
) -> tuple[pd.DataFrame, QCReport]:
    """Clean a canonical frame (see :mod:`trainer.data`).

    Parameters
    ----------
    frame : pandas.DataFrame
        Timezone-aware index at interval centres; column ``ghi`` [W/m²],
        optional ``dni``, ``dhi`` [W/m²], ``temp_air`` [°C], ``pv_power`` [W],
        ``charge_state``.
    site : edge.forecasting.site.SiteConfig
        Location for the solar geometry.
    array : edge.forecasting.site.ArrayConfig, optional
        Enables the upper PV power limit.

    Returns
    -------
    frame : pandas.DataFrame
        Sorted, unique UTC index; flagged values NaN; ``attrs`` kept.
    report : QCReport

    Raises
    ------
    DataError
        No timestamps, naive timestamps, no ``ghi`` column, non-numeric
        irradiance, no rows, or no daytime rows.
    """
    out = _validated(frame)
    counts = dict.fromkeys(FLAGS, 0)
    rows_in = len(out)
    dup = out.index.duplicated(keep="first")
    counts["duplicate"] = int(dup.sum())
    out = out[~dup].sort_index(kind="stable")
    geo = clear_sky(with_linke_turbidity(site), pd.DatetimeIndex(out.index))
    zen = geo["zenith"].to_numpy(dtype=float)
    mu0 = np.clip(np.cos(np.radians(zen)), 0.0, None)
    extra = geo["dni_extra"].to_numpy(dtype=float)
    _limits(out, counts, mu0, extra)
    _closure(out, counts, zen, mu0)
    night = geo["apparent_zenith"].to_numpy(dtype=float) > 90.0
    lit = [c for c in ("ghi", "dni", "dhi") if c in out.columns]
    counts["night"] = int(night.sum())
    out.loc[night, lit] = 0.0
    _other_limits(out, counts, array)
    spacing, gaps, missing = _gaps(pd.DatetimeIndex(out.index))
    if not (~night & out["ghi"].notna().to_numpy()).any():
        raise DataError("no daytime GHI left: the data is all night or all flagged")
    out.attrs = dict(frame.attrs)
    report = QCReport(rows_in=rows_in, rows_out=len(out), counts=counts,
                      daytime_rows=int((~night).sum()), gaps=gaps, missing_rows=missing,
                      spacing_minutes=spacing, start=out.index[0], end=out.index[-1])
    return out, report


def _validated(frame: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"expected a DataFrame, got {type(frame).__name__}")
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise DataError("the data has no timestamps (index is not a DatetimeIndex)")
    if frame.index.tz is None:
        raise DataError("timestamps have no time zone; convert them to UTC first")
    if "ghi" not in frame.columns:
        raise DataError(f"no 'ghi' column (columns: {list(frame.columns)})")
    if frame.empty:
        raise DataError("no rows")
    out = frame.copy()
    out.index = pd.DatetimeIndex(frame.index.tz_convert("UTC"))
    for col in ("ghi", "dni", "dhi", "temp_air", "pv_power"):
        if col in out.columns and not pd.api.types.is_numeric_dtype(out[col]):
            raise DataError(f"column {col!r} is not numeric")
    return out


def _flag(out: pd.DataFrame, counts: dict[str, int], name: str, bad: np.ndarray,
          cols: tuple[str, ...]) -> None:
    counts[name] += int(bad.sum())
    out.loc[bad, list(cols)] = np.nan


def _limits(out: pd.DataFrame, counts: dict[str, int], mu0: np.ndarray,
            extra: np.ndarray) -> None:
    upper = {"ghi": 1.5 * extra * mu0**1.2 + 100.0, "dhi": 0.95 * extra * mu0**1.2 + 50.0,
             "dni": extra}
    for col, hi in upper.items():
        if col not in out.columns:
            continue
        v = out[col].to_numpy(dtype=float)
        bad = (v <= -4.0) | (v >= hi)
        _flag(out, counts, f"{col}_limits", bad, (col,))
        out.loc[(v < 0.0) & ~bad, col] = 0.0


def _closure(out: pd.DataFrame, counts: dict[str, int], zen: np.ndarray,
             mu0: np.ndarray) -> None:
    if not {"ghi", "dni", "dhi"} <= set(out.columns):
        return
    ghi, dni, dhi = (out[c].to_numpy(dtype=float) for c in ("ghi", "dni", "dhi"))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = ghi / (dhi + dni * mu0)
        diffuse = dhi / ghi
    low_sun = zen >= 75.0
    tol = np.where(low_sun, 0.15, 0.08)
    dmax = np.where(low_sun, 1.10, 1.05)
    checked = (ghi > 50.0) & (zen < 93.0) & np.isfinite(ratio)
    bad = checked & ((np.abs(ratio - 1.0) > tol) | (diffuse > dmax))
    _flag(out, counts, "closure", bad, ("ghi", "dni", "dhi"))


def _other_limits(out: pd.DataFrame, counts: dict[str, int], array: Any) -> None:
    if "temp_air" in out.columns:
        t = out["temp_air"].to_numpy(dtype=float)
        _flag(out, counts, "temp_limits", (t < -60.0) | (t > 60.0), ("temp_air",))
    if "pv_power" not in out.columns:
        return
    p = out["pv_power"].to_numpy(dtype=float)
    hi = 1.2 * float(array.dc_capacity) if array is not None else np.inf
    _flag(out, counts, "pv_limits", (p < -10.0) | (p > hi), ("pv_power",))
    out.loc[out["pv_power"] < 0.0, "pv_power"] = 0.0
    if "charge_state" in out.columns:
        state = out["charge_state"].astype("string").str.strip().str.lower()
        curtailed = state.isin(CURTAILING_STATES).fillna(False).to_numpy(dtype=bool)
        _flag(out, counts, "curtailed", curtailed, ("pv_power",))


def _gaps(idx: pd.DatetimeIndex) -> tuple[float, int, int]:
    if len(idx) < 2:
        return 0.0, 0, 0
    d = np.diff(idx.as_unit("s").asi8).astype(float)
    spacing = float(np.median(d))
    big = d > 1.5 * spacing
    missing = int(np.round(d[big] / spacing).sum() - big.sum()) if spacing > 0 else 0
    return spacing / 60.0, int(big.sum()), missing
