"""PI30 setting commands as data: the whitelist, range checks and ACK/NAK, sans-IO.

Responsible for: :data:`SETTERS` (the only setting commands the bridge sends:
``POP`` output source priority, ``PCP`` charger source priority, ``PBCV``
back-to-grid voltage, ``PBDV`` back-to-battery voltage, ``MUCHGC`` utility
charge current), each with its value format, its range taken from the unit's
own QPIRI ratings (:class:`SettingRatings`) and the QPIRI field that reads it
back; :func:`build_setting` (name + value + ratings -> request bytes, or a
:class:`SettingError` before anything is sent) and :func:`parse_setting`
(request text -> setter and value, for the simulator).

Does NOT: send, wait or read back (the driver does), or decide when to write.

Sources: PI30 customer protocol 2015-09-24 §3.5 (MUCHGC, choices from
QMUCHGCR §2.17), §3.8-3.11 (POP, PBCV, PBDV, PCP with the per-nominal-voltage
value lists); PI30MAX protocol 2021-02-17 §3.6 (MUCHGC<mnn>). ``(NAK`` for
``POP02`` on some firmware: syssi/esphome-pipsolar #3, #27; for ``MUCHGC`` on
a PIP5048MG: Solar2MQTT-ESP8266 #79.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from firmware_bridge.errors import ProtocolError
from firmware_bridge.protocols.base import Values
from firmware_bridge.protocols.pi30.framer import build_request
from firmware_bridge.readings import Value

__all__ = [
    "MUCHGC_FALLBACK",
    "SETTERS",
    "Setter",
    "SettingError",
    "SettingRatings",
    "build_setting",
    "parse_current_choices",
    "parse_setting",
    "setting_ratings",
]


class SettingError(ProtocolError):
    """A setting the bridge will not send: not on the whitelist, or out of range."""


@dataclass(frozen=True, slots=True)
class SettingRatings:
    """What bounds the settings of one unit, from its own QPIRI (and QMUCHGCR).

    Attributes
    ----------
    battery_nominal_voltage : float
        QPIRI rated battery voltage: 12, 24 or 48 [V].
    utility_charge_currents : tuple of int
        Allowed ``MUCHGC`` values [A]: the unit's QMUCHGCR list when it answers,
        else :data:`MUCHGC_FALLBACK`.
    """

    battery_nominal_voltage: float
    utility_charge_currents: tuple[int, ...]


#: ``MUCHGC`` choices when the unit does not answer QMUCHGCR [A]: the smallest
#: set every 1-5 kVA model we know offers; a unit's own list replaces it.
MUCHGC_FALLBACK: tuple[int, ...] = (2, 10, 20, 30)

#: PBCV choices per 12 V of nominal battery voltage (§3.9: 12 V unit list) [V];
#: 24 V and 48 V units use the lists below (the document's own, not scaled).
_PBCV: Mapping[int, tuple[float, ...]] = MappingProxyType({
    12: (11.0, 11.3, 11.5, 11.8, 12.0, 12.3, 12.5, 12.8),
    24: (22.0, 22.5, 23.0, 23.5, 24.0, 24.5, 25.0, 25.5),
    48: (44.0, 45.0, 46.0, 47.0, 48.0, 49.0, 50.0, 51.0),
})
#: PBDV choices (§3.10); 0.0 means "battery full" (charging in float).
_PBDV: Mapping[int, tuple[float, ...]] = MappingProxyType({
    12: (0.0, 12.0, 12.3, 12.5, 12.8, 13.0, 13.3, 13.5, 13.8, 14.0, 14.3, 14.5),
    24: (0.0, *(24.0 + 0.5 * k for k in range(11))),
    48: (0.0, *(48.0 + k for k in range(11))),
})


def setting_ratings(qpiri: Mapping[str, Value], utility_currents: tuple[int, ...] = ()
                    ) -> SettingRatings:
    """The :class:`SettingRatings` of a unit from its decoded QPIRI values.

    Raises
    ------
    SettingError
        QPIRI lacks ``rated_battery_voltage`` or it is not 12, 24 or 48 V.
    """
    nominal = qpiri.get("rated_battery_voltage")
    if not isinstance(nominal, int | float) or round(float(nominal)) not in _PBCV:
        raise SettingError(f"QPIRI rated battery voltage {nominal!r} is not 12, 24 or 48 V")
    return SettingRatings(float(nominal), tuple(utility_currents) or MUCHGC_FALLBACK)


@dataclass(frozen=True, slots=True)
class Setter:
    """One whitelisted setting command.

    Attributes
    ----------
    name : str
        The QPIRI field it sets, which is also the name callers use
        (``output_source_priority``).
    prefix : str
        Command letters (``POP``).
    codes : Mapping[str, int]
        Enum name -> code for enum settings (empty for numbers).
    fmt : str
        Format of the number in the command (``02d``: ``POP02``; ``04.1f``: ``PBCV48.0``).
    choices : Callable
        Ratings -> the allowed numbers (enum settings: all codes).
    unit : str
        Unit of the value, for messages (``V``, ``A``, ``""``).
    """

    name: str
    prefix: str
    fmt: str
    codes: Mapping[str, int]
    choices: Callable[[SettingRatings], tuple[float, ...]]
    unit: str = ""

    def command(self, value: Value, ratings: SettingRatings) -> str:
        """The command text for ``value`` (no CRC); raises :class:`SettingError`."""
        if self.codes:
            if value not in self.codes:
                raise SettingError(f"{self.name}: {value!r} is not one of {sorted(self.codes)}")
            number: float = self.codes[str(value)]
        else:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SettingError(f"{self.name}: {value!r} is not a number [{self.unit}]")
            number = float(value)
            allowed = self.choices(ratings)
            if not any(abs(number - c) < 1e-6 for c in allowed):
                raise SettingError(
                    f"{self.name}: {value} {self.unit} is not allowed on this "
                    f"{ratings.battery_nominal_voltage:g} V unit; allowed: "
                    f"{', '.join(f'{c:g}' for c in allowed)}")
        text = format(round(number) if self.fmt.endswith("d") else number, self.fmt)
        return self.prefix + text

    def value_of(self, text: str) -> Value:
        """The value in command text after :attr:`prefix` (simulator side)."""
        number = float(text) if "." in text else int(text)
        if self.codes:
            for name, code in self.codes.items():
                if code == number:
                    return name
            raise SettingError(f"{self.prefix}{text}: unknown code")
        return number

    def read_back(self, qpiri: Values) -> Value | None:
        """This setting as the unit reports it in QPIRI (None when absent)."""
        return qpiri.get(self.name)


def _nominal(ratings: SettingRatings) -> int:
    return round(ratings.battery_nominal_voltage)


#: The whitelist: QPIRI field name -> setter. Nothing else is ever sent.
SETTERS: Mapping[str, Setter] = MappingProxyType({s.name: s for s in (
    Setter("output_source_priority", "POP", "02d",
           MappingProxyType({"utility_first": 0, "solar_first": 1, "sbu_first": 2}),
           lambda r: (0, 1, 2)),
    Setter("charger_source_priority", "PCP", "02d",
           MappingProxyType({"utility_first": 0, "solar_first": 1, "solar_and_utility": 2,
                             "solar_only": 3}),
           lambda r: (0, 1, 2, 3)),
    Setter("battery_recharge_voltage", "PBCV", "04.1f", MappingProxyType({}),
           lambda r: _PBCV[_nominal(r)], "V"),
    Setter("battery_redischarge_voltage", "PBDV", "04.1f", MappingProxyType({}),
           lambda r: _PBDV[_nominal(r)], "V"),
    Setter("max_ac_charge_current", "MUCHGC", "03d", MappingProxyType({}),
           lambda r: tuple(float(c) for c in r.utility_charge_currents), "A"),
)})


def build_setting(name: str, value: Value, ratings: SettingRatings | None) -> bytes:
    """Request bytes (command + CRC + CR) that set ``name`` to ``value``.

    Parameters
    ----------
    name : str
        A key of :data:`SETTERS` (the QPIRI field that reads it back).
    value : Value
        Enum name (priorities) or number: back-to-grid / back-to-battery
        voltage [V], utility charge current [A].
    ratings : SettingRatings
        The unit's own ratings (:func:`setting_ratings`); None only to check
        the name (every value then fails its range check).

    Raises
    ------
    SettingError
        ``name`` is not on the whitelist, or ``value`` is not allowed on this unit.
    """
    setter = SETTERS.get(name)
    if setter is None:
        raise SettingError(f"{name!r} is not a whitelisted PI30 setting ({sorted(SETTERS)})")
    if ratings is None:
        raise SettingError(f"{name}: the unit's ratings (QPIRI) are not known")
    return build_request(setter.command(value, ratings))


def parse_setting(command: str) -> tuple[Setter, Value] | None:
    """The setter and value of a request's text (``POP02``); None if not a whitelisted setter.

    Raises
    ------
    SettingError
        The prefix is a setter's but the value does not parse.
    """
    for setter in SETTERS.values():
        if command.startswith(setter.prefix) and command != setter.prefix:
            try:
                return setter, setter.value_of(command[len(setter.prefix):])
            except ValueError as exc:
                raise SettingError(f"{command}: bad value") from exc
    return None


def parse_current_choices(payload: str) -> tuple[int, ...]:
    """The QMUCHGCR reply (``002 010 020 030``) as allowed ``MUCHGC`` values [A].

    Raises
    ------
    ProtocolError
        A field is not a whole number, or there is none.
    """
    parts = payload.split()
    if not parts or not all(p.isdigit() for p in parts):
        raise ProtocolError(f"QMUCHGCR: expected whole numbers [A], got {payload!r}")
    return tuple(int(p) for p in parts)
