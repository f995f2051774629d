"""Per-horizon model choice on the validation split, and the one graph that computes it.

Responsible for: a ridge (L2-regularised linear) model of the correction to
smart persistence on the same standardised features as the network; the
choice, per horizon, of a convex blend of smart persistence, that linear
model and the network's P50 that has the lowest GHI RMSE on the
validation split (carved out of the training period, never the hold-out);
the recalibration of the P10/P90 spreads on the same split (quantile
scaling: each horizon's down and up spread is multiplied by the factor
that puts 10 % of the validation targets below P10 and 10 % above P90);
and the Keras graph that computes all of it from the feature vector, so
the bundle stays ONE full-integer int8 TFLite model the edge runs
unchanged.

Does NOT: train the network (:mod:`trainer.model`), build features or
splits (:mod:`trainer.dataset`), convert (:mod:`trainer.quantize`) or
score the hold-out (:mod:`trainer.evaluation`).

The graph
---------
With ``z`` the standardised features, ``k = z[kt_lag0] * scale + offset``
the clear-sky index now (smart persistence), ``r(z)`` the ridge correction
and ``n(z)`` the network's P50, horizon ``j`` gives::

    P50 = w_sp * k + w_lin * (k + r(z)) + w_nn * n(z)      (w_sp + w_lin + w_nn = 1)
    P10 = P50 - a * |down(z)|,   P90 = P50 + b * |up(z)|

The first two terms are one linear map of ``z`` (a Dense layer with fixed
weights), the third a fixed per-horizon factor: plain int8 TFLite ops.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import numpy as np

__all__ = [
    "Blend",
    "Ridge",
    "blend_candidates",
    "build_blended_model",
    "calibrate_spreads",
    "choose_blend",
    "fit_ridge",
]

#: Ridge penalties tried, per horizon, on the validation split (times the row count).
RIDGE_ALPHAS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
#: Smallest spread used when dividing by it. [unitless clear-sky index]
_MIN_SPREAD = 1e-3


@dataclasses.dataclass(frozen=True)
class Ridge:
    """Linear correction to smart persistence: ``k + z @ coef + intercept`` per horizon.

    Attributes
    ----------
    coef : numpy.ndarray
        ``(n_features, n_horizons)`` on standardised features.
    intercept : numpy.ndarray
        ``(n_horizons,)``.
    alpha : numpy.ndarray
        Penalty chosen per horizon (relative to the weighted row count).
    """

    coef: np.ndarray
    intercept: np.ndarray
    alpha: np.ndarray

    def predict(self, z: np.ndarray, kt_now: np.ndarray) -> np.ndarray:
        """Clear-sky index per row and horizon, ``(n, n_h)``."""
        return np.asarray(kt_now[:, None] + z @ self.coef + self.intercept[None, :], np.float64)


def _ghi_rmse(pred: np.ndarray, y: np.ndarray, clear: np.ndarray, use: np.ndarray) -> float:
    err = (pred - y) * clear
    return float(np.sqrt(np.mean(err[use] ** 2))) if use.any() else float("nan")


def _solve(z: np.ndarray, r: np.ndarray, w: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Weighted ridge with an unpenalised intercept (features centred by the weights)."""
    sw = w.sum()
    mz = (w[:, None] * z).sum(axis=0) / sw
    mr = float((w * r).sum() / sw)
    zc = z - mz
    a = (zc * w[:, None]).T @ zc + alpha * sw * np.eye(z.shape[1])
    beta = np.linalg.solve(a, (zc * w[:, None]).T @ (r - mr))
    return beta, mr - float(mz @ beta)


