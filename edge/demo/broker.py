"""The demo's fallback broker when mosquitto is absent: amqtt on a thread.

Responsible for: starting `amqtt <https://github.com/Yakifo/amqtt>`_ (a
maintained pure-Python MQTT 3.1.1 broker) on loopback, anonymous, on its own
thread and event loop, so ``make demo`` runs on a fresh machine without a
system broker; :meth:`EmbeddedBroker.start` returns the port.

Does NOT: aim at production use. The tests, CI and every deployment use
mosquitto; this exists only for the two-command start of the demo.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from edge.testkit.launchers import free_port

__all__ = ["EmbeddedBroker"]

log = logging.getLogger(__name__)


class EmbeddedBroker:
    """An amqtt broker on its own thread and event loop.

    Parameters
    ----------
    host : str
        Address to bind (loopback by default).
    port : int
        Port; 0 picks a free one (see :attr:`port` after :meth:`start`).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker: Any = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 10.0) -> int:
        """Start serving; returns the bound port.

        Raises
        ------
        RuntimeError
            When amqtt is not installed or the broker does not come up.
        """
        try:
            from amqtt.broker import Broker  # noqa: PLC0415 - optional, demo only
        except ImportError as exc:
            raise RuntimeError(
                "no MQTT broker for the demo: install mosquitto "
                "(apt-get install mosquitto) or amqtt (pip install amqtt)"
            ) from exc
        if not self.port:
            self.port = free_port(self.host)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
        self._loop = asyncio.new_event_loop()

        def main() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            try:
                self._broker = Broker(config, loop=self._loop)
                self._loop.run_until_complete(self._broker.start())
            except Exception as exc:
                self._error = exc
                self._ready.set()
                return
            self._ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=main, name="mqtt-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            raise RuntimeError(f"embedded broker did not start on {self.host}:{self.port}: "
                               f"{self._error or 'timeout'}")
        log.info("amqtt broker on %s:%d", self.host, self.port)
        return self.port

    def stop(self) -> None:
        """Shut the broker down and stop the thread."""
        loop, broker = self._loop, self._broker
        if loop is not None and loop.is_running():
            if broker is not None:
                try:
                    asyncio.run_coroutine_threadsafe(broker.shutdown(), loop).result(5.0)
                except Exception as exc:
                    log.debug("amqtt shutdown: %s", exc)
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5.0)
