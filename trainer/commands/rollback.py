"""``helio-train rollback``: force devices back to their previous model (signed command)."""

from __future__ import annotations

import argparse
import sys

from trainer.bundle_signing import SigningError, load_private_key
from trainer.commands.publish import add_broker_arguments, broker_auth
from trainer.publishing import (
    RolloutError,
    choose_targets,
    discover_gateways,
    model_topic,
    rollback_payload,
    send,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``helio-train rollback``."""
    add_broker_arguments(parser)
    parser.add_argument("--device", help="one gateway id (default: every gateway of the site)")


def run(args: argparse.Namespace) -> int:
    """Publish the signed rollback command; 1 when no device is found."""
    auth = broker_auth(args, "helio-train rollback")
    if auth is None:
        return 2
    try:
        key = load_private_key(args.key)
        gateways = {} if args.device else discover_gateways(
            auth, args.site, prefix=args.prefix, wait_s=args.wait)
        targets = choose_targets(gateways, device=args.device)
        if not targets:
            raise RolloutError(f"no gateways of site {args.site!r} found (retained status)")
        send(auth, [
            (model_topic(args.site, g, args.prefix),
             rollback_payload(key=key, site=args.site, device=g, ttl_s=args.ttl))
            for g in targets])
    except (RolloutError, SigningError) as exc:
        sys.stderr.write(f"helio-train rollback: {exc}\n")
        return 1
    sys.stdout.write(f"rollback sent to {args.site}: {', '.join(targets)}\n")
    return 0
