"""``helio-edge run --config FILE``: the agent (what systemd starts).

Exit status: 0 after SIGTERM/SIGINT, 2 on a bad config (the message names
the file and key), 3 when the bundle is refused (tampered, unsigned,
unblessed) or no TFLite runtime is installed.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from edge.forecasting.bundle import BundleError, load_bundle
from edge.forecasting.engine import ForecastEngine, ModelHolder
from edge.forecasting.predictor import Predictor
from edge.forecasting.site import Site, load_site
from edge.runtime.agent import Agent
from edge.runtime.config import AgentConfig, load_agent_config
from edge.runtime.contract import Topics
from edge.runtime.messages import offline_status
from edge.runtime.mqtt import broker_settings
from edge.runtime.outbox import Outbox
from edge.runtime.publisher import MqttPublisher
from edge.runtime.rollout import Rollout
from edge.runtime.sdnotify import Notifier
from edge.runtime.timesync import clock_synchronized
from firmware_bridge.clock import Clock, SystemClock
from firmware_bridge.config import ConfigError

log = logging.getLogger("edge.run")

EXIT_CONFIG = 2
EXIT_BUNDLE = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--config``."""
    parser.add_argument("--config", required=True, help="agent config (TOML)")


def sw_version() -> str:
    """Installed package version."""
    try:
        return version("helio-edge")
    except PackageNotFoundError:
        return "0+unknown"


def load_holder(cfg: AgentConfig) -> ModelHolder:
    """The verified bundle and its interpreter; raises BundleError/PredictorError."""
    def load() -> Any:
        return load_bundle(
            cfg.model.bundle, cfg.model.public_key, allow_unblessed=cfg.model.allow_unblessed
        )

    return ModelHolder(load, Predictor)


@dataclass
class Runtime:
    """Everything :func:`build` opened; :meth:`close` releases it."""

    agent: Agent
    publisher: MqttPublisher
    outbox: Outbox
    devices: dict[str, Any]

    def close(self) -> None:
        """Stop publishing (``offline`` on a clean stop), close devices and outbox."""
        self.publisher.stop()
        for dev in self.devices.values():
            dev.close()
        self.outbox.close()


def build(
    cfg: AgentConfig,
    site: Site,
    holder: ModelHolder,
    *,
    clock: Clock,
    notifier: Notifier | None = None,
    time_synced: Callable[[], bool] | None = None,
) -> Runtime:
    """Wire devices, outbox, publisher, engine and agent from a config.

    ``time_synced`` tells whether the system clock is synchronised (None: do
    not ask, e.g. a simulated clock); :func:`run` passes
    :func:`edge.runtime.timesync.clock_synchronized`.
    """
    from firmware_bridge.device import open_device  # noqa: PLC0415
    from firmware_bridge.readings import QUANTITIES  # noqa: PLC0415

    topics = Topics(site.site.id, cfg.agent.id, cfg.mqtt.topic_prefix)
    outbox = Outbox(cfg.outbox_path, max_messages=cfg.outbox.max_messages,
                    synchronous=cfg.outbox.synchronous,
                    commit_window_s=cfg.outbox.commit_window_s,
                    page_size=cfg.outbox.page_size,
                    wal_autocheckpoint=cfg.outbox.wal_autocheckpoint,
                    journal_size_limit=cfg.outbox.journal_size_limit)
    publisher = MqttPublisher(
        broker_settings(cfg, site.site.id), outbox, will_topic=topics.status,
        will_payload=offline_status(topics), max_inflight=cfg.mqtt.max_inflight,
        reconnect_min_s=cfg.mqtt.reconnect_min_s, reconnect_max_s=cfg.mqtt.reconnect_max_s,
        mqtt5=cfg.mqtt.mqtt5,
    )
    devices: dict[str, Any] = {d.id: open_device(d, clock=clock) for d in cfg.devices}
    rollout = Rollout(
        holder=holder, site=site, public_key=cfg.model.public_key,
        models_dir=Path(cfg.agent.state_dir) / "models", config=cfg.rollout, clock=clock,
        make_predictor=Predictor, allow_unblessed=cfg.model.allow_unblessed,
        device_id=cfg.agent.id,
    )
    agent = Agent(
        config=cfg, site_id=site.site.id, devices=devices, engine=ForecastEngine(site, holder),
        outbox=outbox, publisher=publisher, clock=clock, notifier=notifier,
        quantities=QUANTITIES, protocols={d.id: d.protocol for d in cfg.devices},
        sw_version=sw_version(), rollout=rollout, time_synced=time_synced,
    )
    return Runtime(agent, publisher, outbox, devices)


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set ``stop`` on SIGTERM and SIGINT while inside the block."""
    def handler(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def load_checked(path: str) -> tuple[AgentConfig, Site]:
    """The agent config and its site, device protocols checked; raises ConfigError."""
    from firmware_bridge.protocols import PROTOCOLS  # noqa: PLC0415

    cfg = load_agent_config(path)
    for i, d in enumerate(cfg.devices):
        if d.protocol not in PROTOCOLS:
            raise ConfigError(path, f"devices[{i}].protocol",
                              f"unknown protocol {d.protocol!r} (known: {', '.join(PROTOCOLS)})")
    return cfg, load_site(cfg.agent.site, require_linke_turbidity=True)


def run(args: argparse.Namespace) -> int:
    """Load, verify, run until SIGTERM."""
    try:
        cfg, site = load_checked(args.config)
    except ConfigError as exc:
        sys.stderr.write(f"helio-edge: config error: {exc}\n")
        return EXIT_CONFIG
    try:
        holder = load_holder(cfg)
    except (BundleError, RuntimeError) as exc:
        sys.stderr.write(f"helio-edge: model refused: {exc}\n")
        return EXIT_BUNDLE
    try:
        rt = build(cfg, site, holder, clock=SystemClock(), notifier=Notifier(),
                   time_synced=clock_synchronized if cfg.agent.hold_until_synced else None)
    except ConfigError as exc:
        sys.stderr.write(f"helio-edge: config error: {exc}\n")
        return EXIT_CONFIG
    stop = threading.Event()
    rt.publisher.start()
    try:
        with stop_on_signals(stop):
            return rt.agent.run(stop)
    finally:
        rt.close()
