"""The agent's configuration (``helio-edge run`` / ``check``), loaded strictly.

Responsible for: the ``[agent]``, ``[mqtt]``, ``[model]``, ``[outbox]``,
``[discovery]``, ``[rollout]``, ``[plan]`` tables and ``[[devices]]`` as frozen
dataclasses; :func:`load_agent_config` resolves relative paths against the
file's directory; :func:`load_credentials` reads the MQTT credentials file.

Does NOT: open anything it names (files, ports, brokers).
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

from edge.runtime.contract import DEFAULT_PREFIX, MONITOR_DEVICE
from edge.runtime.outbox import (
    COMMIT_WINDOW_S,
    DEFAULT_JOURNAL_SIZE_LIMIT,
    DEFAULT_PAGE_SIZE,
    DEFAULT_WAL_AUTOCHECKPOINT,
)
from firmware_bridge.config import ConfigError, DeviceConfig, check_id, from_mapping, load_toml

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
    hold_until_synced : bool
        Issue no forecast while the system clock is not synchronised (a Pi
        without a real-time clock boots with a wrong date until NTP); data
        taken meanwhile is marked ``clock_synced: false``. False for a
        device with a trusted real-time clock.
    """

    site: str
    id: str = "gateway"
    state_dir: str = "/var/lib/helio-edge"
    heartbeat_s: float = 60.0
    stale_after_s: float = 120.0
    watchdog_s: float = 10.0
    pv_device: str = ""
    hold_until_synced: bool = True

    def __post_init__(self) -> None:
        check_id(self.id)
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
    mqtt5 : bool
        Speak MQTT 5, so a publish the broker refuses (PUBACK reason code
        >= 0x80, e.g. denied by its ACL) stays queued instead of being taken
        as delivered. False only for a broker without MQTT 5 (the demo's
        embedded amqtt), where such refusals cannot be seen.
    reconnect_min_s, reconnect_max_s : float
        Reconnect back-off bounds; each wait is jittered. [s]
    """

    host: str = "127.0.0.1"
    port: int = 1883
    keepalive: int = 60
    client_id: str = ""
    topic_prefix: str = DEFAULT_PREFIX
    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    credentials_file: str = ""
    max_inflight: int = 100
    mqtt5: bool = True
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 120.0

    def __post_init__(self) -> None:
        check_id(self.topic_prefix, "topic_prefix")  # a topic level: no '/', '+', '#'
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
        SQLite ``synchronous``: ``full`` syncs every commit, so a power cut
        loses at most the commit window; ``normal`` syncs only at
        checkpoints: the same loss on a process crash, but on a power cut
        it may also roll back the commits since the last checkpoint (never
        corrupts). See docs/deploy.md, "Writes to the SD card".
    commit_window_s : float
        Group commit: messages are committed together at most this long
        after the first of them (one fsync for all), so this is the most a
        crash or (with ``full``) a power cut can lose; 0 commits every
        message at once. [s]
    page_size : int
        SQLite page size of a new outbox (a power of two, 512..65536); an
        existing file takes it at the next start when it is small (a
        drained queue). Smaller pages: fewer bytes rewritten per commit.
        [bytes]
    wal_autocheckpoint : int
        WAL pages after which a commit copies them into the database. [-]
    journal_size_limit : int
        Size the WAL file is cut back to after a checkpoint, so an outage's
        burst does not leave a large WAL behind. [bytes]
    """

    path: str = ""
    max_messages: int = 600_000
    synchronous: typing.Literal["full", "normal"] = "full"
    commit_window_s: float = COMMIT_WINDOW_S
    page_size: int = DEFAULT_PAGE_SIZE
    wal_autocheckpoint: int = DEFAULT_WAL_AUTOCHECKPOINT
    journal_size_limit: int = DEFAULT_JOURNAL_SIZE_LIMIT

    def __post_init__(self) -> None:
        if self.max_messages < 10:
            raise ValueError("max_messages must be at least 10")
        if not 0.0 <= self.commit_window_s <= 60.0:
            raise ValueError("commit_window_s must be in 0..60")
        if self.page_size < 512 or self.page_size > 65536 or self.page_size & (self.page_size - 1):
            raise ValueError("page_size must be a power of two in 512..65536")
        if self.wal_autocheckpoint < 1:
            raise ValueError("wal_autocheckpoint must be at least 1")
        if self.journal_size_limit < 0:
            raise ValueError("journal_size_limit must be >= 0")


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
    per_entity : bool
        One discovery message per entity (``<prefix>/<platform>/<id>/config``),
        for Home Assistant before 2024.12; default: one device-based message
        per device (``<prefix>/device/<id>/config``). Switching between the two
        on a running Home Assistant leaves the old form's entities until it
        restarts (configs are not retained).
    """

    enabled: bool = True
    prefix: str = "homeassistant"
    per_entity: bool = False


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
class PlanSection:
    """The ``[plan]`` table: the site's energy plan (:mod:`edge.runtime.planning_cycle`).

    The reserve lives here, not in the site file: it is the owner's choice
    of how far the battery may be drawn down, not a property of the plant.

    Attributes
    ----------
    enabled : bool
        Plan after every forecast and publish it on ``plan``.
    reserve_soc : float
        The SOC the owner keeps in reserve; "battery reaches reserve at" is
        when the P10 SOC gets there. [-]
    scenarios : int
        Monte-Carlo scenarios for the SOC fan (CPU per plan grows with it). [-]
    history_days : int
        Days of measured 15-min periods kept for the load forecast, the PV
        climatology and the battery estimate. [d]
    state_file : str
        The planner's persisted history; empty means ``<state_dir>/planner.json``.
    save_every_s : float
        Write the state this often (and on a clean stop). [s]
    """

    enabled: bool = True
    reserve_soc: float = 0.3
    scenarios: int = 200
    history_days: int = 28
    state_file: str = ""
    save_every_s: float = 3600.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.reserve_soc < 1.0:
            raise ValueError("reserve_soc must be within [0, 1)")
        if not 10 <= self.scenarios <= 2000:
            raise ValueError("scenarios must be in 10..2000")
        if not 2 <= self.history_days <= 366:
            raise ValueError("history_days must be in 2..366")
        if self.save_every_s < 60.0:
            raise ValueError("save_every_s must be at least 60")


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
    plan: PlanSection = PlanSection()

    @property
    def outbox_path(self) -> str:
        """The outbox database file."""
        return self.outbox.path or str(Path(self.agent.state_dir) / "outbox.sqlite")

    @property
    def plan_state_path(self) -> str:
        """The energy planner's state file."""
        return self.plan.state_file or str(Path(self.agent.state_dir) / "planner.json")


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
        if dev_id == MONITOR_DEVICE:
            raise ConfigError(path, f"devices[{i}].id",
                              f"{MONITOR_DEVICE!r} is reserved for helio-monitor's topics")
    if cfg.agent.id == MONITOR_DEVICE:
        raise ConfigError(path, "agent.id",
                          f"{MONITOR_DEVICE!r} is reserved for helio-monitor's topics")
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
        plan=dataclasses.replace(cfg.plan, state_file=r(base, cfg.plan.state_file)),
    )


def load_credentials(path: str | Path) -> MqttCredentials:
    """Read the MQTT credentials file (TOML: ``username``, ``password``)."""
    return from_mapping(MqttCredentials, load_toml(path), path=path)

