"""Input drift: an alarm when the simulated sky changes regime, none while it holds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.forecasting.site import load_site
from edge.simulation.plant import Plant
from edge.simulation.sky import SkyRegime
from tests.trainer.monitor.conftest import Pub, Sub, reading, status, wait_for
from trainer.monitor.drift import DriftConfig, DriftWatch

SITE = load_site(Path(__file__).resolve().parents[3] / "configs/sites/abuja.toml")
SID = SITE.site.id
STEP_S = 300.0


def _publish_days(plant: Plant, pub: Pub, days: float, seq: int) -> int:
    for _ in range(int(days * 86400 / STEP_S)):
        state = plant.advance(STEP_S)
        seq += 1
        pub.send(*reading(SID, "mppt", seq, state.time.timestamp(), **state.charger_values()))
    pub.flush()
    return seq


@pytest.mark.broker
@pytest.mark.slow
def test_input_drift_alarm_when_sky_changes_regime(mosquitto, start_monitor) -> None:
    watch_cfg = DriftConfig(input_window_s=2 * 86400, min_samples=24, every_s=0.0)
    mon = start_monitor(mosquitto.port, tasks_every_s=1e9)
    mon.tasks = [DriftWatch(mon.store, {SID: SITE}, watch_cfg)]
    alerts = Sub(mosquitto.port, "helio/+/monitor/alerts")
    pub = Pub(mosquitto.port)
    pub.send(*status(SID, "gateway", datetime.now(UTC).timestamp()), retain=True)
    # January: dry season on both sides of the change, so the reference is season-matched
    plant = Plant(SITE, seed=11, start=datetime(2026, 1, 5, tzinfo=UTC), speed=0.0)

    seq = _publish_days(plant, pub, 4, 0)
    wait_for(lambda: mon.stats.inserted >= seq, what="4 days stored")
    mon.run_tasks(0.0)  # same climate in both windows: no alarm
    assert mon.store.alerts(SID) == []

    plant.set_regime(SkyRegime(season="wet", cloudiness=1.6))
    seq = _publish_days(plant, pub, 2, seq)
    wait_for(lambda: mon.stats.inserted >= seq, what="6 days stored")
    mon.run_tasks(1.0)
    (alert,) = mon.store.alerts(SID, open_only=True)
    assert (alert.code, alert.key, alert.device) == ("input_drift", "kcs", "gateway")
    assert alert.data["psi"] > 0.25
    assert alert.data["recent_mean"] < alert.data["reference_mean"]  # cloudier
    assert alert.data["season"] == "dry"
    wait_for(lambda: any(b["code"] == "input_drift" for _t, b in alerts.messages),
             what="alert published")
    topic, body = next(m for m in alerts.messages if m[1]["code"] == "input_drift")
    assert topic == f"helio/{SID}/monitor/alerts" and body["state"] == "raised"
    pub.close()
    alerts.close()
