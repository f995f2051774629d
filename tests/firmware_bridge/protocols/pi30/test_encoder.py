"""PI30 encoders (the simulator's replies): round trips through the decoder, documented widths,
status bits, reply bytes.
"""

from __future__ import annotations

import itertools

import pytest

from firmware_bridge.checksums import crc16_xmodem
from firmware_bridge.protocols import pi30
from firmware_bridge.protocols.pi30 import Pi30Framer, Pi30Reply
from tests.firmware_bridge.helpers import DATA as CAPTURES_DIR
from tests.firmware_bridge.protocols.pi30.payloads import EXAMPLE, SIM_VALUES

DATA = CAPTURES_DIR / "pi30"


def _feed(data: bytes, cuts: list[int] | None = None) -> tuple[list[Pi30Reply], Pi30Framer]:
    framer = Pi30Framer()
    bounds = [0, *(cuts or []), len(data)]
    out: list[Pi30Reply] = []
    for a, b in itertools.pairwise(bounds):
        out += framer.feed(data[a:b])
    return out, framer


def _payload_with_crc_byte(byte: int) -> str:
    for t in range(100_000):
        payload = f"{t:05d}"
        crc = crc16_xmodem(b"(" + payload.encode())
        if byte in (crc >> 8, crc & 0xFF):
            return payload
    raise AssertionError(byte)


@pytest.mark.parametrize("variant", ["pi30", "max"])
def test_encode_qpigs_round_trip_and_widths(variant: str) -> None:
    payload = pi30.encode_qpigs(SIM_VALUES, variant=variant)
    parts = payload.split(" ")
    assert len(parts) == (24 if variant == "max" else 21)
    example_widths = [len(p) for p in EXAMPLE[1:-3].decode().split(" ")]
    assert [len(p) for p in parts[:21]] == example_widths
    decoded = pi30.decode("QPIGS", pi30.build_response(payload)[1:-3].decode()).values
    assert {k: decoded[k] for k in SIM_VALUES} == SIM_VALUES


@pytest.mark.parametrize("source", ["none", "solar", "grid", "solar_and_grid"])
def test_encode_qpigs_status_bits(source: str) -> None:
    values = {**SIM_VALUES, "charging_source": source, "charging_to_float": 1}
    decoded = pi30.decode("QPIGS", pi30.encode_qpigs(values)).values
    assert (decoded["charging_source"], decoded["charging_to_float"]) == (source, 1)


def test_encode_qpiri_qmod_qpiws_round_trip() -> None:
    payload = (DATA / "qpiri.bin").read_bytes()[1:].split(b"\r")[0][:-2].decode()
    ratings = pi30.decode("QPIRI", payload).values
    assert pi30.decode("QPIRI", pi30.encode_payload("QPIRI", ratings)).values == ratings
    for mode in pi30.QMOD_MODES.values():
        decoded = pi30.decode("QMOD", pi30.encode_qmod({"inverter_mode": mode}))
        assert decoded.values["inverter_mode"] == mode
    status = {"warnings": "line_fail,battery_low_alarm,pv_voltage_high_2",
              "faults": "overload,battery_short", "fault_active": 1}
    assert pi30.decode("QPIWS", pi30.encode_qpiws(status)).values == status


@pytest.mark.parametrize(("raw_zero", "lf"), [(True, False), (False, True)])
def test_build_response_options(raw_zero: bool, lf: bool) -> None:
    payload = _payload_with_crc_byte(0x00)
    data = pi30.build_response(payload, raw_zero_crc=raw_zero, trailing_lf=lf)
    assert data.endswith(b"\r\n" if lf else b"\r")
    assert (0 in data[-4 if lf else -3 :]) == raw_zero
    (reply,), _ = _feed(data)
    assert reply.payload == payload


def test_nak_constants() -> None:
    assert b"(NAK" + crc16_xmodem(b"(NAK").to_bytes(2, "big") + b"\r" == pi30.NAK
    assert b"(ACK" + crc16_xmodem(b"(ACK").to_bytes(2, "big") + b"\r" == pi30.ACK


@pytest.mark.parametrize("battery", ["normal", "under_voltage", "open"])
@pytest.mark.parametrize("source", ["none", "solar", "grid", "solar_and_grid"])
def test_qpgs_encoder_round_trip(battery: str, source: str) -> None:
    values = {"parallel_unit_present": 1, "serial_number": "92932004102453",
              "inverter_mode": "line", "battery_voltage": 52.4, "battery_status": battery,
              "charging_source": source, "grid_lost": 1, "load_output_on": 1, "scc_ok": 0}
    decoded = pi30.decode("QPGS1", pi30.encode_qpgs(values)).values
    assert {k: decoded[k] for k in values} == values


@pytest.mark.parametrize("command", ["QET", "QEY2026", "QLM202603", "QLD20260301"])
def test_counter_encoder_round_trip(command: str) -> None:
    name = pi30.ENERGY_COUNTERS[pi30.command_family(command)]
    assert pi30.decode(command, pi30.encode_payload(command, {name: 98765})).values == {name: 98765}
