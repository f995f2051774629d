"""The grid availability process: configured supply hours, outage lengths, reproducibility."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from edge.simulation.grid import ABUJA_GRID, GridConfig, GridProcess

START = datetime(2025, 1, 1, tzinfo=UTC)


def _spells(share: np.ndarray) -> tuple[list[int], list[int]]:
    """Lengths (in periods) of the supply and outage runs of a 0/1 series."""
    up = share > 0.5
    edges = np.flatnonzero(np.diff(up.astype(int))) + 1
    runs = np.split(up, edges)[1:-1]  # drop the cut-off first and last runs
    return [r.size for r in runs if r[0]], [r.size for r in runs if not r[0]]


@pytest.mark.parametrize("cfg", [ABUJA_GRID, GridConfig(supply_hours=20.0, mean_outage_hours=2.0),
                                 GridConfig(supply_hours=6.0, mean_outage_hours=8.0, shape=1.0)],
                         ids=["abuja", "band_a", "poor"])
def test_grid_hits_its_supply_hours_over_a_long_run(cfg: GridConfig) -> None:
    grid = GridProcess(cfg, START, seed=4)
    days = 3 * 365
    share = grid.share(START, days * 96)
    assert share.sum() / 4.0 / days == pytest.approx(cfg.supply_hours, abs=0.6)
    ups, downs = _spells(share)
    assert np.mean(downs) / 4.0 == pytest.approx(cfg.mean_outage_hours, rel=0.15)
    assert np.mean(ups) / 4.0 == pytest.approx(cfg.mean_supply_hours, rel=0.15)


def test_grid_share_agrees_with_instants() -> None:
    grid = GridProcess(ABUJA_GRID, START, seed=1)
    share = grid.share(START, 96 * 5)
    for i in range(0, 96 * 5, 7):
        t = START + timedelta(minutes=15 * i)
        inst = [grid.available(t + timedelta(seconds=s)) for s in range(1, 901, 30)]
        assert share[i] == pytest.approx(np.mean(inst), abs=0.07)


def test_grid_is_reproducible_from_its_seed() -> None:
    a = GridProcess(ABUJA_GRID, START, seed=2).share(START, 960)
    assert np.array_equal(a, GridProcess(ABUJA_GRID, START, seed=2).share(START, 960))
    assert not np.array_equal(a, GridProcess(ABUJA_GRID, START, seed=3).share(START, 960))


def test_grid_refuses_bad_settings_and_times_before_its_start() -> None:
    with pytest.raises(ValueError, match="supply_hours"):
        GridConfig(supply_hours=24.0)
    with pytest.raises(ValueError, match="positive"):
        GridConfig(mean_outage_hours=0.0)
    with pytest.raises(ValueError, match="before"):
        GridProcess(ABUJA_GRID, START).available(START - timedelta(seconds=1))
