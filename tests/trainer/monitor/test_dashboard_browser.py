"""The dashboard in a real browser (Debian chromium, headless, driven by Selenium).

The store is filled live for the whole module: the Abuja agent polls the VE.Direct
MPPT, PI30 inverter and VE.Direct battery monitor simulators through the real serial
code, forecasts with the shipped int8 model and publishes through mosquitto into a
running monitor that scores the forecasts; two more gateways show the other states
(``lagos-01`` sent one heartbeat and went silent, ``kano-01`` dropped its connection so
the broker published its Last Will). Screenshots go to the test's tmp dir, and to docs/img with
HELIO_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import MOSQUITTO, Mosquitto, free_port
from tests.trainer.monitor.conftest import Pub, offline
from tests.trainer.monitor.dashboard_helpers import (
    LiveFleet,
    chrome,
    loaded,
    need_browser,
    screenshot,
    start_live_fleet,
    wait_js,
)
from trainer.monitor.dashboard.server import AuthConfig, DashboardServer

pytestmark = [pytest.mark.browser, pytest.mark.broker, pytest.mark.pty, pytest.mark.tflite,
              pytest.mark.slow]

#: heartbeat timeout of the served dashboard: the agent beats every 5 s
OFFLINE_AFTER_S = 30.0


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveFleet]:
    need_browser()
    if MOSQUITTO is None:
        pytest.skip("mosquitto not installed")
    tmp = tmp_path_factory.mktemp("fleet")
    broker = Mosquitto("127.0.0.1", free_port(), tmp)
    broker.start()
    # 600x: an hour of the module is 25 simulated days; starting 30 days back keeps the
    # simulated clock behind the wall clock (the monitor refuses data stamped far ahead)
    day = datetime.now(UTC).date() - timedelta(days=30)
    live = None
    try:
        live = start_live_fleet(tmp, broker.port, speed=600.0,
                                start=datetime(day.year, day.month, day.day, 6, 0, tzinfo=UTC))
        yield live
    finally:
        if live is not None:
            live.stop()
        broker.stop()


@pytest.fixture(scope="module")
def server(fleet: LiveFleet) -> Iterator[DashboardServer]:
    srv = DashboardServer(fleet.store_path, port=0, offline_after_s=OFFLINE_AFTER_S)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def _rows(driver) -> dict[str, dict[str, str]]:
    return driver.execute_script("""
        const out = {};
        for (const tr of document.querySelectorAll('#fleet tbody tr')) {
          const row = {};
          for (const td of tr.querySelectorAll('td')) row[td.dataset.col] = td.textContent.trim();
          out[tr.dataset.site] = row;
        }
        return out;""")


def test_fleet_page_lists_every_gateway_with_its_state(fleet, server, shots) -> None:
    store = fleet.store()
    received = sum(r.received for r in store.stream_stats(fleet.site)
                   if r.stream in ("reading", "forecast", "events"))
    store.close()
    with chrome() as d:
        d.get(server.url)
        loaded(d, "fleet")
        rows = _rows(d)
        assert set(rows) == {fleet.site, "lagos-01", "kano-01"}
        assert rows[fleet.site]["state"] == "online"
        assert rows["lagos-01"]["state"] == "silent"
        assert rows["kano-01"]["state"] == "offline"
        assert rows[fleet.site]["model_version"] == fleet.bundle_version
        assert int(rows[fleet.site]["received"].replace(",", "")) >= received > 50
        assert rows[fleet.site]["loss"] == "0.0%"
        assert rows[fleet.site]["skill_7d"] not in ("", "–")  # scored by the monitor
        assert rows["kano-01"]["skill_7d"] == "–"
        # sortable: by state, descending puts "silent" first
        d.execute_script("document.querySelector('th[data-sort=state]').click()")
        wait_js(d, "document.querySelector('th[data-sort=state]')"
                ".getAttribute('aria-sort') === 'ascending'")
        order = d.execute_script("return [...document.querySelectorAll('#fleet tbody tr')]"
                                 ".map(tr => tr.dataset.state)")
        assert order == sorted(order)
        d.execute_script("document.querySelector('th[data-sort=state]').click()")
        wait_js(d, "document.querySelector('th[data-sort=state]')"
                ".getAttribute('aria-sort') === 'descending'")
        order = d.execute_script("return [...document.querySelectorAll('#fleet tbody tr')]"
                                 ".map(tr => tr.dataset.state)")
        assert order == sorted(order, reverse=True)
        # nothing was fetched from anywhere but this server
        urls = d.execute_script("return performance.getEntriesByType('resource')"
                                ".map(e => e.name)")
        assert urls and all(u.startswith(server.url) for u in urls), urls
        d.execute_script("document.querySelector('th[data-sort=site]').click()")
        screenshot(d, shots, "dashboard-fleet.png")


def test_site_page_draws_measured_pv_against_the_forecast_band(fleet, server, shots) -> None:
    with chrome(1280, 1000) as d:
        d.get(server.url)
        loaded(d, "fleet")
        d.find_element("css selector", f"#fleet tr[data-site='{fleet.site}'] a").click()
        loaded(d, "site")
        assert d.find_element("id", "site-title").text == f"Site {fleet.site}"
        counts = wait_js(d, """(() => {
            const n = id => Number((document.querySelector(`[data-series='${id}']`) || {})
                                   .dataset?.n || 0);
            const c = {measured: n('pv-measured'), band: n('pv-band'),
                       latest: n('pv-latest-band'), soc: n('soc'), power: n('battery-power')};
            return c.measured && c.band && c.latest && c.soc ? c : null;
        })()""", what="PV, forecast band, newest forecast and SOC drawn")
        assert counts["measured"] >= 5
        assert counts["latest"] >= 3  # the newest forecast's horizons within 3 h
        api = json.loads(d.execute_script(
            f"return fetch('/api/site/{fleet.site}').then(r => r.text())"))
        # the fleet is live: the API, read after the page, has at least what was drawn
        assert 5 <= counts["band"] <= len(api["pv"]["band"])
        # skill by horizon, live (no shadow model in this fleet)
        skill_rows = d.execute_script("return [...document.querySelectorAll('#skill tbody tr')]"
                                      ".map(tr => [...tr.cells].map(c => c.textContent))")
        horizons = {w["horizon_min"] for w in api["skill"]["window"] if not w["shadow"]}
        assert horizons and len(skill_rows) == len(horizons)
        assert all(r[2] == fleet.bundle_version for r in skill_rows)
        assert all(r[3] == "–" for r in skill_rows)  # shadow column empty
        # device health chips from the status heartbeat
        chips = d.execute_script("return [...document.querySelectorAll('[data-device]')]"
                                 ".map(c => c.textContent)")
        assert sorted(chips) == ["battery ok", "inverter ok", "mppt ok"]
        screenshot(d, shots, "dashboard-site.png")


def test_site_page_draws_the_plan_fan_with_the_measured_soc_over_it(fleet, server,
                                                                   shots) -> None:
    """The agent's own plan (its planner on the simulated plant), as the monitor stored it."""
    with chrome(1280, 1400) as d:
        d.get(server.url + f"#/site/{fleet.site}")
        loaded(d, "site")
        drawn = wait_js(d, """(() => {
            const s = id => document.querySelector(`#plan-card [data-series='${id}']`);
            const n = id => Number((s(id) || {}).dataset?.n || 0);
            const c = {band: n('plan-band'), p50: n('plan-p50'), measured: n('plan-measured'),
                       reserve: n('plan-reserve')};
            return c.band && c.p50 && c.measured && c.reserve ? c : null;
        })()""", what="plan fan, P50, measured SOC and reserve drawn")
        api = json.loads(d.execute_script(
            f"return fetch('/api/site/{fleet.site}').then(r => r.text())"))
        plan = api["plan"]["latest"]
        # the fan is a whole plan: 24 h or more of 15-minute steps, P10 <= P50 <= P90
        assert drawn["band"] >= 96 and drawn["p50"] >= 96
        assert all(lo <= mid <= hi for lo, mid, hi in
                   zip(plan["soc"]["p10"], plan["soc"]["p50"], plan["soc"]["p90"], strict=True))
        # the measured SOC is drawn in the same chart, inside its 0-100 % frame
        assert drawn["measured"] >= 3
        box = d.execute_script("""
            const svg = document.querySelector('#plan-card .chart svg');
            const r = e => e.getBoundingClientRect();
            const m = r(svg.querySelector("[data-series='plan-measured']"));
            const b = r(svg.querySelector("[data-series='plan-band']"));
            const s = r(svg);
            return {m: [m.left, m.right, m.top, m.bottom], b: [b.left, b.right],
                    s: [s.left, s.right, s.top, s.bottom]};""")
        assert box["s"][0] <= box["m"][0] < box["m"][1] <= box["s"][1]
        assert box["s"][2] <= box["m"][2] <= box["m"][3] <= box["s"][3]
        assert box["m"][0] < box["b"][0]  # the measured past runs in from before the issue
        assert plan["reserve"] == 30.0
        facts = {e.get_attribute("data-fact"): e.text for e in
                 d.find_elements("css selector", "#plan-facts dd[data-fact]")}
        assert facts["reserve"] == "30 %"
        assert facts["reserve-at"]  # a time or "not within the plan"
        marks = d.find_elements("css selector", "#plan-card [data-series='plan-reserve-at']")
        assert len(marks) == (1 if plan["reserve_at"] is not None else 0)
        assert facts["night"].startswith(("deficit", "surplus"))
        screenshot(d, shots, "dashboard-plan.png")


