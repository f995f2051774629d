"""PI30 replies as real firmware sends them, QPIGS2, QPGSn, energy counters (issue 14).

Captures in tests/data/pi30 (see its README: laid out from PI30 2015-09-24 §2.10-2.11,
PI30MAX 2021-02-17 §2.7, 2.10, 2.11, 2.23-2.26).
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.errors import BridgeError, ProtocolError
from firmware_bridge.protocols import pi30
from firmware_bridge.readings import check_values
from tests.firmware_bridge.helpers import DATA as CAPTURES_DIR

DATA = CAPTURES_DIR / "pi30"
EXAMPLE = ("000.0 00.0 230.0 49.9 0161 0119 003 460 57.50 012 100 0069 0014 103.8 57.45 00000 "
           "00110110 00 00 00856 010")


def _replies(name: str) -> list[pi30.Pi30Reply]:
    framer = pi30.Pi30Framer()
    replies = framer.feed((DATA / name).read_bytes())
    assert framer.frames_bad == 0
    return replies


def test_qpiri_27_fields_with_battery_type_9() -> None:
    first, _ = _replies("qpiri_variants.bin")
    decoded = pi30.decode("QPIRI", first)
    assert decoded.unknown == ()
    assert decoded.values["battery_type"] == "lic"
    assert decoded.values["max_cv_charge_time"] == 120
    assert decoded.values["operation_logic"] == "automatic"
    assert "max_discharge_current" not in decoded.values
    check_values(decoded.values)


def test_qpiri_28_fields_unknown_code_and_dash_left_out_not_the_reply() -> None:
    _, second = _replies("qpiri_variants.bin")
    decoded = pi30.decode("QPIRI", second)
    assert decoded.unknown == ("QPIRI battery_type=4", "QPIRI battery_redischarge_voltage='-'")
    assert "battery_type" not in decoded.values
    assert "battery_redischarge_voltage" not in decoded.values
    assert decoded.values["max_discharge_current"] == 150
    assert decoded.values["rated_ac_output_power"] == 4000  # the rest is all there
    assert len(decoded.values) == 28 - 2
    check_values(decoded.values)


def test_qpiri_fields_beyond_the_table_are_reported() -> None:
    payload = pi30.encode_qpiri({}, fields=28) + " 7 8"
    decoded = pi30.decode("QPIRI", payload)
    assert decoded.unknown == ("QPIRI field 29", "QPIRI field 30")


def test_qpigs_dash_and_bad_status_bits_keep_the_rest() -> None:
    payload = EXAMPLE.replace("57.50", "-").replace("00110110", "0011x110")
    decoded = pi30.decode("QPIGS", payload)
    assert "battery_voltage" not in decoded.values
    assert "charging_source" not in decoded.values and "load_output_on" not in decoded.values
    assert decoded.values["pv_power"] == 856 and decoded.values["charging_to_float"] == 0
    assert decoded.unknown == ("QPIGS battery_voltage='-'",
                               "QPIGS status bits b7..b0='0011x110'")


def test_qmod_unknown_letter_raises_naming_the_letter() -> None:
    with pytest.raises(ProtocolError, match=r"nothing decodes .*QMOD mode='Z'"):
        pi30.decode("QMOD", "Z")


def test_qpiws_unnamed_bit_and_bad_character_reported() -> None:
    bits = "0" * 5 + "1" + "0" * 32 + "1" + "x"  # b6 line fail, b39 unnamed, b40 'x'
    decoded = pi30.decode("QPIWS", bits)
    assert decoded.values["warnings"] == "line_fail"
    assert decoded.unknown == ("QPIWS bit 40='x'", "QPIWS bit 39")


def test_qpigs2_both_variants() -> None:
    full, short = (pi30.decode("QPIGS2", r).values for r in _replies("qpigs2.bin"))
    assert full == {
        "pv2_current": 12, "pv2_voltage": 310.5, "scc2_battery_voltage": 53.1, "pv2_power": 3726,
        "scc2_charging": 1, "scc3_charging": 0, "ac_charge_current": 0, "ac_charge_power": 0,
        "pv3_current": 0, "pv3_voltage": 0.0, "scc3_battery_voltage": 0.0, "pv3_power": 0,
        "pv_total_power": 5526,
    }
    assert short == {"pv2_current": 7.5, "pv2_voltage": 245.3, "pv2_power": 1840}
    check_values(full)
    check_values(short)


def test_qpgs_present_absent_and_max_units() -> None:
    present, absent, max_unit = (pi30.decode("QPGS0", r) for r in _replies("qpgs.bin"))
    assert present.unknown == ()
    v = present.values
    assert v["serial_number"] == "92932004102453" and v["inverter_mode"] == "battery"
    assert (v["battery_voltage"], v["battery_soc"], v["pv_voltage"]) == (53.1, 78, 240.0)
    assert (v["ac_output_power"], v["total_ac_output_power"]) == (1020, 2040)
    assert v["charging_source"] == "solar" and v["scc_ok"] == 1 and v["grid_lost"] == 0
    assert v["battery_status"] == "normal" and v["load_output_on"] == 1
    assert v["output_mode"] == "parallel" and v["charger_source_priority"] == "solar_only"
    assert (v["pv_current"], v["battery_current"]) == (7, 12)
    assert absent.values == {"parallel_unit_present": 0}
    assert max_unit.values["pv2_voltage"] == 240.7 and max_unit.values["pv2_current"] == 6
    for decoded in (present, max_unit):
        check_values(decoded.values)


@pytest.mark.parametrize("battery", ["normal", "under_voltage", "open"])
@pytest.mark.parametrize("source", ["none", "solar", "grid", "solar_and_grid"])
def test_qpgs_encoder_round_trip(battery: str, source: str) -> None:
    values = {"parallel_unit_present": 1, "serial_number": "92932004102453",
              "inverter_mode": "line", "battery_voltage": 52.4, "battery_status": battery,
              "charging_source": source, "grid_lost": 1, "load_output_on": 1, "scc_ok": 0}
    decoded = pi30.decode("QPGS1", pi30.encode_qpgs(values)).values
    assert {k: decoded[k] for k in values} == values


def test_energy_counters_decode_and_dated_commands() -> None:
    replies = _replies("qe.bin")
    commands = pi30.energy_commands(date(2026, 3, 1), ("QET", "QEY", "QEM", "QED"))
    assert commands == ("QET", "QEY2026", "QEM202603", "QED20260301")
    values = {}
    for command, reply in zip(commands, replies[:4], strict=True):
        values.update(pi30.decode(command, reply).values)
    assert values == {"yield_total": 5217340, "yield_year": 1234567, "yield_month": 123456,
                      "yield_today": 4321}
    assert replies[4].nak
    with pytest.raises(ProtocolError, match="NAK"):
        pi30.decode("QED20260301", replies[4])


def test_dated_request_bytes_carry_their_own_crc() -> None:
    """QED20260301 + CRC-16/XMODEM + CR: the CRC covers the date."""
    request = pi30.build_request("QED20260301")
    assert request[:11] == b"QED20260301" and request[-1:] == b"\r" and len(request) == 14
    assert pi30.parse_request(request) == "QED20260301"
    assert pi30.build_request("QED20260302")[11:13] != request[11:13]


@pytest.mark.parametrize("command", ["QET", "QEY2026", "QLM202603", "QLD20260301"])
def test_counter_encoder_round_trip(command: str) -> None:
    name = pi30.ENERGY_COUNTERS[pi30.command_family(command)]
    assert pi30.decode(command, pi30.encode_payload(command, {name: 98765})).values == {name: 98765}


COMMANDS = ["QPIGS", "QPIRI", "QMOD", "QPIWS", "QPIGS2", "QPGS0", "QET", "QEY2026", "QED20260301"]


@given(st.sampled_from(COMMANDS), st.text(alphabet="0123456789.- ABLx", max_size=200))
def test_tolerant_decoders_raise_only_protocol_error(command: str, payload: str) -> None:
    try:
        decoded = pi30.decode(command, payload)
    except ProtocolError:
        return
    assert decoded.values
    check_values(decoded.values)


@given(st.sampled_from(COMMANDS), st.binary(max_size=300))
def test_random_bytes_through_framer_raise_only_bridge_errors(command: str, data: bytes) -> None:
    """Random bytes, and random bytes framed as a reply with a valid CRC."""
    payload = data.decode("latin-1")
    body = b"(" + payload.encode("latin-1")
    wire = data + pi30.build_response(payload.encode("ascii", "replace").decode()) + data
    for reply in pi30.Pi30Framer().feed(wire + body):
        try:
            decoded = pi30.decode(command, reply)
        except BridgeError:
            continue
        check_values(decoded.values)
