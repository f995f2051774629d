"""Is the system clock synchronised? (a Pi has no real-time clock)

Responsible for: answering, cheaply and without privileges, whether the
kernel's clock has been disciplined by NTP since boot: systemd-timesyncd's
flag file ``/run/systemd/timesync/synchronized`` (present once it has
synchronised), else the kernel's own view from ``adjtimex(2)`` (a read-only
call: ``modes = 0``): the clock is unsynchronised while the return value is
``TIME_ERROR`` or the status has ``STA_UNSYNC``.

Does NOT: set the clock, or decide what to do about it (the agent marks data
taken before sync and holds forecasts).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from pathlib import Path

__all__ = ["SYNC_FLAG", "clock_synchronized", "kernel_synchronized"]

#: written by systemd-timesyncd once the clock is synchronised (systemd >= 239)
SYNC_FLAG = Path("/run/systemd/timesync/synchronized")
_TIME_ERROR = 5
_STA_UNSYNC = 0x0040


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Timex(ctypes.Structure):
    """``struct timex`` of <sys/timex.h> (Linux, glibc)."""

    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long),
                ("status", ctypes.c_int), ("constant", ctypes.c_long),
                ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
                ("time", _Timeval), ("tick", ctypes.c_long), ("ppsfreq", ctypes.c_long),
                ("jitter", ctypes.c_long), ("shift", ctypes.c_int), ("stabil", ctypes.c_long),
                ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long),
                ("errcnt", ctypes.c_long), ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int),
                ("_reserved", ctypes.c_int * 11)]


def kernel_synchronized() -> bool | None:
    """The kernel's answer from ``adjtimex(2)``; None where it cannot be asked."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        tx = _Timex()  # modes = 0: read only
        state = int(libc.adjtimex(ctypes.byref(tx)))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != _TIME_ERROR and not tx.status & _STA_UNSYNC


def clock_synchronized(flag: Path = SYNC_FLAG) -> bool:
    """True once the clock is synchronised (or when nothing can tell: not Linux)."""
    if flag.exists():
        return True
    kernel = kernel_synchronized()
    return True if kernel is None else kernel
