"""Configuration: frozen dataclasses loaded from TOML, strictly.

Responsible for: turning a TOML file into frozen, typed dataclasses and
rejecting anything unexpected (unknown keys, wrong types, missing required
keys) with a :class:`ConfigError` that names the file and the dotted key.

Does NOT: read environment variables, hold module-level state, or know what
the values mean beyond their types (validation of ranges lives in
``__post_init__`` of each dataclass).
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "AgentConfig",
    "AgentSection",
    "ArrayConfig",
    "BatteryConfig",
    "ConfigError",
    "DeviceConfig",
    "DiscoveryConfig",
    "InverterConfig",
    "LoadConfig",
    "ModelConfig",
    "MqttConfig",
    "MqttCredentials",
    "OutboxConfig",
    "Site",
    "SiteConfig",
    "from_mapping",
    "load_agent_config",
    "load_credentials",
    "load_site",
    "load_toml",
]

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration file is unreadable or does not match its schema.

    Parameters
    ----------
    path : str
        The file the error is in.
    key : str
        Dotted key path of the offending value (``""`` for the whole file).
    message : str
        What is wrong.
    """

    def __init__(self, path: str | Path, key: str, message: str) -> None:
        self.path = str(path)
        self.key = key
        self.message = message
        where = f"{self.path}: {key}: " if key else f"{self.path}: "
        super().__init__(where + message)


# --------------------------------------------------------------------------
# generic strict loader
# --------------------------------------------------------------------------


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file, raising :class:`ConfigError` naming the file."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(p, "", "file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(p, "", f"invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(p, "", f"cannot read: {exc}") from None


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp)


def _convert(value: Any, tp: Any, path: str | Path, key: str) -> Any:
    """Check ``value`` against annotation ``tp`` and convert where lossless."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for alt in args:
            if alt is type(None):
                if value is None:
                    return None
                continue
            try:
                return _convert(value, alt, path, key)
            except ConfigError as exc:
                errors.append(exc.message)
        raise ConfigError(path, key, "; ".join(errors) or "value not allowed")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(path, key, f"must be one of {list(args)!r}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, Mapping):
            raise ConfigError(path, key, f"expected a table, got {type(value).__name__}")
        return from_mapping(tp, value, path=path, prefix=key)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(path, key, f"expected an array, got {type(value).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(
                _convert(v, args[0], path, f"{key}[{i}]") for i, v in enumerate(value)
            )
        if len(args) != len(value):
            raise ConfigError(path, key, f"expected {len(args)} items, got {len(value)}")
        return tuple(
            _convert(v, a, path, f"{key}[{i}]")
            for i, (v, a) in enumerate(zip(args, value, strict=True))
        )
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(path, key, f"expected a number, got {type(value).__name__}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, key, f"expected an integer, got {type(value).__name__}")
        return value
    if tp in (str, bool):
        if not isinstance(value, tp):
            raise ConfigError(
                path, key, f"expected {_type_name(tp)}, got {type(value).__name__}"
            )
        return value
    raise ConfigError(path, key, f"unsupported field type {_type_name(tp)}")


def from_mapping(
    cls: type[T], data: Mapping[str, Any], *, path: str | Path = "<config>", prefix: str = ""
) -> T:
    """Build frozen dataclass ``cls`` from ``data``, rejecting unknown keys.

    Parameters
    ----------
    cls : type
        A dataclass type whose field annotations drive the checks.
    data : mapping
        Parsed TOML table.
    path : str or Path
        File name used in error messages.
    prefix : str
        Dotted key of ``data`` within the file, for error messages.

    Raises
    ------
    ConfigError
        On an unknown key, a missing required key, a wrong type, or a value
        that the dataclass's ``__post_init__`` rejects with ``ValueError``.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    dotted = (prefix + ".") if prefix else ""
    unknown = sorted(set(data) - set(fields))
    if unknown:
        allowed = ", ".join(sorted(fields))
        raise ConfigError(path, dotted + unknown[0], f"unknown key (allowed: {allowed})")
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        if name not in data:
            required = (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            )
            if required:
                raise ConfigError(path, dotted + name, "required key is missing")
            continue
        kwargs[name] = _convert(data[name], hints[name], path, dotted + name)
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise ConfigError(path, prefix, str(exc)) from None


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
        Latitude, north positive. [degrees]
    longitude : float
        Longitude, east positive. [degrees]
    altitude : float
        Height above sea level. [m]
    timezone : str
        IANA time zone of the site (reporting only; all data is UTC).
    linke_turbidity : tuple of float
        Twelve monthly Linke turbidity values, January first. Empty means
        look them up in pvlib's climatology. [unitless]
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
        if not self.id or not all(c.isalnum() or c in "-_" for c in self.id):
            raise ValueError(f"id {self.id!r} must be non-empty [A-Za-z0-9_-]")
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
        Surface tilt from horizontal. [degrees]
    azimuth : float
        Surface azimuth, clockwise from north (180 = facing south). [degrees]
    gamma_pdc : float
        Power temperature coefficient. [1/C]
    losses_percent : float
        PVWatts system losses (soiling, wiring, mismatch). [%]
    ac_capacity : float
        Power limit of the charge controller / PV inverter: output is clipped
        here. [W]
    inverter_efficiency : float
        Nominal conversion efficiency. [unitless]
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


