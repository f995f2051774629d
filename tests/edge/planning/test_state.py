"""Persisting the planner: state() / from_state() round trip and malformed states."""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
from typing import Any

import numpy as np
import pytest

from edge.planning import EnergyPlanner, PeriodObservation, PlanConfig
from tests.edge.planning.sitesim import abuja, simulate


@pytest.fixture(scope="module")
def planner_state() -> tuple[EnergyPlanner, dict[str, Any], dt.datetime, float]:
    site = abuja()
    truth = simulate(site, 6, seed=8)
    planner = EnergyPlanner(site, PlanConfig(scenarios=50))
    for obs in truth.observations():
        planner.observe(obs)
    planner.observe(PeriodObservation(end=truth.ends[-1] + dt.timedelta(minutes=15),
                                      load_power=math.nan, pv_power=math.nan, soc=math.nan))
    now = truth.ends[-1] + dt.timedelta(minutes=15)
    planner.plan(now, 0.6)  # learns the battery
    return planner, json.loads(json.dumps(planner.state())), now, 0.6


def test_the_state_is_json_and_round_trips(planner_state: Any) -> None:
    planner, state, now, soc = planner_state
    again = EnergyPlanner.from_state(planner.site, planner.config, state)
    assert json.loads(json.dumps(again.state())) == state
    third = EnergyPlanner.from_state(planner.site, planner.config, again.state())
    a, b, c = planner.plan(now, soc), again.plan(now, soc), third.plan(now, soc)
    assert b.to_body() == c.to_body()  # restoring is exact
    assert b.battery.capacity_source == "learned"
    # the stored history is rounded to 0.1 W and 0.0001 SOC: the plan barely moves
    assert abs(a.battery.capacity_wh - b.battery.capacity_wh) < 1.0
    for q in ("p10", "p50", "p90"):
        np.testing.assert_allclose(a.soc[q], b.soc[q], atol=0.01)


def test_the_plan_body_is_json(planner_state: Any) -> None:
    planner, _, now, soc = planner_state
    body = json.loads(json.dumps(planner.plan(now, soc).to_body(), allow_nan=False))
    n = len(body["period_end"])
    assert n >= 96 and all(len(body["soc"][q]) == n for q in ("p10", "p50", "p90"))
    assert body["issued"].endswith("Z") and body["next_sunrise"].endswith("Z")
    assert body["load_method"] in ("persistence", "multiday", "median", "weekday")
    assert body["battery"]["capacity_source"] == "learned"


def _broken(state: dict[str, Any]) -> list[Any]:
    out: list[Any] = [None, [], "x", {}]
    for key in ("version", "step_s", "history", "capacity_samples", "samples_until"):
        s = copy.deepcopy(state)
        s[key] = "nonsense"
        out.append(s)
    s = copy.deepcopy(state)
    s["step_s"] = 300
    out.append(s)
    s = copy.deepcopy(state)
    del s["history"]["soc"]
    out.append(s)
    s = copy.deepcopy(state)
    s["history"]["soc"] = s["history"]["soc"][:-1]
    out.append(s)
    s = copy.deepcopy(state)
    s["history"]["load_power"][3] = "400"
    out.append(s)
    s = copy.deepcopy(state)
    s["history"]["k"][0] = True
    out.append(s)
    s = copy.deepcopy(state)
    s["history"]["curtailed"][0] = 1
    out.append(s)
    s = copy.deepcopy(state)
    s["capacity_samples"] = [[1, 0.0, 10.0, 0.0]]
    out.append(s)
    return out


def test_a_malformed_state_raises_value_error(planner_state: Any) -> None:
    planner, state, _, _ = planner_state
    cases = _broken(state)
    for bad in cases:
        with pytest.raises(ValueError):
            EnergyPlanner.from_state(planner.site, planner.config, bad)
    assert len(cases) == 16


def test_observations_off_the_grid_or_naive_are_refused() -> None:
    planner = EnergyPlanner(abuja())
    with pytest.raises(ValueError, match="grid"):
        planner.observe(PeriodObservation(end=dt.datetime(2025, 1, 1, 0, 7, tzinfo=dt.UTC),
                                          load_power=1.0, pv_power=0.0, soc=0.5))
    with pytest.raises(ValueError, match="aware"):
        planner.observe(PeriodObservation(end=dt.datetime(2025, 1, 1), load_power=1.0,
                                          pv_power=0.0, soc=0.5))


def test_a_bmv_only_site_takes_load_from_pv_and_battery_power() -> None:
    planner = EnergyPlanner(abuja())
    t = dt.datetime(2025, 1, 1, 12, tzinfo=dt.UTC)
    planner.observe(PeriodObservation(end=t, load_power=math.nan, pv_power=900.0, soc=0.5,
                                      battery_power=300.0))
    vals, _ = planner.history.window(int(t.timestamp()) // 900, 1)
    assert vals[0, 0] == 600.0


def test_a_snapshot_refreshed_elsewhere_and_adopted_plans_like_an_inline_refresh() -> None:
    """What the agent's worker thread does: refresh a copy, adopt it; periods observed
    meanwhile stay the planner's own, and the copy never sees them."""
    site = abuja()
    truth = simulate(site, 5, seed=3)
    obs = truth.observations()
    inline = EnergyPlanner(site, PlanConfig(scenarios=50))
    worked = EnergyPlanner(site, PlanConfig(scenarios=50))
    for o in obs[:-4]:
        inline.observe(o)
        worked.observe(o)
    now = obs[-5].end
    twin = worked.snapshot()
    worked.observe(obs[-4])  # the loop goes on while the worker refreshes
    assert twin.history.last_k == worked.history.last_k - 1
    twin.refresh(now)
    assert worked.daily is None  # nothing changes until adopted
    worked.adopt(twin)
    inline.refresh(now)
    inline.observe(obs[-4])
    later = obs[-4].end
    a = inline.plan(later, 0.6, refresh=False)
    b = worked.plan(later, 0.6, refresh=False)
    assert a.to_body() == b.to_body()
    assert worked.daily is twin.daily and not worked.refresh_due(later)
    # without refresh, a new local day keeps yesterday's models until adopted
    next_day = now + dt.timedelta(days=1)
    assert worked.refresh_due(next_day)
