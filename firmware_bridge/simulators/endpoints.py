"""Serving simulated devices on a pseudo-terminal or TCP, in a thread.

Responsible for: the :class:`Session` contract every protocol simulator
implements (bytes in, time-stamped bytes out), the endpoints that carry the
bytes (a pty behind a stable symlink, like ``/dev/serial/by-id/...``; a TCP
listener that ``socket://host:port`` opens; a USB-HID stand-in with 8-byte
reports that ``hid://path`` opens), unplugging and replugging them
(what a USB adapter vanishing looks like to a reader: the pty hangs up and
its path disappears; the TCP connection drops and connects are refused),
and the serving loop.

Does NOT: speak any protocol or model the site.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import logging
import os
import selectors
import socket
import tempfile
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from firmware_bridge.simulators.faults import STALL_S, Faults

__all__ = [
    "Endpoint",
    "HidEndpoint",
    "OutputQueue",
    "PtyEndpoint",
    "Server",
    "Session",
    "TcpEndpoint",
]

log = logging.getLogger(__name__)

_READ = 4096
_IDLE = 0.05  # longest sleep of the serving loop [s]


class Session(Protocol):
    """One conversation with one reader (a pty, or a TCP connection)."""

    def receive(self, data: bytes, now: float) -> None:
        """Bytes the reader wrote."""
        ...

    def due(self, now: float) -> list[bytes]:
        """Bytes to write now (in order); schedules the next ones."""
        ...

    def wakeup(self) -> float:
        """Monotonic time at which :meth:`due` next has something. [s]"""
        ...


class OutputQueue:
    """Bytes scheduled for monotonic times; the building block of sessions."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, bytes]] = []
        self._seq = 0

    def put(self, at: float, data: bytes) -> None:
        """Send ``data`` at time ``at``. [s]"""
        if data:
            self._seq += 1
            heapq.heappush(self._heap, (at, self._seq, data))

    def put_frame(self, at: float, frame: bytes, faults: Faults) -> None:
        """Send ``frame`` at ``at``, cut by a mid-frame stall when that fault hits. [s]"""
        if faults.hit("stall"):
            head, tail = faults.split(frame)
            self.put(at, head)
            self.put(at + STALL_S, tail)
        else:
            self.put(at, frame)

    def pop_due(self, now: float) -> list[bytes]:
        """Everything due by ``now``."""
        out = []
        while self._heap and self._heap[0][0] <= now:
            out.append(heapq.heappop(self._heap)[2])
        return out

    def next_time(self) -> float:
        """When the next chunk is due (inf when empty). [s]"""
        return self._heap[0][0] if self._heap else float("inf")

    def clear(self) -> None:
        """Drop everything scheduled."""
        self._heap.clear()


class Endpoint(Protocol):
    """Where a simulator is reachable; ``up``/``down`` plug and unplug it."""

    url: str

    def up(self) -> None: ...

    def down(self) -> None: ...

    def register(self, sel: selectors.BaseSelector, new_session: Callable[[], Session]) -> None:
        """Add its file descriptors to ``sel`` (data = handler callables)."""
        ...

    def pending(self, now: float) -> float:
        """Write due output of its sessions; return the next wakeup time."""
        ...


