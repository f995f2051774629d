"""``helio-monitor serve``: the live fleet dashboard and ``/metrics`` over HTTP."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from trainer.monitor.dashboard.server import AuthConfig, AuthError, DashboardServer

log = logging.getLogger(__name__)


def add_server_arguments(parser: argparse.ArgumentParser, *, prefix: str = "") -> None:
    """Authentication options (shared with ``helio-monitor run --dashboard``)."""
    parser.add_argument(f"--{prefix}token-file", metavar="FILE", default=None,
                        help="bearer token (first line, 16+ characters); required with"
                        " --basic-auth-file absent when not bound to loopback")
    parser.add_argument(f"--{prefix}basic-auth-file", metavar="FILE", default=None,
                        help="HTTP basic credentials, one line user:password")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``helio-monitor serve``."""
    parser.add_argument("--store", default="helio-monitor.sqlite", help="SQLite database file")
    parser.add_argument("--host", default="127.0.0.1",
                        help="listen address (auth is required unless it is loopback)")
    parser.add_argument("--port", type=int, default=8080, help="listen port (0: any free)")
    parser.add_argument("--offline-after", type=float, default=180.0, metavar="S",
                        help="heartbeat timeout before a gateway counts as silent [s]")
    add_server_arguments(parser)


def start_dashboard(store: str, host: str, port: int, *, token_file: str | None,
                    basic_auth_file: str | None, offline_after_s: float) -> DashboardServer:
    """Build and start a dashboard in a background thread (raises AuthError, OSError)."""
    auth = AuthConfig.from_files(token_file, basic_auth_file)
    server = DashboardServer(store, host=host, port=port, auth=auth,
                             offline_after_s=offline_after_s)
    server.start()
    return server


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/Ctrl-C; exit 1 without a store, 2 on a bad option."""
    if not Path(args.store).exists():
        sys.stderr.write(f"no store at {args.store} (start helio-monitor run first)\n")
        return 1
    try:
        server = start_dashboard(args.store, args.host, args.port, token_file=args.token_file,
                                 basic_auth_file=args.basic_auth_file,
                                 offline_after_s=args.offline_after)
    except (AuthError, OSError) as exc:
        sys.stderr.write(f"helio-monitor serve: {exc}\n")
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    auth = "token/basic auth required" if server.requires_auth else "no auth (loopback)"
    sys.stdout.write(f"dashboard: {server.url}  metrics: {server.url}metrics  ({auth})\n")
    sys.stdout.flush()
    try:
        stop.wait()
    finally:
        server.stop()
    return 0
