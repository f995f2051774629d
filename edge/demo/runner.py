"""``make demo`` / ``python -m edge.demo``: the whole edge on one machine.

Starts the simulated charge controller (VE.Direct) and inverter (PI30) of
the Abuja site on pseudo-terminals, time accelerated, sharing one plant; a
local broker (mosquitto when installed, else :mod:`edge.demo.broker` on
127.0.0.1); the agent with the shipped Abuja bundle, polling the simulators
through the real serial code; and a live view that subscribes to
``helio/#`` and shows readings, forecasts, the energy plan (when the
battery reaches the reserve, the night's deficit, today's surplus) and
status as they arrive; and,
when the trainer side is installed, the fleet monitor with its web
dashboard (``helio-monitor run --dashboard``, a separate process: ``edge``
never imports ``trainer``), whose address is printed at the top.

Options: ``--speed`` (simulated seconds per real second, default 60: a
15-minute forecast every 15 s), ``--duration S`` (stop after S seconds),
``--start`` (simulated start, default today 07:30 UTC, morning in Abuja),
``--dashboard-port`` (default 8080, another free port when taken; 0 turns
the dashboard off), ``--store`` (keep the monitor's database there).
Exit status 0 when readings and at least one forecast went through the
broker, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from edge.demo.broker import EmbeddedBroker
from edge.forecasting.site import Site, load_site
from edge.runtime.config import (
    AgentConfig,
    AgentSection,
    DiscoveryConfig,
    ModelConfig,
    MqttConfig,
    OutboxConfig,
)
from edge.runtime.contract import tree_filter
from edge.runtime.mqtt import BrokerSettings, make_client
from edge.testkit.launchers import find_mosquitto, free_port, running_mosquitto
from firmware_bridge.config import DeviceConfig
from firmware_bridge.timestamps import parse_utc

REPO = Path(__file__).resolve().parents[2]
SITE_FILE = REPO / "configs/sites/abuja.toml"
BUNDLE = REPO / "edge/data/bundles/abuja"
PUBLIC_KEY = REPO / "configs/keys/helio-default.pub"

#: reading values shown per device, in order
SHOWN = {
    "mppt": ("pv_power", "battery_voltage", "battery_current", "charge_state", "yield_today"),
    "inverter": ("ac_output_power", "load_percent", "battery_voltage", "battery_soc",
                 "inverter_mode"),
    "battery": ("battery_soc", "battery_voltage", "battery_current", "battery_power",
                "consumed_charge", "time_to_go"),
}


# --------------------------------------------------------------------------
# the broker
# --------------------------------------------------------------------------


@contextlib.contextmanager
def local_broker(workdir: Path, prefer_embedded: bool = False) -> Iterator[tuple[str, int]]:
    """A broker on 127.0.0.1: ``(kind, port)``."""
    binary = None if prefer_embedded else find_mosquitto()
    if binary is None:
        embedded = EmbeddedBroker("127.0.0.1", 0)
        port = embedded.start()
        try:
            yield "embedded", port
        finally:
            embedded.stop()
        return
    with running_mosquitto(workdir, ("persistence false", "log_dest none"),
                           binary=binary) as broker:
        yield f"mosquitto ({binary})", broker.port


# --------------------------------------------------------------------------
# the fleet monitor and its dashboard (trainer side, a separate process)
# --------------------------------------------------------------------------


def _port_or_free(port: int) -> int:
    """``port`` when it is free on 127.0.0.1, else any free port."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port


@contextlib.contextmanager
def fleet_dashboard(workdir: Path, broker_port: int, dashboard_port: int,
                    store: Path | None) -> Iterator[str | None]:
    """``helio-monitor run --dashboard`` on the demo's broker: yields the dashboard URL.

    Yields None when the dashboard is off (port 0) or the trainer side is not
    installed (``pip install -e '.[trainer]'``); the demo runs on without it.
    """
    if dashboard_port == 0 or importlib.util.find_spec("trainer") is None:
        yield None
        return
    port = _port_or_free(dashboard_port)
    db = store or workdir / "fleet.sqlite"
    log = (workdir / "monitor.log").open("wb")
    cmd = [sys.executable, "-m", "trainer.monitor", "run", "--host", "127.0.0.1",
           "--port", str(broker_port), "--store", str(db), "--sites", str(SITE_FILE),
           "--client-id", "helio-demo-monitor", "--tasks-every", "5",
           "--offline-after", "30", "--dashboard", f"127.0.0.1:{port}",
           "--max-ahead", "0"]  # the demo's simulated clock runs ahead of the wall clock
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    try:
        deadline = time.monotonic() + 60.0
        while proc.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port),
                                                                        0.2):
                break
            time.sleep(0.1)
        else:
            log.flush()
            sys.stderr.write("fleet dashboard did not start (trainer extras installed?"
                             f" see {workdir / 'monitor.log'})\n")
            yield None
            return
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


