"""The year simulation's loop: the device side is fed only measurements; the policy hook."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from edge.forecasting.engine import ModelHolder
from edge.forecasting.site import Site, load_site
from edge.planning import EnergyPlan, PlanConfig
from trainer.yearsim.policy import NO_ACTION, Action, NoPolicy, make_policy
from trainer.yearsim.runner import DeviceSide, Record, load_holder, run
from trainer.yearsim.scenario import Measured, Scenario, TruthPeriod, measure

pytestmark = pytest.mark.tflite

REPO = Path(__file__).resolve().parents[3]
START = datetime(2025, 6, 1, tzinfo=UTC)  # wet season: clouds, curtailment and dips


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(REPO / "configs/sites/abuja.toml")


@pytest.fixture(scope="module")
def holder() -> ModelHolder:
    return load_holder(REPO / "edge/data/bundles/abuja", REPO / "configs/keys/helio-default.pub")


class Recording:
    """A measurement channel that keeps what it handed to the device side."""

    def __init__(self) -> None:
        self.seen: list[Measured] = []

    def __call__(self, truth: TruthPeriod) -> Measured:
        m = measure(truth)
        self.seen.append(m)
        return m


class CountingPolicy(NoPolicy):
    def __init__(self) -> None:
        self.calls: list[tuple[EnergyPlan, Measured]] = []

    def act(self, plan: EnergyPlan, observed: Measured) -> Action:
        self.calls.append((plan, observed))
        return NO_ACTION


def test_measured_carries_only_what_the_devices_report() -> None:
    fields = {f.name for f in dataclasses.fields(Measured)}
    assert fields == {"end", "load_power", "pv_power", "soc", "battery_power", "charge_state"}
    truth_only = {f.name for f in dataclasses.fields(TruthPeriod)} - fields
    assert truth_only == {"pv_potential", "grid_share"}


def test_plans_are_a_function_of_the_measurement_stream_alone(site: Site,
                                                              holder: ModelHolder) -> None:
    channel = Recording()
    policy = CountingPolicy()
    days = 2
    rec = run(site, holder, start=START, days=days, seed=3, policy=policy, observe=channel)
    assert len(channel.seen) == len(policy.calls) == days * 96
    assert [obs for _, obs in policy.calls] == channel.seen  # the policy sees the same
    # replay the measurements alone into a fresh device side: the same plans
    device = DeviceSide(site, holder, PlanConfig(seed=3))
    replayed = Record.empty(START, rec.n, rec.reserve_soc)
    for i, m in enumerate(channel.seen):
        replayed.add_truth(i, TruthPeriod(m.end, np.nan, np.nan, np.nan, np.nan, np.nan, 0.0,
                                          ""), m)
        replayed.add_plan(i, device.step(m), m.soc)
    for q in ("p10", "p50", "p90"):
        np.testing.assert_array_equal(replayed.soc[q], rec.soc[q])
    np.testing.assert_array_equal(replayed.load_p50, rec.load_p50)
    np.testing.assert_array_equal(replayed.naive, rec.naive)
    # and the measurements are the truth as the devices report it, nothing else
    world = Scenario(site, START, seed=3)
    for m in channel.seen[:20]:
        assert measure(world.advance()) == m


def test_plans_do_not_depend_on_the_future(site: Site, holder: ModelHolder) -> None:
    short = run(site, holder, start=START, days=2, seed=5, policy=NoPolicy())
    long = run(site, holder, start=START, days=3, seed=5, policy=NoPolicy())
    n = short.n
    np.testing.assert_array_equal(short.soc["p50"], long.soc["p50"][:n])
    np.testing.assert_array_equal(short.truth_soc, long.truth_soc[:n])


def test_policy_names_are_checked() -> None:
    assert make_policy("none").name == "none"
    with pytest.raises(ValueError, match="known: none"):
        make_policy("generator")
