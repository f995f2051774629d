"""The dashboard's JSON API, /metrics, server-sent events and authentication, over real HTTP.

The store is filled with contract messages (two days of the Abuja plant's readings,
live and shadow forecasts, status, events) through the monitor's own parser and
store, then scored; the browser tests (test_dashboard_browser.py) use the live agent.
"""

from __future__ import annotations

import base64
import json
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from edge.forecasting.site import load_site
from edge.simulation.plant import Plant
from tests.trainer.monitor.conftest import forecast, iso, offline, reading, status
from tests.trainer.monitor.sql_helpers import sql
from trainer.monitor.cli import main as monitor_main
from trainer.monitor.dashboard import queries
from trainer.monitor.dashboard.server import AuthConfig, AuthError, DashboardServer, is_loopback
from trainer.monitor.ingest import parse_message
from trainer.monitor.scoring import Scorer
from trainer.monitor.store import Store

REPO = Path(__file__).resolve().parents[3]
SITE = load_site(REPO / "configs/sites/abuja.toml")
SID = SITE.site.id
START = datetime(2026, 11, 20, tzinfo=UTC)
STATIC = REPO / "trainer/monitor/dashboard/static"


def _event(seq: int, t: float, code: str, message: str) -> tuple[str, bytes]:
    body = {"schema_version": 1, "site_id": SID, "device_id": "gateway", "stream": "events",
            "seq": seq, "timestamp": iso(t), "level": "info", "code": code,
            "message": message, "data": {}}
    return f"helio/{SID}/gateway/events", json.dumps(body).encode()


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two days of plant readings; hourly-ish live and shadow forecasts; events; status."""
    db = tmp_path_factory.mktemp("dash") / "fleet.sqlite"
    store = Store(db)
    plant = Plant(SITE, seed=3, start=START, speed=0.0)
    now = time.time()
    msgs = []
    fseq = 0
    for i in range(2 * 288):
        s = plant.advance(300.0)
        t = s.time.timestamp()
        msgs.append(parse_message(*reading(SID, "mppt", i + 1, t, **s.charger_values()), now))
        msgs.append(parse_message(*reading(SID, "inverter", i + 1, t, **s.inverter_values()),
                                  now))
        if i % 3 == 2:
            fseq += 1
            pv = float(s.charger_values()["pv_power"])
            msgs.append(parse_message(*forecast(SID, "gateway", 2 * fseq - 1, t,
                                                {15: pv, 60: pv}), now))
            # the shadow model's forecasts on their own topic, from the same seq counter
            topic, body = forecast(SID, "gateway", 2 * fseq, t, {15: 1.3 * pv, 60: pv},
                                   sha="sha-b", version="v2", shadow=True)
            msgs.append(parse_message(topic + "/shadow", body, now))
    t_end = plant.now().timestamp()
    msgs.append(parse_message(*_event(1, t_end - 3600, "model_shadow_started", "v2 in shadow"),
                              now))
    msgs.append(parse_message(*_event(2, t_end - 60, "model_rolled_back", "v2 worse"), now))
    health = {"connected": True, "frames_good": 10, "checksum_errors": 0, "timeouts": 0,
              "reconnects": 0, "last_reading": iso(now), "stale": False}
    msgs.append(parse_message(*status(SID, "gateway", now, devices={
        "mppt": health, "inverter": {**health, "connected": False}}), now))
    msgs.append(parse_message(*status("lagos-01", "gateway", now - 3600), now - 3600))
    msgs.append(parse_message("helio/kano-01/gateway/status", offline("kano-01", "gateway"),
                              now))
    res = store.write_batch([m for m in msgs if m is not None],
                            [("helio/x/y/reading", b"\xff", "payload is not JSON", now)])
    assert res.rejected == 1
    assert Scorer(store, {SID: SITE}).score_all() > 100
    store.raise_alert(site=SID, device="gateway", code="rmse_drift", key="60", level="warning",
                      ts=now, message="RMSE drift at 60 min", data={})
    store.close()
    return db


@pytest.fixture
def serve(store_path: Path) -> Iterator[Any]:
    started: list[DashboardServer] = []

    def make(**kw: Any) -> DashboardServer:
        srv = DashboardServer(store_path, port=0, **kw)
        srv.start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(req, timeout=20) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kw: Any) -> None:
        return None


def api(srv: DashboardServer, path: str) -> Any:
    code, _, body = get(srv.url + path)
    assert code == 200, body
    return json.loads(body)


def test_fleet_api_gives_state_loss_model_rollout_skill_and_alerts(serve) -> None:
    srv = serve()
    rows = {r["site"]: r for r in api(srv, "api/fleet")["gateways"]}
    assert {s: r["state"] for s, r in rows.items()} == {
        SID: "online", "lagos-01": "silent", "kano-01": "offline"}
    a = rows[SID]
    assert a["lost"] == 0 and a["loss"] == 0.0 and a["duplicates"] == 0
    assert a["received"] == 2 * 576 + 2 * 192 + 2  # readings, live + shadow forecasts, events
    assert a["model_version"] == "v1"
    assert a["rollout"]["state"] == "rolled back"
    assert a["open_alerts"] == 1
    assert -1.0 < a["skill_7d"] < 1.0
    assert rows["kano-01"]["skill_7d"] is None


def test_site_api_draws_what_the_store_holds(serve, store_path: Path) -> None:
    srv = serve()
    page = api(srv, f"api/site/{SID}?days=1")
    store = Store(store_path)
    newest = sql(store, "SELECT max(ts) FROM readings WHERE site=?", [SID])[0][0]
    store.close()
    assert page["until"] == newest and page["since"] == newest - 86400
    assert page["pv"]["devices"] == ["inverter", "mppt"]
    # means over twice the 5-minute reading spacing, summed over both devices, in the window
    measured = page["pv"]["measured"]
    assert page["bucket_s"] == 600
    assert 142 <= len(measured) <= 145
    assert all(page["since"] < t <= page["until"] + page["bucket_s"] for t, _ in measured)
    assert max(v for _, v in measured) > 500
    band = page["pv"]["band"]
    assert page["band_horizon_min"] == 15
    assert all(p10 <= p50 <= p90 for _, p10, p50, p90 in band)
    latest = page["pv"]["latest"]
    assert [p[4] for p in latest["points"]] == [15, 60]
    assert page["battery"]["device"] == "inverter"
    assert all(0 <= soc <= 100 for _, soc in page["battery"]["soc"])
    assert page["battery"]["power"]
    # skill: live and shadow side by side, per horizon
    window = {(w["horizon_min"], w["shadow"]): w for w in page["skill"]["window"]}
    assert set(window) == {(15, False), (15, True), (60, False), (60, True)}
    assert window[(15, True)]["version"] == "v2" and window[(15, False)]["version"] == "v1"
    assert window[(15, True)]["rmse"] > window[(15, False)]["rmse"]  # 1.3 x is worse
    assert page["alerts"][0]["code"] == "rmse_drift"
    assert [e["code"] for e in page["rollout"]] == ["model_rolled_back", "model_shadow_started"]
    assert get(srv.url + "api/site/nowhere")[0] == 404
    assert get(srv.url + f"api/site/{SID}?days=abc")[0] == 400
    assert get(srv.url + f"api/site/{SID}?days=1e9")[0] == 400


def test_models_api_lists_running_models_shadow_results_and_history(serve) -> None:
    srv = serve()
    m = api(srv, "api/models")
    running = {r["site"]: r for r in m["running"]}
    assert running[SID]["version"] == "v1"
    assert running[SID]["rollout"]["state"] == "rolled back"
    roles = {(r["version"], r["shadow"]) for r in m["results"] if r["site"] == SID}
    assert roles == {("v1", False), ("v2", True)}
    assert [h["code"] for h in m["history"]] == ["model_rolled_back", "model_shadow_started"]


def test_metrics_in_prometheus_text_format(serve, store_path: Path) -> None:
    srv = serve()
    code, headers, body = get(srv.url + "metrics")
    assert code == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    fams = {f.name: f for f in text_string_to_metric_families(body.decode())}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in fams.values() for s in f.samples}
    store = Store(store_path)
    for row in store.stream_stats():
        key = tuple(sorted({"site": row.site, "device": row.device,
                            "stream": row.stream}.items()))
        assert samples[("helio_monitor_messages_stored_total", key)] == row.received
        assert samples[("helio_monitor_messages_lost", key)] == row.lost
    store.close()
    assert samples[("helio_monitor_rejected_total", ())] == 1
    assert samples[("helio_gateways_online", ())] == 1
    assert samples[("helio_gateways", (("state", "silent"),))] == 1
    assert samples[("helio_gateways", (("state", "offline"),))] == 1
    assert samples[("helio_monitor_loss_ratio", (("site", SID),))] == 0
    assert samples[("helio_alerts_open", (("site", SID),))] == 1
    skill = {dict(k)["horizon_min"] + dict(k)["shadow"]: v for (n, k), v in samples.items()
             if n == "helio_forecast_skill"}
    assert set(skill) == {"15false", "15true", "60false", "60true"}
    assert skill["15true"] < skill["15false"]


def test_pages_ship_with_the_package_and_load_nothing_from_elsewhere(serve) -> None:
    srv = serve()
    code, headers, body = get(srv.url)
    assert code == 200 and b'<script src="/static/app.js"' in body
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    for f in STATIC.iterdir():
        text = f.read_text(encoding="utf-8")
        assert "//" not in text.replace("http://www.w3.org/2000/svg", "").replace(
            "https://", "").replace("// ", "") or f.suffix == ".js", f
        assert "https://" not in text and "cdn" not in text.lower(), f
        assert get(srv.url + f"static/{f.name}")[0] == 200
    assert get(srv.url + "static/../server.py")[0] == 404
    assert get(srv.url + "static/queries.py")[0] == 404


def test_server_sent_events_announce_each_commit(serve, store_path: Path) -> None:
    srv = serve()
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    sock.sendall(b"GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n")
    buf = b""
    while b"event: hello" not in buf:
        buf += sock.recv(4096)
    assert b"text/event-stream" in buf

    def write() -> None:
        time.sleep(0.5)
        s = Store(store_path)
        s.write_batch([parse_message(*status(SID, "gateway", time.time()), time.time())])
        s.close()

    threading.Thread(target=write).start()
    deadline = time.monotonic() + 10
    while b"event: change" not in buf and time.monotonic() < deadline:
        buf += sock.recv(4096)
    sock.close()
    assert b"event: change" in buf


def test_auth_is_off_on_loopback_and_required_elsewhere(serve, store_path: Path) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    with pytest.raises(AuthError, match="without a token or basic auth"):
        DashboardServer(store_path, host="0.0.0.0", port=0)
    token = "a-token-of-sixteen-x"
    srv = serve(host="0.0.0.0", auth=AuthConfig(token=token, basic=("ops", "pa:ss")))
    for path in ("", "api/fleet", "metrics", "api/events", "static/app.js"):
        code, headers, _ = get(srv.url + path)
        assert code == 401, path
        assert headers["WWW-Authenticate"].startswith("Basic")
    assert get(srv.url + "api/fleet", {"Authorization": "Bearer wrong-token-xxxxxxx"})[0] == 401
    assert get(srv.url + "api/fleet", {"Authorization": f"Bearer {token}"})[0] == 200
    good = base64.b64encode(b"ops:pa:ss").decode()
    bad = base64.b64encode(b"ops:nope").decode()
    assert get(srv.url + "metrics", {"Authorization": f"Basic {good}"})[0] == 200
    assert get(srv.url + "metrics", {"Authorization": f"Basic {bad}"})[0] == 401
    # a browser's first visit with ?token= gets a cookie and a clean URL
    code, headers, _ = get(srv.url + "?token=" + token)
    assert code == 303 and headers["Location"] == "/"
    cookie = headers["Set-Cookie"].split(";")[0]
    assert "HttpOnly" in headers["Set-Cookie"]
    assert get(srv.url + "api/fleet", {"Cookie": cookie})[0] == 200
    assert get(srv.url + "api/fleet", {"Cookie": "helio_token=nope"})[0] == 401


def test_serve_command_refuses_the_network_without_credentials(store_path: Path, tmp_path,
                                                                capsys) -> None:
    assert monitor_main(["serve", "--store", str(store_path), "--host", "0.0.0.0",
                         "--port", "0"]) == 2
    assert "without a token or basic auth" in capsys.readouterr().err
    short = tmp_path / "token"
    short.write_text("short\n")
    assert monitor_main(["serve", "--store", str(store_path), "--host", "0.0.0.0",
                         "--token-file", str(short)]) == 2
    assert f"{short}: the token must be at least 16 characters" in capsys.readouterr().err
    assert monitor_main(["serve", "--store", str(tmp_path / "none.sqlite")]) == 1


def test_queries_survive_columns_added_and_tables_missing(store_path: Path, tmp_path) -> None:
    """A store from a later version (extra columns) or an older one (no rejected table)."""
    db = tmp_path / "other.sqlite"
    src = sqlite3.connect(store_path)
    src.backup(dst := sqlite3.connect(db))
    src.close()
    for table in ("readings", "streams", "forecasts", "forecast_points", "status", "events"):
        dst.execute(f"ALTER TABLE {table} ADD COLUMN later_column TEXT DEFAULT 'x'")
    dst.execute("DROP TABLE rejected")
    dst.commit()
    dst.close()
    store = queries.ReadOnlyStore(db)
    try:
        assert queries.rejected_count(store) == 0
        assert {r["site"] for r in queries.fleet(store)} == {SID, "lagos-01", "kano-01"}
        assert queries.site_page(store, SID)["pv"]["measured"]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store.db.execute("DELETE FROM readings")
    finally:
        store.close()


@pytest.mark.browser
@pytest.mark.slow
def test_shadow_results_and_rollout_history_in_a_browser(serve, tmp_path) -> None:
    """A rollout that ended in a rollback: live and shadow side by side, history listed."""
    from tests.trainer.monitor.dashboard_helpers import (  # noqa: PLC0415
        chrome,
        loaded,
        screenshot,
        wait_js,
    )

    srv = serve()
    with chrome() as d:
        d.get(srv.url + "#/models")
        loaded(d, "models")
        rows = d.execute_script("return [...document.querySelectorAll('#results tbody tr')]"
                                ".map(tr => [...tr.cells].map(c => c.textContent))")
        roles = {(r[1], r[2]) for r in rows if r[0] == SID}
        assert roles == {("v1", "live"), ("v2", "shadow")}
        history = d.execute_script("return [...document.querySelectorAll('#history tbody tr')]"
                                   ".map(tr => tr.cells[3].textContent)")
        assert history == ["model_rolled_back", "model_shadow_started"]
        running = d.execute_script("return document.querySelector('#running [data-rollout]')"
                                   ".dataset.rollout")
        assert running == "rolled back"
        screenshot(d, tmp_path, "dashboard-models-rollout.png")
        d.get(srv.url + f"#/site/{SID}")
        loaded(d, "site")
        wait_js(d, "document.querySelector(\"[data-series='skill-15-shadow']\")",
                what="the shadow model's skill line")
        skill = d.execute_script("return [...document.querySelectorAll('#skill tbody tr')]"
                                 ".map(tr => [...tr.cells].map(c => c.textContent))")
        assert [r[0] for r in skill] == ["15 min", "60 min"]
        assert all(r[2] == "v1" and r[4] == "v2" for r in skill)
        # the 1.3x shadow model is worse at 15 min: lower skill than the live one
        live15, shadow15 = (float(skill[0][i].split()[0]) for i in (1, 3))
        assert shadow15 < live15
        alerts = d.execute_script("return [...document.querySelectorAll('#alerts tbody tr')]"
                                  ".map(tr => tr.cells[2].textContent)")
        assert alerts == ["rmse_drift"]
        screenshot(d, tmp_path, "dashboard-site-rollout.png")
