"""trainer.blend: ridge correction, per-horizon choice, spread calibration, the one graph."""

# ruff: noqa: PLC0415  (TensorFlow-heavy modules are imported inside the tests that need them)

from __future__ import annotations

import numpy as np
import pytest

from trainer.blend import (
    Blend,
    Ridge,
    blend_candidates,
    calibrate_spreads,
    choose_blend,
    fit_ridge,
)


def _rows(n: int, rng: np.random.Generator, signal: float):
    """Features z, clear-sky index now, a target with a linear correction of size ``signal``."""
    z = rng.normal(size=(n, 5))
    kt = np.clip(0.7 + 0.2 * z[:, 0], 0.0, 1.5)
    y = kt[:, None] + signal * np.stack([z[:, 1], z[:, 2]], axis=1) + 0.05 * rng.normal(
        size=(n, 2))
    use = np.ones((n, 2), bool)
    clear = np.full((n, 2), 800.0)
    return z, kt, y, use, clear


def test_candidates_cover_the_simplex_persistence_first():
    c = blend_candidates(0.1)
    assert len(c) == 66 and c[0] == (1.0, 0.0, 0.0)
    assert all(abs(sum(w) - 1.0) < 1e-12 and min(w) >= 0 for w in c)
    assert {(0.0, 1.0, 0.0), (0.0, 0.0, 1.0)} <= set(c)


def test_ridge_learns_a_linear_correction_and_choice_follows_validation():
    rng = np.random.default_rng(0)
    z, kt, y, use, clear = _rows(3000, rng, 0.1)
    vz, vkt, vy, vuse, vclear = _rows(1000, rng, 0.1)
    ridge = fit_ridge(z, y, use, clear, kt, val=(vz, vy, vuse, vclear, vkt))
    assert ridge.coef[1, 0] == pytest.approx(0.1, abs=0.01)
    assert ridge.coef[2, 1] == pytest.approx(0.1, abs=0.01)
    useless = vkt[:, None] + rng.normal(scale=0.3, size=vy.shape)  # a bad "network"
    weights, report = choose_blend(vkt, ridge.predict(vz, vkt), useless, vy, use=vuse,
                                   clear=vclear)
    assert (weights[:, 1] >= 0.9).all()  # mostly the linear model
    for r in report:
        assert r["rmse_ghi"]["chosen"] <= min(r["rmse_ghi"]["smart_persistence"],
                                              r["rmse_ghi"]["linear"], r["rmse_ghi"]["network"])


def test_pure_persistence_wins_when_nothing_beats_it():
    rng = np.random.default_rng(1)
    _, vkt, vy, vuse, vclear = _rows(2000, rng, 0.0)
    noisy = vkt[:, None] + rng.normal(scale=0.2, size=vy.shape)
    weights, _ = choose_blend(vkt, noisy, noisy + 0.1, vy, use=vuse, clear=vclear)
    assert weights[:, 0] == pytest.approx([1.0, 1.0], abs=0.11)


def test_calibrated_spreads_put_ten_percent_in_each_tail():
    rng = np.random.default_rng(2)
    n = 4000
    p50 = rng.uniform(0.2, 1.0, size=(n, 2))
    spread = rng.uniform(0.05, 0.3, size=(n, 2))
    y = p50 + spread * rng.normal(size=(n, 2))
    use = np.ones((n, 2), bool)
    a, b = calibrate_spreads(p50, spread * 0.3, spread * 3.0, y, use)  # badly scaled spreads
    p10, p90 = p50 - a * spread * 0.3, p50 + b * spread * 3.0
    y2 = p50 + spread * rng.normal(size=(n, 2))  # fresh draws: coverage carries over
    cover = ((y2 >= p10) & (y2 <= p90)).mean(axis=0)
    assert cover == pytest.approx([0.8, 0.8], abs=0.03)


@pytest.mark.tensorflow
def test_blended_graph_computes_the_blend():
    """The Keras graph's P50/P10/P90 equal the numpy blend of its parts."""
    from trainer.blend import build_blended_model
    from trainer.config import ModelSection
    from trainer.model import build_model, predict_quantiles, seed_everything

    seed_everything(0)
    net = build_model(6, 3, ModelSection(hidden=(8,)))
    rng = np.random.default_rng(3)
    z = rng.normal(size=(50, 6)).astype(np.float32)
    ridge = Ridge(rng.normal(scale=0.05, size=(6, 3)), np.array([0.01, -0.02, 0.0]),
                  np.ones(3))
    w = np.array([[1.0, 0.0, 0.0], [0.2, 0.5, 0.3], [0.0, 0.0, 1.0]])
    blend = Blend(w, np.array([0.5, 1.0, 2.0]), np.array([1.5, 1.0, 0.7]), [])
    model = build_blended_model(net, n_hidden=1, kt_index=2, kt_scale=0.3, kt_offset=0.6,
                                ridge=ridge, blend=blend)
    q_net = predict_quantiles(net, z).astype(np.float64)
    q = predict_quantiles(model, z).astype(np.float64)
    kt = z[:, 2] * 0.3 + 0.6
    p50 = blend.p50(kt, ridge.predict(z, kt), q_net[:, :, 1])
    np.testing.assert_allclose(q[:, :, 1], p50, atol=1e-5)
    down, up = q_net[:, :, 1] - q_net[:, :, 0], q_net[:, :, 2] - q_net[:, :, 1]
    np.testing.assert_allclose(q[:, :, 0], p50 - blend.spread_down * down, atol=1e-5)
    np.testing.assert_allclose(q[:, :, 2], p50 + blend.spread_up * up, atol=1e-5)
    np.testing.assert_allclose(q[:, 0, 1], kt, atol=1e-5)  # horizon 0 is pure persistence
