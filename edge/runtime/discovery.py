"""Home Assistant MQTT discovery for readings and forecasts.

Responsible for: the entities Home Assistant shows for each source device
and for the gateway's forecasts, checked against Home Assistant's MQTT
discovery schema (``homeassistant/components/mqtt/schemas.py``,
``sensor.py``, ``binary_sensor.py``, ``discovery.py`` of Home Assistant
2025.4) and exercised against a real instance in ``tests/homeassistant``:

* one *device-based* discovery message per device,
  ``<prefix>/device/<device id>/config`` with ``dev``, ``o`` and ``cmps``
  (Home Assistant 2024.12 and later); ``per_entity=True`` (``[discovery]
  per_entity``) sends the older one-message-per-entity form
  ``<prefix>/<platform>/<unique id>/config`` instead;
* sensors with device class, unit and state class from the quantity:
  ``measurement`` for present values, ``total_increasing`` for energy
  counters that only grow until reset (``yield_today``, ``yield_total``: a
  reset is a new cycle, not a negative yield), none for a past period
  (``*_yesterday``), for codes (``error_code``, ``day_sequence``), for
  ratings and settings and for forecasts; ``binary_sensor`` for 0/1 flags;
  ratings, settings, identity and flag lists in ``entity_category:
  diagnostic``;
* availability: the gateway's retained status for the gateway's own
  entities; for a source device, the same status read through one template
  that is ``online`` only when the gateway is online *and* the device is
  connected and not stale (``devices.<dev>`` of the heartbeat), so an
  unplugged device's entities become unavailable instead of showing their
  last values;
* the device block: manufacturer, model, serial number and firmware from
  what the bridge decodes (VE.Direct ``PID``/``SER#``/``FW``; PI30 ratings);
* forecasts: P50 of PV power, GHI, DNI, DHI and PV energy per horizon (P10,
  P90 and the period end as attributes), and the expected PV energy for the
  next 3 h and for the rest of the local day; they read only the
  ``forecast`` topic, never ``forecast/shadow``, so a model on trial never
  shows in Home Assistant;
* the energy plan (with ``[plan] enabled``; it reads the ``plan`` topic):
  "battery reaches reserve at" (``timestamp``: the first time the P10 SOC
  reaches the reserve, unknown when that is not within the plan; the P50
  time, the reserve and the issue time as attributes), the night deficit
  P50 and P10 (the deficit ``max(-balance, 0)`` of the P50 and P10 energy
  balance to the next sunrise: the P10 one is the dry case, a night in ten
  is worse) and the surplus today (P50; P10 and P90 as attributes) in
  ``Wh``, device class ``energy`` without a state class (Home Assistant
  allows only ``total`` or ``total_increasing`` for energy, and a forecast
  is neither).

Entity ids: ``default_entity_id`` is the slug of device name and entity
name, which is also what Home Assistant versions that ignore the key derive
from the names, so both give e.g. ``sensor.helio_abuja_01_mppt_pv_power``.

Does NOT: publish (the agent hands the pairs to the publisher), or retain
configs: they are re-sent on every connect and whenever Home Assistant
announces ``online`` on ``<prefix>/status``, which avoids ghost entities.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from edge.runtime.contract import FORECAST_QUANTITIES, Topics
from firmware_bridge.config import ID_PATTERN
from firmware_bridge.protocols import PROTOCOLS
from firmware_bridge.protocols.vedirect_products import VEDIRECT_PRODUCTS

__all__ = [
    "BINARY_FLAGS",
    "CODES",
    "SETTINGS",
    "DiscoveryContext",
    "Entity",
    "device_block",
    "forecast_configs",
    "forecast_entities",
    "plan_entities",
    "reading_configs",
    "reading_entities",
    "sensor_traits",
    "slugify",
]

#: our unit -> (HA device_class, HA unit)
_BY_UNIT: Mapping[str, tuple[str | None, str | None]] = {
    "V": ("voltage", "V"),
    "A": ("current", "A"),
    "W": ("power", "W"),
    "Wh": ("energy", "Wh"),
    "VA": ("apparent_power", "VA"),
    "Hz": ("frequency", "Hz"),
    "degC": ("temperature", "°C"),
    "%": (None, "%"),
    "W/m2": ("irradiance", "W/m²"),
    "min": ("duration", "min"),  # battery monitor time-to-go
    "s": ("duration", "s"),
}

#: 0/1 readings shown as binary sensors -> HA binary_sensor device class (None: plain on/off)
BINARY_FLAGS: Mapping[str, str | None] = {
    "load_output_on": "power",
    "relay_on": None,
    "fault_active": "problem",
    "alarm_on": "problem",
    "charging_to_float": None,
    "grid_feed_active": "power",
}

#: numbers that are codes or counters of days, not measurements: no state class
CODES = frozenset({"error_code", "day_sequence"})

#: configured settings (not ratings, which are ``rated_*``): diagnostic, no state class
SETTINGS = frozenset({
    "battery_system_voltage", "charging_mode", "battery_recharge_voltage",
    "battery_redischarge_voltage", "battery_under_voltage", "battery_bulk_voltage",
    "battery_float_voltage", "battery_type", "max_ac_charge_current", "max_charge_current",
    "input_voltage_range", "output_source_priority", "charger_source_priority",
    "parallel_max_num", "machine_type", "topology", "output_mode", "pv_ok_condition",
    "pv_power_balance",
})

#: text values that describe the device (they go to the device block, and stay diagnostic)
IDENTITY = ("product_id", "serial_number", "firmware_version")

_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    """Lower case, runs of anything but ``[a-z0-9]`` as one ``_`` (entity-id safe)."""
    return _SLUG.sub("_", text.lower()).strip("_")


@dataclass(frozen=True, slots=True)
class DiscoveryContext:
    """What every config shares.

    Attributes
    ----------
    topics : Topics
        The site's topic tree (state and availability topics).
    prefix : str
        Discovery prefix, ``homeassistant``.
    sw_version : str
        Package version shown in HA.
    model_name : str
        Gateway model string shown in HA.
    per_entity : bool
        One config per entity (HA before 2024.12) instead of one per device.
    """

    topics: Topics
    prefix: str = "homeassistant"
    sw_version: str = ""
    model_name: str = "Helio Edge gateway"
    per_entity: bool = False

    @property
    def birth_topic(self) -> str:
        """Where Home Assistant announces ``online``."""
        return f"{self.prefix}/status"

    def uid(self, device_id: str, name: str) -> str:
        """``helio_<site>_<device>_<name>`` restricted to ``[a-zA-Z0-9_-]``."""
        raw = f"helio_{self.topics.site_id}_{device_id}_{name}"
        return "".join(c if ID_PATTERN.fullmatch(c) else "_" for c in raw)

    def gateway_ident(self) -> str:
        """Identifier of the gateway's HA device."""
        return self.uid(self.topics.gateway_id, "gateway")

    def device_ident(self, device_id: str) -> str:
        """Identifier of a device (the gateway's is :meth:`gateway_ident`)."""
        if device_id == self.topics.gateway_id:
            return self.gateway_ident()
        return self.uid(device_id, "device")

    def device_name(self, device_id: str) -> str:
        """Name of the HA device (entity ids start with its slug)."""
        if device_id == self.topics.gateway_id:
            return f"Helio {self.topics.site_id}"
        return f"Helio {self.topics.site_id} {device_id}"

    @property
    def origin(self) -> dict[str, str]:
        """The ``origin`` block (required in device-based discovery)."""
        return {"name": "helio-edge", "sw": self.sw_version,
                "url": "https://github.com/helio-edge/helio-edge"}


