"""The closed loop end to end: telemetry -> helio-monitor export ->
helio-train fit -> helio-train publish -> an edge agent on simulators verifies,
shadows and promotes the new model; a tampered bundle is refused first.

Real components throughout: mosquitto, the monitor, the trainer (TensorFlow),
the agent polling the VE.Direct and PI30 simulators over pseudo-terminals,
the TFLite interpreter, Ed25519 signatures. The device starts with a
model fitted for one epoch on the same telemetry, so the retrained one must
win the live comparison. Telemetry for training is
back-filled from the same plant model (weeks of agent time would take hours
at the agent's real-time polling), then the agent runs time-accelerated.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.forecasting.site import load_site
from edge.runtime.config import RolloutConfig
from edge.simulation.plant import Plant
from tests.trainer.monitor.conftest import Pub, reading, wait_for
from tests.trainer.monitor.rollout_helpers import keypair
from tests.trainer.monitor.sql_helpers import sql
from trainer.bundle_signing import load_private_key
from trainer.cli import main as train_main
from trainer.monitor.cli import main as monitor_main
from trainer.monitor.fleet import fleet_table
from trainer.monitor.scoring import Scorer, ScoringConfig, rolling_metrics
from trainer.monitor.store import Store
from trainer.publishing import install_payload, model_topic, sign_command

REPO = Path(__file__).resolve().parents[3]
SITE_FILE = REPO / "configs/sites/abuja.toml"
SITE = load_site(SITE_FILE)
SID = SITE.site.id

TRAIN_TOML = """
site = "{site}"
seed = 3
model_version = "{version}"

[features]
step_minutes = 15
horizons_min = [15, 30, 60, 120, 180]
history_steps = 4

[data]
holdout_fraction = 0.25

[model]
hidden = [32, 32]
epochs = {epochs}
batch_size = 64
learning_rate = 0.003

[quantization]
representative_samples = 400
representative_batch = 100