def fit_ridge(z: np.ndarray, y: np.ndarray, use: np.ndarray, clear: np.ndarray, kt_now: np.ndarray,
              *, val: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
              alphas: tuple[float, ...] = RIDGE_ALPHAS) -> Ridge:
    """Fit the correction ``y - kt_now`` per horizon; pick each horizon's alpha on ``val``.

    Rows are weighted by clear-sky GHI squared, so the fit minimises the
    GHI squared error the gate scores (not the clear-sky index error).

    Parameters
    ----------
    z, y, use, clear, kt_now : numpy.ndarray
        Fitting rows: standardised features ``(n, f)``, target clear-sky
        index ``(n, h)``, which targets count ``(n, h)``, clear-sky GHI of
        each target ``(n, h)`` [W/m²] and the clear-sky index now ``(n,)``.
    val : tuple
        The same five arrays for the validation rows.
    """
    zv, yv, usev, clearv, ktv = val
    n_h = y.shape[1]
    coef = np.zeros((z.shape[1], n_h))
    icpt = np.zeros(n_h)
    chosen = np.zeros(n_h)
    z64 = np.asarray(z, np.float64)
    for j in range(n_h):
        m = use[:, j]
        if m.sum() < z.shape[1] + 2:
            continue  # too few rows: the correction stays 0 (smart persistence)
        r = y[m, j].astype(np.float64) - kt_now[m]
        w = np.square(clear[m, j].astype(np.float64))
        best = (np.inf, 0.0, np.zeros(z.shape[1]), 0.0)
        for alpha in alphas:
            beta, b0 = _solve(z64[m], r, w, alpha)
            pred = ktv + np.asarray(zv, np.float64) @ beta + b0
            score = _ghi_rmse(pred, yv[:, j], clearv[:, j], usev[:, j])
            if score < best[0]:
                best = (score, alpha, beta, b0)
        _, chosen[j], coef[:, j], icpt[j] = best
    return Ridge(coef, icpt, chosen)


def blend_candidates(step: float) -> list[tuple[float, float, float]]:
    """Weights ``(smart persistence, linear, network)`` on a simplex grid.

    Ordered from pure smart persistence outwards, so among equal scores the
    simplest blend (most persistence) wins.
    """
    n = round(1.0 / step)
    out = [(i / n, j / n, (n - i - j) / n) for i, j in itertools.product(range(n + 1), repeat=2)
           if i + j <= n]
    return sorted(out, key=lambda w: (-w[0], -w[1]))


@dataclasses.dataclass(frozen=True)
class Blend:
    """The chosen per-horizon weights, spreads and their validation scores.

    Attributes
    ----------
    weights : numpy.ndarray
        ``(n_h, 3)`` weights of smart persistence, the linear model and the
        network; each row sums to 1.
    spread_down, spread_up : numpy.ndarray
        ``(n_h,)`` factors on the network's down and up spreads (P10/P90).
    validation : list of dict
        Per horizon: validation GHI RMSE of each candidate and the choice.
    """

    weights: np.ndarray
    spread_down: np.ndarray
    spread_up: np.ndarray
    validation: list[dict[str, Any]]

    def p50(self, kt_now: np.ndarray, linear: np.ndarray, network: np.ndarray) -> np.ndarray:
        """Blended P50 clear-sky index ``(n, n_h)``."""
        w = self.weights
        return np.asarray(w[:, 0] * kt_now[:, None] + w[:, 1] * linear + w[:, 2] * network)


def choose_blend(kt_now: np.ndarray, linear: np.ndarray, network: np.ndarray, y: np.ndarray,
                 *, use: np.ndarray, clear: np.ndarray, step: float = 0.1
                 ) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Per horizon, the convex blend with the lowest validation GHI RMSE.

    Parameters
    ----------
    kt_now : numpy.ndarray
        ``(n,)`` clear-sky index now (smart persistence).
    linear, network, y, use, clear : numpy.ndarray
        ``(n, n_h)``: the linear model's and the network's P50, the target,
        which targets count, and clear-sky GHI [W/m²], on validation rows.
    step : float
        Grid step of the weights.

    Returns
    -------
    weights : numpy.ndarray
        ``(n_h, 3)``.
    report : list of dict
        Per horizon: ``n`` and the validation GHI RMSE of smart
        persistence, linear, network and the chosen blend. [W/m²]
    """
    cands = blend_candidates(step)
    n_h = y.shape[1]
    weights = np.zeros((n_h, 3))
    report = []
    sp = np.repeat(kt_now[:, None], n_h, axis=1)
    for j in range(n_h):
        m = use[:, j]
        scores = [_ghi_rmse(a * sp[:, j] + b * linear[:, j] + c * network[:, j], y[:, j],
                            clear[:, j], m) for a, b, c in cands]
        best = int(np.nanargmin(scores)) if np.isfinite(scores).any() else 0
        weights[j] = cands[best]
        report.append({
            "n": int(m.sum()),
            "rmse_ghi": {
                "smart_persistence": _ghi_rmse(sp[:, j], y[:, j], clear[:, j], m),
                "linear": _ghi_rmse(linear[:, j], y[:, j], clear[:, j], m),
                "network": _ghi_rmse(network[:, j], y[:, j], clear[:, j], m),
                "chosen": scores[best],
            },
            "weights": {"smart_persistence": cands[best][0], "linear": cands[best][1],
                        "network": cands[best][2]},
        })
    return weights, report


def _conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The ``level`` quantile with the split-conformal finite-sample correction."""
    n = scores.size
    if n == 0:
        return 1.0
    q = min(1.0, np.ceil((n + 1) * level) / n)
    return float(np.quantile(scores, q, method="higher"))


