"""The dashboard's HTTP server: static pages, a JSON API, server-sent events, ``/metrics``.

Responsible for: serving the pages shipped in ``static/`` (no CDN: every
script and style is package data), the JSON the pages draw
(``/api/fleet``, ``/api/site/<site>``, ``/api/models``), change
notifications as server-sent events (``/api/events``: an ``change`` event
whenever another connection commits to the store), ``/metrics`` in
Prometheus text format, and authentication.

Does NOT: write the store (every request opens its own read-only
connection, so ``helio-monitor run`` keeps writing the same file) or decide
what is shown (see :mod:`trainer.monitor.dashboard.queries`).

Authentication is off when the server is bound to a loopback address.
Bound to any other address it requires a bearer token (``Authorization:
Bearer <token>``; a browser may open ``/?token=<token>`` once, which sets an
HttpOnly cookie) or HTTP basic auth, and refuses to start without one.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import json
import logging
import math
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from trainer.monitor.dashboard import queries
from trainer.monitor.dashboard.metrics import CONTENT_TYPE, FleetCollector, render

__all__ = ["AuthConfig", "AuthError", "ChangeWatch", "DashboardServer", "is_loopback"]

log = logging.getLogger(__name__)

#: file name -> Content-Type of what ``static/`` ships
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml",
          ".png": "image/png", ".ico": "image/x-icon"}
#: everything must come from this server: no CDN, no inline script
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
_COOKIE = "helio_token"


class AuthError(ValueError):
    """The server would be reachable from the network without credentials."""


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and addresses in 127.0.0.0/8 or ``::1``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """Credentials of the dashboard.

    Attributes
    ----------
    token : str or None
        Bearer token.
    basic : tuple of (str, str) or None
        HTTP basic user and password.
    """

    token: str | None = None
    basic: tuple[str, str] | None = None

    @property
    def enabled(self) -> bool:
        """True when some credential is configured."""
        return bool(self.token) or self.basic is not None

    @classmethod
    def from_files(cls, token_file: str | None = None,
                   basic_file: str | None = None) -> AuthConfig:
        """Read a token file (its first line) and a basic-auth file (``user:password``).

        Raises
        ------
        AuthError
            Naming the file, when one is empty or malformed.
        """
        token = None
        basic = None
        if token_file:
            lines = Path(token_file).read_text(encoding="utf-8").strip().splitlines()
            token = lines[0].strip() if lines else ""
            if len(token) < 16:
                raise AuthError(f"{token_file}: the token must be at least 16 characters")
        if basic_file:
            line = (Path(basic_file).read_text(encoding="utf-8").strip().splitlines() or [""])[0]
            user, sep, password = line.partition(":")
            if not sep or not user or not password:
                raise AuthError(f"{basic_file}: expected one line 'user:password'")
            basic = (user, password)
        return cls(token=token, basic=basic)

    def check(self, headers: Any, cookies: dict[str, str]) -> bool:
        """True when the request's Authorization header or cookie carries a credential."""
        header = str(headers.get("Authorization") or "")
        scheme, _, value = header.partition(" ")
        if self.token:
            if scheme.lower() == "bearer" and _same(value.strip(), self.token):
                return True
            if _same(cookies.get(_COOKIE, ""), self.token):
                return True
        if self.basic is not None and scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value.strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return _same(user, self.basic[0]) & _same(password, self.basic[1])
        return False


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class ChangeWatch:
    """Notices commits to the store by other connections (its change counter).

    One thread polls every ``interval_s`` and bumps :attr:`version`;
    server-sent-event handlers wait on :meth:`wait`.
    """

    def __init__(self, path: str, interval_s: float = 0.5) -> None:
        self.path = path
        self.interval_s = interval_s
        self.version = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dashboard-watch", daemon=True)

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop polling and wake every waiter."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(5)

    @property
    def stopped(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stop.is_set()

    def wait(self, seen: int, timeout: float) -> int:
        """Block until the version differs from ``seen`` (or timeout); the version."""
        with self._cond:
            self._cond.wait_for(lambda: self.version != seen or self._stop.is_set(), timeout)
            return self.version

    def _run(self) -> None:
        store = queries.ReadOnlyStore(self.path)
        last = None
        try:
            while not self._stop.wait(self.interval_s):
                try:
                    now = store.change_counter()
                except Exception:  # a failed poll is retried; the watch must not die
                    log.exception("cannot poll %s", self.path)
                    continue
                if now != last:
                    last = now
                    with self._cond:
                        self.version += 1
                        self._cond.notify_all()
        finally:
            store.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    dashboard: DashboardServer

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)


