"""Clear-sky PV power and sun-up flags of the site on the plan grid, cached per UTC day.

Responsible for: a thin vectorised helper over the project's one PV chain:
:meth:`edge.forecasting.features.DailyGeometry.for_range` (solar position and
Ineichen clear sky, one pvlib call per block of days) and
:func:`edge.forecasting.engine.clear_sky_pv` (transposition, cell
temperature, PVWatts, clipping at the charger limit, at 25 °C air), kept per
UTC day so the 15-minute plan update never calls pvlib.

Does NOT: model clouds (``edge.planning.pv`` does) or hold measurements.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt

from edge.forecasting.features import DailyGeometry, FeatureSpec
from edge.forecasting.reference import clear_sky_pv
from edge.forecasting.site import Site

__all__ = ["ClearSkyCache"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class ClearSkyCache:
    """Clear-sky AC power [W] and sun-up flags per period, by UTC day.

    Parameters
    ----------
    site : Site
    step_s : int
        Period length; must divide a day. [s]
    keep_days : int
        Days kept (older ones are dropped).
    """

    def __init__(self, site: Site, step_s: int, keep_days: int = 40) -> None:
        if step_s % 60 or 86400 % step_s:
            raise ValueError(f"step {step_s} s must be whole minutes dividing a day")
        self.site = site
        self.step_s = step_s
        self.per_day = 86400 // step_s
        self.keep_days = keep_days
        self._spec = FeatureSpec(step_minutes=step_s // 60, horizons_min=(step_s // 60,),
                                 history_steps=1)
        self._days: dict[int, tuple[FloatArray, BoolArray]] = {}
        self._block: tuple[int, int, FloatArray, BoolArray] | None = None  # contiguous days

    def copy(self) -> ClearSkyCache:
        """A copy whose cache of days can grow apart (the day arrays themselves are shared:
        they are replaced, never written in place)."""
        twin = ClearSkyCache(self.site, self.step_s, self.keep_days)
        twin._days = dict(self._days)
        twin._block = self._block
        return twin

    def _fill(self, d0: int, d1: int, keep: tuple[int, int]) -> None:
        """Compute days ``d0..d1`` (epoch day numbers) in one pvlib call."""
        first = dt.datetime.fromtimestamp(d0 * 86400 + self.step_s, dt.UTC)
        last = dt.datetime.fromtimestamp((d1 + 1) * 86400, dt.UTC)
        geo = DailyGeometry.for_range(self.site.site, first, last, self._spec)
        n = (d1 - d0 + 1) * self.per_day
        pv = clear_sky_pv(self.site, geo)[:n]
        up = (geo.zenith[:n] < 90.0)
        for i in range(d1 - d0 + 1):
            sl = slice(i * self.per_day, (i + 1) * self.per_day)
            self._days[d0 + i] = (np.asarray(pv[sl], dtype=np.float64), up[sl].copy())
        newest = max(self._days)
        # drop days past the window, never those of the request being served
        for d in [d for d in self._days
                  if d < newest - self.keep_days and not keep[0] <= d <= keep[1]]:
            del self._days[d]
        self._block = None

    def get(self, k0: int, n: int) -> tuple[FloatArray, BoolArray]:
        """Clear-sky PV [W] and sun-up flags for grid indices ``k0 .. k0+n-1``."""
        d_first = (k0 - 1) // self.per_day
        d_last = (k0 + n - 2) // self.per_day
        blk = self._block
        if blk is None or not blk[0] <= d_first <= d_last <= blk[1]:
            missing = [d for d in range(d_first, d_last + 1) if d not in self._days]
            if missing:
                self._fill(min(missing), max(missing), (d_first, d_last))
            # one contiguous copy of the run of cached days around the request
            lo, hi = d_first, d_last
            while lo - 1 in self._days:
                lo -= 1
            while hi + 1 in self._days:
                hi += 1
            days = range(lo, hi + 1)
            blk = (lo, hi, np.concatenate([self._days[d][0] for d in days]),
                   np.concatenate([self._days[d][1] for d in days]))
            self._block = blk
        off = (k0 - 1) - blk[0] * self.per_day
        return blk[2][off:off + n], blk[3][off:off + n]
