"""The forecast network: a small MLP giving P10/P50/P90 that never cross.

Responsible for: building the Keras model (input named ``features``),
the pinball (quantile) loss, deterministic training, and the feature
standardisation the edge applies before quantising the input.

Does NOT: compute features or targets (:mod:`trainer.dataset`), convert to
TFLite (:mod:`trainer.quantize`) or judge the model (:mod:`trainer.validate`).

Output layout (the contract with :mod:`edge.forecasting.predictor`): one vector of
``3 * n_horizons`` values, quantile-major: ``[P10 of every horizon, P50 of
every horizon, P90 of every horizon]``. P10 = P50 - |a| and
P90 = P50 + |b|, so the float model cannot cross; int8 rounding can make
neighbours equal or, rarely, swap by one quantum, which the edge repairs by
sorting each horizon's triple.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from edge.forecasting.reference import QUANTILE_LEVELS
from trainer.config import ModelSection

__all__ = [
    "QUANTILES",
    "FeatureScaling",
    "build_model",
    "clear_sky_weights",
    "fit_model",
    "pinball_loss",
    "predict_quantiles",
    "seed_everything",
]

QUANTILES = QUANTILE_LEVELS
_MIN_STD = 1e-6


@dataclasses.dataclass(frozen=True)
class FeatureScaling:
    """Per-feature standardisation: ``z = (x - offset) / scale``.

    Attributes
    ----------
    offset : numpy.ndarray
        Mean of each training feature.
    scale : numpy.ndarray
        Standard deviation of each training feature (at least 1e-6).
    """

    offset: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> FeatureScaling:
        """Scaling from training features ``x`` (rows are samples)."""
        x = np.asarray(x, dtype=np.float64)
        std = x.std(axis=0)
        return cls(
            offset=x.mean(axis=0).astype(np.float32),
            scale=np.maximum(std, _MIN_STD).astype(np.float32),
        )

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Standardised float32 copy of ``x``."""
        z = (np.asarray(x, dtype=np.float32) - self.offset) / self.scale
        return np.asarray(z, dtype=np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        """JSON form stored in the manifest (``features.scaling``)."""
        return {
            "offset": [float(v) for v in self.offset],
            "scale": [float(v) for v in self.scale],
        }


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy, TensorFlow and Keras, and turn on op determinism."""
    os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def build_model(n_features: int, n_horizons: int, cfg: ModelSection) -> Any:
    """The quantile MLP.

    Parameters
    ----------
    n_features : int
        Length of the (standardised) feature vector.
    n_horizons : int
        Number of forecast horizons.
    cfg : ModelSection
        Hidden layer sizes.

    Returns
    -------
    keras.Model
        Input ``features`` of shape (n_features,), output ``3 * n_horizons``
        clear-sky index quantiles, quantile-major. Layers are named
        explicitly so two builds in one process give identical graphs.
    """
    inp = keras.Input((n_features,), name="features")
    h = inp
    for i, units in enumerate(cfg.hidden):
        h = keras.layers.Dense(units, activation="relu", name=f"hidden_{i}")(h)
    # P50 = nonlinear part + a linear skip from the inputs, so persistence
    # (the clear-sky index now) is easy to represent from the first step
    p50 = keras.layers.Add(name="p50")([
        keras.layers.Dense(n_horizons, name="p50_mlp")(h),
        keras.layers.Dense(n_horizons, use_bias=False, name="p50_linear")(inp),
    ])
    # spreads are |dense|: non-negative without a dead zone (a ReLU spread that dies
    # collapses a quantile onto P50 for good); ABS is a plain int8 TFLite op
    down = keras.layers.Activation(keras.ops.absolute, name="spread_down_abs")(
        keras.layers.Dense(n_horizons, name="spread_down")(h)
    )
    up = keras.layers.Activation(keras.ops.absolute, name="spread_up_abs")(
        keras.layers.Dense(n_horizons, name="spread_up")(h)
    )
    p10 = keras.layers.Subtract(name="p10")([p50, down])
    p90 = keras.layers.Add(name="p90")([p50, up])
    out = keras.layers.Concatenate(name="quantiles")([p10, p50, p90])
    return keras.Model(inp, out, name="helio_quantile_mlp")


def pinball_loss(n_horizons: int, point_weight: float = 0.0, *, weighted: bool = False) -> Any:
    """Masked mean pinball loss over P10/P50/P90 for quantile-major outputs.

    ``y_true`` is ``[targets (n_h), mask (n_h)]``: targets where the mask is
    0 (night, missing) do not count. ``point_weight`` adds that multiple of
    the squared error of P50, pulling the middle output from the median
    towards the mean (the RMSE-optimal point forecast the gate scores).
    With ``weighted``, ``y_true`` has a third block of ``n_h`` per-target
    weights that multiply the squared-error term (see
    :func:`clear_sky_weights`: the gate scores GHI, i.e. clear-sky index
    error times clear-sky GHI, so noon errors count more than dawn ones).
    """
    taus = np.repeat(np.asarray(QUANTILES, dtype=np.float32), n_horizons)[None, :]

    def loss(y_true: Any, y_pred: Any) -> Any:
        y, w = y_true[:, :n_horizons], y_true[:, n_horizons : 2 * n_horizons]
        y3 = keras.ops.concatenate([y, y, y], axis=-1)
        w3 = keras.ops.concatenate([w, w, w], axis=-1)
        err = y3 - y_pred
        per = keras.ops.maximum(taus * err, (taus - 1.0) * err) * w3
        total = keras.ops.sum(per, axis=-1) / keras.ops.maximum(keras.ops.sum(w3, axis=-1), 1.0)
        if point_weight:
            sq = keras.ops.square(y - y_pred[:, n_horizons : 2 * n_horizons]) * w
            if weighted:
                sq = sq * y_true[:, 2 * n_horizons :]
            total += point_weight * keras.ops.sum(sq, axis=-1) / keras.ops.maximum(
                keras.ops.sum(w, axis=-1), 1.0
            )
        return total

    return loss


def clear_sky_weights(ghi_clear: np.ndarray, use: np.ndarray) -> np.ndarray:
    """Squared-error weights ``ghi_clear**2``, normalised to mean 1 over used targets.

    Parameters
    ----------
    ghi_clear : numpy.ndarray
        Clear-sky GHI of each target period, shape (n, n_horizons). [W/m²]
    use : numpy.ndarray of bool
        Which targets count.
    """
    w = np.square(np.where(use, np.asarray(ghi_clear, dtype=np.float64), 0.0))
    mean = float(w[use].mean()) if use.any() else 0.0
    return (w / mean if mean > 0 else np.where(use, 1.0, 0.0)).astype(np.float32)


def _y_true(y: np.ndarray, use: np.ndarray, weight: np.ndarray | None) -> np.ndarray:
    blocks = [np.where(use, y, 0.0), use]
    if weight is not None:
        blocks.append(np.where(use, weight, 0.0))
    return np.concatenate(blocks, axis=1).astype(np.float32)


def _use(y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.asarray(np.asarray(mask, dtype=bool) & np.isfinite(y), dtype=bool)


def fit_model(
    x: np.ndarray,
    y: np.ndarray,
    mask: np.ndarray,
    cfg: ModelSection,
    *,
    seed: int,
    progress: Any = None,
    ghi_clear: np.ndarray | None = None,
    validation: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None] | None = None,
) -> Any:
    """Train the quantile MLP deterministically.

    Parameters
    ----------
    x : numpy.ndarray
        Standardised training features, shape (n, n_features).
    y : numpy.ndarray
        Clear-sky index targets, shape (n, n_horizons); NaN where missing. [-]
    mask : numpy.ndarray of bool
        Which targets count (daytime and measured), shape of ``y``.
    cfg : ModelSection
        Architecture and training settings.
    seed : int
        Seed for initialisation and shuffling.
    progress : callable, optional
        Called as ``progress(epoch, loss)`` after each epoch.
    ghi_clear : numpy.ndarray, optional
        Clear-sky GHI of each target, shape of ``y``; needed when
        ``cfg.point_loss_weighting`` is ``"clear_sky_squared"``. [W/m²]
    validation : tuple, optional
        ``(x, y, mask, ghi_clear)`` of a chronological validation split
        carved out of the training period. With
        ``cfg.early_stopping_patience`` > 0, training stops once its loss
        has not improved for that many epochs and the best epoch's weights
        are restored.

    Returns
    -------
    keras.Model
        The trained model; ``model.best_epoch`` is the epoch kept.
    """
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
        raise ValueError(f"x {x.shape} and y {y.shape} must be 2-D with equal rows")
    use = _use(y, mask)
    if not np.isfinite(x).all():
        raise ValueError("training features must be finite")
    if not use.any():
        raise ValueError("no daytime, measured targets to train on")
    weighted = cfg.point_loss_weighting == "clear_sky_squared"
    if weighted and ghi_clear is None:
        raise ValueError("clear_sky_squared weighting needs ghi_clear")
    stop = cfg.early_stopping_patience > 0
    if stop and validation is None:
        raise ValueError("early stopping needs a validation split")
    weight = clear_sky_weights(ghi_clear, use) if ghi_clear is not None and weighted else None
    y_true = _y_true(y, use, weight)
    seed_everything(seed)
    model = build_model(x.shape[1], y.shape[1], cfg)
    model.compile(
        optimizer=keras.optimizers.Adam(cfg.learning_rate),
        loss=pinball_loss(y.shape[1], cfg.point_weight, weighted=weighted),
    )
    callbacks: list[Any] = []
    val_data = None
    if stop and validation is not None:
        vx, vy, vmask, vclear = validation
        vuse = _use(vy, vmask)
        if not vuse.any():
            raise ValueError("no daytime, measured targets in the validation split")
        if weighted and vclear is None:
            raise ValueError("clear_sky_squared weighting needs the validation ghi_clear")
        vw = clear_sky_weights(vclear, vuse) if weighted and vclear is not None else None
        val_data = (vx.astype(np.float32), _y_true(vy, vuse, vw))
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=cfg.early_stopping_patience, restore_best_weights=True))
    if progress is not None:
        callbacks.append(
            keras.callbacks.LambdaCallback(
                on_epoch_end=lambda epoch, logs: progress(epoch + 1, float(logs["loss"]))
            )
        )
    hist = model.fit(
        x.astype(np.float32),
        y_true,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        shuffle=True,
        verbose=0,
        callbacks=callbacks,
        validation_data=val_data,
    )
    losses = hist.history.get("val_loss") or hist.history["loss"]
    model.best_epoch = int(np.argmin(losses)) + 1 if stop else len(losses)
    return model


def predict_quantiles(model: Any, x: np.ndarray) -> np.ndarray:
    """Keras model output for standardised ``x``, as (n, n_horizons, 3) P10/P50/P90."""
    out = np.asarray(model.predict(x.astype(np.float32), verbose=0, batch_size=4096))
    n_h = out.shape[1] // 3
    return out.reshape(len(out), 3, n_h).transpose(0, 2, 1)
