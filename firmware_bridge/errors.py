"""Exceptions raised by :mod:`firmware_bridge`.

Every error the bridge raises derives from :class:`BridgeError`, so callers
(the edge agent's one broad ``except``) can tell bridge faults from bugs.
Framers never raise on bad input: they count and drop. Decoders and request
parsers raise the subclasses below with a message naming what was wrong.
"""

from __future__ import annotations

__all__ = [
    "BridgeError",
    "ChecksumError",
    "DeviceTimeout",
    "DeviceUnavailable",
    "FrameError",
    "ProtocolError",
]


class BridgeError(Exception):
    """Base class of every error raised by the bridge."""


class FrameError(BridgeError):
    """Bytes that do not form a frame of the protocol (bad length, bad characters)."""


class ChecksumError(FrameError):
    """A frame whose checksum or CRC does not match its contents."""


class ProtocolError(BridgeError):
    """A well-formed frame the protocol rejects or we cannot interpret (NAK, wrong field count)."""


class DeviceTimeout(BridgeError):  # noqa: N818 - name fixed by docs/architecture.md
    """The device did not answer (or stream) within the timeout."""


class DeviceUnavailable(BridgeError):  # noqa: N818 - name fixed by docs/architecture.md
    """The port cannot be opened or has gone away (USB adapter unplugged)."""