def calibrate_spreads(p50: np.ndarray, down: np.ndarray, up: np.ndarray, y: np.ndarray,
                      use: np.ndarray, *, tail: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Factors ``a, b`` per horizon so ``tail`` of validation targets fall below/above.

    ``P10 = P50 - a * down`` and ``P90 = P50 + b * up``: ``a`` is the
    ``1 - tail`` quantile of ``(P50 - y) / down`` over the validation
    targets (quantile scaling of the network's spreads), likewise ``b``.
    """
    n_h = y.shape[1]
    a, b = np.ones(n_h), np.ones(n_h)
    for j in range(n_h):
        m = use[:, j]
        d = np.maximum(down[m, j], _MIN_SPREAD)
        u = np.maximum(up[m, j], _MIN_SPREAD)
        a[j] = max(0.0, _conformal_quantile((p50[m, j] - y[m, j]) / d, 1.0 - tail))
        b[j] = max(0.0, _conformal_quantile((y[m, j] - p50[m, j]) / u, 1.0 - tail))
    return a, b


def build_blended_model(network: Any, *, n_hidden: int, kt_index: int, kt_scale: float,
                        kt_offset: float, ridge: Ridge, blend: Blend) -> Any:
    """The final Keras model: the network's layers plus the fixed blend and spread factors.

    Parameters
    ----------
    network : keras.Model
        From :func:`trainer.model.build_model` (trained): layers
        ``hidden_*``, ``p50_mlp``, ``p50_linear``, ``spread_down``,
        ``spread_up``.
    n_hidden : int
        Number of hidden layers.
    kt_index, kt_scale, kt_offset : int, float, float
        Position of ``kt_lag0`` in the features and its standardisation.
    ridge : Ridge
    blend : Blend

    Returns
    -------
    keras.Model
        Same input and output layout as the network (quantile-major).
    """
    import keras  # noqa: PLC0415

    n_f = network.input_shape[-1]
    n_h = len(blend.weights)
    w = blend.weights
    inp = keras.Input((n_f,), name="features")
    h = inp
    for i in range(n_hidden):
        h = network.get_layer(f"hidden_{i}")(h)
    p50_nn = keras.layers.Add(name="network_p50")([
        network.get_layer("p50_mlp")(h), network.get_layer("p50_linear")(inp)])
    down = keras.layers.Activation(keras.ops.absolute, name="spread_down_abs")(
        network.get_layer("spread_down")(h))
    up = keras.layers.Activation(keras.ops.absolute, name="spread_up_abs")(
        network.get_layer("spread_up")(h))
    # smart persistence and the linear model: one linear map of z
    lin_w = np.outer(np.eye(n_f)[kt_index] * kt_scale, w[:, 0] + w[:, 1])
    lin_w += ridge.coef * w[:, 1][None, :]
    lin_b = (w[:, 0] + w[:, 1]) * kt_offset + w[:, 1] * ridge.intercept
    linear = keras.layers.Dense(n_h, name="persistence_linear_head")
    nn_gain = keras.layers.Dense(n_h, use_bias=False, name="network_weight")
    gain_down = keras.layers.Dense(n_h, use_bias=False, name="spread_down_scale")
    gain_up = keras.layers.Dense(n_h, use_bias=False, name="spread_up_scale")
    p50 = keras.layers.Add(name="p50")([linear(inp), nn_gain(p50_nn)])
    p10 = keras.layers.Subtract(name="p10")([p50, gain_down(down)])
    p90 = keras.layers.Add(name="p90")([p50, gain_up(up)])
    out = keras.layers.Concatenate(name="quantiles")([p10, p50, p90])
    model = keras.Model(inp, out, name="helio_blended_quantiles")
    linear.set_weights([lin_w.astype(np.float32), lin_b.astype(np.float32)])
    nn_gain.set_weights([np.diag(w[:, 2]).astype(np.float32)])
    gain_down.set_weights([np.diag(blend.spread_down).astype(np.float32)])
    gain_up.set_weights([np.diag(blend.spread_up).astype(np.float32)])
    return model
