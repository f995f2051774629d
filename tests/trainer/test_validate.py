"""Scores and the gate on arrays with known answers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from trainer.config import GateSection
from trainer.validate import ALL_SEASONS, Int8Report, compare_int8, run_gate, score


def _case(n: int = 400, n_h: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    obs = rng.uniform(100, 900, size=(n, n_h))
    sp = obs + rng.normal(0, 100, size=(n, n_h))
    good = obs + rng.normal(0, 50, size=(n, n_h))
    q = np.stack([good - 80, good, good + 80], axis=2)
    seasons = np.where(np.arange(n) < n // 2, "dry", "wet")
    return obs, sp, q, seasons


def _rows(q, obs, sp, seasons, horizons=(60, 120)):
    mask = np.ones(obs.shape, bool)
    return score(forecast={"ghi": q}, observed={"ghi": obs}, smart_persistence={"ghi": sp},
                 cliper={"ghi": sp}, mask=mask, horizons_min=horizons, seasons=seasons)


def test_score_perfect_and_reference_forecasts() -> None:
    obs, sp, _, seasons = _case()
    perfect = np.stack([obs - 1, obs, obs + 1], axis=2)
    rows = _rows(perfect, obs, sp, seasons)
    assert {r.season for r in rows} == {"all", "dry", "wet"}
    for r in rows:
        assert r.rmse == 0 and r.skill_vs_smart_persistence == 1.0
        assert r.coverage_p10_p90 == 1.0
    as_sp = np.stack([sp, sp, sp], axis=2)
    for r in _rows(as_sp, obs, sp, seasons):
        assert r.skill_vs_smart_persistence == pytest.approx(0.0)


def test_score_metrics_values() -> None:
    obs = np.array([[100.0], [200.0], [300.0], [400.0]])
    fc = obs + np.array([[10.0], [-10.0], [30.0], [-30.0]])
    q = np.stack([fc - 5, fc, fc + 5], axis=2)
    rows = score(forecast={"ghi": q}, observed={"ghi": obs}, smart_persistence={"ghi": obs + 100},
                 cliper={"ghi": obs + 50}, mask=np.ones((4, 1), bool), horizons_min=(60,),
                 seasons=np.array(["x"] * 4))
    r = rows[0]
    assert r.n == 4 and r.mbe == 0.0 and r.mae == 20.0
    assert r.rmse == pytest.approx(np.sqrt(500.0))
    assert r.skill_vs_smart_persistence == pytest.approx(1 - np.sqrt(500.0) / 100)
    assert r.skill_vs_cliper == pytest.approx(1 - np.sqrt(500.0) / 50)
    assert r.coverage_p10_p90 == 0.0


def _int8_ok() -> Int8Report:
    return Int8Report(0.1, 0.1005, 0.005, 0.01, 0.0)


def test_gate_passes_a_good_model() -> None:
    obs, sp, q, seasons = _case()
    cfg = GateSection(targets=("ghi",), cliper_from_min=120, min_season_samples=50)
    gate = run_gate(_rows(q, obs, sp, seasons), _int8_ok(), 9000, cfg)
    assert gate.passed, gate.failures


def test_gate_rejects_a_broken_model_and_names_the_check() -> None:
    obs, sp, _, seasons = _case()
    broken = np.stack([obs * 0 + 390, obs * 0 + 400, obs * 0 + 410], axis=2)  # constant output
    cfg = GateSection(targets=("ghi",), min_season_samples=50)
    gate = run_gate(_rows(broken, obs, sp, seasons), _int8_ok(), 9000, cfg)
    assert not gate.passed
    names = {c.name for c in gate.failures}
    assert "skill vs smart persistence, ghi 60 min" in names
    assert "P10-P90 coverage, ghi 60 min" in names


@pytest.mark.parametrize(
    ("int8", "size", "failing"),
    [
        (Int8Report(0.1, 0.13, 0.3, 0.2, 0.0), 9000, "int8 RMSE increase over float32"),
        (Int8Report(0.1, 0.1, 0.0, 0.0, 0.2), 9000, "int8 outputs at the rails"),
        (Int8Report(0.1, 0.1, 0.0, 0.0, 0.0), 100_000, "model size"),
    ],
    ids=["rmse", "rails", "size"],
)
def test_gate_int8_and_size_checks(int8: Int8Report, size: int, failing: str) -> None:
    obs, sp, q, seasons = _case()
    cfg = GateSection(targets=("ghi",), cliper_from_min=120, min_season_samples=50)
    gate = run_gate(_rows(q, obs, sp, seasons), int8, size, cfg)
    assert [c.name for c in gate.failures] == [failing]


def test_gate_fails_when_a_gated_target_was_not_scored() -> None:
    obs, sp, q, seasons = _case()
    gate = run_gate(_rows(q, obs, sp, seasons), _int8_ok(), 9000,
                    GateSection(targets=("ghi", "pv_power"), cliper_from_min=120,
                                min_season_samples=50))
    assert [c.name for c in gate.failures] == ["pv_power scored"]


def test_compare_int8() -> None:
    y = np.full((10, 1), 0.5)
    qf = np.stack([y - 0.1, y + 0.1, y + 0.2], axis=2)
    q8 = qf + 0.1
    rep = compare_int8(q8, qf, y, np.ones((10, 1), bool), rail_share=0.0)
    assert rep.rmse_float == pytest.approx(0.1) and rep.rmse_int8 == pytest.approx(0.2)
    assert rep.rmse_increase == pytest.approx(1.0)
    assert rep.max_abs_diff == pytest.approx(0.1)


def _season_case(shift: float, n_days: int = 40, per_day: int = 8, seed: int = 3):
    """Season 'b' forecasts drift from good to worse than persistence by ``shift``."""
    rng = np.random.default_rng(seed)
    n = 2 * n_days * per_day
    obs = rng.uniform(100, 900, size=(n, 1))
    sp = obs + rng.normal(0, 100, size=(n, 1))
    seasons = np.repeat(["a", "b"], n // 2)
    err = rng.normal(0, 1, size=(n, 1))
    b = seasons == "b"
    rms = lambda e: np.sqrt(np.mean(e**2))  # noqa: E731
    err[~b] *= 60.0 / rms(err[~b])
    err[b] *= (1.0 + shift) * rms(sp[b] - obs[b]) / rms(err[b])  # skill exactly -shift in 'b'
    p50 = obs + err
    q = np.stack([p50 - 300, p50, p50 + 300], axis=2)
    days = np.arange(n) // per_day
    return score(forecast={"ghi": q}, observed={"ghi": obs}, smart_persistence={"ghi": sp},
                 cliper={"ghi": sp}, mask=np.ones(obs.shape, bool), horizons_min=(60,),
                 seasons=seasons, groups=days)


def test_skill_standard_errors_come_from_the_day_bootstrap() -> None:
    rows = _season_case(0.0)
    for r in rows:
        assert 0.0 < r.skill_se_vs_smart_persistence < 0.2
        assert r.skill_se_vs_cliper == pytest.approx(r.skill_se_vs_smart_persistence)
    small = next(r for r in rows if r.season == "b")
    big = next(r for r in rows if r.season == "all")
    assert small.skill_se_vs_smart_persistence > big.skill_se_vs_smart_persistence
    obs, sp, q, seasons = _case()
    assert all(np.isnan(r.skill_se_vs_smart_persistence) for r in _rows(q, obs, sp, seasons))


def test_season_tolerance_forgives_noise_but_not_a_clearly_worse_season() -> None:
    strict = GateSection(targets=("ghi",), coverage_min=0.0, coverage_max=1.0,
                         cliper_from_min=999, min_season_samples=50)
    tolerant = GateSection(targets=("ghi",), coverage_min=0.0, coverage_max=1.0,
                           cliper_from_min=999, min_season_samples=50, skill_tolerance_se=1.645)
    slightly = _season_case(0.02)
    b = next(r for r in slightly if r.season == "b")
    assert b.skill_vs_smart_persistence == pytest.approx(-0.02)
    assert b.skill_vs_smart_persistence > -1.645 * b.skill_se_vs_smart_persistence
    assert not run_gate(slightly, _int8_ok(), 9000, strict).passed
    gate = run_gate(slightly, _int8_ok(), 9000, tolerant)
    assert gate.passed, gate.failures
    clearly = _season_case(0.5)
    failed = {c.name for c in run_gate(clearly, _int8_ok(), 9000, tolerant).failures}
    assert "skill vs smart persistence, ghi 60 min, season b" in failed
    assert "skill vs smart persistence, ghi 60 min, season a" not in failed


def test_gate_refuses_a_good_model_judged_on_too_few_days() -> None:
    """A good score on a short hold-out is not enough to bless a model."""
    obs, sp, q, seasons = _case()
    rows = _rows(q, obs, sp, seasons)
    n = min(r.n for r in rows if r.season == ALL_SEASONS)
    enough = GateSection(targets=("ghi",), cliper_from_min=120, min_season_samples=50,
                         min_holdout_samples=n)
    assert run_gate(rows, _int8_ok(), 9000, enough).passed
    too_few = dataclasses.replace(enough, min_holdout_samples=n + 1)
    gate = run_gate(rows, _int8_ok(), 9000, too_few)
    assert not gate.passed
    assert {c.name for c in gate.failures} >= {"daytime hold-out samples, ghi 60 min"}
