"""On the device, after a deploy: wait for the agent's retained status to say online.

Run by the deploy's health step from the *new* release's environment::

    venv/bin/python -m edge.runtime.health --config /etc/helio-edge/config.toml \
        --since <device epoch seconds of the restart> --timeout 30

Exit status: 0 the status topic carries ``state: online`` stamped at or after
``--since``; 1 the broker answered but no such status came in time; 2 the
broker is not reachable from the device (not a failure of the release: the
site may be offline, and the outbox keeps the data).

Does NOT: publish anything, or judge the release in any other way
(``helio-edge check`` does that).
"""

from __future__ import annotations

import argparse
import json
import queue
import ssl
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from edge.forecasting.site import load_site
from edge.runtime.config import AgentConfig, load_agent_config
from edge.runtime.contract import Topics
from edge.runtime.mqtt import broker_settings, make_client
from firmware_bridge.timestamps import parse_utc

__all__ = ["disconnected", "main", "missing_ports", "online_since", "status_topic"]

UNREACHABLE = 2


def _site_id(cfg: AgentConfig) -> str:
    return load_site(cfg.agent.site).site.id


def status_topic(cfg: AgentConfig) -> str:
    """``<prefix>/<site id>/<agent id>/status`` for this config."""
    return Topics(_site_id(cfg), cfg.agent.id, cfg.mqtt.topic_prefix).status


def missing_ports(cfg: AgentConfig) -> list[str]:
    """Configured serial device files that do not exist (looked up, never opened: the
    running agent holds them, and a second reader on a tty would split its bytes)."""
    return [f"device {d.id}: {d.port} does not exist" for d in cfg.devices
            if d.port.startswith("/") and not Path(d.port).exists()]


def disconnected(payload: bytes, cfg: AgentConfig) -> list[str]:
    """Configured devices the status payload does not report as connected."""
    try:
        devices = json.loads(payload).get("devices") or {}
    except (ValueError, AttributeError):
        return [d.id for d in cfg.devices]
    return [d.id for d in cfg.devices
            if not (isinstance(devices.get(d.id), dict) and devices[d.id].get("connected"))]


def online_since(payload: bytes, since: float) -> bool:
    """True for a status payload saying ``online`` stamped at or after ``since``.

    Parameters
    ----------
    payload : bytes
        The JSON status message.
    since : float
        Unix time of the restart, on the device's clock. [s]
    """
    try:
        body: Any = json.loads(payload)
        stamp = parse_utc(str(body["timestamp"]))
    except (ValueError, KeyError, TypeError):
        return False
    return bool(body.get("state") == "online" and stamp.timestamp() >= since - 1.0)


def _client(cfg: AgentConfig, site_id: str) -> mqtt.Client:
    return make_client(broker_settings(cfg, site_id),
                       client_id=f"helio-deploy-check-{int(time.time())}")


def wait_online(cfg: AgentConfig, since: float, timeout: float) -> tuple[int, str]:
    """Subscribe to the status topic; (exit status, message)."""
    missing = missing_ports(cfg)
    if missing:
        return 1, "; ".join(missing)
    topic = status_topic(cfg)
    client = _client(cfg, _site_id(cfg))
    got: queue.Queue[bytes] = queue.Queue()
    refused: list[str] = []
    client.on_message = lambda _c, _u, msg: got.put(bytes(msg.payload))
    client.on_connect = lambda _c, _u, _f, rc, _p: refused.append(str(rc)) if rc.is_failure \
        else None
    try:
        client.connect(cfg.mqtt.host, cfg.mqtt.port, keepalive=30)
    except (OSError, ssl.SSLError) as exc:
        return UNREACHABLE, f"broker {cfg.mqtt.host}:{cfg.mqtt.port} unreachable ({exc})"
    client.subscribe(topic, qos=1)
    client.loop_start()
    try:
        deadline = time.monotonic() + timeout
        last = b""
        while time.monotonic() < deadline:
            if refused:
                return 1, f"broker {cfg.mqtt.host}:{cfg.mqtt.port} refused: {refused[0]}"
            try:
                last = got.get(timeout=0.2)
            except queue.Empty:
                continue
            if online_since(last, since) and not disconnected(last, cfg):
                return 0, f"status online on {topic}, every device connected"
        down = disconnected(last, cfg) if online_since(last, since) else []
        if down:
            return 1, (f"status online on {topic} but not connected within {timeout:.0f} s:"
                       f" {', '.join(down)}")
        return 1, f"no online status on {topic} within {timeout:.0f} s (last: {last[:200]!r})"
    finally:
        client.loop_stop()
        client.disconnect()


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry (``python -m edge.runtime.health``)."""
    parser = argparse.ArgumentParser(prog="python -m edge.runtime.health")
    parser.add_argument("--config", required=True)
    parser.add_argument("--since", type=float, required=True)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    code, message = wait_online(load_agent_config(args.config), args.since, args.timeout)
    sys.stdout.write(message + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
