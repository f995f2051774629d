"""Forecast scoring (the monitor measures skill as the gate does) and error-drift alarms."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pvlib
import pytest

from edge.forecasting.features import FeatureSpec
from edge.forecasting.reference import ZENITH_LIMIT, clear_sky_reference, physical_from_index
from edge.forecasting.site import load_site
from firmware_bridge.timestamps import parse_utc
from tests.trainer.monitor.conftest import forecast, reading
from tests.trainer.monitor.sql_helpers import sql
from trainer.dataset import build_dataset, fit_cliper
from trainer.evaluation import score_forecast
from trainer.loading import read_and_check
from trainer.monitor.cli import main
from trainer.monitor.drift import DriftConfig, DriftWatch, psi, validation_rmse
from trainer.monitor.ingest import MessageError, parse_message
from trainer.monitor.scoring import (
    Scorer,
    ScoringConfig,
    period_means,
    persistence_reference,
    rolling_metrics,
)
from trainer.monitor.store import Store

SITE = load_site(Path(__file__).resolve().parents[3] / "configs/sites/abuja.toml")
SID = SITE.site.id
DAY0 = pd.Timestamp("2026-01-10T00:00Z").timestamp()


def _write(store: Store, items: list[tuple[str, bytes]]) -> None:
    # each message received a minute after its own timestamp, as from a live gateway
    msgs = [parse_message(t, p, parse_utc(json.loads(p)["timestamp"]).timestamp() + 60)
            for t, p in items]
    store.write_batch([m for m in msgs if m is not None])


def test_period_means_interval_is_open_left_closed_right() -> None:
    ts = np.array([0.0, 60, 120, 180, 240, 300])
    vals = np.array([1.0, 2, np.nan, 4, 5, 6])
    out = period_means(ts, vals, np.array([180.0, 300.0, 1000.0]), 180.0)
    assert out[0] == pytest.approx((2 + 4) / 2)  # (0, 180]: 60, 180 (120 is NaN)
    assert out[1] == pytest.approx((4 + 5 + 6) / 3)  # (120, 300]
    assert math.isnan(out[2])


def _geo(hours: list[float]) -> pd.DataFrame:
    mids = pd.to_datetime([DAY0 + 3600 * h for h in hours], unit="s", utc=True)
    return clear_sky_reference(SITE, mids).reset_index(drop=True)


def test_persistence_reference_holds_the_issue_clear_sky_index() -> None:
    """The monitor's reference is the gate's: index now x clear sky then, 1 at dawn."""
    now, then = _geo([12.0, 6.0, 12.0]), _geo([13.0, 7.5, 13.0])
    ghi_now = np.array([0.5, 0.5, np.nan]) * now["ghi_clear"].to_numpy()
    out, scored = persistence_reference("ghi", SITE, ghi_now, np.full(3, 400.0), now=now, then=then)
    assert out[0] == pytest.approx(0.5 * then["ghi_clear"][0])
    assert not now["daytime"][1] and then["daytime"][1]
    assert out[1] == pytest.approx(then["ghi_clear"][1])  # dawn: index taken as 1
    assert math.isnan(out[2]) and scored.all()


def test_persistence_reference_pv_goes_through_the_pv_chain() -> None:
    """PV persistence: the PV clear-sky index now, through decomposition and the array model."""
    now, then = _geo([11.0]), _geo([12.0])
    pv_now = 0.6 * now["pv_clear"].to_numpy()
    out, scored = persistence_reference("pv_power", SITE, pv_now, np.array([1000.0]), now=now,
                                           then=then)
    chain = physical_from_index(np.array([0.6]), ghi_clear=then["ghi_clear"],
                                zenith=then["zenith"], azimuth=then["azimuth"],
                                dni_extra=then["dni_extra"], array=SITE.array)["pv_power"]
    assert out[0] == pytest.approx(chain[0], rel=1e-12)
    # not the linear scaling of clear-sky PV: Erbs puts more of a cloudy sky in the diffuse
    assert abs(out[0] - 0.6 * then["pv_clear"][0]) > 1.0
    clipped, scored_clipped = persistence_reference(
        "pv_power", SITE, np.array([SITE.array.ac_limit]), np.array([SITE.array.ac_limit]),
        now=now, then=then)
    held = physical_from_index(np.array([1.0]), ghi_clear=then["ghi_clear"],
                               zenith=then["zenith"], azimuth=then["azimuth"],
                               dni_extra=then["dni_extra"], array=SITE.array)["pv_power"]
    assert clipped[0] == pytest.approx(held[0], rel=1e-12)  # clipped now: index taken as 1
    assert scored[0] and not scored_clipped[0]  # a clipped target says nothing about the sky


def _period_value(i: int) -> float:
    return 1200.0 + 700.0 * math.sin(0.7 * i)


def _day(store: Store, day: float, *, err15: float, err60: float, seq0: int = 0,
         float_from_min: int | None = None) -> int:
    """Readings (60 s, piecewise constant per 15 min) and forecasts for one day.

    From ``float_from_min`` (minutes after midnight) on, the charger is in float
    (battery full) and its PV power is a curtailed 300 W, whatever the sky.
    """
    items = []
    n = seq0
    for minute in range(4 * 60, 20 * 60):
        t = day + 60 * (minute + 1)
        period = (minute // 15)
        n += 1
        if float_from_min is not None and minute >= float_from_min:
            items.append(reading(SID, "mppt", n, t, pv_power=300.0, charge_state="float"))
            continue
        items.append(reading(SID, "mppt", n, t, pv_power=_period_value(period),
                             charge_state="bulk"))
    _write(store, items)
    items = []
    for k, issue_min in enumerate(range(5 * 60, 18 * 60, 15)):
        issue = day + 60 * issue_min
        p50 = {15: _period_value(issue_min // 15) + err15,
               60: _period_value(issue_min // 15 + 3) + err60}
        items.append(forecast(SID, "gateway", seq0 + k + 1, issue, p50))
    _write(store, items)
    return n


def _daytime_periods(day: float, horizon: int) -> int:
    ends = [day + 60 * (m + horizon) for m in range(5 * 60, 18 * 60, 15)]
    mids = pd.to_datetime(np.array(ends) - 450.0, unit="s", utc=True)
    zen = pvlib.solarposition.get_solarposition(mids, SITE.site.latitude, SITE.site.longitude,
                                                SITE.site.altitude)["zenith"].to_numpy()
    return int(np.sum(zen < ZENITH_LIMIT))


def test_scorer_scores_daytime_points_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.sqlite")
    _day(store, DAY0, err15=10.0, err60=-20.0)
    scorer = Scorer(store, {SID: SITE}, ScoringConfig(grace_s=0.0))
    written = scorer.score_all()
    assert written == _daytime_periods(DAY0, 15) + _daytime_periods(DAY0, 60)
    assert scorer.score_all() == 0  # nothing scored twice
    metrics = {m.horizon_min: m for m in rolling_metrics(store, SID)}
    assert metrics[15].rmse == pytest.approx(10.0)
    assert metrics[60].rmse == pytest.approx(20.0)
    assert metrics[15].n == _daytime_periods(DAY0, 15)
    for m in metrics.values():
        assert m.rmse_persistence > 0
        assert m.skill == pytest.approx(1 - m.rmse / m.rmse_persistence)
    pooled = rolling_metrics(store, SID, by_horizon=False)
    assert len(pooled) == 1 and pooled[0].n == written


def test_scorer_leaves_out_periods_the_charger_curtailed(tmp_path: Path) -> None:
    """A full battery, not the sky, cut the PV power: not the forecast's error."""
    store = Store(tmp_path / "m.sqlite")
    _day(store, DAY0, err15=10.0, err60=-20.0, float_from_min=13 * 60)
    Scorer(store, {SID: SITE}, ScoringConfig(grace_s=0.0)).score_all()
    latest_end = sql(store, "SELECT max(period_end) FROM scores WHERE target='pv_power'")[0][0]
    assert latest_end <= DAY0 + 13 * 3600  # nothing scored once float began
    metrics = {m.horizon_min: m for m in rolling_metrics(store, SID)}
    assert metrics[15].rmse == pytest.approx(10.0)  # the curtailed 300 W never scored
    assert metrics[60].rmse == pytest.approx(20.0)
    assert 0 < metrics[15].n < _daytime_periods(DAY0, 15)