[gate]   # a site's first own model: it must work, not yet beat the fleet model
targets = ["pv_power"]
min_skill = -5.0
min_season_skill = -5.0
min_cliper_skill = -5.0
max_linear_shortfall = 5.0
coverage_min = 0.0
coverage_max = 1.0
max_int8_rmse_increase = 1.0
max_rail_share = 1.0
"""


def _backfill(port: int, days: int, start: datetime) -> int:
    plant = Plant(SITE, seed=21, start=start, speed=0.0)
    pub = Pub(port)
    n = 0
    for _ in range(days * 288):
        s = plant.advance(300.0)
        n += 1
        pub.send(*reading(SID, "mppt", n, s.time.timestamp(), **s.charger_values()))
    pub.close()
    return n


def _fit(tmp: Path, csv: Path, priv: Path, version: str, epochs: int) -> Path:
    cfg = tmp / f"train-{version}.toml"
    cfg.write_text(TRAIN_TOML.format(site=SITE_FILE, version=version, epochs=epochs))
    out = tmp / f"bundle-{version}"
    assert train_main(["fit", "--config", str(cfg), "--data", str(csv), "--format", "helio",
                       "--out", str(out), "--key", str(priv)]) == 0
    return out


def _status(store) -> dict:
    rows = sql(store, "SELECT payload FROM status WHERE site=?", [SID])
    return json.loads(rows[0][0]) if rows else {}


def _events(store, code: str) -> list[dict]:
    return [json.loads(d) for (d,) in sql(store,
        "SELECT data FROM events WHERE site=? AND code=? ORDER BY seq", [SID, code])]


@pytest.mark.broker
@pytest.mark.pty
@pytest.mark.slow
@pytest.mark.tflite
@pytest.mark.tensorflow
def test_export_fit_publish_shadow_promote(mosquitto, start_monitor, tmp_path: Path) -> None:
    from edge.commands.run import build, load_holder  # noqa: PLC0415
    from edge.demo.runner import PlantClock, demo_config  # noqa: PLC0415
    from edge.simulation import simulate_device  # noqa: PLC0415

    priv, pub = keypair(tmp_path)
    db = tmp_path / "fleet.sqlite"
    mon = start_monitor(mosquitto.port, db=db)

    # 1. telemetry reaches the monitor; 2. export; 3. fit a signed bundle on it
    n = _backfill(mosquitto.port, 12, datetime(2026, 1, 8, tzinfo=UTC))
    wait_for(lambda: mon.stats.inserted >= n, timeout=60, what="telemetry stored")
    csv = tmp_path / "abuja.csv"
    assert monitor_main(["export", "--store", str(db), "--site", SID, "--since", "2026-01-08",
                         "--interval", "300", "--out", str(csv)]) == 0
    # the site's first model was trained for one epoch; the retrained one properly
    active, new = (_fit(tmp_path, csv, priv, version, epochs)
                   for version, epochs in (("abuja-site-1", 1), ("abuja-site-2", 150)))
    new_manifest = json.loads((new / "manifest.json").read_text())

    # 4. the device: the site's first model, on the simulators
    plant = Plant(SITE, seed=7, start=datetime(2026, 1, 22, 8, tzinfo=UTC), speed=300.0)
    sims = {"mppt": simulate_device("vedirect", site=SITE, plant=plant),
            "inverter": simulate_device("pi30", site=SITE, plant=plant)}
    stop = threading.Event()
    try:
        cfg = demo_config(tmp_path / "device", mosquitto.port,
                          {k: s.url for k, s in sims.items()}, 300.0, bundle=active,
                          public_key=pub)
        # the shadow period is a duration on the monotonic (real) clock: 30 s
        # here is 2.5 simulated hours of the plant at 300x
        cfg = dataclasses.replace(cfg, rollout=RolloutConfig(
            shadow_s=2.5 * 3600 / 300.0, max_shadow_s=8 * 3600 / 300.0, min_pairs=6))
        rt = build(cfg, SITE, load_holder(cfg), clock=PlantClock(plant))
        rt.publisher.start()
        agent = threading.Thread(target=rt.agent.run, args=(stop,), daemon=True)
        agent.start()
        wait_for(lambda: sql(mon.store, "SELECT count(*) FROM forecasts WHERE site=?",
                                         [SID])[0][0] >= 2, timeout=60, what="agent forecasts")
        old_version = rt.agent.holder.version

        # 5a. a tampered bundle is refused; the running model keeps running
        # (the command is re-signed with the right key: the bundle check must still catch it)
        key = load_private_key(priv)
        body = json.loads(install_payload(new, key=key, site=SID, device="gateway"))
        archive = bytearray(base64.b64decode(body["archive_b64"]))
        archive[len(archive) // 2] ^= 0xFF
        body["archive_b64"] = base64.b64encode(bytes(archive)).decode()
        body["archive_sha256"] = __import__("hashlib").sha256(archive).hexdigest()
        body.pop("command_sig")
        tamper = Pub(mosquitto.port)
        tamper.send(model_topic(SID, "gateway"), sign_command(body, key))
        tamper.close()
        wait_for(lambda: _events(mon.store, "model_refused"), timeout=30, what="refusal")
        assert rt.agent.holder.version == old_version

        # 5b. the real bundle, through the CLI
        assert train_main(["publish", "--bundle", str(new), "--site", SID, "--key", str(priv),
                           "--port", str(mosquitto.port), "--public-key", str(pub)]) == 0
        wait_for(lambda: _events(mon.store, "model_shadow_started"), timeout=30,
                 what="shadow started")
        wait_for(lambda: sql(mon.store, "SELECT count(*) FROM forecasts WHERE shadow=1")[0][0]
                 >= 3, timeout=60, what="shadow forecasts")
        assert rt.agent.holder.version == old_version  # shadow forecasts are not used
        shadow_rows = sql(mon.store, "SELECT DISTINCT model_version FROM forecasts"
                                      " WHERE shadow=1")
        assert shadow_rows == [(new_manifest["model_version"],)]
        wait_for(lambda: _status(mon.store).get("rollout", {}).get("state") == "shadow",
                 timeout=30, what="status.rollout in shadow")

        # 6. after the shadow period the device promotes it on its own
        wait_for(lambda: _events(mon.store, "model_promoted") or _events(
            mon.store, "model_rolled_back"), timeout=240, what="rollout decision")
        promoted = _events(mon.store, "model_promoted")
        assert promoted, _events(mon.store, "model_rolled_back")
        assert promoted[0]["version"] == new_manifest["model_version"]
        assert promoted[0]["pairs"] >= 6
        assert promoted[0]["rmse_shadow"] <= promoted[0]["rmse_active"]
        assert rt.agent.holder.version == new_manifest["model_version"]
        wait_for(lambda: sql(mon.store, "SELECT version FROM models WHERE site=?", [SID])
                 == [(new_manifest["model_version"],)], timeout=30, what="retained model")
        # the monitor learnt the new model's validation errors from the publish payload
        assert mon.store.manifest(new_manifest["model"]["sha256"]) is not None
        (row,) = fleet_table(mon.store)
        assert (row.site, row.gateway, row.state, row.lost) == (SID, "gateway", "online", 0)
        assert row.model_version == new_manifest["model_version"]
        assert set(row.devices) == {"mppt", "inverter"}
        # and scores live and shadow forecasts against the agent's own telemetry
        other = Store(db)
        assert Scorer(other, {SID: SITE}, ScoringConfig(grace_s=0)).score_all() > 0
        scored = {(m.model_sha, m.shadow) for m in rolling_metrics(other, SID)}
        assert (new_manifest["model"]["sha256"], True) in scored
        assert any(not shadow for _sha, shadow in scored)
        other.close()
    finally:
        stop.set()
        for s in sims.values():
            s.stop()
    agent.join(15)
    rt.close()
