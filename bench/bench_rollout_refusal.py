"""How long a device takes to refuse a hostile model rollout: printed.

The device side (:class:`edge.runtime.rollout.Rollout`, the shipped bundle
running) receives ``cmd/model`` installs from a publisher without the
signing key: a tar whose one member is 1 GiB of zeros (about 1 MB
compressed), 1 GiB of zeros compressed to about 1 MB, and 1 MB of
incompressible bytes posing as a gzip. Printed: the time to refuse
each, and whether anything was written to the state directory. When the
command signature exists (after the change) a correctly signed bomb (an
archive member of 64 MiB of zeros) is timed too: the caps stop it.

``python -m bench.bench_rollout_refusal``; run with another checkout first
on ``PYTHONPATH`` for the figure before a change.
"""

# ruff: noqa: PLC0415

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _payload(archive: bytes, **extra: Any) -> dict[str, Any]:
    return {"schema_version": 1, "command": "install", "rollout_id": "bench-1",
            "site_id": "abuja-01", "device_id": "gateway",
            "issued": "2026-11-30T00:00:00Z", "expires": "2026-12-01T00:00:00Z",
            "archive_sha256": hashlib.sha256(archive).hexdigest(),
            "archive_bytes": len(archive), "archive_b64": base64.b64encode(archive).decode(),
            **extra}


def main() -> None:
    from edge.forecasting.bundle import load_bundle
    from edge.forecasting.engine import ModelHolder
    from edge.forecasting.site import load_site
    from edge.runtime.config import RolloutConfig
    from edge.runtime.rollout import Rollout
    from edge.testkit.clocks import ManualClock
    from edge.testkit.fakes import bomb_tar, zeros_gzip

    clock = ManualClock(datetime(2026, 11, 30, 12, tzinfo=UTC))
    bundle_dir = REPO / "edge/data/bundles/abuja"
    key = REPO / "configs/keys/helio-default.pub"
    holder = ModelHolder(lambda: load_bundle(bundle_dir, key), lambda b: None)
    site = load_site(REPO / "configs/sites/abuja.toml")
    cases: list[tuple[str, bytes]] = [
        ("unsigned, tar member of 1 GiB of zeros (~1 MB gzip)", json.dumps(
            _payload(bomb_tar(1 << 30))).encode()),
        ("unsigned, 1 GiB of zeros as a ~1 MB gzip", json.dumps(
            _payload(zeros_gzip(1 << 30))).encode()),
        ("unsigned, 1 MB of random bytes", json.dumps(
            _payload(b"\x1f\x8b" + os.urandom(1 << 20))).encode()),
    ]
    try:  # only after the change: commands are signed
        from edge.runtime.signed_commands import signing_bytes
        from trainer.bundle_signing import generate_keypair, load_private_key

        with tempfile.TemporaryDirectory() as tmp:
            priv, pub = generate_keypair(tmp)
            body = _payload(bomb_tar(64 << 20))
            body["command_sig"] = base64.b64encode(
                load_private_key(priv).sign(signing_bytes(body))).decode()
            signed_key = pub.read_bytes()
        cases.append(("signed, one 64 MiB member of zeros", json.dumps(body).encode()))
    except ImportError:
        signed_key = b""
    print("refusing a hostile cmd/model install on the device (median of 3):")
    for label, payload in cases:
        times, written = [], 0
        for _ in range(3):
            with tempfile.TemporaryDirectory() as models:
                use_key: Any = signed_key if label.startswith("signed") else key
                r = Rollout(holder=holder, site=site, public_key=use_key, models_dir=models,
                            config=RolloutConfig(), clock=clock, make_predictor=lambda b: None)
                t0 = time.perf_counter()
                try:
                    r.handle_payload(payload)
                    outcome = "ACCEPTED"
                except Exception as exc:
                    outcome = str(exc)[:70]
                times.append(time.perf_counter() - t0)
                written = max(written, sum(f.stat().st_size for f in Path(models).glob("*")
                                           if f.name.startswith("bundle-")))
        times.sort()
        print(f"  {label}: {times[1] * 1000:7.1f} ms, {written} bytes kept in the state"
              f" directory ({outcome})")


if __name__ == "__main__":
    main()
