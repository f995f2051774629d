"""Scores and the validation gate: a model is blessed only if it passes.

Responsible for: error metrics (RMSE, MAE, MBE), skill against smart
persistence and CLIPER (and the regularised linear model's skill beside
it), and P10..P90 coverage per target, horizon and season on daytime
hold-out rows; the share of hold-out rows outside the training range per
feature; the int8-vs-float32 comparison (both run
through the real edge interpreter, :class:`edge.forecasting.predictor.Predictor`); and
the gate that turns those numbers and the thresholds of
:class:`trainer.config.GateSection` into named pass/fail checks.

Does NOT: train, convert, or write bundles; decide the hold-out split
(:mod:`trainer.dataset`); turn clear-sky index into irradiance or PV
(:mod:`trainer.evaluation` does that with :mod:`edge.forecasting.forecast`).

Skill is ``1 - RMSE_model / RMSE_reference`` (Solar Forecast Arbiter);
everything is computed on the P50 forecast, coverage on P10/P90.

Sampling noise: when :func:`score` is given day labels, every skill also
gets a standard error from a day-block bootstrap (whole days resampled,
since errors within a day are correlated; fixed seed, so deterministic).
The per-season and CLIPER checks may then allow ``skill_tolerance_se``
standard errors below their threshold: they fail when the model is
*significantly* worse than the threshold, not when a small season sample
happens to fall a few thousandths under it. The overall skill checks
against smart persistence stay strict.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from trainer.config import GateSection

__all__ = [
    "ALL_SEASONS",
    "TARGETS",
    "Check",
    "GateResult",
    "Int8Report",
    "MetricRow",
    "compare_int8",
    "feature_ranges",
    "run_gate",
    "score",
]

TARGETS = ("ghi", "dni", "dhi", "pv_power")
ALL_SEASONS = "all"


@dataclasses.dataclass(frozen=True)
class MetricRow:
    """Scores of one target, horizon and season (``"all"`` for the whole hold-out).

    Errors in the target's unit ([W/m²] for irradiance, [W] for PV power).
    Skill values are NaN when the reference has zero error.
    """

    target: str
    horizon_min: int
    season: str
    n: int
    rmse: float
    mae: float
    mbe: float
    skill_vs_smart_persistence: float
    skill_vs_cliper: float
    coverage_p10_p90: float
    skill_se_vs_smart_persistence: float = float("nan")
    skill_se_vs_cliper: float = float("nan")
    linear_skill_vs_smart_persistence: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN becomes None)."""
        return {
            k: (None if isinstance(v, float) and not np.isfinite(v) else v)
            for k, v in dataclasses.asdict(self).items()
        }


@dataclasses.dataclass(frozen=True)
class Check:
    """One gate check: what was measured against which threshold."""

    name: str
    passed: bool
    value: float
    threshold: float
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        value = self.value if np.isfinite(self.value) else None
        return {**dataclasses.asdict(self), "value": value}


