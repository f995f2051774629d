"""Deploy, on the device: wait for the agent's retained status to say online.

Run by the deploy's health step from the *new* release's environment::

    venv/bin/python -m edge.deploy.health --config /etc/helio-edge/config.toml \
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
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.forecasting.site import load_site
from edge.runtime.config import AgentConfig, load_agent_config, load_credentials

__all__ = ["main", "online_since", "status_topic"]

UNREACHABLE = 2


def status_topic(cfg: AgentConfig) -> str:
    """``<prefix>/<site id>/<agent id>/status`` for this config."""
    site_id = load_site(cfg.agent.site).site.id
    return f"{cfg.mqtt.topic_prefix}/{site_id}/{cfg.agent.id}/status"


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
        stamp = datetime.fromisoformat(str(body["timestamp"]).replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError):
        return False
    return bool(body.get("state") == "online" and stamp.timestamp() >= since - 1.0)


def _client(cfg: AgentConfig) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2,
                         client_id=f"helio-deploy-check-{int(time.time())}")
    if cfg.mqtt.credentials_file:
        cred = load_credentials(cfg.mqtt.credentials_file)
        client.username_pw_set(cred.username, cred.password or None)
    if cfg.mqtt.tls:
        client.tls_set(ca_certs=cfg.mqtt.ca_file or None, certfile=cfg.mqtt.cert_file or None,
                       keyfile=cfg.mqtt.key_file or None, cert_reqs=ssl.CERT_REQUIRED)
    return client


def wait_online(cfg: AgentConfig, since: float, timeout: float) -> tuple[int, str]:
    """Subscribe to the status topic; (exit status, message)."""
    topic = status_topic(cfg)
    client = _client(cfg)
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
            if online_since(last, since):
                return 0, f"status online on {topic}"
        return 1, f"no online status on {topic} within {timeout:.0f} s (last: {last[:200]!r})"
    finally:
        client.loop_stop()
        client.disconnect()


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry (``python -m edge.deploy.health``)."""
    parser = argparse.ArgumentParser(prog="python -m edge.deploy.health")
    parser.add_argument("--config", required=True)
    parser.add_argument("--since", type=float, required=True)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    code, message = wait_online(load_agent_config(args.config), args.since, args.timeout)
    sys.stdout.write(message + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
