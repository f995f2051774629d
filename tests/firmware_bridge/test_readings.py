"""The vocabulary (the canonical names and their units) and the Reading record."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime, timedelta, timezone

import pytest

from firmware_bridge.protocols import MODBUS_MAPS, PROTOCOLS, epever, pi30, vedirect
from firmware_bridge.readings import QUANTITIES, Reading, check_values, unknown_names
from tests.firmware_bridge.helpers import DATA as CAPTURES_DIR

DATA = CAPTURES_DIR

#: The first canonical names and units, as the device layer and the monitor use them:
#: renaming or re-uniting one breaks stored readings and dashboards.
PUBLISHED_NAMES = {
    "battery_voltage": "V", "battery_current": "A", "pv_voltage": "V", "pv_current": "A",
    "pv_power": "W", "load_current": "A", "load_power": "W", "charge_state": "",
    "error_code": "", "yield_today": "Wh", "yield_total": "Wh", "max_power_today": "W",
    "grid_voltage": "V", "grid_frequency": "Hz", "ac_output_voltage": "V",
    "ac_output_frequency": "Hz", "ac_output_apparent_power": "VA", "ac_output_power": "W",
    "load_percent": "%", "bus_voltage": "V", "battery_charge_current": "A",
    "battery_discharge_current": "A", "battery_soc": "%", "heatsink_temperature": "degC",
    "battery_temperature": "degC", "inverter_mode": "",
}


@pytest.mark.parametrize(("name", "unit"), sorted(PUBLISHED_NAMES.items()),
                         ids=sorted(PUBLISHED_NAMES))
def test_published_names_keep_their_units(name: str, unit: str) -> None:
    assert QUANTITIES[name].unit == unit
    assert QUANTITIES[name].name == name
    assert QUANTITIES[name].description


def test_quantities_charge_state_names_are_lower_case() -> None:
    choices = QUANTITIES["charge_state"].choices
    assert {"off", "fault", "bulk", "absorption", "float", "equalize"} <= set(choices)
    assert all(c == c.lower() and " " not in c for c in choices)


def test_quantities_read_only() -> None:
    with pytest.raises(TypeError):
        QUANTITIES["x"] = QUANTITIES["pv_power"]  # type: ignore[index]


def test_protocol_tables_use_only_known_names() -> None:
    names = {f.name for f in vedirect.FIELDS}
    names |= {f.name for t in (pi30.QPIGS_MAX_FIELDS, pi30.QPIRI_FIELDS, pi30.QPGS_MAX_FIELDS,
                                pi30.QPIGS2_FIELDS, pi30.QPIGS2_MAX_FIELDS) for f in t if f.name}
    names |= set(pi30.ENERGY_COUNTERS.values())
    for register_map in MODBUS_MAPS.values():
        names |= register_map.names
    assert unknown_names(names) == []


def _decoded_captures() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for path in sorted((DATA / "vedirect").glob("*.bin")):
        framer = vedirect.VeDirectFramer()
        out += [vedirect.decode(b) for b in framer.feed(path.read_bytes())]
    files = {"QPIGS": "qpigs", "QPIRI": "qpiri", "QMOD": "qmod", "QPIWS": "qpiws",
             "QPIGS2": "qpigs2", "QPGS0": "qpgs", "QET": "qe", "QPIRI ": "qpiri_variants"}
    for command, name in files.items():
        framer = pi30.Pi30Framer()
        replies = framer.feed((DATA / "pi30" / f"{name}.bin").read_bytes())
        out += [pi30.decode(command.strip(), r).values for r in replies if not r.nak]
    out.append(epever.decode({a: 0xFFFF for a in range(0x3000, 0x3320)}))
    return out


def test_decoders_emit_only_known_names_and_kinds() -> None:
    decoded = _decoded_captures()
    assert len(decoded) > 30
    for values in decoded:
        check_values(values)  # raises on an unknown name, wrong type or enum value


@pytest.mark.parametrize(
    "values",
    [{"no_such_quantity": 1}, {"pv_power": "12"}, {"pv_power": True},
     {"charge_state": "Bulk"}, {"warnings": 3}],
    ids=["unknown", "string-number", "bool", "enum-case", "flags-int"],
)
def test_check_values_rejects(values: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(values))):
        check_values(values)


def test_reading_requires_aware_timestamp() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Reading("mppt", datetime(2026, 1, 1), {})


def test_reading_converts_to_utc_and_json() -> None:
    lagos = timezone(timedelta(hours=1))
    reading = Reading("mppt", datetime(2026, 3, 1, 13, 0, 0, 250000, tzinfo=lagos),
                      {"pv_power": 812, "charge_state": "bulk"})
    assert reading.timestamp == datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)
    assert reading.to_json_dict() == {
        "device_id": "mppt", "timestamp": "2026-03-01T12:00:00.250Z",
        "values": {"pv_power": 812, "charge_state": "bulk"},
    }


def test_reading_is_immutable() -> None:
    source = {"pv_power": 1}
    reading = Reading("mppt", datetime.now(UTC), source)
    source["pv_power"] = 2
    assert reading.values["pv_power"] == 1
    with pytest.raises(TypeError):
        reading.values["pv_power"] = 3  # type: ignore[index]
    with pytest.raises(AttributeError):
        reading.device_id = "x"  # type: ignore[misc]


def test_reading_pickles_and_copies() -> None:
    reading = Reading("inverter", datetime(2026, 3, 1, tzinfo=UTC), {"inverter_mode": "line"})
    for clone in (pickle.loads(pickle.dumps(reading)), copy.deepcopy(reading)):
        assert clone == reading and clone is not reading
        assert clone.values["inverter_mode"] == "line"


def test_registry_entries() -> None:
    assert {n: (s.baudrate, s.kind) for n, s in PROTOCOLS.items()} == {
        "vedirect": (19200, "streaming"), "pi30": (2400, "request-response"),
        "epever": (115200, "modbus"), "srne": (9600, "modbus"), "growatt_spf": (9600, "modbus"),
        "deye": (9600, "modbus"),
    }
    for spec in PROTOCOLS.values():
        if spec.make_framer is not None:
            framer = spec.make_framer()
            assert framer.feed(b"") == []
            assert (framer.frames_ok, framer.frames_bad) == (0, 0)