@dataclasses.dataclass(frozen=True)
class GateResult:
    """All checks and the verdict."""

    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> tuple[Check, ...]:
        """The checks that failed."""
        return tuple(c for c in self.checks if not c.passed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict for the manifest."""
        return {"passed": self.passed, "checks": [c.to_dict() for c in self.checks]}


@dataclasses.dataclass(frozen=True)
class Int8Report:
    """int8 against float32, both through the edge interpreter.

    Attributes
    ----------
    rmse_float, rmse_int8 : float
        Daytime RMSE of the P50 clear-sky index against the observations.
    rmse_increase : float
        ``rmse_int8 / rmse_float - 1``.
    max_abs_diff : float
        Largest |int8 - float32| over all outputs. [-]
    rail_share : float
        Share of int8 output values at -128 or 127.
    """

    rmse_float: float
    rmse_int8: float
    rmse_increase: float
    max_abs_diff: float
    rail_share: float

    def to_dict(self) -> dict[str, float]:
        """JSON-ready dict."""
        return dataclasses.asdict(self)


def _rmse(err: np.ndarray) -> float:
    return float(np.sqrt(np.mean(err**2))) if err.size else float("nan")


def _skill(rmse: float, ref: float) -> float:
    return 1.0 - rmse / ref if ref > 0 and np.isfinite(ref) else float("nan")


_BOOTSTRAP = 400
_BOOTSTRAP_SEED = 20240601


def _skill_se(err: np.ndarray, refs: Sequence[np.ndarray], groups: np.ndarray | None
              ) -> list[float]:
    """Day-block bootstrap standard error of ``1 - RMSE(err) / RMSE(ref)`` per reference."""
    if groups is None or err.size == 0:
        return [float("nan")] * len(refs)
    _, g = np.unique(groups, return_inverse=True)
    n_g = int(g.max()) + 1
    if n_g < 2:
        return [float("nan")] * len(refs)
    sums = np.stack([np.bincount(g, weights=e**2, minlength=n_g) for e in (err, *refs)])
    counts = np.bincount(g, minlength=n_g).astype(np.float64)
    rng = np.random.default_rng(_BOOTSTRAP_SEED)
    draws = rng.multinomial(n_g, np.full(n_g, 1.0 / n_g), size=_BOOTSTRAP).astype(np.float64)
    mse = (draws @ sums.T) / (draws @ counts)[:, None]  # (B, 1 + n_refs)
    out = []
    for i in range(len(refs)):
        with np.errstate(divide="ignore", invalid="ignore"):
            skill = 1.0 - np.sqrt(mse[:, 0] / mse[:, 1 + i])
        skill = skill[np.isfinite(skill)]
        out.append(float(skill.std(ddof=1)) if skill.size > 1 else float("nan"))
    return out


def _row(
    target: str,
    *,
    horizon: int,
    season: str,
    q: np.ndarray,
    obs: np.ndarray,
    sp: np.ndarray,
    cliper: np.ndarray,
    groups: np.ndarray | None = None,
    linear: np.ndarray | None = None,
) -> MetricRow:
    err = q[:, 1] - obs
    rmse = _rmse(err)
    n = int(obs.size)
    se_sp, se_cl = _skill_se(err, [sp - obs, cliper - obs], groups)
    lin_skill = (float("nan") if linear is None
                 else _skill(_rmse(linear - obs), _rmse(sp - obs)))
    return MetricRow(
        target=target,
        horizon_min=int(horizon),
        season=season,
        n=n,
        rmse=rmse,
        mae=float(np.mean(np.abs(err))) if n else float("nan"),
        mbe=float(np.mean(err)) if n else float("nan"),
        skill_vs_smart_persistence=_skill(rmse, _rmse(sp - obs)),
        skill_vs_cliper=_skill(rmse, _rmse(cliper - obs)),
        coverage_p10_p90=float(np.mean((obs >= q[:, 0]) & (obs <= q[:, 2])))
        if n
        else float("nan"),
        skill_se_vs_smart_persistence=se_sp,
        skill_se_vs_cliper=se_cl,
        linear_skill_vs_smart_persistence=lin_skill,
    )


def score(
    *,
    forecast: Mapping[str, np.ndarray],
    observed: Mapping[str, np.ndarray],
    smart_persistence: Mapping[str, np.ndarray],
    cliper: Mapping[str, np.ndarray],
    mask: np.ndarray,
    horizons_min: Sequence[int],
    seasons: np.ndarray,
    groups: np.ndarray | None = None,
    linear: Mapping[str, np.ndarray] | None = None,
) -> list[MetricRow]:
    """Metric rows per target, horizon and season, daytime rows only.

    Parameters
    ----------
    forecast : mapping of target -> (n, n_h, 3) array
        P10/P50/P90 per row and horizon.
    observed, smart_persistence, cliper : mapping of target -> (n, n_h) array
        Observations and the two reference forecasts (NaN = not measured).
    mask : numpy.ndarray of bool, (n, n_h)
        Daytime (:func:`edge.forecasting.reference.is_daytime`) and measured.
    horizons_min : sequence of int
        Horizon of each column. [min]
    seasons : numpy.ndarray of str, (n,)
        Season label of each row's issue time.
    groups : numpy.ndarray, (n,), optional
        Block label of each row (its day) for the bootstrap standard errors
        of the skills; without it they are NaN.
    linear : mapping of target -> (n, n_h) array, optional
        The regularised linear baseline's forecast; its skill vs smart
        persistence is reported beside the model's.

    Returns
    -------
    list of MetricRow
        Season ``"all"`` first, then each season present, per target and
        horizon; targets missing from ``observed`` are skipped.
    """
    rows: list[MetricRow] = []
    season_names = [ALL_SEASONS, *sorted({str(s) for s in seasons})]
    for target in TARGETS:
        if target not in observed or target not in forecast:
            continue
        obs_all = observed[target]
        for season in season_names:
            in_season = np.ones(len(seasons), bool) if season == ALL_SEASONS else seasons == season
            for j, h in enumerate(horizons_min):
                m = mask[:, j] & in_season & np.isfinite(obs_all[:, j])
                m &= np.isfinite(forecast[target][:, j, 1])
                if not m.any():
                    continue
                rows.append(
                    _row(
                        target,
                        horizon=h,
                        season=season,
                        q=forecast[target][m, j, :],
                        obs=obs_all[m, j],
                        sp=smart_persistence[target][m, j],
                        cliper=cliper[target][m, j],
                        groups=None if groups is None else np.asarray(groups)[m],
                        linear=None if linear is None or target not in linear
                        else linear[target][m, j],
                    )
                )
    return rows


def compare_int8(
    q_int8: np.ndarray,
    q_float: np.ndarray,
    y: np.ndarray,
    mask: np.ndarray,
    *,
    rail_share: float,
) -> Int8Report:
    """int8 vs float32 clear-sky index quantiles (both from the edge interpreter).

    Parameters
    ----------
    q_int8, q_float : numpy.ndarray, (n, n_h, 3)
        Quantiles from the int8 and float32 models.
    y : numpy.ndarray, (n, n_h)
        Observed clear-sky index.
    mask : numpy.ndarray of bool, (n, n_h)
        Daytime, measured targets.
    rail_share : float
        Share of int8 outputs at the rails (from the predictor's counters).
    """
    m = mask & np.isfinite(y)
    r_f = _rmse(q_float[:, :, 1][m] - y[m])
    r_i = _rmse(q_int8[:, :, 1][m] - y[m])
    return Int8Report(
        rmse_float=r_f,
        rmse_int8=r_i,
        rmse_increase=r_i / r_f - 1.0 if r_f > 0 else float("inf"),
        max_abs_diff=float(np.max(np.abs(q_int8 - q_float))) if q_int8.size else 0.0,
        rail_share=float(rail_share),
    )


def _skill_checks(rows: Sequence[MetricRow], cfg: GateSection) -> list[Check]:
    checks: list[Check] = []
    for r in rows:
        if r.target not in cfg.targets:
            continue
        label = f"{r.target} {r.horizon_min} min"
        if r.season == ALL_SEASONS and cfg.min_holdout_samples > 0:
            checks.append(Check(
                f"daytime hold-out samples, {label}", bool(r.n >= cfg.min_holdout_samples),
                float(r.n), float(cfg.min_holdout_samples),
                f"{r.n}, need >= {cfg.min_holdout_samples} (more data, or a longer hold-out)"))
        if r.season == ALL_SEASONS:
            checks.append(_at_least(f"skill vs smart persistence, {label}",
                                    r.skill_vs_smart_persistence, cfg.min_skill, r.n))
            if cfg.max_linear_shortfall >= 0 and np.isfinite(r.linear_skill_vs_smart_persistence):
                gap = r.skill_vs_smart_persistence - r.linear_skill_vs_smart_persistence
                checks.append(Check(
                    f"skill vs the linear model, {label}",
                    bool(np.isfinite(gap) and gap >= -cfg.max_linear_shortfall), float(gap),
                    -cfg.max_linear_shortfall,
                    f"model {r.skill_vs_smart_persistence:.3f} vs linear "
                    f"{r.linear_skill_vs_smart_persistence:.3f} (n={r.n}), need model >= "
                    f"linear - {cfg.max_linear_shortfall:g}"))
            if r.horizon_min >= cfg.cliper_from_min:
                checks.append(_at_least(f"skill vs CLIPER, {label}", r.skill_vs_cliper,
                                        cfg.min_cliper_skill, r.n,
                                        se=r.skill_se_vs_cliper, z=cfg.skill_tolerance_se))
        elif r.n >= cfg.min_season_samples:
            checks.append(_at_least(f"skill vs smart persistence, {label}, season {r.season}",
                                    r.skill_vs_smart_persistence, cfg.min_season_skill, r.n,
                                    se=r.skill_se_vs_smart_persistence,
                                    z=cfg.skill_tolerance_se))
    return checks


def _at_least(name: str, value: float, threshold: float, n: int, *,
              se: float = float("nan"), z: float = 0.0) -> Check:
    """``value >= threshold``, or ``>= threshold - z * se`` when ``z`` > 0 and ``se`` is known."""
    if z > 0 and np.isfinite(se):
        floor = threshold - z * se
        ok = bool(np.isfinite(value) and value >= floor)
        return Check(name, ok, float(value), floor,
                     f"{value:.3f} +/- {se:.3f} SE (n={n}), need >= {threshold:g} - {z:g} SE "
                     f"= {floor:.3f}")
    ok = bool(np.isfinite(value) and value >= threshold)
    return Check(name, ok, float(value), threshold, f"{value:.3f} (n={n}), need >= {threshold:g}")


def _coverage_checks(rows: Sequence[MetricRow], cfg: GateSection) -> list[Check]:
    out = []
    for r in rows:
        if r.season != ALL_SEASONS or r.target != "ghi":
            continue
        c = r.coverage_p10_p90
        ok = bool(cfg.coverage_min <= c <= cfg.coverage_max)
        out.append(Check(f"P10-P90 coverage, ghi {r.horizon_min} min", ok, c, cfg.coverage_min,
                         f"{c:.3f}, need within [{cfg.coverage_min:g}, {cfg.coverage_max:g}]"))
    return out


def feature_ranges(names: Sequence[str], x_train: np.ndarray, x_test: np.ndarray
                   ) -> dict[str, float]:
    """Per feature, the share of hold-out rows outside the training rows' [min, max].

    Features outside the range training saw are where a model extrapolates
    (a day-of-year angle in a season absent from training is the classic
    case); the gate reports these shares.
    """
    if len(x_test) == 0:
        return {n: 0.0 for n in names}
    lo, hi = np.nanmin(x_train, axis=0), np.nanmax(x_train, axis=0)
    out = (x_test < lo[None, :]) | (x_test > hi[None, :])
    return {n: float(out[:, i].mean()) for i, n in enumerate(names)}


def run_gate(
    rows: Sequence[MetricRow],
    int8: Int8Report,
    model_bytes: int,
    cfg: GateSection,
) -> GateResult:
    """Apply the thresholds of ``cfg`` to the scores.

    Checks: enough daytime hold-out samples (``min_holdout_samples``),
    skill vs smart persistence per gated target and horizon
    (overall, and per season with enough samples), skill no more than
    ``max_linear_shortfall`` below the linear model's (overall, when it was
    scored), skill vs CLIPER from ``cliper_from_min`` on, P10..P90
    coverage of GHI, int8 RMSE increase,
    share of int8 outputs at the rails, model size, and that every gated
    target was scored at all.
    """
    checks = _skill_checks(rows, cfg) + _coverage_checks(rows, cfg)
    scored = {r.target for r in rows}
    for target in cfg.targets:
        if target not in scored:
            checks.append(Check(f"{target} scored", False, 0.0, 1.0,
                                "no daytime hold-out rows to score it on"))
    checks.append(Check(
        "int8 RMSE increase over float32", bool(int8.rmse_increase <= cfg.max_int8_rmse_increase),
        int8.rmse_increase, cfg.max_int8_rmse_increase,
        f"{100 * int8.rmse_increase:+.2f} %, need <= {100 * cfg.max_int8_rmse_increase:g} %"))
    checks.append(Check(
        "int8 outputs at the rails", bool(int8.rail_share <= cfg.max_rail_share),
        int8.rail_share, cfg.max_rail_share,
        f"{100 * int8.rail_share:.3f} % of outputs at -128/127, "
        f"need <= {100 * cfg.max_rail_share:g} %"))
    checks.append(Check(
        "model size", bool(model_bytes <= cfg.max_model_bytes), float(model_bytes),
        float(cfg.max_model_bytes), f"{model_bytes} bytes, need <= {cfg.max_model_bytes}"))
    return GateResult(tuple(checks))