def test_models_page_shows_which_model_runs_where(fleet, server, shots) -> None:
    with chrome() as d:
        d.get(server.url + "#/models")
        loaded(d, "models")
        running = d.execute_script("return [...document.querySelectorAll('#running tbody tr')]"
                                   ".map(tr => [...tr.cells].map(c => c.textContent))")
        by_site = {r[0]: r for r in running}
        assert by_site[fleet.site][2] == fleet.bundle_version
        assert by_site[fleet.site][5] == "idle"
        results = d.execute_script("return [...document.querySelectorAll('#results tbody tr')]"
                                   ".map(tr => [...tr.cells].map(c => c.textContent))")
        assert [r[2] for r in results if r[0] == fleet.site] == ["live"]
        assert d.find_element("id", "history-empty").text.startswith("No model change")
        screenshot(d, shots, "dashboard-models.png")


def test_phone_layout_fits_the_screen(fleet, server, shots) -> None:
    with chrome(phone=True) as d:
        d.get(server.url)
        loaded(d, "fleet")
        assert d.execute_script("return window.innerWidth") == 390
        # the fleet table keeps its key columns and fits without sideways scrolling
        assert d.execute_script("return document.documentElement.scrollWidth") <= 390
        visible = d.execute_script("return [...document.querySelectorAll('#fleet th')]"
                                   ".filter(th => th.offsetWidth > 0).map(th => th.dataset.sort)")
        assert visible == ["site", "state", "last_seen_ago_s", "loss", "skill_7d", "open_alerts"]
        # ... and they fit their card: no sideways scrolling inside it either
        overflow = d.execute_script("const t = document.getElementById('fleet');"
                                    "return t.scrollWidth - t.parentElement.clientWidth")
        assert overflow <= 0
        screenshot(d, shots, "dashboard-phone-fleet.png", full=False)
        d.get(server.url + f"#/site/{fleet.site}")
        loaded(d, "site")
        wait_js(d, "document.querySelector(\"[data-series='pv-measured']\")")
        widths = d.execute_script("return [...document.querySelectorAll('.chart svg')]"
                                  ".map(s => s.getBoundingClientRect().right)")
        assert widths and max(widths) <= 390
        assert d.execute_script("return document.documentElement.scrollWidth") <= 390
        font = d.execute_script("return parseFloat(getComputedStyle(document.body).fontSize)")
        assert font >= 14
        screenshot(d, shots, "dashboard-phone-site.png", full=False)


