"""The synthetic site weather and PV power: lined up with the sun, one-minute by default
(the ``helio-train synth`` command: tests/trainer/commands/test_synth.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from edge.forecasting.site import load_site
from edge.forecasting.solar import clear_sky
from trainer.synth import synthesize

ROOT = Path(__file__).resolve().parents[2]
SITE_FILE = ROOT / "configs/sites/abuja.toml"


@pytest.fixture(scope="module")
def abuja():
    return load_site(SITE_FILE)


def test_synth_period_means_line_up_with_the_sun(abuja):
    """End-labelled means: read back, the data's noon matches the computed noon."""
    frame = synthesize(abuja, pd.Timestamp("2026-01-05").date(), 3, step_minutes=60, seed=1)
    centres = frame.index - pd.Timedelta(minutes=30)
    cs = clear_sky(abuja.site, centres)["ghi_clear"].to_numpy()
    corr = {s: np.corrcoef(frame["ghi"], clear_sky(
        abuja.site, centres + pd.Timedelta(minutes=s))["ghi_clear"])[0, 1]
        for s in (-30, 0, 30)}
    assert max(corr, key=corr.get) == 0, corr
    assert np.corrcoef(frame["ghi"], cs)[0, 1] > 0.8


def test_synth_one_minute_default(abuja):
    frame = synthesize(abuja, pd.Timestamp("2026-06-01").date(), 1)
    assert len(frame) == 1440
    assert frame.index[0] == pd.Timestamp("2026-06-01 00:01", tz="UTC")
    day = frame["ghi"] > 0
    assert 500 < day.sum() < 900  # about 12.5 h of daylight in Abuja