def test_scorer_waits_for_grace_period(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.sqlite")
    _day(store, DAY0, err15=1.0, err60=1.0)
    assert Scorer(store, {SID: SITE}, ScoringConfig(grace_s=10 * 3600)).score_all() < (
        _daytime_periods(DAY0, 15))
    assert Scorer(store, {SID: SITE}, ScoringConfig(grace_s=0)).score_all() > 0


def test_scorer_without_site_file_uses_plain_persistence(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.sqlite")
    _day(store, DAY0, err15=5.0, err60=5.0)
    assert Scorer(store, {}, ScoringConfig(grace_s=0)).score_all() > 0
    rows = sql(store, "SELECT issue, persistence FROM scores WHERE horizon_min=15 LIMIT 3")
    for issue, pers in rows:  # persistence = the period ending at the issue time
        assert pers == pytest.approx(_period_value(int((issue - DAY0) // 900) - 1))


def _manifest(sha: str, rmse15: float) -> dict:
    return {"model_version": "v1", "model": {"sha256": sha}, "horizons_min": [15, 60],
            "metrics": [{"target": "pv_power", "horizon_min": 15, "season": "all", "n": 100,
                         "rmse": rmse15},
                        {"target": "pv_power", "horizon_min": 15, "season": "dry", "n": 50,
                         "rmse": rmse15 * 2},
                        {"target": "ghi", "horizon_min": 15, "season": "all", "n": 100,
                         "rmse": 1.0}]}


def test_validation_rmse_prefers_season_rows() -> None:
    m = _manifest("x", 30.0)
    assert validation_rmse(m, "pv_power") == {15: 30.0}
    assert validation_rmse(m, "pv_power", "dry") == {15: 60.0}
    assert validation_rmse(m, "pv_power", "wet") == {15: 30.0}
    assert validation_rmse(m, "dni") == {}


@pytest.mark.parametrize(("val_rmse", "alarm"), [(30.0, True), (70.0, False)],
                         ids=["worse", "within"])
def test_rmse_drift_alarm_against_manifest(tmp_path: Path, val_rmse: float, alarm: bool) -> None:
    store = Store(tmp_path / "m.sqlite")
    _day(store, DAY0, err15=80.0, err60=0.0)
    Scorer(store, {SID: SITE}, ScoringConfig(grace_s=0)).score_all()
    # January is the dry season: the dry-season row (2 x rmse) is the limit
    store.add_manifest(_manifest("sha-a", val_rmse / 2))
    watch = DriftWatch(store, {SID: SITE},
                       DriftConfig(rmse_factor=1.2, min_scores=10, every_s=0.0))
    alerts = [a for a in watch(DAY0) if a.code == "rmse_drift"]
    assert bool(alerts) is alarm
    if alarm:
        assert alerts[0].data["horizon_min"] == 15 and alerts[0].data["rmse"] == pytest.approx(80)
        assert [a for a in watch(DAY0 + 60) if a.code == "rmse_drift"] == []  # not re-raised
        assert store.alerts(SID, open_only=True)[0].code == "rmse_drift"


@pytest.mark.parametrize(("days", "alarm"), [(3, True), (2, False)], ids=["3-days", "2-days"])
def test_negative_skill_for_consecutive_days(tmp_path: Path, days: int, alarm: bool) -> None:
    store = Store(tmp_path / "m.sqlite")
    seq = 0
    for d in range(days):  # forecasts far worse than smart persistence
        seq = _day(store, DAY0 + 86400 * d, err15=900.0, err60=900.0, seq0=seq)
    Scorer(store, {SID: SITE}, ScoringConfig(grace_s=0)).score_all()
    alerts = [a for a in DriftWatch(store, {SID: SITE}, DriftConfig(skill_days=3))(DAY0)
              if a.code == "negative_skill"]
    assert bool(alerts) is alarm
    if alarm:
        assert all(s < 0 for s in alerts[0].data["daily_skill"])


def test_drift_evaluation_is_throttled(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.sqlite")
    _day(store, DAY0, err15=80.0, err60=0.0)
    Scorer(store, {SID: SITE}, ScoringConfig(grace_s=0)).score_all()
    store.add_manifest(_manifest("sha-a", 10.0))
    watch = DriftWatch(store, {SID: SITE}, DriftConfig(min_scores=10, every_s=3600.0))
    assert [a.code for a in watch(DAY0)] == ["rmse_drift"]
    key = "pv_power/h15/sha-a"
    assert store.clear_alert(site=SID, device="gateway", code="rmse_drift", key=key, ts=DAY0)
    assert watch(DAY0 + 60) == []  # not evaluated again within the hour
    assert [a.code for a in watch(DAY0 + 3600)] == ["rmse_drift"]


def test_psi_zero_for_same_distribution_and_large_for_shift() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.7, 0.1, 2000), rng.normal(0.7, 0.1, 2000)
    edges = np.linspace(0, 1.2, 13)
    assert psi(a, b, edges) < 0.05
    assert psi(a, rng.normal(0.4, 0.15, 2000), edges) > 0.25


def test_psi_small_windows_do_not_alarm_on_a_stray_bin() -> None:
    """Two of 39 reference periods in a bin the recent 39 leave empty is not a shift."""
    edges = np.concatenate([[-np.inf], np.linspace(0, 1.2, 7)[1:-1], [np.inf]])
    ref = np.r_[np.full(2, 0.75), np.full(37, 0.9)]
    assert psi(ref, np.full(39, 0.9), edges) < 0.1
    assert psi(ref, np.full(39, 0.3), edges) > 0.25  # a real change still is


def test_report_html_embeds_plots_and_metrics(tmp_path: Path) -> None:
    db = tmp_path / "m.sqlite"
    store = Store(db)
    _day(store, DAY0, err15=10.0, err60=-20.0)
    Scorer(store, {SID: SITE}, ScoringConfig(grace_s=0)).score_all()
    store.close()
    page = tmp_path / "r.html"
    assert main(["report", "--store", str(db), "--site", SID, "--out", str(page)]) == 0
    text = page.read_text()
    assert text.count("data:image/png;base64,") == 2
    assert "<td>10.0</td>" in text and "<td>20.0</td>" in text  # RMSE per horizon
    png = tmp_path / "r.png"
    assert main(["report", "--store", str(db), "--site", SID, "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["report", "--store", str(db), "--site", "nowhere", "--out", str(png)]) == 1


PV_FIXTURE = Path(__file__).resolve().parents[1] / "data/helio_abuja_pv_4days.csv"


def test_monitor_and_gate_measure_the_same_skill_on_one_data_set(tmp_path: Path) -> None:
    """One PV telemetry file, one forecast: the gate's and the monitor's skill agree.

    The gate reads the file as ``helio-train`` does (GHI estimated from PV),
    scores a CLIPER forecast through :func:`trainer.evaluation.score_forecast`;
    the monitor stores the same rows as readings and the same P50 as
    forecasts and scores them. Same periods, same RMSE, same skill per
    horizon. The forecast RMSE agrees to float64 rounding; the persistence
    RMSE to float32 rounding (the gate reads its persistence index from
    feature ``kt_lag0``, float32): relative 1e-6, so skill within 1e-6.
    """
    frame, loc = read_and_check(str(PV_FIXTURE), "helio", SITE)
    test = build_dataset(frame, FeatureSpec(), loc).daytime()
    p50 = fit_cliper(test).predict(test)
    kt = np.stack([0.8 * p50, p50, 1.2 * p50], axis=-1)
    gate = {r.horizon_min: r for r in score_forecast(
        kt, test, train=None, frame=frame, site=SITE, loc=loc).rows
        if r.target == "pv_power" and r.season == "all"}
    pv_fc = score_forecast(kt, test, train=None, frame=frame, site=SITE, loc=loc
                           ).forecast["pv_power"][..., 1]

    store = Store(tmp_path / "m.sqlite")
    rows = pd.read_csv(PV_FIXTURE)
    _write(store, [reading(SID, "mppt", i + 1, pd.Timestamp(r.timestamp).timestamp(),
                           pv_power=float(r.pv_power), charge_state=r.charge_state)
                   for i, r in enumerate(rows.itertuples())])
    horizons = test.spec.horizons_min
    _write(store, [forecast(SID, "gateway", i + 1, t.timestamp(),
                            {h: float(pv_fc[i, j]) for j, h in enumerate(horizons)})
                   for i, t in enumerate(test.times)])
    Scorer(store, {SID: SITE}, ScoringConfig(grace_s=0.0)).score_all()
    monitor = {m.horizon_min: m for m in rolling_metrics(store, SID, target="pv_power")}

    assert sorted(monitor) == sorted(gate) == sorted(horizons)
    for h in horizons:
        g, m = gate[h], monitor[h]
        assert m.n == g.n > 50
        assert m.rmse == pytest.approx(g.rmse, rel=1e-9)
        assert m.rmse_persistence == pytest.approx(g.rmse / (1 - g.skill_vs_smart_persistence),
                                                   rel=1e-6)
        assert m.skill == pytest.approx(g.skill_vs_smart_persistence, abs=1e-6)


def test_a_reading_from_the_future_is_rejected_and_never_stalls_scoring(tmp_path: Path) -> None:
    """Before: one reading stamped 2099 became the site's newest, and the scorer then marked
    every open forecast point scored without scoring it (8 scores instead of 38)."""
    store = Store(tmp_path / "m.sqlite")
    _day(store, DAY0, err15=10.0, err60=-20.0)
    received = DAY0 + 21 * 3600  # an hour after the day's last reading
    topic, payload = reading(SID, "mppt", 10_000, 4_070_908_800.0, pv_power=1.0)  # 2099
    rejects: list[tuple[str, bytes, str, float]] = []
    try:  # what the monitor's writer does with each message
        msg = parse_message(topic, payload, received)
        store.write_batch([msg] if msg is not None else [])
    except MessageError as exc:
        rejects.append((topic, payload, str(exc), received))
    res = store.write_batch([], rejects)
    assert res.rejected == 1 and "ahead of the monitor's receive time" in rejects[0][2]
    assert store.reading_span(SID)[1] < received  # the newest reading is still of today
    written = Scorer(store, {SID: SITE}, ScoringConfig(grace_s=0.0)).score_all()
    assert written == _daytime_periods(DAY0, 15) + _daytime_periods(DAY0, 60)
    # a gateway clock a few minutes fast is still taken
    assert parse_message(*reading(SID, "mppt", 10_001, received + 300, pv_power=1.0),
                         received) is not None