# --------------------------------------------------------------------------
# the live view
# --------------------------------------------------------------------------


@dataclass
class LiveView:
    """Latest message per topic kind, from a subscriber on ``helio/#``."""

    readings: dict[str, dict[str, Any]] = field(default_factory=dict)
    forecast: dict[str, Any] | None = None
    plan: dict[str, Any] | None = None
    status: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        """Keep the message (paho callback)."""
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return
        stream = msg.topic.rsplit("/", 1)[-1]
        with self.lock:
            self.counts[stream] = self.counts.get(stream, 0) + 1
            if stream == "reading":
                self.readings[body.get("device_id", "?")] = body
            elif stream == "forecast":
                self.forecast = body
            elif stream == "plan":
                self.plan = body
            elif stream == "status":
                self.status = body
            elif stream == "events":
                self.events = [*self.events[-3:], body]

    def render(self, header: str) -> str:
        """A compact text screen."""
        with self.lock:
            lines = [header, ""]
            for dev, body in sorted(self.readings.items()):
                vals, units = body.get("values", {}), body.get("units", {})
                names = SHOWN.get(dev) or tuple(vals)[:5]
                shown = "  ".join(
                    f"{n}={_fmt(vals[n])}{units.get(n, '')}" for n in names if n in vals
                )
                lines.append(f"reading  {dev:<9} #{body.get('seq')}  {body.get('timestamp')}")
                lines.append(f"         {shown}")
            lines.append("")
            lines += self._forecast_lines()
            lines.append("")
            lines += self._plan_lines()
            lines.append("")
            lines += self._status_lines()
            counts = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
            lines.append(f"messages received: {counts or 'none yet'}")
        return "\n".join(lines)

    def _forecast_lines(self) -> list[str]:
        f = self.forecast
        if f is None:
            return ["forecast  (waiting for the first step to end)"]
        stale = "  INPUTS STALE" if f.get("inputs_stale") else ""
        out = [f"forecast #{f['seq']}  issued {f['issue_time']}  model {f['model']['version']}"
               f"{stale}",
               "  horizon   GHI p50 [W/m2]   PV power p10 / p50 / p90 [W]"]
        for e in f["forecasts"]:
            pv = e["pv_power"]
            out.append(f"  {e['horizon_min']:>4} min  {e['ghi']['p50']:>10.0f}       "
                       f"{pv['p10']:>6.0f} / {pv['p50']:>6.0f} / {pv['p90']:>6.0f}")
        return out

    def _plan_lines(self) -> list[str]:
        p = self.plan
        if p is None:
            return ["plan      (waiting for a forecast and a SOC reading)"]
        soc = p["soc"]["p50"]
        steps = {h: h * 3600 // p["step_s"] - 1 for h in (3, 12, 24)}
        fan = "  ".join(f"+{h} h {soc[i] * 100:.0f} %" for h, i in steps.items() if i < len(soc))
        bal, sur = p["balance_to_sunrise_wh"], p["surplus_today_wh"]

        def deficit(q: str) -> str:
            return f"{max(-bal[q], 0.0):.0f}"

        def when(t: str | None) -> str:
            return t if t else "not within the plan"

        return [
            f"plan #{p['seq']}  issued {p['issued']}  load {p['load_method']}  "
            f"pv {p['pv_method']}  spread {p['spread_source']}",
            f"  battery reaches reserve {p['reserve_soc'] * 100:.0f} % at: P10 "
            f"{when(p['reserve_at'])}, P50 {when(p['reserve_at_p50'])}",
            f"  night deficit to sunrise {p['next_sunrise']}: P50 {deficit('p50')} Wh, "
            f"P10 {deficit('p10')} Wh",
            f"  surplus today P50 {sur['p50']:.0f} Wh (P10 {sur['p10']:.0f} / P90 "
            f"{sur['p90']:.0f})   SOC P50 {fan}",
        ]

    def _status_lines(self) -> list[str]:
        s = self.status
        if s is None:
            return ["status    (none yet)"]
        devs = ", ".join(
            f"{k} {'up' if v.get('connected') else 'DOWN'}{' stale' if v.get('stale') else ''}"
            for k, v in sorted(s.get("devices", {}).items())
        )
        ob = s.get("outbox", {})
        out = [f"status    {s.get('state')}  devices: {devs}  outbox queued {ob.get('queued')}"
               f" evicted {ob.get('evicted')}"]
        for e in self.events[-2:]:
            out.append(f"event     {e.get('level')}: {e.get('code')}: {e.get('message')}")
        return out

    def ok(self) -> bool:
        """Readings and a forecast arrived."""
        with self.lock:
            return bool(self.readings) and self.forecast is not None


def _fmt(v: Any) -> str:
    return f"{v:.1f}" if isinstance(v, float) else str(v)


# --------------------------------------------------------------------------
# wiring
# --------------------------------------------------------------------------


class PlantClock:
    """The agent's clock follows the simulated plant's time."""

    def __init__(self, plant: Any) -> None:
        self.plant = plant

    def now_utc(self) -> dt.datetime:
        """Simulated UTC time."""
        return self.plant.now()  # type: ignore[no-any-return]

    def monotonic(self) -> float:
        """Real monotonic seconds. [s]"""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Real sleep. [s]"""
        time.sleep(max(seconds, 0.0))


def demo_config(
    workdir: Path, port: int, urls: dict[str, str], speed: float, *,
    bundle: Path = BUNDLE, public_key: Path = PUBLIC_KEY,
) -> AgentConfig:
    """The agent config for the demo (the battery monitor when ``urls`` has ``battery``)."""
    return AgentConfig(
        agent=AgentSection(site=str(SITE_FILE), state_dir=str(workdir), heartbeat_s=5.0,
                           stale_after_s=max(10.0, 120.0 / speed), watchdog_s=5.0,
                           pv_device="mppt"),
        model=ModelConfig(bundle=str(bundle), public_key=str(public_key)),
        mqtt=MqttConfig(host="127.0.0.1", port=port, reconnect_min_s=0.5, reconnect_max_s=5.0),
        discovery=DiscoveryConfig(enabled=True),
        # an accelerated site: the device's 8 s group commit would hold 8 s x speed of
        # simulated readings back from the live view (at 300x: 40 simulated minutes)
        outbox=OutboxConfig(commit_window_s=1.0),
        devices=(
            DeviceConfig(id="mppt", protocol="vedirect", port=urls["mppt"], poll_interval=1.0),
            DeviceConfig(id="inverter", protocol="pi30", port=urls["inverter"],
                         poll_interval=2.0),
            *((DeviceConfig(id="battery", protocol="vedirect", port=urls["battery"],
                            poll_interval=1.0),) if "battery" in urls else ()),
        ),
    )


def default_start() -> dt.datetime:
    """Today 07:30 UTC: morning in Abuja, the PV curve ahead."""
    today = dt.datetime.now(dt.UTC).date()
    return dt.datetime(today.year, today.month, today.day, 7, 30, tzinfo=dt.UTC)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Demo options."""
    parser.add_argument("--speed", type=float, default=60.0,
                        help="simulated seconds per real second (default 60)")
    parser.add_argument("--duration", type=float, default=0.0,
                        help="stop after this many real seconds (default: until Ctrl-C)")
    parser.add_argument("--start", help="simulated start time, ISO 8601 UTC")
    parser.add_argument("--embedded-broker", action="store_true",
                        help="use the built-in broker even when mosquitto is installed")
    parser.add_argument("--refresh", type=float, default=1.0, help="view refresh [s]")
    parser.add_argument("--bundle", type=Path, default=BUNDLE, help="model bundle")
    parser.add_argument("--public-key", type=Path, default=PUBLIC_KEY, help="its public key")
    parser.add_argument("--dashboard-port", type=int, default=8080,
                        help="fleet dashboard port on 127.0.0.1 (taken: any free one; 0: off)")
    parser.add_argument("--store", type=Path, default=None,
                        help="keep the fleet monitor's database in this file")


def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 when readings and a forecast went through the broker."""
    from edge.commands.run import build, load_holder, stop_on_signals  # noqa: PLC0415
    from edge.simulation import simulate_device  # noqa: PLC0415
    from edge.simulation.plant import Plant  # noqa: PLC0415

    site: Site = load_site(SITE_FILE)
    start = (parse_utc(args.start) if args.start
             else default_start())
    plant = Plant(site, seed=7, start=start, speed=args.speed)
    view = LiveView()
    stop = threading.Event()
    with tempfile.TemporaryDirectory(prefix="helio-demo-") as tmp, \
            local_broker(Path(tmp), args.embedded_broker) as (kind, port), \
            fleet_dashboard(Path(tmp), port, args.dashboard_port, args.store) as dash_url:
        if dash_url:
            sys.stdout.write(f"fleet dashboard: {dash_url}  (metrics: {dash_url}metrics)\n")
            sys.stdout.flush()
        sims = {"mppt": simulate_device("vedirect", site=site, plant=plant),
                "inverter": simulate_device("pi30", site=site, plant=plant),
                "battery": simulate_device("vedirect", site=site, plant=plant, profile="bmv")}
        try:
            urls = {k: s.url for k, s in sims.items()}
            cfg = demo_config(Path(tmp), port, urls, args.speed, bundle=args.bundle,
                              public_key=args.public_key)
            if kind == "embedded":  # amqtt speaks MQTT 3.1.1 only
                cfg = dataclasses.replace(cfg, mqtt=dataclasses.replace(cfg.mqtt, mqtt5=False))
            rt = build(cfg, site, load_holder(cfg), clock=PlantClock(plant))
            sub = make_client(BrokerSettings("127.0.0.1", port, "helio-demo-view"))
            sub.on_message = view.on_message
            sub.on_connect = lambda c, *_: c.subscribe(tree_filter(cfg.mqtt.topic_prefix), qos=1)
            sub.connect("127.0.0.1", port)
            sub.loop_start()
            rt.publisher.start()
            agent = threading.Thread(target=rt.agent.run, args=(stop,), name="agent")
            agent.start()
            with stop_on_signals(stop):
                _show(view, kind, port, sims, plant, args=args, stop=stop, dashboard=dash_url)
            stop.set()
            agent.join(15)
            sub.loop_stop()
            sub.disconnect()
            rt.close()
        finally:
            for s in sims.values():
                s.stop()
    ok = view.ok()
    sys.stdout.write("demo OK: readings and forecasts flowed through the broker\n" if ok
                     else "demo FAILED: no forecast reached the broker\n")
    return 0 if ok else 1


def _show(view: LiveView, kind: str, port: int, sims: dict[str, Any], plant: Any, *,
          args: argparse.Namespace, stop: threading.Event, dashboard: str | None = None) -> None:
    tty = sys.stdout.isatty()
    t0 = time.monotonic()
    while not stop.is_set():
        elapsed = time.monotonic() - t0
        if args.duration and elapsed >= args.duration:
            return
        sim = plant.now().strftime("%Y-%m-%d %H:%M:%S UTC")
        header = (f"Helio Edge demo: Abuja, x{args.speed:g} (simulated {sim}), broker {kind} "
                  f"127.0.0.1:{port}\n  mppt {sims['mppt'].url}  inverter "
                  f"{sims['inverter'].url}  battery monitor {sims['battery'].url}"
                  f"   Ctrl-C to stop"
                  + (f"\n  fleet dashboard {dashboard}" if dashboard else ""))
        screen = view.render(header)
        sys.stdout.write(("\x1b[H\x1b[2J" + screen + "\n") if tty else (screen + "\n\n"))
        sys.stdout.flush()
        stop.wait(args.refresh if tty else max(args.refresh, 5.0))


def main(argv: list[str] | None = None) -> int:
    """``python -m edge.demo``."""
    import logging  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="python -m edge.demo", description=__doc__.split("\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
