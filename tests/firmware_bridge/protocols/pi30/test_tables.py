"""PI30 field and status-bit tables: what one table entry decodes and encodes.

The decoder and the simulator's encoder both read these tables, so a bit that
moves here moves for both; these tests pin the documented positions.
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.protocols.pi30 import tables
from firmware_bridge.protocols.pi30.tables import (
    QPGS_STATUS,
    QPIGS2_STATUS,
    QPIGS_STATUS,
    QPIGS_STATUS_HIGH,
    BitTable,
    command_family,
    energy_commands,
)
from firmware_bridge.readings import Value

BIT_TABLES = [QPIGS_STATUS, QPIGS_STATUS_HIGH, QPIGS2_STATUS, QPGS_STATUS]


@pytest.mark.parametrize(("text", "load", "source"), [
    ("00010000", 1, "none"), ("00000110", 0, "solar"), ("00000101", 0, "grid"),
    ("00010111", 1, "solar_and_grid"),
])
def test_qpigs_status_b4_load_and_b1_b0_charging_source(text: str, load: int, source: str) -> None:
    unknown: list[str] = []
    assert QPIGS_STATUS.decode(text, unknown) == {"load_output_on": load, "charging_source": source}
    assert unknown == []
    assert QPIGS_STATUS.encode({"load_output_on": load, "charging_source": source}) == text


def test_qpigs_high_bits_set_switch_on_and_report_float() -> None:
    assert QPIGS_STATUS_HIGH.encode({}) == "010"
    assert QPIGS_STATUS_HIGH.encode({"charging_to_float": 1}) == "110"
    assert QPIGS_STATUS_HIGH.decode("100", []) == {"charging_to_float": 1}


def test_qpgs_status_positions() -> None:
    values: dict[str, Value] = {"scc_ok": 1, "charging_source": "grid", "battery_status": "open",
                                "grid_lost": 1, "load_output_on": 1}
    assert QPGS_STATUS.encode(values) == "11010110"
    assert QPGS_STATUS.decode("11010110", []) == values
    assert QPGS_STATUS.encode({}) == "10000000"  # SCC ok unless said otherwise


def test_unknown_code_and_bad_field_are_noted_not_decoded() -> None:
    unknown: list[str] = []
    assert "battery_status" not in QPGS_STATUS.decode("10011000", unknown)
    assert unknown == ["QPGS battery status=3"]
    assert QPIGS2_STATUS.decode("1x000000", unknown) == {}
    assert unknown[-1] == "QPIGS2 status bits='1x000000'"
    assert QPIGS_STATUS.decode("0001000", unknown) == {}  # seven characters


@pytest.mark.parametrize("table", BIT_TABLES, ids=lambda t: t.label)
def test_bits_of_a_table_do_not_overlap(table: BitTable) -> None:
    seen = [i for bit in table.bits if bit.derived is None for i in bit.at] + list(table.fixed)
    assert len(seen) == len(set(seen))
    assert all(0 <= i < table.width for i in seen)


@pytest.mark.parametrize("table", BIT_TABLES, ids=lambda t: t.label)
@given(data=st.data())
def test_decoded_values_encode_back_to_the_same_reported_bits(
    table: BitTable, data: st.DataObject
) -> None:
    text = data.draw(st.text("01", min_size=table.width, max_size=table.width))
    values = table.decode(text, [])
    again = table.decode(table.encode(values), [])
    # a code the table does not know is left out, and the encoder writes its default
    assert {name: again[name] for name in values} == values


def test_field_tables_put_bit_tables_where_the_documents_do() -> None:
    assert tables.QPIGS_FIELDS[16].bits is QPIGS_STATUS
    assert tables.QPIGS_FIELDS[20].bits is QPIGS_STATUS_HIGH
    assert tables.QPIGS2_FIELDS[4].bits is QPIGS2_STATUS
    assert tables.QPGS_FIELDS[19].bits is QPGS_STATUS
    assert tables.QPGS_FIELDS[tables.QPGS_MODE].name is None  # the mode letter


@pytest.mark.parametrize(("command", "family"), [
    ("QPGS2", "QPGS"), ("QPGS", "QPGS"), ("QEY2026", "QEY"), ("QET", "QET"),
    ("QEDX", "QEDX"), ("QPIGS2", "QPIGS2"), ("QPIRI", "QPIRI"),
])
def test_command_family(command: str, family: str) -> None:
    assert command_family(command) == family


def test_energy_commands_carry_the_date() -> None:
    assert energy_commands(date(2026, 3, 1), ("QET", "QEY", "QEM", "QED")) == (
        "QET", "QEY2026", "QEM202603", "QED20260301")