def load_site(path: str | Path) -> Site:
    """Load and validate a site file such as ``configs/sites/abuja.toml``.

    Raises
    ------
    ConfigError
        Naming the file and key on any problem.
    """
    return from_mapping(Site, load_toml(path), path=path)


# --------------------------------------------------------------------------
# a serial device entry
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceConfig:
    """One serial device to poll.

    Attributes
    ----------
    id : str
        Device identifier used in readings and topics (``[a-z0-9_-]``).
    protocol : str
        A key of ``firmware_bridge.protocols.PROTOCOLS``.
    port : str
        pyserial URL: ``/dev/ttyUSB0``, ``/dev/serial/by-id/...``,
        ``socket://host:port``, ``loop://``.
    poll_interval : float
        Seconds between polls (streaming protocols: between read
        windows). [s]
    baudrate : int
        0 means the protocol's default.
    timeout : float
        Reply timeout per request. [s]
    """

    id: str
    protocol: str
    port: str
    poll_interval: float = 1.0
    baudrate: int = 0
    timeout: float = 2.0

    def __post_init__(self) -> None:
        if not self.id or not all(c.isalnum() or c in "-_" for c in self.id):
            raise ValueError(f"id {self.id!r} must be non-empty [A-Za-z0-9_-]")
        if self.poll_interval <= 0:
            raise ValueError("poll_interval must be positive")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")


# --------------------------------------------------------------------------
# the edge agent (helio-edge run / check)
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class AgentSection:
    """The ``[agent]`` table.

    Attributes
    ----------
    id : str
        The gateway's own device id in topics (``helio/<site>/<id>/status``).
    site : str
        Site file (``configs/sites/*.toml``); relative paths are resolved
        against the directory of the agent config file.
    state_dir : str
        Directory for the outbox database (systemd ``StateDirectory``).
    heartbeat_s : float
        Seconds between retained status republications. [s]
    stale_after_s : float
        A device whose last reading is older than this is stale. [s]
    watchdog_s : float
        Seconds between systemd watchdog pings when ``WATCHDOG_USEC`` is not
        set by systemd. [s]
    pv_device : str
        Device whose ``pv_power`` measures the array for the forecast's
        irradiance history; empty means the first device.
    """

    site: str
    id: str = "gateway"
    state_dir: str = "/var/lib/helio-edge"
    heartbeat_s: float = 60.0
    stale_after_s: float = 120.0
    watchdog_s: float = 10.0
    pv_device: str = ""

    def __post_init__(self) -> None:
        if not self.id or not all(c.isalnum() or c in "-_" for c in self.id):
            raise ValueError(f"id {self.id!r} must be non-empty [A-Za-z0-9_-]")
        if self.heartbeat_s <= 0 or self.stale_after_s <= 0 or self.watchdog_s <= 0:
            raise ValueError("heartbeat_s, stale_after_s and watchdog_s must be positive")


@dataclasses.dataclass(frozen=True, slots=True)
class MqttConfig:
    """The ``[mqtt]`` table. Credentials live in ``credentials_file``, never here.

    Attributes
    ----------
    host : str
        Broker host name or address.
    port : int
        Broker port (1883 plain, 8883 TLS).
    keepalive : int
        MQTT keep-alive. [s]
    client_id : str
        Empty means ``helio-<site>-<agent id>``.
    topic_prefix : str
        First topic level (``helio``).
    tls : bool
        Use TLS; ``ca_file`` empty means the system trust store.
    ca_file, cert_file, key_file : str
        CA bundle and optional client certificate and key (PEM).
    credentials_file : str
        TOML file with ``username`` and ``password`` (mode 0600); empty means
        anonymous.
    max_inflight : int
        Unacknowledged QoS 1 messages allowed at once.
    reconnect_min_s, reconnect_max_s : float
        Reconnect back-off bounds; each wait is jittered. [s]
    """

    host: str = "127.0.0.1"
    port: int = 1883
    keepalive: int = 60
    client_id: str = ""
    topic_prefix: str = "helio"
    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    credentials_file: str = ""
    max_inflight: int = 100
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 120.0

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} out of range 1..65535")
        if self.max_inflight < 1:
            raise ValueError("max_inflight must be at least 1")
        if not 0 < self.reconnect_min_s <= self.reconnect_max_s:
            raise ValueError("need 0 < reconnect_min_s <= reconnect_max_s")
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("cert_file and key_file go together")