class PtyEndpoint:
    """A pseudo-terminal reached through a stable symlink (a by-id path).

    Parameters
    ----------
    link : str or Path, optional
        Path of the symlink to the slave (created in a private temporary
        directory when None). ``url`` is this path.
    """

    def __init__(self, link: str | Path | None = None) -> None:
        if link is None:
            self._tmpdir: str | None = tempfile.mkdtemp(prefix="helio-sim-")
            link = Path(self._tmpdir) / "tty"
        else:
            self._tmpdir = None
        self.url = str(link)
        self.pty_path: str | None = None
        self._master = self._slave = -1
        self._session: Session | None = None
        self._sel: selectors.BaseSelector | None = None
        self._new_session: Callable[[], Session] | None = None

    def up(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/LF translation: bytes as on a UART
        tty.setraw(master)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.pty_path = os.ttyname(slave)
        tmp = self.url + ".new"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        os.symlink(self.pty_path, tmp)
        os.replace(tmp, self.url)  # atomic: readers never see a half-made link
        if self._sel is not None and self._new_session is not None:
            self._attach()

    def down(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.url)
        if self._master >= 0:
            if self._sel is not None:
                with contextlib.suppress(KeyError, ValueError):
                    self._sel.unregister(self._master)
            os.close(self._master)
            os.close(self._slave)  # the reader's slave fd now reads EIO: unplugged
        self._master = self._slave = -1
        self._session = None
        self.pty_path = None

    def close(self) -> None:
        """Unplug for good and remove the temporary directory."""
        self.down()
        if self._tmpdir is not None:
            with contextlib.suppress(OSError):
                os.rmdir(self._tmpdir)

    def register(self, sel: selectors.BaseSelector, new_session: Callable[[], Session]) -> None:
        self._sel, self._new_session = sel, new_session
        if self._master >= 0:
            self._attach()

    def _attach(self) -> None:
        assert self._sel is not None and self._new_session is not None
        self._session = self._new_session()
        self._sel.register(self._master, selectors.EVENT_READ, self._on_read)

    def _on_read(self) -> None:
        try:
            data = os.read(self._master, _READ)
        except BlockingIOError:
            return
        except OSError:  # EIO: no reader has the slave open right now
            return
        if data and self._session is not None:
            self._session.receive(data, time.monotonic())

    def pending(self, now: float) -> float:
        session = self._session
        if session is None or self._master < 0:
            return float("inf")
        for chunk in session.due(now):
            try:
                os.write(self._master, chunk)
            except BlockingIOError:
                pass  # nobody reads and the line buffer is full: bytes are lost, as on a UART
            except OSError as exc:
                if exc.errno not in (errno.EIO, errno.EAGAIN):
                    raise
        return session.wakeup()


class TcpEndpoint:
    """A TCP listener; each accepted connection gets its own session.

    Parameters
    ----------
    host : str
        Address to bind.
    port : int
        Port; 0 picks a free one (kept across unplug/replug).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self._listener: socket.socket | None = None
        self._clients: dict[socket.socket, Session] = {}
        self._sel: selectors.BaseSelector | None = None
        self._new_session: Callable[[], Session] | None = None

    @property
    def url(self) -> str:  # type: ignore[override]
        return f"socket://{self.host}:{self.port}"

    def up(self) -> None:
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind((self.host, self.port))
        lsock.listen(4)
        lsock.setblocking(False)
        self.port = lsock.getsockname()[1]
        self._listener = lsock
        if self._sel is not None:
            self._sel.register(lsock, selectors.EVENT_READ, self._on_accept)

    def down(self) -> None:
        for sock in [*self._clients, *([self._listener] if self._listener else [])]:
            if self._sel is not None:
                with contextlib.suppress(KeyError, ValueError):
                    self._sel.unregister(sock)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._clients.clear()
        self._listener = None

    def close(self) -> None:
        """Unplug for good."""
        self.down()

    def register(self, sel: selectors.BaseSelector, new_session: Callable[[], Session]) -> None:
        self._sel, self._new_session = sel, new_session
        if self._listener is not None:
            sel.register(self._listener, selectors.EVENT_READ, self._on_accept)

    def _on_accept(self) -> None:
        if self._listener is None or self._sel is None or self._new_session is None:
            return
        try:
            conn, _ = self._listener.accept()
        except BlockingIOError:
            return
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.setblocking(False)
        self._clients[conn] = self._new_session()
        self._sel.register(conn, selectors.EVENT_READ, lambda: self._on_data(conn))

    def _drop(self, conn: socket.socket) -> None:
        if self._sel is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(conn)
        conn.close()
        self._clients.pop(conn, None)

    def _on_data(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(_READ)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        session = self._clients.get(conn)
        if session is not None:
            session.receive(data, time.monotonic())

    def pending(self, now: float) -> float:
        wake = float("inf")
        for conn, session in list(self._clients.items()):
            for chunk in session.due(now):
                try:
                    conn.sendall(chunk)
                except BlockingIOError:
                    pass
                except OSError:
                    self._drop(conn)
                    break
            wake = min(wake, session.wakeup())
        return wake


class HidEndpoint(TcpEndpoint):
    """A local stand-in for a USB-HID node (``/dev/hidrawN``) of an Axpert-family inverter.

    A Unix ``SOCK_SEQPACKET`` socket at a path: like hidraw it keeps report
    boundaries, so every write a reader makes arrives as one packet, and
    every packet it reads is one report. The stand-in takes only 8-byte
    reports (any other size is counted in :attr:`bad_reports` and dropped,
    so a reader that does not write whole reports gets no answer) and sends
    its output as 8-byte reports, the last of each chunk padded with zeros.
    ``url`` is ``hid://<path>``.

    Parameters
    ----------
    path : str or Path, optional
        Where the socket goes (a private temporary directory when None).
    """

    REPORT = 8

    def __init__(self, path: str | Path | None = None) -> None:
        super().__init__()
        if path is None:
            self._tmpdir: str | None = tempfile.mkdtemp(prefix="helio-sim-")
            path = Path(self._tmpdir) / "hidraw"
        else:
            self._tmpdir = None
        self.path = str(path)
        self.bad_reports = 0

    @property
    def url(self) -> str:  # type: ignore[override]
        return f"hid://{self.path}"

    def up(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        lsock.bind(self.path)
        lsock.listen(4)
        lsock.setblocking(False)
        self._listener = lsock
        if self._sel is not None:
            self._sel.register(lsock, selectors.EVENT_READ, self._on_accept)

    def down(self) -> None:
        super().down()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def close(self) -> None:
        """Unplug for good and remove the temporary directory."""
        self.down()
        if self._tmpdir is not None:
            with contextlib.suppress(OSError):
                os.rmdir(self._tmpdir)

    def _on_accept(self) -> None:
        if self._listener is None or self._sel is None or self._new_session is None:
            return
        try:
            conn, _ = self._listener.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        self._clients[conn] = self._new_session()
        self._sel.register(conn, selectors.EVENT_READ, lambda: self._on_data(conn))

    def _on_data(self, conn: socket.socket) -> None:
        try:
            report = conn.recv(_READ)
        except BlockingIOError:
            return
        except OSError:
            report = b""
        if not report:
            self._drop(conn)
            return
        if len(report) != self.REPORT:
            self.bad_reports += 1
            return
        session = self._clients.get(conn)
        if session is not None:
            session.receive(report, time.monotonic())

    def pending(self, now: float) -> float:
        wake = float("inf")
        size = self.REPORT
        for conn, session in list(self._clients.items()):
            for chunk in session.due(now):
                try:
                    for start in range(0, len(chunk), size):
                        conn.send(chunk[start:start + size].ljust(size, b"\0"))
                except BlockingIOError:
                    pass
                except OSError:
                    self._drop(conn)
                    break
            wake = min(wake, session.wakeup())
        return wake


class Server:
    """Runs one endpoint for one simulator in a daemon thread.

    Parameters
    ----------
    endpoint : PtyEndpoint or TcpEndpoint
        Where to serve.
    new_session : callable
        Makes a fresh :class:`Session` per reader.
    tick : callable, optional
        Called every loop turn with the monotonic time (auto faults).
    """

    def __init__(
        self,
        endpoint: PtyEndpoint | TcpEndpoint | HidEndpoint,
        new_session: Callable[[], Session],
        *,
        tick: Callable[[float], None] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._new_session = new_session
        self._tick = tick
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, self._drain_wake)
        self.plugged = False
        self._thread = threading.Thread(target=self._run, name="helio-sim", daemon=True)

    def start(self) -> None:
        """Plug in and start serving."""
        with self._lock:
            self.endpoint.up()
            self.endpoint.register(self._sel, self._new_session)
            self.plugged = True
        self._thread.start()

    def unplug(self) -> None:
        """The device vanishes (idempotent)."""
        with self._lock:
            if self.plugged:
                self.endpoint.down()
                self.plugged = False
                log.info("simulator unplugged from %s", self.endpoint.url)
        self._wake()

    def replug(self) -> None:
        """The device comes back (idempotent)."""
        with self._lock:
            if not self.plugged:
                self.endpoint.up()
                self.plugged = True
                log.info("simulator plugged in at %s", self.endpoint.url)
        self._wake()

    def stop(self) -> None:
        """Stop serving and release everything."""
        self._stop.set()
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
        with self._lock:
            self.endpoint.close()
            self.plugged = False
        self._sel.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self._wake_r, 64)

    def _run(self) -> None:
        wake = 0.0
        while not self._stop.is_set():
            timeout = min(max(wake - time.monotonic(), 0.0), _IDLE)
            events = self._sel.select(timeout)
            with self._lock:
                for key, _ in events:
                    key.data()
                now = time.monotonic()
                if self._tick is not None:
                    self._tick(now)
                wake = self.endpoint.pending(now) if self.plugged else now + _IDLE
