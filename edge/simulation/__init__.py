"""The site simulation: a physical model of an off-grid site in simulated time.

Holds: the one sky model (``sky``, with its cloud process ``clouds``), the
battery (``battery``), the household load (``loadprofile``) and the
``plant`` that ties them to the PV array through the forecast's own PV model
chain (:mod:`edge.forecasting.forecast`). A :class:`~edge.simulation.plant.Plant`
drives the byte-level device simulators of :mod:`firmware_bridge.simulators`
through their small :class:`~firmware_bridge.simulators.source.PlantSource`
interface; ``helio-train synth`` uses the sky model for training data.

Laptop and CI side: the device wheel does not carry this package.
Must not import: ``trainer``, TensorFlow, ``edge.runtime``, ``edge.deploy``,
``edge.demo``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.forecasting.site import Site
    from edge.simulation.plant import Plant
    from firmware_bridge.simulators.runner import SimulatorHandle

__all__ = ["simulate_device"]


def simulate_device(
    protocol: str,
    *,
    site: Site | str | Path,
    plant: Plant | None = None,
    speed: float = 1.0,
    seed: int = 0,
    faults: Iterable[str] | Mapping[str, float] = (),
    listen: str | tuple[str, int] | None = None,
    link: str | Path | None = None,
    time_scale: float = 1.0,
    profile: str | None = None,
) -> SimulatorHandle:
    """Serve a simulated device of ``site`` (a new plant unless one is shared).

    Parameters
    ----------
    protocol : str
        ``vedirect``, ``pi30`` or ``epever``.
    site : Site or path
        The site (or its TOML file) the plant models.
    plant : Plant, optional
        Share one plant between a site's simulators so they agree; default a
        new :class:`~edge.simulation.plant.Plant` of ``site``.
    speed : float
        Simulated seconds per real second of a new plant.
    seed : int
        Seed of a new plant (sky, load) and of the faults.
    faults, listen, link, time_scale, profile
        As :func:`firmware_bridge.simulators.runner.start_simulator`.

    Returns
    -------
    SimulatorHandle
        Serving already; call ``stop()`` when done.
    """
    from edge.forecasting.site import Site, load_site  # noqa: PLC0415 - keep import light
    from edge.simulation.plant import Plant  # noqa: PLC0415
    from firmware_bridge.simulators.runner import start_simulator  # noqa: PLC0415

    if plant is None:
        the_site = site if isinstance(site, Site) else load_site(site)
        plant = Plant(the_site, seed=seed, speed=speed)
    return start_simulator(protocol, plant=plant, faults=faults, listen=listen, seed=seed,
                           link=link, time_scale=time_scale, profile=profile)
