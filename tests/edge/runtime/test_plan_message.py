"""The ``plan`` stream: plan_message builds what PlanBody reads; a malformed plan is refused."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from edge.planning import EnergyPlanner, PeriodObservation
from edge.planning.geometry import ClearSkyCache
from edge.planning.plan import EnergyPlan
from edge.runtime import messages as m
from edge.runtime.contract import (
    SEQ_STREAMS,
    ContractError,
    PlanBody,
    Topics,
    check_body,
    read_body,
)
from tests.edge.planning.sitesim import START, STEP, abuja

TOPICS = Topics("abuja-01", "gateway")


def _plan() -> EnergyPlan:
    site = abuja()
    planner = EnergyPlanner(site)
    per = 86400 // STEP
    clear, _ = ClearSkyCache(site, STEP).get(int(START.timestamp()) // STEP + 1, 3 * per)
    end = START
    for i in range(3 * per):
        end = START + dt.timedelta(seconds=STEP * (i + 1))
        planner.observe(PeriodObservation(end=end, load_power=300.0,
                                          pv_power=0.7 * float(clear[i]), soc=0.6))
    return planner.plan(end + dt.timedelta(hours=0), 0.6)


@pytest.fixture(scope="module")
def plan() -> EnergyPlan:
    return _plan()


def _wire(plan: EnergyPlan, seq: int = 3) -> dict[str, Any]:
    msg = m.plan_message(TOPICS, plan)
    body: dict[str, Any] = json.loads(msg.encode(seq, "ep0"))
    return body


def test_the_plan_message_follows_the_contract(plan: EnergyPlan) -> None:
    msg = m.plan_message(TOPICS, plan)
    assert msg.topic == "helio/abuja-01/gateway/plan" == TOPICS.plan
    assert (msg.qos, msg.retain, msg.stream, msg.device_id) == (1, False, "plan", "gateway")
    assert "plan" in SEQ_STREAMS
    body = _wire(plan)
    assert list(body)[:7] == ["schema_version", "site_id", "device_id", "stream", "seq", "epoch",
                              "timestamp"]
    assert body["timestamp"] == body["issued"]
    read = read_body("abuja-01", "gateway", "plan", body)
    assert isinstance(read, PlanBody)
    assert read.seq == 3 and read.epoch == "ep0"
    assert len(read.period_end) == len(plan.times) >= 96
    assert read.soc.p10 == tuple(round(float(v), 4) for v in plan.soc["p10"])
    assert read.surplus_today_wh.p50 == round(plan.surplus_today_wh["p50"], 1)
    assert read.reserve_soc == plan.reserve_soc
    assert set(body) - {"schema_version", "site_id", "device_id", "stream", "seq", "epoch",
                        "timestamp"} == set(plan.to_body())


@pytest.mark.parametrize(("change", "error"), [
    (lambda b: b["soc"]["p10"].pop(), r"soc\.p10 has \d+ values for \d+ period_end"),
    (lambda b: b["soc"]["p50"].__setitem__(0, 1.5), r"soc\.p50 must lie in \[0, 1\]"),
    (lambda b: b["load_power"].__setitem__("p90", "many"), r"load_power\.p90 must be a list"),
    (lambda b: b["period_end"].__setitem__(2, "2026-06-01T12:00:00"),
     r"period_end\[2\] .*no timezone"),
    (lambda b: b.pop("surplus_today_wh"), r"surplus_today_wh is missing"),
    (lambda b: b["balance_to_sunrise_wh"].pop("p10"), r"balance_to_sunrise_wh\.p10 is missing"),
    (lambda b: b.__setitem__("reserve_at", 5), r"reserve_at must be an ISO 8601 time"),
    (lambda b: b.__setitem__("step_s", 0), r"step_s must be an integer in 60\.\.86400"),
    (lambda b: b.pop("seq"), r"seq is missing"),
    (lambda b: b.__setitem__("pv_potential_p50", []), r"pv_potential_p50 has 0 values"),
])
def test_a_malformed_plan_is_refused_naming_the_field(plan: EnergyPlan, change: Any,
                                                      error: str) -> None:
    body = _wire(plan)
    change(body)
    with pytest.raises(ContractError, match=error):
        check_body("abuja-01", "gateway", "plan", body)


def test_the_builder_refuses_a_plan_the_contract_would_refuse(plan: EnergyPlan) -> None:
    class Broken:
        issued = plan.issued

        def to_body(self) -> dict[str, Any]:
            body = plan.to_body()
            body["soc"]["p90"] = body["soc"]["p90"][:-1]
            return body

    with pytest.raises(ContractError, match=r"soc\.p90 has"):
        m.plan_message(TOPICS, Broken())