@dataclass(frozen=True, slots=True)
class Entity:
    """One Home Assistant entity of a device.

    Attributes
    ----------
    platform : str
        ``sensor`` or ``binary_sensor``.
    name : str
        Our name (``pv_power``, ``forecast_pv_power_60min``).
    config : dict
        Its discovery options (state topic, templates, classes, unit, ...).
    """

    platform: str
    name: str
    config: dict[str, Any] = field(default_factory=dict)


def sensor_traits(name: str, unit: str, kind: str = "numeric") -> dict[str, Any]:
    """HA ``device_class``, ``unit_of_measurement`` and ``state_class`` of a reading sensor.

    Energy counters that only grow until reset (daily, monthly, lifetime
    ``*_total``, which the user can reset) are ``total_increasing``; values of
    a past period (``*_yesterday``), codes, ratings, settings and
    non-numeric values get no ``state_class``.
    """
    if kind == "enum":
        return {"device_class": "enum"}
    if kind != "numeric":
        return {}
    device_class, ha_unit = _BY_UNIT.get(unit, (None, unit or None))
    if name == "battery_soc":
        device_class = "battery"
    out: dict[str, Any] = {}
    if device_class:
        out["device_class"] = device_class
    if ha_unit:
        out["unit_of_measurement"] = ha_unit
    if "yesterday" in name or name in CODES or name in SETTINGS or name.startswith("rated_"):
        return out
    out["state_class"] = "total_increasing" if device_class == "energy" else "measurement"
    return out


