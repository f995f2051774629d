"""``helio-train publish``: send a signed bundle to a site's devices over MQTT."""

from __future__ import annotations

import argparse
import sys
import uuid

from edge.runtime.contract import DEFAULT_PREFIX
from edge.runtime.mqtt import BrokerSettings
from firmware_bridge.config import ConfigError
from trainer.broker_options import add_auth_arguments, settings_from_args
from trainer.bundle_signing import DEFAULT_KEY_DIR, PRIVATE_NAME, SigningError, load_private_key
from trainer.publishing import (
    DEFAULT_TTL_S,
    RolloutError,
    choose_targets,
    discover_gateways,
    install_payload,
    model_topic,
    send,
)


def add_broker_arguments(parser: argparse.ArgumentParser) -> None:
    """Broker, TLS/credentials, site and signing options, shared with ``rollback``."""
    parser.add_argument("--site", required=True, help="site id")
    parser.add_argument("--host", default="127.0.0.1", help="MQTT broker host")
    parser.add_argument("--port", type=int, default=1883, help="MQTT broker port")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX, help="topic prefix")
    parser.add_argument("--wait", type=float, default=1.5, metavar="S",
                        help="how long to collect the site's retained status messages [s]")
    parser.add_argument("--key", default=str(DEFAULT_KEY_DIR / PRIVATE_NAME),
                        help="private signing key (the bundle key) that signs the command")
    parser.add_argument("--ttl", type=float, default=DEFAULT_TTL_S, metavar="S",
                        help="the command expires this long after it is issued [s]")
    add_auth_arguments(parser)


def broker_auth(args: argparse.Namespace, prog: str) -> BrokerSettings | None:
    """The broker options, or None after printing why they are unusable."""
    try:
        return settings_from_args(args)
    except (ConfigError, ValueError) as exc:
        sys.stderr.write(f"{prog}: {exc}\n")
        return None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``helio-train publish``."""
    parser.add_argument("--bundle", required=True, help="signed bundle directory or archive")
    add_broker_arguments(parser)
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--device", help="one gateway id (default: every gateway of the site)")
    who.add_argument("--canary", type=int, metavar="N",
                     help="only the first N online gateways (sorted by id)")
    parser.add_argument("--public-key", help="verify the bundle with this key before sending")
    parser.add_argument("--rollout-id", help="identifier echoed in device events"
                        " (each gateway accepts it once)")
    parser.add_argument("--downgrade", action="store_true",
                        help="allow a bundle created before the one the gateways run")


def run(args: argparse.Namespace) -> int:
    """Verify, pick targets, sign one command per target, publish; 1 on any refusal."""
    auth = broker_auth(args, "helio-train publish")
    if auth is None:
        return 2
    try:
        key = load_private_key(args.key)
        gateways = {} if args.device else discover_gateways(
            auth, args.site, prefix=args.prefix, wait_s=args.wait)
        targets = choose_targets(gateways, device=args.device, canary=args.canary)
        if not targets:
            raise RolloutError(f"no gateways of site {args.site!r} found (retained status)")
        rollout_id = args.rollout_id or uuid.uuid4().hex[:16]  # one id, accepted once per gateway
        messages = [(model_topic(args.site, g, args.prefix),
                     install_payload(args.bundle, key=key, site=args.site, device=g,
                                     public_key=args.public_key, rollout_id=rollout_id,
                                     ttl_s=args.ttl, downgrade=args.downgrade))
                    for g in targets]
        send(auth, messages)
    except (RolloutError, SigningError) as exc:
        sys.stderr.write(f"helio-train publish: {exc}\n")
        return 1
    sys.stdout.write(f"sent {args.bundle} ({len(messages[0][1])} bytes) to {args.site}: "
                     f"{', '.join(targets)}\n")
    return 0
