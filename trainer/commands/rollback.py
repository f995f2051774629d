"""``helio-train rollback``: force devices back to their previous model."""

from __future__ import annotations

import argparse
import sys

from trainer.commands.publish import add_broker_arguments
from trainer.rollout import (
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
    """Publish the rollback command; 1 when no device is found."""
    try:
        gateways = {} if args.device else discover_gateways(
            args.host, args.port, args.site, prefix=args.prefix, wait_s=args.wait)
        targets = choose_targets(gateways, device=args.device)
        if not targets:
            raise RolloutError(f"no gateways of site {args.site!r} found (retained status)")
        payload = rollback_payload()
        send(args.host, args.port, [(model_topic(args.site, g, args.prefix), payload)
                                    for g in targets])
    except RolloutError as exc:
        sys.stderr.write(f"helio-train rollback: {exc}\n")
        return 1
    sys.stdout.write(f"rollback sent to {args.site}: {', '.join(targets)}\n")
    return 0
