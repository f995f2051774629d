"""``helio-train publish``: send a signed bundle to a site's devices over MQTT."""

from __future__ import annotations

import argparse
import sys

from trainer.rollout import (
    RolloutError,
    choose_targets,
    discover_gateways,
    install_payload,
    model_topic,
    send,
)


def add_broker_arguments(parser: argparse.ArgumentParser) -> None:
    """``--host/--port/--prefix/--site/--wait``, shared with ``rollback``."""
    parser.add_argument("--site", required=True, help="site id")
    parser.add_argument("--host", default="127.0.0.1", help="MQTT broker host")
    parser.add_argument("--port", type=int, default=1883, help="MQTT broker port")
    parser.add_argument("--prefix", default="helio", help="topic prefix")
    parser.add_argument("--wait", type=float, default=1.5, metavar="S",
                        help="how long to collect the site's retained status messages [s]")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``helio-train publish``."""
    parser.add_argument("--bundle", required=True, help="signed bundle directory or archive")
    add_broker_arguments(parser)
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--device", help="one gateway id (default: every gateway of the site)")
    who.add_argument("--canary", type=int, metavar="N",
                     help="only the first N online gateways (sorted by id)")
    parser.add_argument("--public-key", help="verify the bundle with this key before sending")
    parser.add_argument("--rollout-id", help="identifier echoed in device events")


def run(args: argparse.Namespace) -> int:
    """Verify, pick targets, publish; 1 on any refusal."""
    try:
        payload = install_payload(args.bundle, public_key=args.public_key,
                                  rollout_id=args.rollout_id)
        gateways = {} if args.device else discover_gateways(
            args.host, args.port, args.site, prefix=args.prefix, wait_s=args.wait)
        targets = choose_targets(gateways, device=args.device, canary=args.canary)
        if not targets:
            raise RolloutError(f"no gateways of site {args.site!r} found (retained status)")
        send(args.host, args.port, [(model_topic(args.site, g, args.prefix), payload)
                                    for g in targets])
    except RolloutError as exc:
        sys.stderr.write(f"helio-train publish: {exc}\n")
        return 1
    sys.stdout.write(f"sent {args.bundle} ({len(payload)} bytes) to {args.site}: "
                     f"{', '.join(targets)}\n")
    return 0