def _is_diagnostic(name: str, kind: str) -> bool:
    return kind in ("flags", "text") or name.startswith("rated_") or name in SETTINGS


def _reading_entity(ctx: DiscoveryContext, device_id: str, name: str,
                    quantity: Any | None) -> Entity:
    unit = getattr(quantity, "unit", "") if quantity is not None else ""
    kind = getattr(quantity, "kind", "numeric") if quantity is not None else "text"
    base: dict[str, Any] = {"state_topic": ctx.topics.of(device_id, "reading")}
    value = f"value_json['values']['{name}']"  # bracket syntax: .values is the dict method
    if name in BINARY_FLAGS and kind == "numeric":
        # a missing or non-numeric value renders nothing, which HA ignores (state kept)
        base["value_template"] = (f"{{% set v = {value} %}}"
                                  "{% if v is number %}{{ 'ON' if v else 'OFF' }}{% endif %}")
        if BINARY_FLAGS[name]:
            base["device_class"] = BINARY_FLAGS[name]
        return Entity("binary_sensor", name, base)
    base["value_template"] = f"{{{{ {value} }}}}"
    base.update(sensor_traits(name, unit, kind))
    if kind == "enum" and quantity is not None:
        base["options"] = list(quantity.choices)
    if _is_diagnostic(name, kind):
        base["entity_category"] = "diagnostic"
    return Entity("sensor", name, base)


def reading_entities(ctx: DiscoveryContext, device_id: str, names: Iterable[str],
                     quantities: Mapping[str, Any]) -> list[Entity]:
    """The entities of the reading values ``names`` of one source device."""
    return [_reading_entity(ctx, device_id, n, quantities.get(n)) for n in sorted(names)]


