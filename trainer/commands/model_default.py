"""``helio-train model-default`` (``make model``): rebuild the shipped Abuja bundle.

Trains on synthetic Abuja weather with ``configs/train/abuja.toml`` and
writes ``edge/data/bundles/abuja/``, signed with the developer's key in
``~/.config/helio-edge/signing.key`` (created if missing; never committed).
The matching public key is written to ``configs/keys/helio-default.pub``.
"""

# ruff: noqa: T201  (a command module: printing is its job)

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``helio-train model-default``."""
    parser.add_argument("--config", default=str(REPO / "configs/train/abuja.toml"))
    parser.add_argument("--out", default=str(REPO / "edge/data/bundles/abuja"))
    parser.add_argument("--key-dir", default="~/.config/helio-edge")
    parser.add_argument("--public-key-out", default=str(REPO / "configs/keys/helio-default.pub"))


def run(args: argparse.Namespace) -> int:
    """Train, gate and replace the shipped bundle only if the new one is blessed."""
    from trainer.bundle_signing import (  # noqa: PLC0415
        PRIVATE_NAME,
        generate_keypair,
        load_private_key,
        public_pem,
    )
    from trainer.config import load_train_config  # noqa: PLC0415
    from trainer.fit import fit  # noqa: PLC0415

    key_dir = Path(args.key_dir).expanduser()
    key = key_dir / PRIVATE_NAME
    if not key.exists():
        generate_keypair(key_dir)
        print(f"created signing key {key}", file=sys.stderr)
    pub_out = Path(args.public_key_out)
    pub_out.parent.mkdir(parents=True, exist_ok=True)
    pub_out.write_bytes(public_pem(load_private_key(key)))
    start = time.monotonic()
    staging = Path(args.out).with_name(Path(args.out).name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    result = fit(load_train_config(args.config), out_dir=staging, key_path=key,
                 progress=lambda m: print(f"[{time.monotonic() - start:6.1f} s] {m}",
                                          file=sys.stderr, flush=True))
    if not result.blessed:
        for c in result.gate.failures:
            print(f"  FAIL  {c.name}: {c.detail}", file=sys.stderr)
        print("gate FAILED: the shipped bundle was left unchanged", file=sys.stderr)
        return 1
    shutil.rmtree(args.out, ignore_errors=True)
    staging.rename(args.out)
    print(f"blessed bundle written to {args.out}; public key {pub_out}")
    return 0