def test_page_updates_itself_when_the_store_changes(fleet, server) -> None:
    with chrome() as d:
        d.get(server.url)
        loaded(d, "fleet")
        wait_js(d, "document.getElementById('live').dataset.state === 'live'",
                what="server-sent events connected")
        d.execute_script("window.__same_page = true")
        before = int(d.execute_script("return Number(document.body.dataset.loaded)"))
        # the running agent's data arrives: the page redraws without a reload
        loaded(d, "fleet", after=before, timeout=30)
        # a gateway drops off: its Last Will reaches the monitor, then the page
        pub = Pub(fleet.port, client_id="lagos-gw-2",
                  will=("helio/lagos-01/gateway/status", offline("lagos-01", "gateway")))
        pub.crash()
        wait_js(d, "document.querySelector(\"#fleet tr[data-site='lagos-01']\")"
                ".dataset.state === 'offline'", timeout=30, what="lagos-01 shown offline")
        assert d.execute_script("return window.__same_page === true")


def test_token_is_required_off_loopback(fleet) -> None:
    token = "s3cret-token-for-the-test"
    srv = DashboardServer(fleet.store_path, host="0.0.0.0", port=0,
                          auth=AuthConfig(token=token), offline_after_s=OFFLINE_AFTER_S)
    srv.start()
    try:
        with chrome() as d:
            d.get(srv.url)
            assert "authentication required" in d.find_element("tag name", "body").text
            assert d.execute_script("return document.body.dataset.page") is None
            d.get(srv.url + "?token=" + token)  # sets the cookie, drops the token from the URL
            loaded(d, "fleet")
            assert "token" not in d.current_url
            wait_js(d, "document.getElementById('live').dataset.state === 'live'",
                    what="server-sent events through the cookie")
            assert _rows(d)[fleet.site]["state"] == "online"
    finally:
        srv.stop()
    time.sleep(0.1)


