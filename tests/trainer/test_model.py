"""The quantile MLP: shape, non-crossing quantiles, masked pinball loss, determinism."""

# ruff: noqa: PLC0415  (TensorFlow-heavy modules are imported inside the tests that need them)

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.tensorflow


def _data(n: int = 1500, n_in: int = 12, n_h: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n_in)).astype(np.float32)
    y = np.clip(0.7 + 0.15 * x[:, :n_h] + 0.1 * rng.normal(size=(n, n_h)), 0, 1.4)
    return x, y.astype(np.float32), np.ones((n, n_h), bool)


def test_build_model_named_input_and_quantile_major_output() -> None:
    from trainer.config import ModelSection
    from trainer.model import build_model

    model = build_model(12, 4, ModelSection(hidden=(8,)))
    assert model.inputs[0].name == "features"
    assert model.output_shape == (None, 12)


def test_quantiles_never_cross_even_untrained() -> None:
    from trainer.config import ModelSection
    from trainer.model import build_model, predict_quantiles, seed_everything

    seed_everything(3)
    model = build_model(12, 4, ModelSection(hidden=(16, 16)))
    x = np.random.default_rng(1).normal(scale=5.0, size=(2000, 12)).astype(np.float32)
    q = predict_quantiles(model, x)
    assert q.shape == (2000, 4, 3)
    assert np.all(np.diff(q, axis=2) >= 0)


def test_pinball_loss_ignores_masked_targets() -> None:
    from trainer.model import pinball_loss

    loss = pinball_loss(2)
    pred = np.array([[0.4, 0.4, 0.5, 0.5, 0.6, 0.6]], np.float32)
    y_good = np.array([[0.5, 0.5, 1.0, 1.0]], np.float32)  # both targets count
    y_masked = np.array([[0.5, 99.0, 1.0, 0.0]], np.float32)  # the 2nd target is masked out
    y_one = np.array([[0.5, 0.5, 1.0, 0.0]], np.float32)
    assert float(loss(y_masked, pred)[0]) == pytest.approx(float(loss(y_one, pred)[0]))
    # P10 0.4, P50 0.5, P90 0.6 around 0.5: 0.1*0.1 + 0 + 0.1*0.1 over 3 quantiles
    assert float(loss(y_good, pred)[0]) == pytest.approx(0.02 / 3, rel=1e-5)


@pytest.mark.slow
def test_training_learns_and_brackets_the_data() -> None:
    from trainer.config import ModelSection
    from trainer.model import fit_model, predict_quantiles

    x, y, mask = _data()
    model = fit_model(x, y, mask, ModelSection(hidden=(16,), epochs=15, batch_size=64), seed=1)
    q = predict_quantiles(model, x)
    rmse = np.sqrt(np.mean((q[:, :, 1] - y) ** 2))
    assert rmse < 0.75 * y.std()  # a constant gives 1.0; the noise floor is about 0.55
    inside = np.mean((y >= q[:, :, 0]) & (y <= q[:, :, 2]))
    assert 0.6 < inside < 0.95


def test_fit_rejects_bad_input() -> None:
    from trainer.config import ModelSection
    from trainer.model import fit_model

    x, y, mask = _data(50)
    with pytest.raises(ValueError, match="no daytime"):
        fit_model(x, y, np.zeros_like(mask), ModelSection(epochs=1), seed=0)
    x[0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        fit_model(x, y, mask, ModelSection(epochs=1), seed=0)


def test_feature_scaling_round_trip() -> None:
    from trainer.model import FeatureScaling

    x = np.random.default_rng(0).normal(3.0, 2.0, size=(500, 4)).astype(np.float32)
    x[:, 3] = 7.0  # constant column: scale floored, no division by zero
    s = FeatureScaling.fit(x)
    z = s.apply(x)
    np.testing.assert_allclose(z[:, :3].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(z[:, :3].std(axis=0), 1.0, atol=1e-4)
    assert np.isfinite(z).all()
    assert set(s.to_dict()) == {"offset", "scale"}


def test_clear_sky_weights_are_squared_and_normalised_over_used_targets() -> None:
    from trainer.model import clear_sky_weights

    clear = np.array([[100.0, 200.0], [300.0, 900.0]])
    use = np.array([[True, True], [True, False]])
    w = clear_sky_weights(clear, use)
    assert w[1, 1] == 0.0
    assert w[use].mean() == pytest.approx(1.0)
    assert w[0, 1] / w[0, 0] == pytest.approx(4.0)
    assert w[1, 0] / w[0, 0] == pytest.approx(9.0)


def test_weighted_loss_scales_the_point_error_by_the_target_weight() -> None:
    from trainer.model import pinball_loss

    loss = pinball_loss(1, point_weight=1.0, weighted=True)
    pred = np.array([[0.5, 0.5, 0.5]], np.float32)  # P10 = P50 = P90 = 0.5
    y1 = np.array([[0.7, 1.0, 1.0]], np.float32)
    y3 = np.array([[0.7, 1.0, 3.0]], np.float32)
    pinball = (0.1 * 0.2 + 0.5 * 0.2 + 0.9 * 0.2) / 3
    assert float(loss(y1, pred)[0]) == pytest.approx(pinball + 0.04, rel=1e-5)
    assert float(loss(y3, pred)[0]) == pytest.approx(pinball + 3 * 0.04, rel=1e-5)


def test_early_stopping_keeps_the_best_validation_epoch() -> None:
    import keras

    from trainer.config import ModelSection
    from trainer.model import fit_model, pinball_loss

    # pure-noise targets and a wide net: it overfits within a few epochs
    rng = np.random.default_rng(0)
    x, vx = (rng.normal(size=(200, 12)).astype(np.float32) for _ in range(2))
    y, vy = ((0.7 + 0.2 * rng.normal(size=(200, 2))).astype(np.float32) for _ in range(2))
    mask = np.ones(y.shape, bool)
    clear = np.full(y.shape, 800.0)
    cfg = ModelSection(hidden=(64,), epochs=60, batch_size=16, learning_rate=0.01,
                       early_stopping_patience=3, point_weight=1.0,
                       point_loss_weighting="clear_sky_squared")
    model = fit_model(x, y, mask, cfg, seed=2, ghi_clear=clear,
                      validation=(vx, vy, mask, clear))
    history = model.history.history["val_loss"]
    assert len(history) < cfg.epochs  # it stopped
    assert model.best_epoch == int(np.argmin(history)) + 1 < len(history)
    val_true = np.concatenate([vy, mask, np.ones_like(vy)], axis=1).astype(np.float32)
    loss = pinball_loss(y.shape[1], 1.0, weighted=True)
    kept = float(keras.ops.mean(loss(val_true, model(vx, training=False))))
    assert kept == pytest.approx(min(history), rel=1e-3)  # the best weights, not the last
    with pytest.raises(ValueError, match="validation split"):
        fit_model(x, y, mask, cfg, seed=2, ghi_clear=clear)
    with pytest.raises(ValueError, match="ghi_clear"):
        fit_model(x, y, mask, cfg, seed=2, validation=(vx, vy, mask, None))
