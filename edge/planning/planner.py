"""The energy planner: measured periods in, the site's energy plan out, every 15 minutes.

Responsible for: :class:`PlanConfig`, :class:`EnergyPlanner` (``observe`` one
period into the ring buffer, ``plan`` at an issue time, ``state`` /
``from_state`` to persist the history and the learned battery). Once per
local day (:meth:`EnergyPlanner.refresh`, run lazily by the first ``plan``
of the day) it re-selects the load method by walk-forward validation,
rebuilds the clear-sky index climatology, updates the battery estimate
(capacity, efficiencies, self-consumption, charge acceptance) and
calibrates the scenario spread; every ``plan`` then only samples scenarios
and propagates them.

Scenarios: PV as whole local days of the site's own clear-sky index (one
history day per scenario and day, or the prior), times clear-sky PV, with
the bundle's forecast put on them where its horizons reach; load as the
chosen method's median plus a whole day of its walk-forward residuals (one
past day per scenario and local day), or for the site-file fallback a
log-normal day factor and period noise. The rest of today's PV is drawn
from the past days most like what today has measured so far
(:mod:`edge.planning.analog`; tried for the load too, where the morning's
appliance noise says little about the evening and the plans got worse).
The spread of both around their means is multiplied by the calibration
scale: the value of :data:`SPREAD_GRID` whose P10-P90 SOC coverage over
plans re-issued on the site's own past (every 8 h over the last week, each
from the history before it only: load method, climatology and battery as
they were then; scored on the measured SOC of the following 24 h) is
closest to 0.8 (a measured SOC within :data:`SOC_TOLERANCE` of the band
counts as inside); 1.0 ("default") until :data:`CALIBRATION_MIN_PLANS`
such plans exist.

Does NOT: read a clock, do I/O, log, or import pandas/pvlib/scipy itself.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from edge.forecasting.engine import ForecastResult
from edge.forecasting.features import KT_MAX
from edge.forecasting.site import Site
from edge.planning import load as loadmod
from edge.planning.battery import (
    MAX_SAMPLES,
    TAPER_SOC,
    BatteryEstimate,
    CapacitySample,
    acceptance_fit,
    capacity_samples,
    estimate_battery,
    prior_acceptance,
    self_consumption_fit,
)
from edge.planning.geometry import ClearSkyCache
from edge.planning.history import History, PeriodObservation, index_time, period_index
from edge.planning.load import LoadModel
from edge.planning.plan import (
    QUANTILE_NAMES,
    EnergyPlan,
    first_at_or_below,
    propagate,
    sorted_quantiles,
)
from edge.planning.pv import KtClimatology, blend_model, clear_sky_index

__all__ = ["CALIBRATION_MIN_PLANS", "SPREAD_GRID", "DailyModels", "EnergyPlanner", "PlanConfig"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

STATE_VERSION = 1
#: Candidate scales of the scenario spread. [-]
SPREAD_GRID = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0)
#: Past plans needed before the spread is calibrated.
CALIBRATION_MIN_PLANS = 4
#: Past plans re-issued for calibration (every 8 h over the last week, newest first).
CALIBRATION_MAX_PLANS = 21
CALIBRATION_EVERY_S = 8 * 3600
#: Scenarios per past plan in the calibration. [-]
CALIBRATION_SCENARIOS = 100
#: A measured SOC this close to the P10-P90 band counts as inside it in the calibration
#: (the devices' SOC resolution: PI30 reports whole percent; a full battery reads 100 %). [-]
SOC_TOLERANCE = 0.005
#: Plan steps after sunrise. [s]
AFTER_SUNRISE_S = 3 * 3600


@dataclasses.dataclass(frozen=True, slots=True)
class PlanConfig:
    """How the planner runs (the agent config's ``[plan]`` table; defaults usable as is).

    Attributes
    ----------
    step_s : int
        Plan step. [s]
    min_horizon_s : int
        The plan runs to ``max(min_horizon_s, next sunrise + 3 h)``. [s]
    reserve_soc : float
        The site's reserve. [-]
    scenarios : int
        Monte-Carlo scenarios for the SOC fan.
    history_days : int
        Days of measured periods kept.
    seed : int
        Seed of the scenario draws (with the issue time: equal inputs, equal plan).
    """

    step_s: int = 900
    min_horizon_s: int = 24 * 3600
    reserve_soc: float = 0.3
    scenarios: int = 200
    history_days: int = 28
    seed: int = 0

    def __post_init__(self) -> None:
        if self.step_s <= 0 or self.step_s % 60 or 86400 % self.step_s:
            raise ValueError(f"step_s {self.step_s} must be whole minutes dividing a day")
        if self.min_horizon_s < self.step_s:
            raise ValueError("min_horizon_s must be at least one step")
        if not 0.0 <= self.reserve_soc < 1.0:
            raise ValueError("reserve_soc must be within [0, 1)")
        if self.scenarios < 10:
            raise ValueError("scenarios must be at least 10")
        if self.history_days < 2:
            raise ValueError("history_days must be at least 2")


@dataclasses.dataclass(frozen=True, slots=True)
class DailyModels:
    """What the planner refreshes once per local day (read it for reports).

    Attributes
    ----------
    local_day : date
    load : LoadModel
        The chosen load method and its walk-forward record.
    clim : KtClimatology
    battery : BatteryEstimate
    spread : float
        Scale on the scenario spread. [-]
    spread_source : str
        ``"default"`` or ``"calibrated"``.
    calibration_plans : int
        Past plans the spread was chosen on.
    calibration_coverage : float
        Their P10-P90 SOC coverage at the chosen spread (NaN without). [-]
    """

    local_day: dt.date
    load: LoadModel
    clim: KtClimatology
    battery: BatteryEstimate
    spread: float
    spread_source: str
    calibration_plans: int
    calibration_coverage: float


class EnergyPlanner:
    """The site's energy planner (sans-IO; numpy and the standard library).

    Parameters
    ----------
    site : Site
        The site file.
    config : PlanConfig
    """

    def __init__(self, site: Site, config: PlanConfig | None = None) -> None:
        self.site = site
        self.config = config = config if config is not None else PlanConfig()
        self.per_day = 86400 // config.step_s
        self.history = History(config.history_days * self.per_day, config.step_s)
        # history, the calibration's week before it and the plan's days ahead
        self.clear = ClearSkyCache(site, config.step_s, keep_days=config.history_days + 12)
        self.zone = ZoneInfo(site.site.timezone)
        self._samples: list[CapacitySample] = []
        self._samples_until = -1
        self._daily: DailyModels | None = None

    # ------------------------------------------------------------ inputs

    def observe(self, obs: PeriodObservation) -> None:
        """Append one measured period (O(1); a repeated period end replaces the old one)."""
        self.history.append(obs)

    def _offset(self, k: int) -> int:
        """UTC offset of the site's zone at period end ``k``. [s]"""
        off = index_time(k, self.config.step_s).astimezone(self.zone).utcoffset()
        return int(off.total_seconds()) if off is not None else 0

    # ------------------------------------------------------------ daily refresh

    @property
    def daily(self) -> DailyModels | None:
        """The models of the current local day (None before the first plan)."""
        return self._daily

    def local_day(self, now: dt.datetime) -> dt.date:
        """The site's local day of period end ``now``."""
        off = self._offset(period_index(now, self.config.step_s))
        return (now + dt.timedelta(seconds=off)).date()

    def refresh_due(self, now: dt.datetime) -> bool:
        """No daily models yet, or they belong to another local day than ``now``'s."""
        return self._daily is None or self._daily.local_day != self.local_day(now)

    def snapshot(self) -> EnergyPlanner:
        """A copy to refresh on another thread (:meth:`adopt` takes its result back).

        Copies the history (about 90 kB of arrays for 28 days) and the
        charge-counting samples; the clear-sky cache's days are shared
        (they are replaced, never changed in place).
        """
        twin = EnergyPlanner.__new__(EnergyPlanner)
        twin.site, twin.config, twin.per_day, twin.zone = (self.site, self.config, self.per_day,
                                                           self.zone)
        twin.history = self.history.copy()
        twin.clear = self.clear.copy()
        twin._samples = list(self._samples)
        twin._samples_until = self._samples_until
        twin._daily = self._daily
        return twin

    def adopt(self, twin: EnergyPlanner) -> None:
        """Take the daily models, the battery samples and the clear-sky days ``twin`` refreshed.

        Call on the thread that plans, once ``twin.refresh`` has returned;
        periods observed meanwhile stay (they are this planner's own).
        """
        self._daily = twin._daily
        self._samples, self._samples_until = twin._samples, twin._samples_until
        self.clear = twin.clear

    def refresh(self, now: dt.datetime) -> None:
        """Re-select the load method, rebuild the climatology, update battery and spread.

        Runs by itself on the first :meth:`plan` of each local day; callable
        ahead of it (e.g. off the forecast cycle).
        """
        cfg = self.config
        k0 = period_index(now, cfg.step_s)
        off = self._offset(k0)
        load_model = self._select_load(k0, off)
        kt = self._kt_matrix(k0, off)
        clim = KtClimatology.build(kt[0], kt[1])
        battery = self._update_battery(k0)
        spread, source, n_plans, cov = self._calibrate(k0, off, kt)
        local_day = (now + dt.timedelta(seconds=off)).date()
        self.clear.get(k0, 3 * self.per_day + 1)  # the day's plans then never call pvlib
        self._daily = DailyModels(local_day, load_model, clim, battery, spread, source, n_plans,
                                  cov)

    def _load_matrix(self, k0: int, off: int) -> tuple[FloatArray, IntArray, IntArray]:
        days, per = self.config.history_days, self.per_day
        vals, _ = self.history.window(k0, days * per)
        ks = np.arange(k0 - days * per + 1, k0 + 1, dtype=np.int64)
        hours, weekend = loadmod.local_slots(ks, self.config.step_s, off)
        return (vals[0].reshape(days, per), weekend.reshape(days, per),
                hours.reshape(days, per))

    def _select_load(self, k0: int, off: int) -> LoadModel:
        h, wk, hrs = self._load_matrix(k0, off)
        return loadmod.select(h, wk, hrs, k0)

    def _kt_matrix(self, k0: int, off: int) -> tuple[FloatArray, IntArray, IntArray]:
        """Clear-sky index of the held history in local-day rows ending at the last local midnight.

        Returns the rows, their local hours and each row's last grid index.
        """
        step, per, days = self.config.step_s, self.per_day, self.config.history_days
        k_mid = ((k0 * step + off) // 86400 * 86400 - off) // step
        first = k_mid - days * per + 1
        vals, cut = self.history.window(k_mid, days * per)
        clear, _ = self.clear.get(first, days * per)
        arr = self.site.array
        kt = clear_sky_index(vals[1], clear, cut, arr.dc_capacity, arr.ac_limit)
        ks = np.arange(first, k_mid + 1, dtype=np.int64)
        hours, _ = loadmod.local_slots(ks, step, off)
        row_end = first - 1 + per * np.arange(1, days + 1, dtype=np.int64)
        return kt.reshape(days, per), hours.reshape(days, per), row_end

    def _update_battery(self, k0: int) -> BatteryEstimate:
        n = self.history.size
        vals, _ = self.history.window(k0, n)
        first = k0 - n + 1
        new = capacity_samples(vals[2], vals[3], first, self.config.step_s,
                               after_k=self._samples_until)
        if new:
            self._samples = (self._samples + new)[-MAX_SAMPLES:]
            self._samples_until = new[-1].end_k - 1
        return self._battery_at(k0, self._samples)

    def _battery_at(self, k0: int, samples: list[CapacitySample]) -> BatteryEstimate:
        """The battery estimate from ``samples`` and the held history up to ``k0``."""
        n = self.history.size
        vals, cut = self.history.window(k0, n)
        clear, _ = self.clear.get(k0 - n + 1, n)
        night = clear <= 0.0
        sc = self_consumption_fit(vals[0], vals[3], vals[2], night)
        bat = self.site.battery
        prior = prior_acceptance(self.site.array.ac_limit, TAPER_SOC.get(bat.chemistry, 0.9))
        acc = acceptance_fit(vals[2], vals[3], cut, prior)
        return estimate_battery(self.site, self.config.reserve_soc, samples, sc, acc)

    def _calibrate(self, k0: int, off: int, kt: tuple[FloatArray, IntArray, IntArray],
                   ) -> tuple[float, str, int, float]:
        """Spread scale from plans re-issued on the site's past (see the module docstring)."""
        kt_rows, kt_hours, row_end = kt
        per, step = self.per_day, self.config.step_s
        n = per  # each past plan is scored over 24 h
        oldest = self.history.first_k()
        soc_all, _ = self.history.window(k0, self.history.size)
        realised: list[FloatArray] = []
        trajectories: list[FloatArray] = []  # (grid, steps, scenarios) per plan
        every = CALIBRATION_EVERY_S // step
        for m in range(-(-per // every), 7 * per // every + 1):
            kc = k0 - m * every
            if kc - 2 * per < oldest or len(realised) >= CALIBRATION_MAX_PLANS:
                break
            soc_c = soc_all[2, kc - (k0 - self.history.size + 1)]
            if not math.isfinite(soc_c):
                continue
            idx = np.arange(kc + 1, kc + n + 1) - (k0 - self.history.size + 1)
            real = soc_all[2, idx]
            if np.count_nonzero(np.isfinite(real)) < n // 2:
                continue
            lm = self._select_load(kc, off)
            clim = KtClimatology.build(kt_rows[row_end <= kc], kt_hours[row_end <= kc])
            battery = self._battery_at(kc, [c for c in self._samples if c.end_k <= kc])
            trajs = []
            for scale in SPREAD_GRID:
                sub = np.random.default_rng([self.config.seed, kc, 0xCA1])
                pot, ld, _ = self._scenarios(kc, off, n, model=lm, clim=clim, spread=scale,
                                             fc=None, rng=sub, n_scen=CALIBRATION_SCENARIOS)
                trajs.append(propagate(soc_c, pot, ld, battery, step).soc)
            realised.append(real)
            trajectories.append(np.stack(trajs))
        if len(realised) < CALIBRATION_MIN_PLANS:
            return 1.0, "default", len(realised), math.nan
        best, best_cov, best_key = 1.0, math.nan, (math.inf, math.inf)
        for g, scale in enumerate(SPREAD_GRID):
            inside = total = 0
            for real, tr in zip(realised, trajectories, strict=True):
                q = sorted_quantiles(tr[g])[[0, 2]]
                ok = np.isfinite(real)
                inside += int(np.count_nonzero((real[ok] >= q[0][ok] - SOC_TOLERANCE)
                                               & (real[ok] <= q[1][ok] + SOC_TOLERANCE)))
                total += int(np.count_nonzero(ok))
            cov = inside / total if total else math.nan
            key = (abs(cov - 0.8), abs(math.log(scale)))
            if key < best_key:
                best, best_cov, best_key = scale, cov, key
        return best, "calibrated", len(realised), best_cov

    # ------------------------------------------------------------ scenarios

    def _kt_today(self, k0: int, off: int) -> tuple[IntArray, FloatArray] | None:
        """Local period-of-day columns and clear-sky index measured today up to ``k0``."""
        step = self.config.step_s
        elapsed = int(((k0 * step + off) % 86400) // step)  # periods since local midnight
        if elapsed == 0:
            return None
        vals, cut = self.history.window(k0, elapsed)
        clear, _ = self.clear.get(k0 - elapsed + 1, elapsed)
        arr = self.site.array
        kt = clear_sky_index(vals[1], clear, cut, arr.dc_capacity, arr.ac_limit)
        return np.arange(elapsed, dtype=np.int64), kt

    def _load_p50(self, k0: int, off: int, n: int, model: LoadModel) -> FloatArray:
        per, step = self.per_day, self.config.step_s
        ks = np.arange(k0 + 1, k0 + n + 1, dtype=np.int64)
        _, weekend = loadmod.local_slots(ks, step, off)
        mid_hours = np.asarray(((ks * step - step // 2 + off) % 86400) / 3600.0,
                               dtype=np.float64)
        if model.method == "site_file":
            return loadmod.site_file_profile(self.site.load, mid_hours)
        h, wk, _ = self._load_matrix(k0, off)
        blocks = -(-n // per)
        pad = np.concatenate([weekend, np.zeros(blocks * per - n, dtype=np.int64)])
        out = np.concatenate([
            loadmod.forecast(model.method, h, wk, h.shape[0], pad[b * per:(b + 1) * per])
            for b in range(blocks)])[:n]
        if np.isfinite(out).all():
            return out
        return np.where(np.isfinite(out), out, loadmod.site_file_profile(self.site.load, mid_hours))

    def _scenarios(self, k0: int, off: int, n: int, *, model: LoadModel, clim: KtClimatology,
                   spread: float, fc: ForecastResult | None, rng: np.random.Generator,
                   n_scen: int) -> tuple[FloatArray, FloatArray, dict[str, Any]]:
        """Potential PV and AC load scenarios ``(n, n_scen)`` and what was used."""
        per, step = self.per_day, self.config.step_s
        ks = np.arange(k0 + 1, k0 + n + 1, dtype=np.int64)
        clear, _ = self.clear.get(k0 + 1, n)
        local = ks * step - step + off
        slots = (local % 86400) // step
        day_of_step = local // 86400 - local[0] // 86400
        hours = slots * step // 3600
        # PV: whole local days of clear-sky index, spread scaled around the mean day
        kt = clim.sample(rng, slots.astype(np.int64), day_of_step.astype(np.int64), n_scen,
                         today=self._kt_today(k0, off))
        if spread != 1.0 and clim.rows.shape[0]:
            centre = clim.rows.mean(axis=0)[slots][:, None]
            kt = np.clip(centre + spread * (kt - centre), 0.0, KT_MAX)
        pot = np.minimum(clear[:, None] * kt, self.site.array.ac_limit)
        pv_method = clim.method
        model_steps = 0
        if fc is not None and "pv_power" in fc.quantiles:
            minutes = np.asarray((ks * step - fc.issue_time.timestamp()) / 60.0,
                                 dtype=np.float64)
            pot, model_steps = blend_model(pot, clear, minutes, fc.horizons_min,
                                           fc.quantiles["pv_power"],
                                           ac_limit=self.site.array.ac_limit)
            if model_steps:
                pv_method = "model+" + pv_method
        # load: the median plus whole days of residuals (or the site file's log-normal spread)
        p50 = self._load_p50(k0, off, n, model)
        if model.method == "site_file":
            blocks = -(-n // per)
            z_day = rng.standard_normal((blocks, n_scen))
            z = (loadmod.SITE_FILE_SIGMA_DAY * z_day[np.arange(n) // per]
                 + loadmod.SITE_FILE_SIGMA_STEP * rng.standard_normal((n, n_scen)))
            ld = p50[:, None] * np.exp(spread * z)
        else:
            res = model.residuals
            cols = (ks - 1 - model.issue_k) % per
            n_days = int(day_of_step[-1]) + 1
            pick = rng.integers(0, res.shape[0], size=(n_days, n_scen))
            drawn = res[pick[day_of_step], cols[:, None]]
            if spread != 1.0:  # scale around the mean residual: the energy stays put
                centre = res.mean(axis=0)[cols][:, None]
                drawn = centre + spread * (drawn - centre)
            ld = np.maximum(p50[:, None] + drawn, 0.0)
        info = {"clear": clear, "load_p50": p50, "hours": hours, "pv_method": pv_method,
                "model_steps": model_steps}
        return pot, ld, info

    # ------------------------------------------------------------ the plan

    def _sunrise(self, k0: int) -> tuple[int, int]:
        """(steps from issue to the next sunrise, plan length in steps)."""
        step, per = self.config.step_s, self.per_day
        _, up = self.clear.get(k0, 2 * per + 1)
        rise = np.flatnonzero(up[1:] & ~up[:-1])
        i = int(rise[0]) if rise.size else 2 * per  # steps until the first sunlit period starts
        n = max(-(-self.config.min_horizon_s // step), i + AFTER_SUNRISE_S // step)
        return i, n

    def plan(self, now: dt.datetime, soc: float,
             pv_forecast: ForecastResult | None = None, *, refresh: bool = True) -> EnergyPlan:
        """The plan from ``now`` (a period end) and the SOC now [-].

        With ``refresh`` (the default) the first plan of a local day runs
        :meth:`refresh` first; without it the plan uses the models it has
        (yesterday's, until :meth:`adopt` brings today's) and refreshes
        only when there are none yet.

        Parameters
        ----------
        now : datetime
            Aware UTC period end on the step grid.
        soc : float
            SOC now [-]; NaN takes the last measured SOC (0.5 without one).
        pv_forecast : ForecastResult, optional
            The bundle's forecast of this cycle.
        refresh : bool
            Refresh the daily models when the local day changed.
        """
        cfg = self.config
        k0 = period_index(now, cfg.step_s)
        off = self._offset(k0)
        local_day = (now + dt.timedelta(seconds=off)).date()
        if self._daily is None or (refresh and self._daily.local_day != local_day):
            self.refresh(now)
        daily = self._daily
        assert daily is not None
        if not math.isfinite(soc):
            soc = self._last_soc(k0)
        i_rise, n = self._sunrise(k0)
        rng = np.random.default_rng([cfg.seed, k0])
        pot, ld, info = self._scenarios(k0, off, n, model=daily.load, clim=daily.clim,
                                        spread=daily.spread, fc=pv_forecast, rng=rng,
                                        n_scen=cfg.scenarios)
        battery = daily.battery
        prop = propagate(soc, pot, ld, battery, cfg.step_s)
        times = tuple(index_time(k0 + j, cfg.step_s) for j in range(1, n + 1))
        fans = sorted_quantiles(np.stack([prop.soc, prop.delivered, pot]))
        soc_q = {q: fans[i, 0] for i, q in enumerate(QUANTILE_NAMES)}
        dt_h = cfg.step_s / 3600.0
        surplus = (prop.delivered - battery.dc_demand(ld))[:i_rise].sum(axis=0) * dt_h
        # the steps of the issue's local day (period starts): PV beyond its sunset is 0
        to_midnight = ((k0 * cfg.step_s + off) // 86400 + 1) * 86400 - off - k0 * cfg.step_s
        today = min(n, int(to_midnight // cfg.step_s))
        spill = (pot[:today] - prop.delivered[:today]).sum(axis=0) * dt_h
        eq = sorted_quantiles(np.stack([surplus, prop.delivered.sum(axis=0) * dt_h,
                                        ld.sum(axis=0) * dt_h, spill]))
        energies = [{q: float(eq[i, e]) for i, q in enumerate(QUANTILE_NAMES)} for e in range(4)]
        p50 = info["load_p50"]
        if daily.load.method == "site_file":
            lo, hi = loadmod.site_file_quantiles(p50)
        else:
            rq = daily.load.residual_q[info["hours"]]
            lo, hi = np.maximum(p50 + rq[:, 0], 0.0), np.maximum(p50 + rq[:, 1], 0.0)
        return EnergyPlan(
            issued=index_time(k0, cfg.step_s),
            step_s=cfg.step_s,
            times=times,
            soc=soc_q,
            load={"p10": lo, "p50": p50, "p90": hi},
            pv={q: fans[i, 1] for i, q in enumerate(QUANTILE_NAMES)},
            pv_potential_p50=fans[1, 2],
            reserve_soc=cfg.reserve_soc,
            reserve_at=first_at_or_below(times, soc_q["p10"], cfg.reserve_soc),
            reserve_at_p50=first_at_or_below(times, soc_q["p50"], cfg.reserve_soc),
            next_sunrise=index_time(k0 + i_rise, cfg.step_s),
            balance_to_sunrise_wh=energies[0],
            pv_energy_wh=energies[1],
            load_energy_wh=energies[2],
            load_method=daily.load.method,
            pv_method=info["pv_method"],
            battery=battery,
            load_skill=daily.load.skill,
            spread_scale=daily.spread,
            spread_source=daily.spread_source,
            surplus_today_wh=energies[3],
        )

    def _last_soc(self, k0: int) -> float:
        vals, _ = self.history.window(k0, self.per_day)
        ok = np.flatnonzero(np.isfinite(vals[2]))
        return float(vals[2][ok[-1]]) if ok.size else 0.5

    # ------------------------------------------------------------ state

    def state(self) -> dict[str, Any]:
        """JSON-able state: the history and the charge-counting samples (the learned battery)."""
        return {
            "version": STATE_VERSION,
            "step_s": self.config.step_s,
            "history": self.history.state(),
            "capacity_samples": [s.to_list() for s in self._samples],
            "samples_until": self._samples_until,
        }

    @classmethod
    def from_state(cls, site: Site, config: PlanConfig | None, state: Any) -> EnergyPlanner:
        """A planner from :meth:`state`.

        Raises
        ------
        ValueError
            When ``state`` is malformed or was written with another step.
        """
        planner = cls(site, config)
        if not isinstance(state, dict):
            raise ValueError("planner state must be a mapping")
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"planner state version {state.get('version')!r} is not "
                             f"{STATE_VERSION}")
        if state.get("step_s") != planner.config.step_s:
            raise ValueError(f"planner state step {state.get('step_s')!r} s differs from the "
                             f"config's {planner.config.step_s} s")
        planner.history = History.from_state(planner.history.size, planner.config.step_s,
                                             state.get("history"))
        samples = state.get("capacity_samples", [])
        if not isinstance(samples, list):
            raise ValueError("capacity_samples must be a list")
        planner._samples = [CapacitySample.from_list(v) for v in samples][-MAX_SAMPLES:]
        until = state.get("samples_until", -1)
        if not isinstance(until, int) or isinstance(until, bool):
            raise ValueError(f"samples_until {until!r} is not an integer")
        planner._samples_until = until
        return planner