class DashboardServer:
    """The web dashboard of one monitor store.

    Parameters
    ----------
    store_path : str or Path
        The monitor's SQLite file (must exist).
    host, port : str, int
        Where to listen (port 0: any free port, see :attr:`url`).
    auth : AuthConfig
        Credentials; required unless ``host`` is a loopback address.
    offline_after_s : float
        Heartbeat timeout of the gateway state. [s]
    clock : callable
        Wall-clock epoch seconds (gateway state, "ago" columns).

    Raises
    ------
    AuthError
        When bound to a non-loopback address without credentials.
    FileNotFoundError
        When the store does not exist.
    """

    def __init__(self, store_path: str | Path, *, host: str = "127.0.0.1", port: int = 8080,
                 auth: AuthConfig = AuthConfig(), offline_after_s: float = 180.0,
                 clock: Callable[[], float] = time.time) -> None:
        if not is_loopback(host) and not auth.enabled:
            raise AuthError(f"refusing to serve on {host} without a token or basic auth"
                            " (--token-file / --basic-auth-file); loopback needs none")
        self.store_path = str(store_path)
        queries.ReadOnlyStore(self.store_path).close()  # exists and opens
        self.auth = auth
        self.offline_after_s = offline_after_s
        self.clock = clock
        self.static = resources.files("trainer.monitor.dashboard") / "static"
        self.collector = FleetCollector(self.open_store, offline_after_s=offline_after_s)
        self.watch = ChangeWatch(self.store_path)
        self.httpd = _Server((host, port), _Handler)
        self.httpd.dashboard = self
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://host:port/`` (a wildcard bind shows as 127.0.0.1)."""
        host = str(self.httpd.server_address[0])
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    @property
    def requires_auth(self) -> bool:
        """True when requests must carry a credential."""
        return self.auth.enabled

    def open_store(self) -> queries.ReadOnlyStore:
        """A fresh read-only connection to the store."""
        return queries.ReadOnlyStore(self.store_path)

    def start(self) -> None:
        """Serve in a background thread."""
        self.watch.start()
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="dashboard",
                                        daemon=True)
        self._thread.start()

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`stop` is called from another."""
        self.watch.start()
        self.httpd.serve_forever()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.watch.stop()
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)


def _json_default(x: Any) -> Any:
    raise TypeError(f"not JSON: {type(x).__name__}")


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    return x


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "helio-monitor"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    # ------------------------------------------------------------ plumbing

    @property
    def dash(self) -> DashboardServer:
        return self.server.dashboard

    def _cookies(self) -> dict[str, str]:
        out = {}
        for part in str(self.headers.get("Cookie") or "").split(";"):
            k, _, v = part.strip().partition("=")
            if k:
                out[k] = v
        return out

    def _send(self, status: int, body: bytes, ctype: str, *,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", _CSP)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, value: Any, status: int = 200) -> None:
        body = json.dumps(_clean(value), default=_json_default, allow_nan=False,
                          separators=(",", ":")).encode()
        self._send(status, body, "application/json")

    def _error(self, status: HTTPStatus, message: str) -> None:
        self._json({"error": message}, int(status))

    def _authorised(self, query: dict[str, list[str]]) -> bool:
        auth = self.dash.auth
        if not auth.enabled:
            return True
        if auth.check(self.headers, self._cookies()):
            return True
        token = (query.get("token") or [""])[0]
        if auth.token and token and _same(token, auth.token):
            # one visit with ?token=...: remember it in a cookie and drop it from the URL
            path = urlsplit(self.path).path
            self._send(HTTPStatus.SEE_OTHER, b"", "text/plain", headers={
                "Location": path,
                "Set-Cookie": f"{_COOKIE}={auth.token}; HttpOnly; SameSite=Strict; Path=/",
            })
            return False
        challenge = {"WWW-Authenticate": 'Basic realm="helio-monitor", charset="UTF-8"'} \
            if auth.basic is not None else {"WWW-Authenticate": 'Bearer realm="helio-monitor"'}
        self._send(HTTPStatus.UNAUTHORIZED, b"authentication required\n",
                   "text/plain; charset=utf-8", headers=challenge)
        return False

    # ------------------------------------------------------------- routing

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if not self._authorised(query):
            return
        path = url.path
        try:
            if path in ("/", "/index.html"):
                self._static("index.html")
            elif path.startswith("/static/"):
                self._static(path[len("/static/"):])
            elif path == "/metrics":
                self._send(200, render(self.dash.collector), CONTENT_TYPE)
            elif path == "/api/events":
                self._events()
            elif path.startswith("/api/"):
                self._api(path[len("/api/"):], query)
            else:
                self._error(HTTPStatus.NOT_FOUND, f"no page {path}")
        except (BrokenPipeError, ConnectionResetError):
            pass
        except sqlite3.OperationalError as exc:  # locked for too long
            log.warning("store busy for %s: %s", path, exc)
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, f"store busy: {exc}")

    def _static(self, name: str) -> None:
        if "/" in name or name.startswith(".") or Path(name).suffix not in _TYPES:
            self._error(HTTPStatus.NOT_FOUND, f"no file {name}")
            return
        item = self.dash.static / name
        if not item.is_file():
            self._error(HTTPStatus.NOT_FOUND, f"no file {name}")
            return
        self._send(200, item.read_bytes(), _TYPES[Path(name).suffix])

    def _api(self, route: str, query: dict[str, list[str]]) -> None:
        now = self.dash.clock()
        store = self.dash.open_store()
        try:
            if route == "fleet":
                self._json({"now": now, "gateways": queries.fleet(
                    store, now=now, offline_after_s=self.dash.offline_after_s)})
            elif route == "models":
                self._json({"now": now, **queries.models(store)})
            elif route.startswith("site/"):
                site = unquote(route[len("site/"):])
                try:
                    days = float((query.get("days") or ["2"])[0])
                except ValueError:
                    days = math.nan
                if not math.isfinite(days) or not 0 < days <= 60:
                    self._error(HTTPStatus.BAD_REQUEST, "days must be in (0, 60]")
                    return
                page = queries.site_page(store, site, days=days, now=now)
                if page is None:
                    self._error(HTTPStatus.NOT_FOUND, f"unknown site {site!r}")
                    return
                self._json({"now": now, **page})
            else:
                self._error(HTTPStatus.NOT_FOUND, f"no API {route}")
        finally:
            store.close()

    def _events(self) -> None:
        """Server-sent events: ``change`` after every commit, a comment every 15 s."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        watch = self.dash.watch
        seen = watch.version
        self.wfile.write(b"retry: 3000\nevent: hello\ndata: %d\n\n" % seen)
        self.wfile.flush()
        while not watch.stopped:
            now = watch.wait(seen, 15.0)
            if watch.stopped:
                return
            chunk = b": keep-alive\n\n" if now == seen else b"event: change\ndata: %d\n\n" % now
            seen = now
            self.wfile.write(chunk)
            self.wfile.flush()
