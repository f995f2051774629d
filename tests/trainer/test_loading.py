"""Loading training data: synthetic weather for the config's site when no file is given,
and the digest the manifest records is the digest of exactly what was loaded."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from edge.forecasting.site import load_site
from tests.conftest import REPO
from trainer.config import DEFAULT_CONFIG, load_train_config
from trainer.loading import load_data, synthetic_frame
from trainer.provenance import data_digest

SITE = load_site(REPO / "configs/sites/abuja.toml")


def test_synthetic_frame_is_instantaneous_samples_of_the_sky_model() -> None:
    frame = synthetic_frame(SITE.site, "2025-03-01", days=1, seed=3, sample_minutes=10)
    assert list(frame.columns) == ["ghi", "dni", "dhi", "temp_air"]
    assert len(frame) == 144 and frame.index[0] == pd.Timestamp("2025-03-01", tz="UTC")
    assert frame.attrs == {"interval_minutes": 0.0, "interval_label": "center"}
    assert frame["ghi"].max() > 500.0 and frame["ghi"].min() >= 0.0
    again = synthetic_frame(SITE.site, "2025-03-01", days=1, seed=3, sample_minutes=10)
    pd.testing.assert_frame_equal(frame, again)


def test_without_a_file_the_config_site_is_synthesised_and_digested() -> None:
    cfg = load_train_config(DEFAULT_CONFIG)
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, synthetic_days=2))
    said: list[str] = []
    loaded = load_data(cfg, SITE, None, None, progress=said.append)
    assert loaded.source == f"synthetic:{SITE.site.id}" and loaded.fmt == "synthetic"
    assert loaded.site == SITE.site
    assert loaded.sha256 == data_digest(loaded.frame)
    assert len(loaded.frame) == 2 * 1440 // 5  # 5-min samples (the step is coarser)
    assert said and "2 days" in said[0]


def test_a_file_needs_its_format() -> None:
    cfg = load_train_config(DEFAULT_CONFIG)
    with pytest.raises(ValueError, match="--format"):
        load_data(cfg, SITE, "weather.csv", None)
