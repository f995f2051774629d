"""Scores and the gate on arrays with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.config import GateSection
from trainer.validate import Int8Report, compare_int8, run_gate, score


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
