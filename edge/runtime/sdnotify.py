"""systemd notification (``sd_notify``) without a dependency.

Responsible for: sending ``READY=1``, ``WATCHDOG=1``, ``STATUS=...`` and
``STOPPING=1`` datagrams to ``$NOTIFY_SOCKET`` (path or abstract
``@name``), and reading the watchdog interval from ``$WATCHDOG_USEC``.

Does NOT: fail when not run by systemd (every call is then a no-op).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

__all__ = ["Notifier"]


class Notifier:
    """Talks to systemd's notify socket, if there is one.

    Parameters
    ----------
    env : mapping, optional
        Environment to read ``NOTIFY_SOCKET`` / ``WATCHDOG_USEC`` /
        ``WATCHDOG_PID`` from (default ``os.environ``).
    """

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        addr = env.get("NOTIFY_SOCKET", "")
        if addr.startswith("@"):
            addr = "\0" + addr[1:]
        self.address = addr
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())
        self.watchdog_s: float | None = int(usec) / 1e6 if usec.isdigit() and mine else None

    @property
    def enabled(self) -> bool:
        """True when a notify socket is configured."""
        return bool(self.address)

    def notify(self, *fields: str) -> bool:
        """Send ``fields`` (``"READY=1"``...) in one datagram; False if not sent."""
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(self.address)
                sock.sendall("\n".join(fields).encode())
        except OSError:
            return False
        return True

    def ready(self, status: str = "") -> bool:
        """``READY=1`` (and a status line)."""
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        """``WATCHDOG=1``: the loop is alive."""
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """``STATUS=text`` shown by ``systemctl status``."""
        return self.notify(f"STATUS={text}")

    def stopping(self) -> bool:
        """``STOPPING=1``."""
        return self.notify("STOPPING=1")
