"""Edge agent benchmarks: printed, not asserted.

- full predict call (features + interpreter) p50/p99 with the day's geometry
  precomputed, plus the post-processing and the whole forecast step;
- CPU time per agent cycle (a forecast step; a reading stored durably);
- resident memory of a running ``helio-edge run`` (simulators on ptys, local
  broker);
- outbox drain rate to a local mosquitto at QoS 1 after an outage
  (86,400 messages: a day of 1 Hz readings).

Goals: predict p50 < 50 us; 86,400 drained in < 30 s; RSS < 180 MB.
"""

# ruff: noqa: PLC0415  (imports inside each benchmark keep their costs apart)

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BUNDLE = Path(os.environ.get("HELIO_BENCH_BUNDLE", REPO / "edge/data/bundles/abuja"))
PUBKEY = Path(os.environ.get("HELIO_BENCH_PUBKEY", REPO / "configs/keys/helio-default.pub"))
N_DRAIN = 86_400


def _pct(samples: list[float]) -> tuple[float, float]:
    a = np.asarray(samples) * 1e6
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def bench_predict() -> None:
    """Features + interpreter, post-processing, whole step."""
    from edge.forecasting.bundle import load_bundle
    from edge.forecasting.engine import ForecastEngine, ModelHolder
    from edge.forecasting.features import compute_features
    from edge.forecasting.predictor import Predictor, runtime_name
    from edge.forecasting.site import load_site

    site = load_site(REPO / "configs/sites/abuja.toml")
    holder = ModelHolder(lambda: load_bundle(BUNDLE, PUBKEY), Predictor)
    engine = ForecastEngine(site, holder)
    spec = holder.spec
    issue = int(dt.datetime(2026, 6, 21, 11, 0, tzinfo=dt.UTC).timestamp())
    t0 = time.perf_counter()
    geo = engine.geometry_for(issue)
    precompute = time.perf_counter() - t0
    k, n = geo.index(issue), spec.history_steps
    hist = [float(v) * 0.8 for v in geo.ghi_clear[k - n + 1: k + 1]]
    out = np.empty(3 * len(spec.horizons_min), dtype=np.float32)
    pred = holder.predictor
    full, post, step = [], [], []
    for _ in range(300):  # warm-up
        pred.predict(compute_features(spec, geo, hist, issue), out=out)
    for _ in range(5000):
        a = time.perf_counter()
        x = compute_features(spec, geo, hist, issue)
        pred.predict(x, out=out)
        full.append(time.perf_counter() - a)
    feats, interp = [], []
    x = compute_features(spec, geo, hist, issue)
    for _ in range(5000):
        a = time.perf_counter()
        compute_features(spec, geo, hist, issue)
        b = time.perf_counter()
        pred.predict(x, out=out)
        interp.append(time.perf_counter() - b)
        feats.append(b - a)
    issue_dt = dt.datetime.fromtimestamp(issue, dt.UTC)
    assert engine.physics is not None
    for _ in range(1000):
        a = time.perf_counter()
        engine.physics.postprocess(out, issue_dt)
        post.append(time.perf_counter() - a)
    for _ in range(1000):
        a = time.perf_counter()
        engine.forecast(issue, hist, inputs_stale=False)
        step.append(time.perf_counter() - a)
    print(f"runtime {runtime_name()}, model {holder.version} ({len(holder.bundle.model_bytes)} B)")
    print(f"day geometry + clear-sky PV precompute (once a day): {precompute * 1e3:.1f} ms")
    for name, s in (("predict (features + interpreter)", full),
                    ("  of which features", feats),
                    ("  of which quantise/invoke/dequantise", interp),
                    ("post-processing (GHI/DNI/DHI/PV)", post),
                    ("whole forecast step (engine.forecast)", step)):
        p50, p99 = _pct(s)
        print(f"{name:<40} p50 {p50:8.1f} us   p99 {p99:8.1f} us")
    print("goal: predict p50 < 50 us")


