"""A command flood against the agent loop: printed, not asserted.

The agent runs in real time with one device polled at 10 Hz and a real
outbox file; for 5 s another thread delivers invalid commands on
``helio/<site>/<gw>/cmd`` as fast as the agent's inbound callback accepts
them (what the MQTT network thread does during a flood). Printed: readings
stored (about 50 expected), systemd watchdog pings sent, events written,
inbound messages dropped by the rate limit.

``python -m bench.bench_inbound_flood`` runs it on this tree; the same
module can be run with another checkout first on ``PYTHONPATH`` to get the
figure before a change.
"""

# ruff: noqa: PLC0415

from __future__ import annotations

import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SECONDS = 5.0


def run_flood(seconds: float = SECONDS) -> dict[str, float]:
    """One flood; the counts."""
    import numpy as np

    from edge.forecasting.bundle import Bundle
    from edge.forecasting.engine import ForecastEngine, ModelHolder
    from edge.forecasting.features import FeatureSpec
    from edge.forecasting.site import load_site
    from edge.runtime.agent import Agent
    from edge.runtime.config import AgentConfig, AgentSection, ModelConfig
    from edge.runtime.contract import Topics
    from edge.runtime.outbox import Outbox
    from firmware_bridge.clock import SystemClock
    from firmware_bridge.config import DeviceConfig
    from firmware_bridge.drivers import DeviceStats
    from firmware_bridge.readings import QUANTITIES, Reading

    site = load_site(REPO / "configs/sites/abuja.toml")
    spec = FeatureSpec()
    features = spec.to_dict()
    features["scaling"] = {"offset": [0.0] * spec.n_features, "scale": [1.0] * spec.n_features}
    manifest = {"model_version": "bench", "blessed": True, "created": "2026-11-26T00:00:00Z",
                "step_minutes": spec.step_minutes, "horizons_min": list(spec.horizons_min),
                "features": features}
    bundle = Bundle("<bench>", manifest, json.dumps(manifest).encode(), b"", "00" * 32)

    class Predictor:
        def __init__(self, b: Any) -> None:
            self.out = np.tile(np.array([0.5, 0.8, 1.0], np.float32), len(spec.horizons_min))

        def predict(self, x: Any, out: Any = None) -> Any:
            return self.out

    clock = SystemClock()

    class Device:
        stats = DeviceStats(connected=True, stale=False)

        def poll(self) -> Any:
            return Reading("mppt", clock.now_utc(), {"pv_power": 800.0})

        def poll_all(self) -> list[Any]:
            return [self.poll()]

        def stale_names(self) -> list[str]:
            return []

        def take_notices(self) -> list[Any]:
            return []

        def close(self) -> None:
            pass

    from edge.testkit.fakes import CountingNotifier, RecordingPublisher

    with tempfile.TemporaryDirectory(prefix="helio-flood-") as tmp:
        cfg = AgentConfig(
            agent=AgentSection(site="-", state_dir=tmp, heartbeat_s=1.0, watchdog_s=1.0,
                               pv_device="mppt"),
            model=ModelConfig("-", "-"),
            devices=(DeviceConfig("mppt", "vedirect", "loop://", poll_interval=0.1),))
        outbox = Outbox(Path(tmp) / "outbox.sqlite")
        publisher, notifier = RecordingPublisher(), CountingNotifier()
        agent = Agent(config=cfg, site_id=site.site.id, devices={"mppt": Device()},
                      engine=ForecastEngine(site, ModelHolder(lambda: bundle, Predictor)),
                      outbox=outbox, publisher=publisher, clock=clock, notifier=notifier,
                      quantities=QUANTITIES)
        stop = threading.Event()
        loop = threading.Thread(target=agent.run, args=(stop,), daemon=True)
        loop.start()
        time.sleep(1.0)  # started, subscribed
        handler = publisher.handlers[Topics(site.site.id).cmd + "/#"]
        before_readings = _count(outbox, "/mppt/reading")
        pings0 = notifier.pings
        events0 = _count(outbox, "/events")
        sent = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            handler(Topics(site.site.id).cmd, b"not json %d" % sent)
            sent += 1
        readings = _count(outbox, "/mppt/reading") - before_readings
        pings = notifier.pings - pings0
        events = _count(outbox, "/events") - events0
        stop.set()
        loop.join(30)
        dropped = float(sum(agent.inbound_dropped.values()))
        outbox.close()
    return {"sent": sent, "readings": readings, "pings": pings, "events": events,
            "dropped": dropped}


def _count(outbox: Any, suffix: str) -> int:
    return sum(1 for r in outbox.peek(10**7) if r.topic.endswith(suffix))


def main() -> None:
    r = run_flood()
    print(f"command flood, {SECONDS:.0f} s of invalid commands on cmd, device at 10 Hz:")
    print(f"  commands delivered {r['sent']:.0f}, dropped by the rate limit {r['dropped']:.0f}")
    print(f"  readings stored {r['readings']:.0f} (about {SECONDS * 10:.0f} expected),"
          f" watchdog pings {r['pings']:.0f} (every 0.5 s: about {SECONDS * 2:.0f}),"
          f" events written {r['events']:.0f}")


if __name__ == "__main__":
    main()
