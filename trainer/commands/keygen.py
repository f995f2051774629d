"""``helio-train keygen``: make an Ed25519 key pair for signing bundles."""

# ruff: noqa: T201  (a command module: printing is its job)

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``helio-train keygen``."""
    parser.add_argument("--out", default="~/.config/helio-edge",
                        help="directory for signing.key (0600) and signing.pub")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing key")


def run(args: argparse.Namespace) -> int:
    """Write the key pair; refuse to overwrite unless asked."""
    from trainer.bundle_signing import SigningError, generate_keypair  # noqa: PLC0415

    try:
        priv, pub = generate_keypair(args.out, overwrite=args.overwrite)
    except (SigningError, OSError) as exc:
        print(f"helio-train keygen: {exc}", file=sys.stderr)
        return 1
    print(f"private key: {priv} (keep it secret)\npublic key:  {pub} (give it to devices)")
    return 0
