"""Signed rollout commands (``cmd/model``): what is signed, how it is checked, replay ledger.

Responsible for: the canonical bytes a rollout command's ``command_sig``
covers (:func:`signing_bytes`, shared with ``trainer.publishing`` which signs),
checking a command before anything expensive happens
(:meth:`CommandVerifier.verify`: Ed25519 signature with the bundle key,
bound to this site and gateway, issued and expiry times, a rollout id
never accepted before), and the ledger of accepted rollout ids, kept in a
small JSON file written atomically (so a replay after a restart is refused
too).

Does NOT: verify bundles (:mod:`edge.forecasting.bundle`), act on the
command (:mod:`edge.runtime.rollout`), or do network I/O.

The signed part is the JSON object of :data:`SIGNED_FIELDS` present in the
command, serialised with sorted keys, no spaces and ASCII escapes; the
archive itself is bound through ``archive_sha256``, so a verified command
authenticates the archive before it is inflated.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.runtime.inbound import CommandError
from firmware_bridge.timestamps import parse_utc

__all__ = [
    "MAX_TTL_S",
    "SIGNATURE_FIELD",
    "SIGNED_FIELDS",
    "CommandVerifier",
    "signing_bytes",
]

#: Fields of a ``cmd/model`` command covered by its signature.
SIGNED_FIELDS = ("schema_version", "command", "rollout_id", "site_id", "device_id", "issued",
                 "expires", "version", "sha256", "archive_sha256", "archive_bytes",
                 "downgrade")
#: Where the base64 Ed25519 signature goes.
SIGNATURE_FIELD = "command_sig"
#: Longest validity a command may claim (``expires - issued``). [s]
MAX_TTL_S = 30 * 86400.0
#: Accepted rollout ids remembered (oldest forgotten first).
LEDGER_SIZE = 5000
_ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def signing_bytes(body: Mapping[str, Any]) -> bytes:
    """The exact bytes ``command_sig`` signs: the signed fields, canonical JSON."""
    signed = {k: body[k] for k in SIGNED_FIELDS if k in body}
    return json.dumps(signed, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _time(body: Mapping[str, Any], key: str) -> float:
    value = body.get(key)
    if not isinstance(value, str) or len(value) > 40:
        raise CommandError(f"command needs an ISO 8601 {key}")
    try:
        return parse_utc(value).timestamp()
    except (ValueError, OverflowError, OSError) as exc:
        raise CommandError(f"command {key} must be ISO 8601 with Z or an offset ({exc})") from None


class CommandVerifier:
    """Checks signed commands for one gateway and remembers the accepted ones.

    Parameters
    ----------
    key : Ed25519PublicKey
        The bundle signing key (commands are signed with the same key).
    site_id, device_id : str
        This gateway: a command must name both.
    ledger : str or Path
        JSON file of accepted rollout ids (created).
    """

    def __init__(self, key: Ed25519PublicKey, *, site_id: str, device_id: str,
                 ledger: str | Path) -> None:
        self.key = key
        self.site_id = site_id
        self.device_id = device_id
        self.ledger = Path(ledger)
        self._seen: list[str] = []
        self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.ledger.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            # refusing every command forever would be worse; the expiry still bounds replays
            raise CommandError(f"rollout ledger {self.ledger} unreadable: {exc}") from None
        seen = data.get("accepted", []) if isinstance(data, dict) else []
        self._seen = [s for s in seen if isinstance(s, str)][-LEDGER_SIZE:]

    def seen(self, rollout_id: str) -> bool:
        """True when ``rollout_id`` was accepted before."""
        return rollout_id in self._seen

    def _remember(self, rollout_id: str) -> None:
        self._seen = [*self._seen, rollout_id][-LEDGER_SIZE:]
        tmp = self.ledger.with_name(self.ledger.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"accepted": self._seen}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.ledger)
        dirfd = os.open(self.ledger.parent, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)

    def verify(self, body: Mapping[str, Any], *, now: float) -> str:
        """Accept ``body`` once: returns its rollout id, else raises ``CommandError``.

        The checks, cheapest first: signature present and valid over
        :func:`signing_bytes`; ``site_id`` and ``device_id`` are this
        gateway's; ``expires`` not passed and at most :data:`MAX_TTL_S`
        after ``issued`` (an ``issued`` ahead of this clock is accepted: a
        Pi without a real-time clock may run behind until NTP syncs);
        ``rollout_id`` never accepted before. The id is
        recorded (fsynced) before the command runs, so it runs at most once.

        Parameters
        ----------
        body : mapping
            The decoded command.
        now : float
            UTC epoch of this device. [s]
        """
        sig_text = body.get(SIGNATURE_FIELD)
        if not isinstance(sig_text, str) or not sig_text:
            raise CommandError("unsigned model command (no command_sig)")
        try:
            sig = base64.b64decode(sig_text, validate=True)
            self.key.verify(sig, signing_bytes(body))
        except (binascii.Error, ValueError, InvalidSignature):
            raise CommandError("model command signature does not verify") from None
        if body.get("site_id") != self.site_id or body.get("device_id") != self.device_id:
            raise CommandError(
                f"model command is for {str(body.get('site_id'))[:64]}/"
                f"{str(body.get('device_id'))[:64]}, not {self.site_id}/{self.device_id}")
        issued, expires = _time(body, "issued"), _time(body, "expires")
        if not issued < expires <= issued + MAX_TTL_S:
            raise CommandError("model command validity must be 0 < expires - issued <= "
                               f"{MAX_TTL_S / 86400:.0f} days")
        if now > expires:
            raise CommandError(f"model command expired at {body['expires']}")
        rollout_id = body.get("rollout_id")
        if not isinstance(rollout_id, str) or not _ID_RE.fullmatch(rollout_id):
            raise CommandError("model command needs a rollout_id of [A-Za-z0-9_.:-]{1,64}")
        if self.seen(rollout_id):
            raise CommandError(f"rollout {rollout_id} was accepted before (replay refused)")
        try:
            self._remember(rollout_id)
        except OSError as exc:
            raise CommandError(f"cannot record rollout {rollout_id}: {exc}") from None
        return rollout_id