def device_block(ctx: DiscoveryContext, device_id: str, protocol: str = "",
                 identity: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The HA ``device`` of ``device_id``, with what the bridge decoded about it.

    Parameters
    ----------
    identity : mapping, optional
        The device's latest reading values; ``product_id`` (VE.Direct PID,
        looked up in the product table of the VE.Direct protocol document),
        ``serial_number``, ``firmware_version`` and, for PI30 inverters, the
        rated apparent power are used.
    """
    if device_id == ctx.topics.gateway_id:
        return {"identifiers": [ctx.gateway_ident()], "name": ctx.device_name(device_id),
                "manufacturer": "Helio Edge", "model": ctx.model_name,
                "sw_version": ctx.sw_version}
    ident = dict(identity or {})
    out: dict[str, Any] = {"identifiers": [ctx.device_ident(device_id)],
                           "name": ctx.device_name(device_id),
                           "via_device": ctx.gateway_ident()}
    if protocol in PROTOCOLS:  # the registry names each protocol's manufacturer
        out["manufacturer"] = PROTOCOLS[protocol].manufacturer
    model = protocol or device_id
    pid = str(ident.get("product_id", "") or "")
    if pid:
        model = VEDIRECT_PRODUCTS.get(_pid(pid), f"VE.Direct product {pid}")
        out["model_id"] = pid
    elif protocol == "pi30":
        va = ident.get("rated_ac_output_apparent_power")
        model = f"PI30 inverter {int(va)} VA" if isinstance(va, int | float) else "PI30 inverter"
    out["model"] = model
    if ident.get("serial_number"):
        out["serial_number"] = str(ident["serial_number"])
    if ident.get("firmware_version"):
        out["sw_version"] = str(ident["firmware_version"])
    return out


def _pid(text: str) -> int:
    try:
        return int(text, 16)
    except ValueError:
        return -1


def _availability(ctx: DiscoveryContext, device_id: str) -> list[dict[str, str]]:
    if device_id == ctx.topics.gateway_id:
        template = "{{ value_json.state }}"
    else:
        # one entry: HA keys availability by topic, so two on the same topic would clash
        template = (
            f"{{% set d = (value_json.devices | default({{}}))['{device_id}'] | default({{}}) %}}"
            "{{ 'online' if value_json.state == 'online' and d.connected | default(false)"
            " and not d.stale | default(false) else 'offline' }}"
        )
    return [{"topic": ctx.topics.status, "value_template": template}]


def _entity_options(ctx: DiscoveryContext, device_id: str, entity: Entity) -> dict[str, Any]:
    uid = ctx.uid(device_id, entity.name)
    label = entity.name.replace("_", " ")
    return {
        "name": label,
        "unique_id": uid,
        "default_entity_id": f"{entity.platform}.{slugify(ctx.device_name(device_id))}_"
                             f"{slugify(label)}",
        **entity.config,
    }


def render(ctx: DiscoveryContext, device_id: str, device: Mapping[str, Any],
           entities: Iterable[Entity]) -> list[tuple[str, bytes]]:
    """The discovery messages of one device: one device-based message, or one per entity."""
    entities = list(entities)
    avail = _availability(ctx, device_id)
    if ctx.per_entity:
        out = []
        for e in entities:
            opts = _entity_options(ctx, device_id, e)
            body = {**opts, "availability": avail, "qos": 1, "device": dict(device),
                    "origin": ctx.origin}
            out.append((f"{ctx.prefix}/{e.platform}/{opts['unique_id']}/config", _dump(body)))
        return out
    cmps = {}
    for e in entities:
        opts = _entity_options(ctx, device_id, e)
        cmps[opts["unique_id"]] = {"platform": e.platform, **opts}
    body = {"device": dict(device), "origin": ctx.origin, "availability": avail, "qos": 1,
            "components": cmps}
    return [(f"{ctx.prefix}/device/{ctx.device_ident(device_id)}/config", _dump(body))]


def _dump(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def reading_configs(
    ctx: DiscoveryContext,
    device_id: str,
    names: Iterable[str],
    quantities: Mapping[str, Any],
    *,
    protocol: str = "",
    identity: Mapping[str, Any] | None = None,
) -> list[tuple[str, bytes]]:
    """Discovery messages for the reading values ``names`` of one source device.

    Parameters
    ----------
    ctx : DiscoveryContext
    device_id : str
        Source device id (``mppt``).
    names : iterable of str
        Every value name the device has reported (a device-based message
        lists all of a device's entities: one left out is removed).
    quantities : mapping
        ``firmware_bridge.readings.QUANTITIES`` (``.unit``, ``.kind``,
        ``.choices`` per name); unknown names are announced as plain sensors.
    protocol : str
        ``vedirect``, ``pi30`` or ``epever`` (manufacturer and model).
    identity : mapping, optional
        The device's latest values (see :func:`device_block`).
    """
    return render(ctx, device_id, device_block(ctx, device_id, protocol, identity),
                  reading_entities(ctx, device_id, names, quantities))


#: forecast quantity -> unit of its P10/P50/P90 in the payload
_FORECAST_UNIT = {"ghi": "W/m2", "dni": "W/m2", "dhi": "W/m2", "pv_power": "W",
                  "pv_energy": "Wh"}


def _quantile_entity(name: str, unit: str, source: str, extra: Mapping[str, str]) -> Entity:
    """A forecast sensor: P50 as state, P10/P90 (and ``extra``) as attributes, no state_class."""
    traits = sensor_traits(name, unit)
    traits.pop("state_class", None)  # a forecast is not a measurement: no statistics
    attrs = ", ".join([f'"p10": {source}.p10', f'"p90": {source}.p90',
                       *(f'"{k}": {v}' for k, v in extra.items())])
    return Entity("sensor", name, {
        "value_template": f"{{{{ {source}.p50 }}}}",
        "json_attributes_template": f"{{{{ {{{attrs}}} | tojson }}}}",
        **traits,
    })


def forecast_entities(ctx: DiscoveryContext, horizons_min: Iterable[int],
                      ahead_min: int = 180) -> list[Entity]:
    """The forecast entities of the gateway (they read only the live ``forecast`` topic)."""
    topic = ctx.topics.gateway("forecast")
    out = []
    for i, horizon in enumerate(horizons_min):
        entry = f"value_json.forecasts[{i}]"
        for qty in (*FORECAST_QUANTITIES, "pv_energy"):
            e = _quantile_entity(f"forecast_{qty}_{horizon}min", _FORECAST_UNIT[qty],
                                 f"{entry}.{qty}", {"period_end": f"{entry}.period_end",
                                                    "inputs_stale": "value_json.inputs_stale"})
            out.append(e)
    window = f"next_{ahead_min // 60}h" if ahead_min % 60 == 0 else f"next_{ahead_min}min"
    for key in (window, "rest_of_today"):
        out.append(_quantile_entity(
            f"forecast_pv_energy_{key}", "Wh", f"value_json.pv_energy.{key}",
            {"issue_time": "value_json.issue_time", "day_end": "value_json.pv_energy.day_end",
             "inputs_stale": "value_json.inputs_stale"}))
    for e in out:
        e.config["state_topic"] = topic
        e.config["json_attributes_topic"] = topic
    return out


def plan_entities(ctx: DiscoveryContext) -> list[Entity]:
    """The energy plan's entities of the gateway (they read the ``plan`` topic)."""
    topic = ctx.topics.plan
    issued = '"issued": value_json.issued'
    reserve = Entity("sensor", "battery_reaches_reserve_at", {
        "device_class": "timestamp",
        "value_template": "{{ value_json.reserve_at if value_json.reserve_at else 'None' }}",
        "json_attributes_template": (
            '{{ {"p10": value_json.reserve_at, "p50": value_json.reserve_at_p50, '
            '"reserve_soc": value_json.reserve_soc, "next_sunrise": value_json.next_sunrise, '
            f'{issued}}} | tojson }}}}'),
    })
    out = [reserve]
    for q in ("p50", "p10"):
        bal = f"value_json.balance_to_sunrise_wh.{q}"
        out.append(Entity("sensor", f"night_deficit_{q}", {
            "device_class": "energy", "unit_of_measurement": "Wh",
            "value_template": f"{{{{ [0, -({bal})] | max | round(1) }}}}",
            "json_attributes_template": (
                f'{{{{ {{"balance_to_sunrise_wh": {bal}, '
                f'"next_sunrise": value_json.next_sunrise, {issued}}} | tojson }}}}'),
        }))
    surplus = _quantile_entity("surplus_today", "Wh", "value_json.surplus_today_wh",
                               {"issued": "value_json.issued"})
    out.append(surplus)
    for e in out:
        e.config["state_topic"] = topic
        e.config["json_attributes_topic"] = topic
    return out


def forecast_configs(
    ctx: DiscoveryContext, horizons_min: Iterable[int], ahead_min: int = 180, *,
    plan: bool = False,
) -> list[tuple[str, bytes]]:
    """Discovery messages for the gateway's entities: the forecasts, and the plan's with ``plan``.

    One device-based message lists every entity of the gateway (an entity
    left out of it is removed), so the plan's go in the same message.
    """
    gw = ctx.topics.gateway_id
    entities = forecast_entities(ctx, horizons_min, ahead_min)
    if plan:
        entities += plan_entities(ctx)
    return render(ctx, gw, device_block(ctx, gw), entities)
