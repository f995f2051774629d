"""The site schema: where the system is and what it is built of.

Responsible for: :class:`Site` (location, PV array, battery, inverter,
household load) as frozen dataclasses, loaded strictly from a site file
(``configs/sites/*.toml``) by :func:`load_site`. Shared by the forecast
physics, the simulation and the trainer.

Does NOT: compute anything from the site (``edge.forecasting.solar`` does).
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

from firmware_bridge.config import ConfigError, check_id, from_mapping, load_toml

__all__ = ["ArrayConfig", "BatteryConfig", "InverterConfig", "LoadConfig", "Site",
           "SiteConfig", "load_site"]

# --------------------------------------------------------------------------
# the site
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class SiteConfig:
    """Where the system is.

    Attributes
    ----------
    id : str
        Site identifier used in MQTT topics (``[a-z0-9_-]``).
    latitude : float
        Latitude, north positive. [°]
    longitude : float
        Longitude, east positive. [°]
    altitude : float
        Height above sea level. [m]
    timezone : str
        IANA time zone of the site (reporting only; all data is UTC).
    linke_turbidity : tuple of float
        Twelve monthly Linke turbidity values, January first. The device
        needs them (:func:`load_site` with ``require_linke_turbidity``); the
        trainer fills an empty tuple from pvlib's climatology
        (``trainer.linke``). [-]
    name : str
        Human-readable name.
    """

    id: str
    latitude: float
    longitude: float
    altitude: float
    timezone: str
    linke_turbidity: tuple[float, ...] = ()
    name: str = ""

    def __post_init__(self) -> None:
        check_id(self.id)
        if not -90.0 <= self.latitude <= 90.0:
            raise ValueError(f"latitude {self.latitude} out of range [-90, 90]")
        if not -180.0 <= self.longitude <= 180.0:
            raise ValueError(f"longitude {self.longitude} out of range [-180, 180]")
        if self.linke_turbidity and len(self.linke_turbidity) != 12:
            raise ValueError("linke_turbidity needs 12 monthly values")


@dataclasses.dataclass(frozen=True, slots=True)
class ArrayConfig:
    """The PV array (PVWatts parameters).

    Attributes
    ----------
    dc_capacity : float
        Nameplate DC power at STC. [W]
    tilt : float
        Surface tilt from horizontal. [°]
    azimuth : float
        Surface azimuth, clockwise from north (180 = facing south). [°]
    gamma_pdc : float
        Power temperature coefficient. [1/C]
    losses_percent : float
        PVWatts system losses (soiling, wiring, mismatch). [%]
    ac_capacity : float
        Power limit of the charge controller / PV inverter: output is clipped
        here. [W]
    inverter_efficiency : float
        Nominal conversion efficiency. [-]
    """

    dc_capacity: float
    tilt: float
    azimuth: float
    gamma_pdc: float = -0.004
    losses_percent: float = 14.0
    ac_capacity: float = 0.0
    inverter_efficiency: float = 0.96

    def __post_init__(self) -> None:
        if self.dc_capacity <= 0:
            raise ValueError("dc_capacity must be positive")
        if not 0.0 <= self.tilt <= 90.0:
            raise ValueError("tilt must be within [0, 90]")
        if not 0.0 <= self.azimuth < 360.0:
            raise ValueError("azimuth must be within [0, 360)")

    @property
    def ac_limit(self) -> float:
        """Effective AC/output limit, the DC capacity when not set. [W]"""
        return self.ac_capacity if self.ac_capacity > 0 else self.dc_capacity


@dataclasses.dataclass(frozen=True, slots=True)
class BatteryConfig:
    """The battery bank.

    Attributes
    ----------
    nominal_voltage : float
        [V]
    capacity : float
        Capacity at the 20 h rate. [Ah]
    chemistry : str
        ``lead_acid`` or ``lifepo4``.
    absorption_voltage, float_voltage : float
        Charge set points for the whole bank. [V]
    """

    nominal_voltage: float
    capacity: float
    chemistry: typing.Literal["lead_acid", "lifepo4"] = "lead_acid"
    absorption_voltage: float = 57.6
    float_voltage: float = 54.0


@dataclasses.dataclass(frozen=True, slots=True)
class InverterConfig:
    """The off-grid / hybrid inverter.

    Attributes
    ----------
    rated_apparent_power : float
        [VA]
    rated_power : float
        [W]
    output_voltage : float
        Nominal AC output voltage. [V]
    output_frequency : float
        Nominal AC output frequency. [Hz]
    """

    rated_apparent_power: float
    rated_power: float
    output_voltage: float = 230.0
    output_frequency: float = 50.0


@dataclasses.dataclass(frozen=True, slots=True)
class LoadConfig:
    """Household load served by the inverter (used by simulators).

    Attributes
    ----------
    daily_energy : float
        Mean energy drawn per day. [Wh]
    base_power : float
        Always-on load (fridge, router). [W]
    """

    daily_energy: float = 6000.0
    base_power: float = 120.0


@dataclasses.dataclass(frozen=True, slots=True)
class Site:
    """A whole site file: location, array, battery, inverter, load."""

    site: SiteConfig
    array: ArrayConfig
    battery: BatteryConfig
    inverter: InverterConfig
    load: LoadConfig = LoadConfig()


def load_site(path: str | Path, *, require_linke_turbidity: bool = False) -> Site:
    """Load and validate a site file such as ``configs/sites/abuja.toml``.

    Parameters
    ----------
    path : str or Path
    require_linke_turbidity : bool
        The device's form: the clear-sky model needs the twelve monthly
        values, and the device carries no climatology to look them up in.

    Raises
    ------
    ConfigError
        Naming the file and key on any problem.
    """
    site = from_mapping(Site, load_toml(path), path=path)
    if require_linke_turbidity and not site.site.linke_turbidity:
        raise ConfigError(path, "site.linke_turbidity",
                          "missing: the forecast's clear-sky model needs 12 monthly Linke "
                          "turbidity values, January first (e.g. from the SoDa/Remund "
                          "climatology; helio-train's trainer.linke.monthly_linke_turbidity)")
    return site