def bench_cycle_cpu() -> None:
    """CPU per forecast message and per durable reading (outbox put, fsync)."""
    from edge.forecasting.bundle import load_bundle
    from edge.forecasting.engine import ForecastEngine, ModelHolder
    from edge.forecasting.predictor import Predictor
    from edge.forecasting.site import load_site
    from edge.runtime.contract import Topics
    from edge.runtime.messages import forecast_message, reading_message
    from edge.runtime.outbox import Outbox
    from firmware_bridge.readings import Reading

    site = load_site(REPO / "configs/sites/abuja.toml")
    holder = ModelHolder(lambda: load_bundle(BUNDLE, PUBKEY), Predictor)
    engine = ForecastEngine(site, holder)
    topics = Topics(site.site.id)
    issue = int(dt.datetime(2026, 6, 21, 11, 0, tzinfo=dt.UTC).timestamp())
    geo = engine.geometry_for(issue)
    k, n = geo.index(issue), holder.spec.history_steps
    hist = [float(v) for v in geo.ghi_clear[k - n + 1: k + 1]]
    values = {"pv_power": 1500.0, "battery_voltage": 52.3, "battery_current": 20.1,
              "charge_state": "bulk", "yield_today": 3200.0, "pv_voltage": 88.0}
    with tempfile.TemporaryDirectory() as tmp:
        for sync in ("full", "normal"):
            box = Outbox(Path(tmp) / f"{sync}.sqlite", synchronous=sync)  # type: ignore[arg-type]
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(200):
                r = reading_message(topics, Reading("mppt", dt.datetime.now(dt.UTC), values), {})
                box.put(r.device_id, r.stream, r.topic, r.encode)
            c1, w1 = time.process_time(), time.perf_counter()
            print(f"reading cycle (message + outbox put, synchronous={sync}): "
                  f"CPU {(c1 - c0) / 200 * 1e6:.0f} us, wall {(w1 - w0) / 200 * 1e6:.0f} us")
            box.close()
        box = Outbox(Path(tmp) / "f.sqlite")
        c0 = time.process_time()
        for _ in range(200):
            res = engine.forecast(issue, hist, inputs_stale=False)
            m = forecast_message(topics, res, issue_time=res.issue_time, step_minutes=15,
                                 model_version="v", model_sha256="s", inputs_stale=False)
            box.put(m.device_id, m.stream, m.topic, m.encode)
        c1 = time.process_time()
        print(f"forecast cycle (features, model, physics, message, outbox put): "
              f"CPU {(c1 - c0) / 200 * 1e6:.0f} us")
        box.close()


def _broker(workdir: Path) -> tuple[str, int, Callable[[], None]]:
    """A local broker: ``(kind, port, stop)``; mosquitto when installed, else amqtt."""
    from edge.demo.broker import EmbeddedBroker
    from edge.testkit.launchers import Mosquitto, find_mosquitto, free_port

    if find_mosquitto() is None:
        b = EmbeddedBroker()
        return "embedded", b.start(), b.stop
    broker = Mosquitto("127.0.0.1", free_port(), workdir,
                       ("persistence false", "max_queued_messages 1000000", "log_dest none"))
    broker.start()
    return "mosquitto", broker.port, broker.stop


