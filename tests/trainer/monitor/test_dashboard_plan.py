"""The plan on the dashboard's JSON API and on ``/metrics``, over real HTTP, from a real store
holding a real plan that was scored against hand-made readings."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from edge.planning import EnergyPlan
from tests.trainer.monitor.plan_helpers import SITE, make_plan, write_site
from trainer.monitor.dashboard.server import DashboardServer
from trainer.monitor.plan_scoring import HORIZONS_MIN, PlanScorer
from trainer.monitor.store import Store


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=20) as r:
        return r.status, r.read()


def api(srv: DashboardServer, path: str) -> Any:
    code, body = get(srv.url + path)
    assert code == 200, body
    return json.loads(body)


@pytest.fixture(scope="module")
def plan() -> EnergyPlan:
    return make_plan(0.6)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, plan: EnergyPlan) -> Iterator[DashboardServer]:
    """Measured SOC P50 + 0.05 at every step end, load 800 W before the issue, 500 W after."""
    db = tmp_path_factory.mktemp("plan") / "m.sqlite"
    store = Store(db)
    ends = np.array([t.timestamp() for t in plan.times])
    p50 = np.asarray(plan.soc["p50"])
    issued = plan.issued.timestamp()

    def soc(t: float) -> float:
        hit = np.flatnonzero(np.abs(ends - t) < 1)
        return round(float(p50[hit[0]]), 4) + 0.05 if hit.size else 0.6

    write_site(store, plan, soc, lambda t: 800.0 if t <= issued else 500.0)
    assert PlanScorer(store).score_all() == 1
    store.close()
    srv = DashboardServer(db, port=0)
    srv.start()
    yield srv
    srv.stop()


def test_the_site_api_carries_the_newest_plan_in_percent_with_the_measured_soc(
        server: DashboardServer, plan: EnergyPlan) -> None:
    page = api(server, f"api/site/{SITE}")
    p = page["plan"]["latest"]
    body = plan.to_body()
    assert p["issued"] == plan.issued.timestamp()
    assert p["times"][0] == plan.times[0].timestamp() and len(p["times"]) == len(plan.times)
    assert p["soc"]["p50"] == pytest.approx([100 * v for v in body["soc"]["p50"]], abs=0.01)
    assert p["reserve"] == pytest.approx(100 * body["reserve_soc"])
    assert p["balance_to_sunrise_wh"] == body["balance_to_sunrise_wh"]
    assert p["surplus_today_wh"] == body["surplus_today_wh"]
    measured = dict((t, v) for t, v in page["plan"]["measured"])
    # 15-minute means: a bucket holding the reading at a step end shows P50 + 5 points
    t = plan.times[11].timestamp()
    bucket_mid = (t // 900 + 0.5) * 900
    assert measured[bucket_mid] == pytest.approx(100 * body["soc"]["p50"][11] + 5, abs=1e-6)
    assert min(measured) < plan.issued.timestamp() - 20 * 3600  # the recent past under it
    rows = {r["horizon_min"]: r for r in page["plan"]["horizons"]}
    assert sorted(rows) == list(HORIZONS_MIN)
    assert all(r["soc_mae"] == pytest.approx(0.05, abs=1e-6) and r["n_soc"] == 1
               for r in rows.values())
    assert all(r["load_mae_persistence"] == pytest.approx(300.0) for r in rows.values())
    (reserve,) = page["plan"]["reserve"]
    assert reserve["n"] == 1


def test_metrics_expose_plan_soc_error_coverage_and_load_skill(
        server: DashboardServer, plan: EnergyPlan) -> None:
    code, text = get(server.url + "metrics")
    assert code == 200
    fams = {f.name: f for f in text_string_to_metric_families(text.decode())}
    mae = {s.labels["horizon_min"]: s.value for s in fams["helio_plan_soc_mae"].samples}
    assert sorted(mae, key=int) == [str(h) for h in HORIZONS_MIN]
    assert all(v == pytest.approx(0.05, abs=1e-6) for v in mae.values())
    assert {s.labels["site"] for s in fams["helio_plan_soc_mae"].samples} == {SITE}
    cov = {s.labels["horizon_min"]: s.value for s in fams["helio_plan_soc_coverage"].samples}
    body = plan.to_body()
    issued = plan.issued.timestamp()
    for h in HORIZONS_MIN:
        j = [t.timestamp() for t in plan.times].index(issued + 60 * h)
        inside = body["soc"]["p10"][j] <= body["soc"]["p50"][j] + 0.05 <= body["soc"]["p90"][j]
        assert cov[str(h)] == (1.0 if inside else 0.0)
    skill = {s.labels["horizon_min"]: s.value for s in fams["helio_plan_load_skill"].samples}
    j = [t.timestamp() for t in plan.times].index(issued + 3600)
    assert skill["60"] == pytest.approx(1 - abs(body["load_power"]["p50"][j] - 500) / 300)
    n = {s.labels["horizon_min"]: s.value for s in fams["helio_plan_scored_horizons"].samples}
    assert set(n.values()) == {1.0}
    judged = fams["helio_plan_reserve_judged"].samples
    assert [(s.labels["gateway"], s.value) for s in judged] == [("gateway", 1.0)]


def test_a_store_without_plans_shows_none(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.sqlite")
    from trainer.monitor.dashboard import queries  # noqa: PLC0415
    summary = queries.plan_summary(store, "nowhere")
    assert summary == {"latest": None, "measured": [], "past": [], "horizons": [],
                       "reserve": []}
    store.close()