def test_the_agent_s_plans_are_scored_and_their_accuracy_shown(fleet, server) -> None:
    """Last in the module: a plan is scored once its 24 h have passed (about 2.5 minutes of
    the 600x fleet), against the simulators' SOC and AC load as the monitor received them."""
    with chrome(1280, 1400) as d:
        d.get(server.url + f"#/site/{fleet.site}")
        loaded(d, "site")
        rows = wait_js(d, """(() => {
            const rows = [...document.querySelectorAll('#plan-metrics tbody tr')]
              .map(tr => [...tr.cells].map(c => c.textContent));
            return rows.length ? rows : null;
        })()""", timeout=300, what="scored plans in the accuracy table")
        by_h = {r[0]: r for r in rows}
        assert "1 h" in by_h
        mae_1h = float(by_h["1 h"][1].split(" ")[0])
        n_1h = int(by_h["1 h"][1].split("(")[1].rstrip(")"))
        # SOC in percent points: a unit slip (fraction vs %) would be ~50 points off
        assert 0.0 <= mae_1h < 20.0 and n_1h >= 1
        assert d.find_elements("css selector", "#plan-reserve tbody tr")
    with urllib.request.urlopen(server.url + "metrics", timeout=20) as r:
        fams = {f.name: f for f in text_string_to_metric_families(r.read().decode())}
    mae = {s.labels["horizon_min"]: s.value for s in fams["helio_plan_soc_mae"].samples
           if s.labels["site"] == fleet.site}
    assert mae["60"] == pytest.approx(mae_1h / 100, abs=0.001)
