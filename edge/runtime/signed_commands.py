"""Signed rollout commands (``cmd/model``): what is signed, how it is checked, replay ledger.

Responsible for: the canonical bytes a rollout command's ``command_sig``
covers (:func:`signing_bytes`, shared with ``trainer.publishing`` which signs),
checking a command before anything expensive happens
(:meth:`CommandVerifier.verify`: Ed25519 signature with the bundle key,
bound to this site and gateway, issued and expiry times, a rollout id
never accepted before), and the ledger of accepted rollout ids, kept in a
small JSON file written atomically (so a replay after a restart is refused
too).

A lost ledger never opens the door to a replay. The ledger is written twice
(``commands.json``, then ``commands.json.bak``), so one damaged copy is
replaced by the other. When neither can be read (moved aside by
:mod:`edge.runtime.statefile`, kept), the verifier sets a *not-before* time:
the later of this device's clock at the loss and the modification times of
the damaged copies (when the last command was accepted). A command issued
before it is refused ("re-issue it": ``helio-train publish`` signs a new one
with a new id and issue time), so no command accepted before the loss can
run again. What this cannot cover: a command accepted while the device's
clock ran behind, replayed after a loss found while the clock still runs
behind; the expiry (at most :data:`MAX_TTL_S`) still bounds it. The
not-before time is part of the new ledger, so it holds across restarts.

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
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.runtime.inbound import CommandError
from edge.runtime.statefile import CorruptStateError, read_state, write_private
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
        JSON file of accepted rollout ids (created, with a ``.bak`` copy).
    now : float, optional
        UTC epoch of this device at start (the not-before time if the ledger
        is lost); the system clock when omitted. [s]
    """

    def __init__(self, key: Ed25519PublicKey, *, site_id: str, device_id: str,
                 ledger: str | Path, now: float | None = None) -> None:
        self.key = key
        self.site_id = site_id
        self.device_id = device_id
        self.ledger = Path(ledger)
        self.backup = self.ledger.with_name(self.ledger.name + ".bak")
        self._seen: list[str] = []
        #: commands issued before this UTC epoch are refused (set when the ledger was lost) [s]
        self.not_before = 0.0
        #: what was found damaged at start (reported by the rollout as events)
        self.recoveries: list[CorruptStateError] = []
        self._load(time.time() if now is None else now)

    def _load(self, now: float) -> None:
        copies: list[dict[str, Any]] = []
        for path in (self.ledger, self.backup):
            try:
                data = read_state(path)
            except CorruptStateError as exc:
                self.recoveries.append(exc)
                continue
            if data is not None:
                copies.append(data)
        if copies:
            data = copies[0]
            seen = data.get("accepted", [])
            self._seen = [s for s in seen if isinstance(s, str)][-LEDGER_SIZE:] \
                if isinstance(seen, list) else []
            nb = data.get("not_before", 0.0)
            self.not_before = float(nb) if isinstance(nb, int | float) else 0.0
            if self.recoveries:
                self._write()  # the damaged copy is replaced by the good one
            return
        if self.recoveries:  # no readable copy: refuse everything issued before now
            mtimes = [os.path.getmtime(r.moved_to) for r in self.recoveries
                      if os.path.exists(r.moved_to)]
            self.not_before = max([now, *mtimes])
            self._write()

    @property
    def lost(self) -> bool:
        """True when no copy of the ledger could be read at start (see :attr:`not_before`)."""
        return bool(self.recoveries) and self.not_before > 0.0

    def seen(self, rollout_id: str) -> bool:
        """True when ``rollout_id`` was accepted before."""
        return rollout_id in self._seen

    def _write(self) -> None:
        data = json.dumps({"accepted": self._seen, "not_before": self.not_before}).encode()
        write_private(self.ledger, data)
        write_private(self.backup, data)

    def _remember(self, rollout_id: str) -> None:
        self._seen = [*self._seen, rollout_id][-LEDGER_SIZE:]
        self._write()

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
        if issued < self.not_before:
            raise CommandError("model command was issued before the replay ledger was lost "
                               f"(not before {self.not_before:.0f}); re-issue it")
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
