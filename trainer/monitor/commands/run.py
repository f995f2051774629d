"""``helio-monitor run``: subscribe to the fleet and keep the store."""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from edge.forecasting.bundle import BundleError, read_bundle_files
from edge.forecasting.site import Site, load_site
from edge.runtime.contract import DEFAULT_PREFIX
from firmware_bridge.config import ConfigError
from trainer.broker_options import add_auth_arguments, settings_from_args
from trainer.monitor.commands.serve import add_server_arguments, start_dashboard
from trainer.monitor.dashboard.server import AuthError, DashboardServer
from trainer.monitor.drift import DriftConfig, DriftWatch, manifest_of
from trainer.monitor.fleet import OfflineWatch
from trainer.monitor.ingest import MAX_AHEAD_S, Monitor, MonitorConfig, Task
from trainer.monitor.plan_drift import PlanDriftWatch
from trainer.monitor.plan_scoring import PlanScorer
from trainer.monitor.scoring import Scorer, ScoringConfig
from trainer.monitor.store import Store

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``helio-monitor run``."""
    parser.add_argument("--host", default="127.0.0.1", help="MQTT broker host")
    parser.add_argument("--port", type=int, default=1883, help="MQTT broker port")
    add_auth_arguments(parser)
    parser.add_argument("--store", default="helio-monitor.sqlite", help="SQLite database file")
    parser.add_argument("--client-id", default="",
                        help="stable MQTT client id (the persistent session is keyed on it);"
                        " default helio-monitor-<host name>[-<group>]")
    parser.add_argument("--shared-group", default=None, metavar="NAME",
                        help="join the MQTT 5 shared subscription $share/NAME/helio/+/+/#")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX, help="topic prefix")
    parser.add_argument("--sites", nargs="*", default=[], metavar="TOML",
                        help="site files or directories of them (clear-sky references)")
    parser.add_argument("--bundle", action="append", default=[], metavar="DIR",
                        help="bundle whose manifest gives validation errors (repeatable)")
    parser.add_argument("--offline-after", type=float, default=180.0, metavar="S",
                        help="heartbeat timeout before a gateway counts as silent [s]")
    parser.add_argument("--max-ahead", type=float, default=MAX_AHEAD_S, metavar="S",
                        help="reject readings and forecasts stamped more than S seconds ahead "
                             "of their receive time (default %(default).0f; 0: no limit, for "
                             "a simulation whose clock runs ahead)")
    parser.add_argument("--tasks-every", type=float, default=30.0, metavar="S",
                        help="period of scoring, drift and offline checks [s]")
    parser.add_argument("--grace", type=float, default=900.0, metavar="S",
                        help="telemetry must pass a period end by this much before scoring [s]")
    parser.add_argument("--rmse-factor", type=float, default=1.2,
                        help="alarm when rolling RMSE > factor x validation RMSE")
    parser.add_argument("--batch-size", type=int, default=2000, help="messages per transaction")
    parser.add_argument("--duration", type=float, default=0.0, metavar="S",
                        help="stop after this long (0: until SIGTERM/Ctrl-C) [s]")
    parser.add_argument("--dashboard", metavar="HOST:PORT", default=None,
                        help="also serve the dashboard and /metrics from this process"
                        " (as helio-monitor serve)")
    add_server_arguments(parser)


def load_sites(paths: list[str]) -> dict[str, Site]:
    """Site files (or directories of ``*.toml``) keyed by site id."""
    sites: dict[str, Site] = {}
    for p in map(Path, paths):
        for f in sorted(p.glob("*.toml")) if p.is_dir() else [p]:
            site = load_site(f)
            sites[site.site.id] = site
    return sites


def run(args: argparse.Namespace) -> int:
    """Run until the duration ends or a signal arrives.

    Returns 0 on a requested stop, 2 on bad options, and 1 when the store
    writer failed for a reason not about one message (disk full, I/O
    error): the process exits so its supervisor restarts it, and nothing
    unstored was acknowledged.
    """
    try:
        sites = load_sites(args.sites)
        broker = settings_from_args(args)
    except (ConfigError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    store = Store(args.store)
    for bundle in args.bundle:
        try:
            store.add_manifest(manifest_of(read_bundle_files(bundle)))
        except (BundleError, ValueError) as exc:
            log.error("--bundle %s: %s", bundle, exc)
            return 2
    cid = args.client_id or "-".join(
        x for x in ("helio-monitor", socket.gethostname(), args.shared_group) if x)
    config = MonitorConfig(host=args.host, port=args.port, client_id=cid, prefix=args.prefix,
                           shared_group=args.shared_group, batch_size=args.batch_size,
                           tasks_every_s=args.tasks_every, max_ahead_s=args.max_ahead,
                           tls=broker.tls,
                           ca_file=broker.ca_file, cert_file=broker.cert_file,
                           key_file=broker.key_file, username=broker.username,
                           password=broker.password)
    tasks: list[Task] = [
        Scorer(store, sites, ScoringConfig(grace_s=args.grace)),
        DriftWatch(store, sites, DriftConfig(rmse_factor=args.rmse_factor)),
        PlanScorer(store, grace_s=args.grace),
        PlanDriftWatch(store),
        OfflineWatch(store, offline_after_s=args.offline_after),
    ]
    monitor = Monitor(config, store, tasks=tasks)
    dashboard: DashboardServer | None = None
    if args.dashboard:
        host, _, port = args.dashboard.rpartition(":")
        try:
            dashboard = start_dashboard(args.store, host or "127.0.0.1", int(port),
                                        token_file=args.token_file,
                                        basic_auth_file=args.basic_auth_file,
                                        offline_after_s=args.offline_after)
        except (AuthError, OSError, ValueError) as exc:
            log.error("--dashboard %s: %s", args.dashboard, exc)
            store.close()
            return 2
        sys.stdout.write(f"dashboard: {dashboard.url}\n")
        sys.stdout.flush()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    monitor.start()
    deadline = time.monotonic() + args.duration if args.duration > 0 else None
    try:
        while not stop.wait(0.2):
            if monitor.failed.is_set():
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
    finally:
        monitor.stop()
        if dashboard is not None:
            dashboard.stop()
        s = monitor.stats
        log.warning("stopped: %d received, %d stored, %d duplicates, %d rejected, %d alerts",
                    s.received, s.inserted, s.duplicates, s.rejected, s.alerts)
        store.close()
    if monitor.failed.is_set():
        log.error("exiting 1: the store writer failed (%s)", monitor.error)
        return 1
    return 0
