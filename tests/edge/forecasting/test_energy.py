"""Expected PV energy from the power forecast: next 3 h and rest of the local day (issue 12)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from edge.forecasting.energy import energy_outlook, local_day_end
from edge.forecasting.forecast import pv_power
from edge.forecasting.site import load_site
from edge.forecasting.solar import clear_sky

REPO = Path(__file__).resolve().parents[3]
SITE = load_site(REPO / "configs/sites/abuja.toml")
HORIZONS = (15, 30, 60, 120, 180)


def _clear_pv(ends: pd.DatetimeIndex) -> np.ndarray:
    """Clear-sky PV power of each 15-minute period ending at ``ends``. [W]"""
    geo = clear_sky(SITE.site, ends - pd.Timedelta(minutes=7.5))
    return np.nan_to_num(pv_power(geo["ghi_clear"], geo["dni_clear"], geo["dhi_clear"],
                                  geo["zenith"], geo["azimuth"], array=SITE.array))


def _at_index(issue: dt.datetime, k: float, spread: float = 0.2) -> list[list[float]]:
    """Forecast quantiles at clear-sky index (k - spread, k, k + spread) for HORIZONS."""
    ends = pd.DatetimeIndex([issue + dt.timedelta(minutes=h) for h in HORIZONS])
    clear = _clear_pv(ends)
    return [[(k - spread) * c, k * c, (k + spread) * c] for c in clear]


def test_local_day_end_uses_the_site_timezone() -> None:
    issue = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)
    assert SITE.site.timezone == "Africa/Lagos"
    assert local_day_end(issue, "Africa/Lagos") == dt.datetime(2026, 11, 30, 23, 0,
                                                               tzinfo=dt.UTC)
    late = dt.datetime(2026, 11, 30, 23, 30, tzinfo=dt.UTC)  # already tomorrow in Abuja
    assert local_day_end(late, "Africa/Lagos") == dt.datetime(2026, 12, 1, 23, 0,
                                                              tzinfo=dt.UTC)


def test_constant_index_gives_that_share_of_clear_sky_energy() -> None:
    issue = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
    out = energy_outlook(SITE, issue, HORIZONS, _at_index(issue, 0.6), 15)
    ends = pd.date_range(issue + dt.timedelta(minutes=15), periods=60, freq="15min")
    clear_wh = _clear_pv(ends) / 4.0  # [Wh] per period
    assert abs(out["next_3h"]["p50"] - 0.6 * clear_wh[:12].sum()) < 0.01 * clear_wh[:12].sum()
    day_n = int((out["day_end"] - issue) / dt.timedelta(minutes=15))
    expect_day = 0.6 * clear_wh[:day_n].sum()
    assert abs(out["rest_of_today"]["p50"] - expect_day) < 0.01 * expect_day
    for key in ("next_3h", "rest_of_today"):
        q = out[key]
        assert q["p10"] < q["p50"] < q["p90"]
    assert out["rest_of_today"]["p50"] > out["next_3h"]["p50"] > 0


def test_after_sunset_nothing_is_expected() -> None:
    issue = dt.datetime(2026, 11, 30, 19, 0, tzinfo=dt.UTC)
    out = energy_outlook(SITE, issue, HORIZONS, [[0.0, 0.0, 0.0]] * 5, 15)
    assert out["next_3h"] == out["rest_of_today"] == {"p10": 0.0, "p50": 0.0, "p90": 0.0}


def test_before_dawn_the_day_is_unknown_not_guessed() -> None:
    issue = dt.datetime(2026, 11, 30, 1, 0, tzinfo=dt.UTC)  # 3 h ahead is still night
    out = energy_outlook(SITE, issue, HORIZONS, [[0.0, 0.0, 0.0]] * 5, 15)
    assert out["next_3h"] == {"p10": 0.0, "p50": 0.0, "p90": 0.0}
    assert out["rest_of_today"] == {"p10": None, "p50": None, "p90": None}


def test_a_naive_issue_time_is_refused() -> None:
    """Epoch arithmetic on a naive datetime would silently use the host's zone."""
    naive = dt.datetime(2026, 11, 30, 10, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        energy_outlook(SITE, naive, HORIZONS, [[0.0, 0.0, 0.0]] * len(HORIZONS), 15)
