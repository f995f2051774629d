"""Training configuration: what ``helio-train fit`` reads from ``configs/train/*.toml``.

Responsible for: the frozen, typed training configuration (site, features,
data split, model, quantization, gate thresholds), loaded strictly through
:func:`firmware_bridge.config.from_mapping` so an unknown key or a wrong type is an
error naming the file and the dotted key.

Does NOT: read data, train, or decide whether a model passes (that is
:mod:`trainer.validate`, which reads the thresholds from here).
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

from edge.forecasting.reference import QUANTILE_LEVELS
from edge.forecasting.site import Site, load_site
from firmware_bridge.config import ConfigError, from_mapping, load_toml

#: The config ``helio-train fit`` uses without ``--config`` (step and horizons from the data).
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "train" / "default.toml"
#: Steps kept as they are; finer data is averaged to 15 min. [min]
KEPT_STEPS = (10, 15, 30, 60)
#: Longest horizon of the default config. [min]
DEFAULT_MAX_HORIZON = 180
#: Training periods from which the default config uses the larger network.
LARGE_DATA_PERIODS = 20000

__all__ = [
    "DEFAULT_CONFIG",
    "DataSection",
    "FeatureSection",
    "GateSection",
    "ModelSection",
    "QuantizationSection",
    "TrainConfig",
    "adapt_to_data",
    "default_horizons",
    "default_step",
    "load_train_config",
]

@dataclasses.dataclass(frozen=True, slots=True)
class FeatureSection:
    """The ``[features]`` table (becomes an :class:`edge.forecasting.features.FeatureSpec`).

    Attributes
    ----------
    step_minutes : int
        Time step of the data the model sees and forecasts at. [min]
    horizons_min : tuple of int
        Forecast horizons, multiples of ``step_minutes``. [min]
    history_steps : int
        Number of past steps of clear-sky index the features include.
    use_temperature : bool
        Add the air temperature feature (data must have ``temp_air``).
    time_features : {"physical", "calendar"}
        ``physical`` (sun position and clear-sky irradiance only) for new
        models; ``calendar`` adds time-of-day and day-of-year angles, as
        models before the physical feature set had (for comparisons).
    """

    step_minutes: int = 15
    horizons_min: tuple[int, ...] = (15, 30, 60, 120, 180)
    history_steps: int = 4
    use_temperature: bool = False
    time_features: typing.Literal["physical", "calendar"] = "physical"

    def __post_init__(self) -> None:
        if self.step_minutes <= 0:
            raise ValueError("step_minutes must be positive")
        if not self.horizons_min:
            raise ValueError("horizons_min must not be empty")
        for h in self.horizons_min:
            if h <= 0 or h % self.step_minutes:
                raise ValueError(f"horizon {h} min is not a positive multiple of the step")
        if list(self.horizons_min) != sorted(set(self.horizons_min)):
            raise ValueError("horizons_min must be strictly increasing")
        if self.history_steps < 1:
            raise ValueError("history_steps must be at least 1")


@dataclasses.dataclass(frozen=True, slots=True)
class DataSection:
    """The ``[data]`` table.

    Attributes
    ----------
    holdout_fraction : float
        Share of the time span (the latest part) held out for the gate when
        no ``--split-date`` is given: the hold-out is always chronological,
        so with a year or more of data it holds a season the model never
        trained on. [-]
    synthetic_days : int
        Days of synthetic weather generated when no data file is given.
    synthetic_start : str
        First day of the synthetic series (ISO date, UTC).
    min_days : float
        Shortest span of data accepted: shorter data is refused with an
        error naming this minimum (0 = no check). [days]
    """

    holdout_fraction: float = 0.25
    synthetic_days: int = 365
    synthetic_start: str = "2025-01-01"
    min_days: float = 0.0

    def __post_init__(self) -> None:
        if not 0.05 <= self.holdout_fraction <= 0.8:
            raise ValueError("holdout_fraction must be within [0.05, 0.8]")
        if self.synthetic_days < 2:
            raise ValueError("synthetic_days must be at least 2")


@dataclasses.dataclass(frozen=True, slots=True)
class ModelSection:
    """The ``[model]`` table: the MLP and its training.

    Attributes
    ----------
    hidden : tuple of int
        Units of each hidden ReLU layer.
    epochs : int
        Training epochs: exactly these without early stopping, the maximum
        with it (``early_stopping_patience``).
    batch_size : int
        Mini-batch size.
    learning_rate : float
        Adam learning rate.
    quantiles : tuple of float
        Must be (0.1, 0.5, 0.9): P10, P50, P90.
    point_weight : float
        Weight of the squared error of P50 added to the pinball loss (0 =
        pure quantile regression; >0 moves P50 towards the mean, which is
        what RMSE and skill reward).
    point_loss_weighting : {"none", "clear_sky_squared"}
        ``clear_sky_squared`` weights each target's P50 squared error by
        its clear-sky GHI squared (normalised to mean 1), so the loss is
        the GHI mean squared error the gate scores, not the clear-sky
        index one (where dawn and dusk count as much as noon).
    early_stopping_patience : int
        0: train exactly ``epochs`` epochs. >0: stop when the loss on the
        validation split has not improved for this many epochs (``epochs``
        is then the maximum) and keep the best epoch's weights.
    validation_fraction : float
        Share of the training period (its latest part) held out of fitting
        as the validation split: early stopping, the per-horizon choice
        between network, linear model and smart persistence, and the
        P10/P90 calibration. The gate's hold-out is never used for any of
        these. [-]
    blend_step : float
        Grid step of the per-horizon blend weights (0.1: 66 candidate
        blends of smart persistence, linear model and network).
    calibrate_quantiles : bool
        Scale the P10/P90 spreads on the validation split so 10 % of its
        targets fall below P10 and 10 % above P90.
    """

    hidden: tuple[int, ...] = (32, 32)
    epochs: int = 30
    batch_size: int = 256
    learning_rate: float = 0.003
    quantiles: tuple[float, ...] = QUANTILE_LEVELS
    point_weight: float = 0.0
    point_loss_weighting: typing.Literal["none", "clear_sky_squared"] = "none"
    early_stopping_patience: int = 0
    validation_fraction: float = 0.2
    blend_step: float = 0.1
    calibrate_quantiles: bool = True

    def __post_init__(self) -> None:
        if not 0.01 <= self.blend_step <= 1.0 or abs(round(1 / self.blend_step)
                                                    * self.blend_step - 1) > 1e-9:
            raise ValueError("blend_step must divide 1 (e.g. 0.1, 0.25, 0.5, 1)")
        if self.point_weight < 0:
            raise ValueError("point_weight must not be negative")
        if self.early_stopping_patience < 0:
            raise ValueError("early_stopping_patience must not be negative")
        if not 0.05 <= self.validation_fraction <= 0.5:
            raise ValueError("validation_fraction must be within [0.05, 0.5]")
        if not self.hidden or any(u < 1 for u in self.hidden):
            raise ValueError("hidden must list positive layer sizes")
        if self.epochs < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise ValueError("epochs, batch_size and learning_rate must be positive")
        if tuple(self.quantiles) != QUANTILE_LEVELS:
            raise ValueError(f"quantiles must be {list(QUANTILE_LEVELS)}")


@dataclasses.dataclass(frozen=True, slots=True)
class QuantizationSection:
    """The ``[quantization]`` table: int8 calibration.

    Attributes
    ----------
    representative_samples : int
        Training rows used to calibrate activation ranges (spread evenly
        over the training span so every season is seen).
    representative_batch : int
        Rows per calibration batch.
    """

    representative_samples: int = 4000
    representative_batch: int = 200

    def __post_init__(self) -> None:
        if self.representative_samples < 100 or self.representative_batch < 1:
            raise ValueError("representative_samples >= 100 and representative_batch >= 1")


@dataclasses.dataclass(frozen=True, slots=True)
class GateSection:
    """The ``[gate]`` table: thresholds a model must meet to be blessed.

    Attributes
    ----------
    targets : tuple of str
        Targets whose skill is gated (of ghi, dni, dhi, pv_power); all four
        are always reported.
    min_skill : float
        Minimum skill vs smart persistence, overall, per gated target and
        horizon. [-]
    min_season_skill : float
        Minimum skill vs smart persistence per season.
    min_cliper_skill : float
        Minimum skill vs CLIPER at horizons of ``cliper_from_min`` and longer.
    cliper_from_min : int
        Shortest horizon the CLIPER check applies to. [min]
    coverage_min, coverage_max : float
        Allowed share of daytime observations inside P10..P90 (nominal 0.8).
    max_int8_rmse_increase : float
        Largest relative RMSE increase of int8 over float32 (0.01 = 1 %).
    max_rail_share : float
        Largest share of int8 outputs at -128 or 127.
    max_model_bytes : int
        Largest model.tflite size. [bytes]
    min_season_samples : int
        Seasons with fewer daytime samples than this are reported, not gated.
    min_holdout_samples : int
        Fewest daytime hold-out samples per gated target and horizon (0 =
        no check): skill measured on a few days says little, so a model
        fitted and judged on too little data is not blessed.
    max_linear_shortfall : float
        The model's skill vs smart persistence may fall at most this far
        below the regularised linear model's on the hold-out (per gated
        target and horizon, overall). Negative: no check.
    skill_tolerance_se : float
        Per-season skill checks and CLIPER checks pass down to this many
        day-block bootstrap standard errors below their threshold (0 =
        strict): they then fail only when the model is significantly worse
        than the threshold, which small season samples need. 1.645 is a
        one-sided 5 % test. The overall checks against smart persistence
        are always strict.
    """

    targets: tuple[str, ...] = ("ghi", "pv_power")
    min_skill: float = 0.0
    min_season_skill: float = 0.0
    min_cliper_skill: float = 0.0
    cliper_from_min: int = 60
    coverage_min: float = 0.6
    coverage_max: float = 0.95
    max_int8_rmse_increase: float = 0.02
    max_rail_share: float = 0.005
    max_model_bytes: int = 65536
    min_season_samples: int = 200
    min_holdout_samples: int = 0
    max_linear_shortfall: float = 0.01
    skill_tolerance_se: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.skill_tolerance_se <= 3.0:
            raise ValueError("skill_tolerance_se must be within [0, 3]")
        bad = set(self.targets) - {"ghi", "dni", "dhi", "pv_power"}
        if bad or not self.targets:
            raise ValueError(f"targets must be among ghi, dni, dhi, pv_power (got {sorted(bad)})")
        if not 0.0 <= self.coverage_min < self.coverage_max <= 1.0:
            raise ValueError("need 0 <= coverage_min < coverage_max <= 1")


@dataclasses.dataclass(frozen=True, slots=True)
class TrainConfig:
    """A whole training config file.

    Attributes
    ----------
    site : str
        Site file; a relative path is resolved against the config file's
        directory, then the working directory.
    seed : int
        Seed for data shuffling, weight initialisation and synthetic data.
    model_version : str
        Version label written to the manifest (``<label>`` plus a timestamp
        is not added: the same inputs give the same bundle).
    """

    site: str
    seed: int = 42
    model_version: str = "0.1.0"
    features: FeatureSection = FeatureSection()
    data: DataSection = DataSection()
    model: ModelSection = ModelSection()
    quantization: QuantizationSection = QuantizationSection()
    gate: GateSection = GateSection()
    #: Directory of the file this was loaded from (not a TOML key).
    base_dir: str = dataclasses.field(default=".", init=False, compare=False)

    def site_path(self) -> Path:
        """The site file, resolved as described for :attr:`site`."""
        p = Path(self.site)
        if p.is_absolute():
            return p
        near = Path(self.base_dir) / p
        return near if near.exists() else p

    def load_site(self) -> Site:
        """Load the site file named by :attr:`site`."""
        return load_site(self.site_path())



def load_train_config(path: str | Path) -> TrainConfig:
    """Load a training config, strictly.

    Raises
    ------
    firmware_bridge.config.ConfigError
        On an unreadable file, unknown key, wrong type or bad value.
    """
    cfg = from_mapping(TrainConfig, load_toml(path), path=path)
    object.__setattr__(cfg, "base_dir", str(Path(path).resolve().parent))
    if not cfg.site_path().exists():
        raise ConfigError(path, "site", f"site file {cfg.site!r} not found")
    return cfg


def default_step(resolution_minutes: float) -> int:
    """The model step for data of a given resolution.

    1- to 5-min data are averaged to 15 min; 10, 15, 30 and 60 min are
    kept; a resolution in between goes up to the next of those.

    Raises
    ------
    ValueError
        Resolution coarser than 60 min.
    """
    if resolution_minutes <= 5.0 + 1e-9:
        return 15
    for step in KEPT_STEPS:
        if resolution_minutes <= step + 1e-9:
            return step
    raise ValueError(f"data resolution {resolution_minutes:g} min is coarser than the 60-min "
                     "step short-term forecasts need")


def default_horizons(step: int) -> tuple[int, ...]:
    """One and two steps, then 60, 120 and 180 min (those that are multiples of the step)."""
    cands = {step, 2 * step, 60, 120, DEFAULT_MAX_HORIZON}
    return tuple(sorted(h for h in cands if h % step == 0 and h <= DEFAULT_MAX_HORIZON))


def adapt_to_data(cfg: TrainConfig, resolution_minutes: float, span_days: float) -> TrainConfig:
    """The default config fitted to a data set: step, horizons and network size.

    Parameters
    ----------
    cfg : TrainConfig
        Usually :data:`DEFAULT_CONFIG` loaded.
    resolution_minutes : float
        Averaging interval (or spacing) of the data. [min]
    span_days : float
        Time the data covers. [days]

    Raises
    ------
    ValueError
        Data coarser than 60 min (see :func:`default_step`).
    """
    step = default_step(resolution_minutes)
    features = dataclasses.replace(cfg.features, step_minutes=step,
                                   horizons_min=default_horizons(step))
    model = cfg.model
    periods = span_days * 1440.0 / step * (1.0 - cfg.data.holdout_fraction)
    if periods > LARGE_DATA_PERIODS:
        model = dataclasses.replace(model, hidden=(32, 32), batch_size=256)
    out = dataclasses.replace(cfg, features=features, model=model)
    object.__setattr__(out, "base_dir", cfg.base_dir)
    return out
