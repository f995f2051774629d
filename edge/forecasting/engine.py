"""The forecast step: measured PV -> irradiance history -> features -> model -> forecast.

Responsible for: holding the running model behind one seam
(:class:`ModelHolder`: ``.bundle``, ``.predictor``, ``.manifest``,
``.reload()``, ``.swap()``; the rollout hooks in here), precomputing
the day's solar geometry and clear-sky PV power once per UTC day, turning
the mean PV power of each period into an estimated GHI (clear-sky index of
the array times clear-sky GHI; periods when the charger curtails are
invalid; the clear-sky PV and the clip come from
:mod:`edge.forecasting.reference`), and one forecast per issue time through
:mod:`edge.forecasting.features`, the predictor and :mod:`edge.forecasting.forecast`.

Does NOT: poll devices, publish, or decide when to forecast.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from edge.forecasting.bundle import Bundle
from edge.forecasting.energy import energy_outlook
from edge.forecasting.features import DailyGeometry, FeatureSpec, compute_features
from edge.forecasting.forecast import ForecastPhysics
from edge.forecasting.reference import CLIP_MARGIN, KT_MAX, USABLE_FRACTION, clear_sky_pv
from edge.forecasting.site import Site

__all__ = [
    "CURTAILED_STATES",
    "ForecastEngine",
    "ForecastResult",
    "ModelHolder",
    "PredictorLike",
]

#: Charger states in which PV power follows the battery, not the sky.
CURTAILED_STATES = frozenset({"absorption", "float", "storage", "equalize"})


class PredictorLike(Protocol):
    """What the engine needs from :class:`edge.forecasting.predictor.Predictor`."""

    def predict(self, features: Any, out: Any = None) -> npt.NDArray[np.float32]: ...


class ModelHolder:
    """The running model: one place to load, reload and swap it.

    Parameters
    ----------
    load : callable
        ``load() -> Bundle``, verifying (``edge.forecasting.bundle.load_bundle`` with the
        configured path and key); raises ``BundleError``.
    make_predictor : callable
        ``make_predictor(bundle) -> Predictor``.
    """

    def __init__(
        self,
        load: Callable[[], Bundle],
        make_predictor: Callable[[Bundle], PredictorLike],
    ) -> None:
        self._load = load
        self._make_predictor = make_predictor
        self.bundle: Bundle
        self.predictor: PredictorLike
        self.spec: FeatureSpec
        self.swap(load())

    def swap(self, bundle: Bundle) -> None:
        """Run ``bundle`` from now on (already verified)."""
        predictor = self._make_predictor(bundle)
        spec = FeatureSpec.from_dict(bundle.manifest["features"])
        self.bundle, self.predictor, self.spec = bundle, predictor, spec

    def load_configured(self) -> Bundle:
        """Load and verify the configured bundle without running it."""
        return self._load()

    def reload(self) -> Bundle:
        """Load the configured bundle again; on error the old model keeps running."""
        bundle = self._load()
        self.swap(bundle)
        return bundle

    @property
    def manifest(self) -> Mapping[str, Any]:
        """The running bundle's manifest."""
        return self.bundle.manifest

    @property
    def version(self) -> str:
        """Model version label."""
        return self.bundle.version

    @property
    def sha256(self) -> str:
        """SHA-256 of the running model file."""
        return self.bundle.sha256


@dataclass(frozen=True, slots=True)
class ForecastResult:
    """One forecast, ready for :func:`edge.runtime.messages.forecast_message`.

    Attributes
    ----------
    issue_time : datetime
        End of the last measured period (UTC).
    horizons_min : tuple of int
        [minutes]
    quantiles : mapping
        ``ghi``/``dni``/``dhi`` [W/m²] and ``pv_power`` [W]: per horizon
        ``(p10, p50, p90)``.
    inputs_stale : bool
        The PV source gave no fresh measurement for the latest period.
    valid_fraction : float
        Share of history periods with a usable measurement. [-]
    """

    issue_time: dt.datetime
    horizons_min: tuple[int, ...]
    quantiles: Mapping[str, Sequence[Sequence[float]]]
    inputs_stale: bool
    valid_fraction: float