@dataclasses.dataclass(frozen=True, slots=True)
class MqttCredentials:
    """The credentials file: ``username`` and ``password``."""

    username: str
    password: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class ModelConfig:
    """The ``[model]`` table.

    Attributes
    ----------
    bundle : str
        Bundle directory (manifest, model, signature).
    public_key : str
        Ed25519 public key (PEM) that must have signed the bundle.
    allow_unblessed : bool
        Accept a bundle whose manifest is not blessed (development only).
    """

    bundle: str
    public_key: str
    allow_unblessed: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class OutboxConfig:
    """The ``[outbox]`` table.

    Attributes
    ----------
    path : str
        SQLite file; empty means ``<state_dir>/outbox.sqlite``.
    max_messages : int
        Queue bound; the oldest messages are evicted (counted, reported)
        beyond it. The default holds about three days of two devices at
        1 Hz plus forecasts.
    synchronous : str
        SQLite ``synchronous``: ``full`` survives power loss with no lost
        commit; ``normal`` writes less (SD-card wear) but may lose the last
        commits on power loss (never corrupts).
    """

    path: str = ""
    max_messages: int = 600_000
    synchronous: typing.Literal["full", "normal"] = "full"

    def __post_init__(self) -> None:
        if self.max_messages < 10:
            raise ValueError("max_messages must be at least 10")


@dataclasses.dataclass(frozen=True, slots=True)
class DiscoveryConfig:
    """The ``[discovery]`` table (Home Assistant MQTT discovery).

    Attributes
    ----------
    enabled : bool
        Announce entities.
    prefix : str
        Discovery prefix (``homeassistant``); HA's birth topic is
        ``<prefix>/status``.
    """

    enabled: bool = True
    prefix: str = "homeassistant"


@dataclasses.dataclass(frozen=True, slots=True)
class RolloutConfig:
    """The ``[rollout]`` table: how a model received over MQTT is tried (issue #5).

    Attributes
    ----------
    shadow_s : float
        How long a new model runs in shadow before the decision (two diurnal
        cycles by default). [s]
    max_shadow_s : float
        Give up (roll back) when there is still too little evidence. [s]
    min_pairs : int
        Fewest scored daytime periods needed to decide.
    tolerance : float
        Promote when the new model's live RMSE <= (1 + tolerance) x the
        running model's. [-]
    """

    shadow_s: float = 2 * 86400.0
    max_shadow_s: float = 4 * 86400.0
    min_pairs: int = 24
    tolerance: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.shadow_s <= self.max_shadow_s:
            raise ValueError("need 0 <= shadow_s <= max_shadow_s")
        if self.min_pairs < 1 or self.tolerance < 0:
            raise ValueError("min_pairs must be >= 1 and tolerance >= 0")


@dataclasses.dataclass(frozen=True, slots=True)
class AgentConfig:
    """A whole agent config file (``/etc/helio-edge/config.toml``).

    Paths inside are absolute after :func:`load_agent_config`.
    """

    agent: AgentSection
    model: ModelConfig
    mqtt: MqttConfig = MqttConfig()
    outbox: OutboxConfig = OutboxConfig()
    discovery: DiscoveryConfig = DiscoveryConfig()
    devices: tuple[DeviceConfig, ...] = ()
    rollout: RolloutConfig = RolloutConfig()

    @property
    def outbox_path(self) -> str:
        """The outbox database file."""
        return self.outbox.path or str(Path(self.agent.state_dir) / "outbox.sqlite")


def _resolve(base: Path, value: str) -> str:
    if not value or "://" in value:
        return value
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def load_agent_config(path: str | Path) -> AgentConfig:
    """Load an agent config file, resolving relative paths against its directory.

    Raises
    ------
    ConfigError
        Naming the file and the dotted key on any problem (unknown key,
        wrong type, duplicate device id, bad value).
    """
    cfg = from_mapping(AgentConfig, load_toml(path), path=path)
    ids = [d.id for d in cfg.devices]
    for i, dev_id in enumerate(ids):
        if dev_id in ids[:i]:
            raise ConfigError(path, f"devices[{i}].id", f"duplicate device id {dev_id!r}")
        if dev_id == cfg.agent.id:
            raise ConfigError(path, f"devices[{i}].id", "must differ from agent.id")
    if cfg.agent.pv_device and cfg.agent.pv_device not in ids:
        raise ConfigError(path, "agent.pv_device", f"no device {cfg.agent.pv_device!r}")
    base = Path(path).resolve().parent
    r = _resolve
    return dataclasses.replace(
        cfg,
        agent=dataclasses.replace(
            cfg.agent, site=r(base, cfg.agent.site), state_dir=r(base, cfg.agent.state_dir)
        ),
        model=dataclasses.replace(
            cfg.model, bundle=r(base, cfg.model.bundle), public_key=r(base, cfg.model.public_key)
        ),
        mqtt=dataclasses.replace(
            cfg.mqtt,
            ca_file=r(base, cfg.mqtt.ca_file),
            cert_file=r(base, cfg.mqtt.cert_file),
            key_file=r(base, cfg.mqtt.key_file),
            credentials_file=r(base, cfg.mqtt.credentials_file),
        ),
        outbox=dataclasses.replace(cfg.outbox, path=r(base, cfg.outbox.path)),
    )


def load_credentials(path: str | Path) -> MqttCredentials:
    """Read the MQTT credentials file (TOML: ``username``, ``password``)."""
    return from_mapping(MqttCredentials, load_toml(path), path=path)
