"""``helio-train sign``: (re)sign a bundle directory's manifest."""

# ruff: noqa: T201  (a command module: printing is its job)

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``helio-train sign``."""
    parser.add_argument("--bundle", required=True, help="bundle directory")
    parser.add_argument("--key", required=True, help="Ed25519 private key (PEM)")


def run(args: argparse.Namespace) -> int:
    """Write ``manifest.sig`` over the exact bytes of ``manifest.json``."""
    from trainer.bundle_signing import SigningError, sign_bundle_dir  # noqa: PLC0415

    try:
        sig = sign_bundle_dir(args.bundle, args.key)
    except SigningError as exc:
        print(f"helio-train sign: {exc}", file=sys.stderr)
        return 1
    print(f"signed: {sig}")
    return 0