class ForecastEngine:
    """Features + model + post-processing for one site.

    Parameters
    ----------
    site : Site
        The site (location and array).
    holder : ModelHolder
        The running model.
    """

    def __init__(self, site: Site, holder: ModelHolder) -> None:
        self.site = site
        self.holder = holder
        self._day: tuple[dt.date, FeatureSpec] | None = None
        self.geometry: DailyGeometry | None = None
        self.physics: ForecastPhysics | None = None
        self._pv_clear: list[float] = []

    def geometry_for(self, issue_end: int) -> DailyGeometry:
        """The day's geometry covering issue time ``issue_end`` (cached per day)."""
        spec = self.holder.spec
        day = dt.datetime.fromtimestamp(issue_end - 1, dt.UTC).date()
        if self._day != (day, spec) or self.geometry is None:
            self.geometry = DailyGeometry.for_day(self.site.site, day, spec)
            self.physics = ForecastPhysics(self.site.array, self.geometry)
            self._pv_clear = [float(v) for v in clear_sky_pv(self.site, self.geometry)]
            self._day = (day, spec)
        return self.geometry

    def ghi_history(
        self, issue_end: int, pv_means: Sequence[float], curtailed: Sequence[bool]
    ) -> list[float]:
        """Estimated GHI of the history periods from mean PV power. [W/m²]

        Parameters
        ----------
        issue_end : int
            Issue time. [s since the epoch]
        pv_means : sequence of float
            Mean PV power per history period, oldest first; NaN if none. [W]
        curtailed : sequence of bool
            Whether the charger limited PV in that period.
        """
        geo = self.geometry_for(issue_end)
        k = geo.index(issue_end)
        n = len(pv_means)
        arr = self.site.array
        out = []
        for i, (pv, cut) in enumerate(zip(pv_means, curtailed, strict=True)):
            j = k - n + 1 + i
            clear, ghi_clear = self._pv_clear[j], geo.ghi_clear_list[j]
            if not math.isfinite(pv):
                out.append(math.nan)
            elif ghi_clear <= 0.0:
                out.append(0.0)  # night
            elif (cut or clear <= USABLE_FRACTION * arr.dc_capacity
                  or pv >= CLIP_MARGIN * arr.ac_limit):
                out.append(math.nan)  # curtailed, clipped or sun too low: no information
            else:
                out.append(min(max(pv / clear, 0.0), KT_MAX) * ghi_clear)
        return out

    def forecast(
        self,
        issue_end: int,
        ghi: Sequence[float],
        *,
        inputs_stale: bool,
        temp_air: float = math.nan,
    ) -> ForecastResult:
        """Forecast at issue time ``issue_end`` from estimated GHI history.

        ``ghi`` holds ``history_steps`` values, oldest first, NaN where
        missing; missing inputs are filled by :mod:`edge.forecasting.features`.
        ``inputs_stale`` (the PV source was silent or stale in the latest
        period) is passed through to the result.
        """
        spec = self.holder.spec
        geo = self.geometry_for(issue_end)
        assert self.physics is not None
        x = compute_features(spec, geo, ghi, issue_end, temp_air=temp_air)
        kt = self.holder.predictor.predict(x)
        issue = dt.datetime.fromtimestamp(issue_end, dt.UTC)
        fc = self.physics.postprocess(kt, issue, temp_air=temp_air)
        return ForecastResult(
            issue_time=issue,
            horizons_min=spec.horizons_min,
            quantiles=fc.quantiles,
            inputs_stale=inputs_stale,
            valid_fraction=float(x[spec.history_steps]),
        )

    def energy_outlook(self, result: ForecastResult, *, ahead_min: int = 180) -> dict[str, object]:
        """Expected PV energy [Wh] next ``ahead_min`` and rest of the local day.

        See :func:`edge.forecasting.energy.energy_outlook`.
        """
        return energy_outlook(self.site, result.issue_time, result.horizons_min,
                              result.quantiles["pv_power"], self.holder.spec.step_minutes,
                              ahead_min=ahead_min)
