"""``start_simulator``: a protocol simulator for a site, served in a thread.

Responsible for: wiring a :class:`~.plant.PlantSource` (shared by every simulator
of a site), a protocol session factory, the active faults and an endpoint
(pty or TCP) into a running :class:`SimulatorHandle` that tests, the demo and
``helio-edge simulate`` control (``url``, ``stop``, ``unplug``, ``replug``,
``set_faults``).

Does NOT: block (serving runs in a daemon thread) or parse command lines.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from firmware_bridge.protocols import PROTOCOLS
from firmware_bridge.simulators.endpoints import (
    HidEndpoint,
    PtyEndpoint,
    Server,
    Session,
    TcpEndpoint,
)
from firmware_bridge.simulators.faults import DISAPPEAR_DOWN_S, DISAPPEAR_PERIOD_S, Faults
from firmware_bridge.simulators.source import PlantSource

__all__ = ["SIMULATED_PROTOCOLS", "SimulatorHandle", "parse_listen", "start_simulator"]

#: every protocol with a simulator (each registry entry names its session factory)
SIMULATED_PROTOCOLS: tuple[str, ...] = tuple(PROTOCOLS)


def parse_listen(listen: str) -> tuple[str, int]:
    """``"127.0.0.1:5000"`` -> ``("127.0.0.1", 5000)``; ``":0"`` binds loopback, any port.

    Raises
    ------
    ValueError
        Not ``HOST:PORT`` with a port in [0, 65535].
    """
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--listen wants HOST:PORT, got {listen!r}")
    return host or "127.0.0.1", int(port)


class SimulatorHandle:
    """A running simulator.

    Attributes
    ----------
    protocol : str
        ``vedirect``, ``pi30`` or ``epever``.
    url : str
        What a device opens: the pty's stable link path, or ``socket://host:port``.
    plant : PlantSource
        The site model behind it (share it with a second simulator).
    faults : Faults
        The active faults (change with :meth:`set_faults`).
    """

    def __init__(self, protocol: str, server: Server, plant: PlantSource, faults: Faults) -> None:
        self.protocol = protocol
        self.plant = plant
        self.faults = faults
        self._server = server

    @property
    def url(self) -> str:
        return self._server.endpoint.url

    @property
    def pty_path(self) -> str | None:
        """The current ``/dev/pts/N`` behind :attr:`url` (None on TCP or unplugged)."""
        endpoint = self._server.endpoint
        return endpoint.pty_path if isinstance(endpoint, PtyEndpoint) else None

    @property
    def plugged(self) -> bool:
        return self._server.plugged

    def unplug(self) -> None:
        """The device vanishes: the pty hangs up and its path goes; TCP drops and refuses."""
        self._server.unplug()

    def replug(self) -> None:
        """The device comes back at the same :attr:`url` (a fresh power-up)."""
        self._server.replug()

    def set_faults(self, specs: Iterable[str] | Mapping[str, float]) -> None:
        """Switch faults (``name[:rate]``) on; an empty list switches all off."""
        self.faults.set(specs)

    def stop(self) -> None:
        """Stop serving and remove the pty link."""
        self._server.stop()

    def __enter__(self) -> SimulatorHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _session_factory(
    protocol: str, plant: PlantSource, faults: Faults, *, time_scale: float, profile: str | None
) -> Callable[[], Session]:
    """The protocol's session maker, through the factory its spec names."""
    spec = PROTOCOLS.get(protocol)
    if spec is None:
        raise ValueError(f"no simulator for protocol {protocol!r} (have {SIMULATED_PROTOCOLS})")
    make: Callable[[], Session] = spec.session_factory()(
        spec, plant, faults, time_scale=time_scale, profile=profile)
    return make


def _disappear_ticker(
    faults: Faults, server_ref: list[Server], time_scale: float
) -> Callable[[float], None]:
    """Unplug for DISAPPEAR_DOWN_S out of every DISAPPEAR_PERIOD_S while ``disappear`` is on."""
    start = time.monotonic()
    period, down = DISAPPEAR_PERIOD_S * time_scale, DISAPPEAR_DOWN_S * time_scale

    def tick(now: float) -> None:
        if not faults.on("disappear") or not server_ref:
            return
        phase = (now - start) % period
        server = server_ref[0]
        gone = phase >= period - down
        if gone and server.plugged:
            server.endpoint.down()
            server.plugged = False
        elif not gone and not server.plugged:
            server.endpoint.up()
            server.plugged = True

    return tick


def start_simulator(
    protocol: str,
    *,
    plant: PlantSource,
    faults: Iterable[str] | Mapping[str, float] = (),
    listen: str | tuple[str, int] | None = None,
    seed: int = 0,
    link: str | Path | None = None,
    time_scale: float = 1.0,
    profile: str | None = None,
    usb: bool = False,
) -> SimulatorHandle:
    """Start a simulated device and serve it in a daemon thread.

    Parameters
    ----------
    protocol : str
        ``vedirect``, ``pi30`` or ``epever``.
    plant : PlantSource
        The site the device sits in (:class:`edge.simulation.Plant`); share
        one between a site's simulators so they agree.
    faults : iterable of str or mapping
        Faults to switch on (``name[:rate]``, see :mod:`.faults`).
    listen : str or (host, port), optional
        Serve on TCP (``socket://host:port``) instead of a pseudo-terminal.
    seed : int
        Seed of the faults.
    link : path, optional
        Stable path of the pty link (default: a private temporary directory).
    time_scale : float
        Multiplies protocol timings (block interval, reply latency, the
        disappear cycle); tests use ~0.1.
    profile : str, optional
        Firmware profile: VE.Direct ``smartsolar``/``bluesolar``/``bmv`` (a BMV-702
        battery monitor); PI30 ``pi30``/``max``/``parallel2``/``parallel3``.
    usb : bool
        Serve as a USB-HID node stand-in with 8-byte reports (``hid://<link>``;
        an Axpert on its USB port) instead of a pseudo-terminal.

    Returns
    -------
    SimulatorHandle
        Serving already; call :meth:`SimulatorHandle.stop` when done.
    """
    active = Faults(faults, seed=seed)
    new_session = _session_factory(protocol, plant, active, time_scale=time_scale, profile=profile)
    endpoint: PtyEndpoint | TcpEndpoint | HidEndpoint
    if usb:
        endpoint = HidEndpoint(link)
    elif listen is None:
        endpoint = PtyEndpoint(link)
    else:
        host, port = parse_listen(listen) if isinstance(listen, str) else listen
        endpoint = TcpEndpoint(host, port)
    server_ref: list[Server] = []
    server = Server(endpoint, new_session, tick=_disappear_ticker(active, server_ref, time_scale))
    server_ref.append(server)
    server.start()
    return SimulatorHandle(protocol, server, plant, active)