def bench_drain() -> None:
    """86,400 queued messages drained to a local broker at QoS 1."""
    import random

    from edge.runtime.contract import Topics
    from edge.runtime.mqtt import BrokerSettings
    from edge.runtime.outbox import Outbox
    from edge.runtime.publisher import MqttPublisher

    topics = Topics("abuja-01")
    with tempfile.TemporaryDirectory() as tmp:
        box = Outbox(Path(tmp) / "o.sqlite", max_messages=200_000)
        body = {"schema_version": 1, "site_id": "abuja-01", "device_id": "mppt",
                "stream": "reading", "timestamp": "2026-06-21T11:00:00Z",
                "values": {"pv_power": 1500.0, "battery_voltage": 52.3}}
        payload = json.dumps(body)
        item = (topics.of("mppt", "reading"),
                lambda s: payload.replace('"stream":"reading"', f'"stream":"reading","seq":{s}')
                .encode())
        t0 = time.perf_counter()
        for _ in range(N_DRAIN // 1000):
            box.put_many("mppt", "reading", [item] * 1000)
        fill = time.perf_counter() - t0
        kind, port, stop_broker = _broker(Path(tmp))
        for inflight in (20, 100, 300):
            if inflight != 20:  # refill for the second setting
                box.put_many("mppt", "reading", [item] * N_DRAIN)
            pub = MqttPublisher(BrokerSettings("127.0.0.1", port, f"bench-{inflight}"), box,
                                will_topic=topics.status, will_payload=b"{}",
                                max_inflight=inflight, rng=random.Random(0))
            t0 = time.perf_counter()
            pub.start()
            ok = pub.wait_drained(300)
            took = time.perf_counter() - t0
            pub.stop()
            print(f"drain {N_DRAIN} msgs to {kind}, QoS 1, max_inflight {inflight}: "
                  f"{took:.1f} s ({N_DRAIN / took:,.0f} msg/s){'' if ok else ' INCOMPLETE'}")
        print(f"(queueing them, 1000 per transaction: {fill:.1f} s); goal: < 30 s")
        box.close()
        stop_broker()


def bench_rss() -> None:
    """Resident memory of a running agent process with two simulated devices."""
    from edge.simulation import simulate_device

    site = REPO / "configs/sites/abuja.toml"
    sims = {"mppt": simulate_device("vedirect", site=site),
            "inverter": simulate_device("pi30", site=site)}
    with tempfile.TemporaryDirectory() as tmp:
        kind, port, stop_broker = _broker(Path(tmp))
        cfg = Path(tmp) / "agent.toml"
        devices = "".join(
            f'[[devices]]\nid = "{k}"\nprotocol = "{s.protocol}"\nport = "{s.url}"\n'
            for k, s in sims.items()
        )
        cfg.write_text(
            f'[agent]\nsite = "{site}"\nstate_dir = "{tmp}"\npv_device = "mppt"\n'
            f'[model]\nbundle = "{BUNDLE}"\npublic_key = "{PUBKEY}"\n'
            f'[mqtt]\nport = {port}\n{devices}'
        )
        agent = subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(cfg)],
                                 stderr=subprocess.DEVNULL)
        try:
            time.sleep(15.0)
            rss = _status_kb(agent.pid, "VmRSS")
            hwm = _status_kb(agent.pid, "VmHWM")
            ticks = os.sysconf("SC_CLK_TCK")
            fields = Path(f"/proc/{agent.pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / ticks
            print(f"running agent (2 devices at 1 Hz, broker {kind}): RSS {rss / 1024:.0f} MB "
                  f"(peak {hwm / 1024:.0f} MB); CPU {cpu:.1f} s in its first 15 s "
                  "(mostly imports: pvlib/pandas)")
            c0 = cpu
            time.sleep(10.0)
            fields = Path(f"/proc/{agent.pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / ticks
            print(f"steady state: {(cpu - c0) / 10 * 100:.1f} % of one core")
            print("goal: RSS < 180 MB")
        finally:
            agent.terminate()
            agent.wait(30)
            for s in sims.values():
                s.stop()
            stop_broker()


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def main() -> None:
    """Run every edge benchmark."""
    if len(sys.argv) > 1 and sys.argv[1] == "drain":
        bench_drain()
        return
    if not (BUNDLE.is_dir() and PUBKEY.is_file()):
        print(f"no bundle at {BUNDLE} (make model); predict/cycle/RSS benchmarks skipped")
    else:
        bench_predict()
        bench_cycle_cpu()
        bench_rss()
    bench_drain()
    print(f"(this process: max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}"
          " MB)")


if __name__ == "__main__":
    main()
