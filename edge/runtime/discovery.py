"""Home Assistant MQTT discovery for readings and forecasts.

Responsible for: one sensor config per reading quantity a device reports
(device_class, unit, state_class from the quantity's unit and meaning) and
per forecast quantity and horizon (P50 as the state, P10/P90 as attributes,
no state_class: a forecast is not a measurement), all sharing availability
from the retained status topic.

Does NOT: publish (the agent hands the pairs to the publisher), or retain
configs: they are re-sent on every connect and whenever Home Assistant
announces ``online`` on ``<prefix>/status``, which avoids ghost entities.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from edge.runtime.contract import FORECAST_QUANTITIES, Topics
from firmware_bridge.config import ID_PATTERN

__all__ = ["DiscoveryContext", "forecast_configs", "reading_configs", "sensor_traits"]

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
    """

    topics: Topics
    prefix: str = "homeassistant"
    sw_version: str = ""
    model_name: str = "Helio Edge gateway"

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


def sensor_traits(name: str, unit: str, kind: str = "numeric") -> dict[str, Any]:
    """HA ``device_class``, ``unit_of_measurement`` and ``state_class`` of a reading.

    Energy counters that reset daily are ``total_increasing``; lifetime
    totals ``total``; values of a past period (``*_yesterday``) and
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
    if "yesterday" in name:
        return out
    if device_class == "energy":
        out["state_class"] = "total" if name.endswith("_total") else "total_increasing"
    else:
        out["state_class"] = "measurement"
    return out


def _config(
    ctx: DiscoveryContext, device_id: str, name: str, fields: Mapping[str, Any]
) -> tuple[str, bytes]:
    uid = ctx.uid(device_id, name)
    body: dict[str, Any] = {
        "name": name.replace("_", " "),
        "unique_id": uid,
        "default_entity_id": f"sensor.{uid}",
        "availability": [
            {"topic": ctx.topics.status, "value_template": "{{ value_json.state }}"}
        ],
        "qos": 1,
        "origin": {"name": "helio-edge", "sw": ctx.sw_version},
        **fields,
    }
    topic = f"{ctx.prefix}/sensor/{uid}/config"
    return topic, json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _device(ctx: DiscoveryContext, device_id: str, protocol: str = "") -> dict[str, Any]:
    if device_id == ctx.topics.gateway_id:
        return {
            "identifiers": [ctx.gateway_ident()],
            "name": f"Helio {ctx.topics.site_id}",
            "manufacturer": "Helio Edge",
            "model": ctx.model_name,
            "sw_version": ctx.sw_version,
        }
    return {
        "identifiers": [ctx.uid(device_id, "device")],
        "name": f"{ctx.topics.site_id} {device_id}",
        "model": protocol or device_id,
        "via_device": ctx.gateway_ident(),
    }


def reading_configs(
    ctx: DiscoveryContext,
    device_id: str,
    names: Iterable[str],
    quantities: Mapping[str, Any],
    *,
    protocol: str = "",
) -> list[tuple[str, bytes]]:
    """Discovery configs for the reading values ``names`` of one device.

    Parameters
    ----------
    ctx : DiscoveryContext
    device_id : str
        Source device id (``mppt``).
    names : iterable of str
        Value names the device reports.
    quantities : mapping
        ``firmware_bridge.readings.QUANTITIES`` (``.unit``, ``.kind``,
        ``.choices``, ``.description`` per name); unknown names are
        announced as plain sensors.
    protocol : str
        Shown as the HA device model.
    """
    device = _device(ctx, device_id, protocol)
    out = []
    for name in sorted(names):
        q = quantities.get(name)
        unit, kind = (getattr(q, "unit", ""), getattr(q, "kind", "numeric")) if q else ("", "")
        fields = {
            "state_topic": ctx.topics.of(device_id, "reading"),
            # bracket syntax: value_json.values would be the dict method in Jinja
            "value_template": f"{{{{ value_json['values']['{name}'] }}}}",
            "device": device,
            **sensor_traits(name, unit, kind or "text"),
        }
        if kind == "enum" and q is not None:
            fields["options"] = list(q.choices)
        if kind in ("flags", "text"):
            fields["entity_category"] = "diagnostic"
        out.append(_config(ctx, device_id, name, fields))
    return out


def forecast_configs(
    ctx: DiscoveryContext, horizons_min: Iterable[int]
) -> list[tuple[str, bytes]]:
    """Discovery configs for the forecast: P50 per quantity and horizon.

    State is the P50 of the horizon; P10, P90 and the period end are
    attributes. No ``state_class`` (forecasts must not enter long-term
    statistics).
    """
    device = _device(ctx, ctx.topics.gateway_id)
    out = []
    for i, horizon in enumerate(horizons_min):
        for qty in FORECAST_QUANTITIES:
            entry = f"value_json.forecasts[{i}]"
            traits = sensor_traits(qty, "W" if qty == "pv_power" else "W/m2")
            traits.pop("state_class", None)
            fields = {
                "state_topic": ctx.topics.gateway("forecast"),
                "value_template": f"{{{{ {entry}.{qty}.p50 }}}}",
                "json_attributes_topic": ctx.topics.gateway("forecast"),
                "json_attributes_template": (
                    f'{{{{ {{"p10": {entry}.{qty}.p10, "p90": {entry}.{qty}.p90, '
                    f'"period_end": {entry}.period_end, '
                    f'"inputs_stale": value_json.inputs_stale}} | tojson }}}}'
                ),
                "device": device,
                **traits,
            }
            name = f"forecast_{qty}_{horizon}min"
            out.append(_config(ctx, ctx.topics.gateway_id, name, fields))
    return out
