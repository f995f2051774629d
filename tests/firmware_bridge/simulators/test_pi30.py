"""The PI30 simulator: NAKs, QPIGS reply on the wire, latency, CRC quirks, parallel units,
setting commands and their effect."""

from __future__ import annotations

import pytest

from edge.simulation.plant import Plant
from firmware_bridge.checksums import crc16_xmodem, pi30_crc_matches
from firmware_bridge.protocols import pi30
from firmware_bridge.simulators.faults import Faults
from firmware_bridge.simulators.pi30 import Pi30Session, parse_profile

pty = pytest.mark.pty


@pytest.fixture
def session(frozen_plant: Plant) -> Pi30Session:
    return Pi30Session(frozen_plant, Faults(), time_scale=0.0)


def ask(session: Pi30Session, request: bytes) -> bytes:
    session.receive(request, 0.0)
    return b"".join(session.due(1.0))


def test_pi30_unknown_and_bad_crc_commands_get_nak(session: Pi30Session) -> None:
    assert ask(session, pi30.build_request("QXYZ")) == b"(NAKss\r"
    assert ask(session, b"QPIGS\x00\x00\r") == b"(NAKss\r"
    assert session.requests == ["QXYZ"]


@pytest.mark.parametrize(("variant", "fields"), [("pi30", 21), ("max", 24)])
def test_pi30_qpigs_reply(frozen_plant: Plant, variant: str, fields: int) -> None:
    session = Pi30Session(frozen_plant, Faults(), variant=variant, time_scale=0.0)
    reply = ask(session, pi30.build_request("QPIGS"))
    assert reply.startswith(b"(") and reply.endswith(b"\r")
    assert pi30_crc_matches(reply[:-3], reply[-3:-1])
    assert len(reply[1:-3].split(b" ")) == fields
    values = pi30.decode("QPIGS", reply[1:-3].decode()).values
    assert values["battery_voltage"] == pytest.approx(
        frozen_plant.state().battery_voltage, abs=0.005
    )


def test_pi30_latency(frozen_plant: Plant) -> None:
    session = Pi30Session(frozen_plant, Faults(), time_scale=1.0)
    session.receive(pi30.build_request("QMOD"), 100.0)
    assert session.due(100.3) == []
    assert session.due(100.5) == [pi30.build_response("B")]


def test_pi30_raw_zero_crc_and_trailing_lf(frozen_plant: Plant) -> None:
    faults = Faults(["raw_zero_crc", "trailing_lf"])
    session = Pi30Session(frozen_plant, faults, time_scale=0.0)
    reply = ask(session, pi30.build_request("QPIGS"))
    assert reply.endswith(b"\r\n")
    body, crc = reply[:-4], reply[-4:-2]
    true_crc = crc16_xmodem(body).to_bytes(2, "big")
    assert 0 in true_crc and crc == true_crc  # sent raw, as real inverters do
    framer = pi30.Pi30Framer()
    assert [r.payload for r in framer.feed(reply)] == [body[1:].decode()]


pytestmark = pytest.mark.pty


def test_pi30_session_parallel_replies(frozen_plant: Plant) -> None:
    from firmware_bridge.protocols import pi30  # noqa: PLC0415
    from firmware_bridge.simulators.faults import Faults  # noqa: PLC0415

    session = Pi30Session(frozen_plant, Faults(), variant="parallel2", time_scale=0.0)
    assert pi30.decode("QPGS0", session.payload("QPGS0") or "").values["parallel_unit_present"] == 1
    absent = pi30.decode("QPGS5", session.payload("QPGS5") or "")
    assert absent.values == {"parallel_unit_present": 0}
    assert pi30.decode("QPIRI", session.payload("QPIRI") or "").values["output_mode"] == "parallel"
    assert session.payload("QET") is None  # NAKed: no energy counters on this firmware


def _qpiri(session: Pi30Session, at: float) -> dict[str, object]:
    session.receive(pi30.build_request("QPIRI"), at)
    reply = b"".join(session.due(at + 1.0))
    return dict(pi30.decode("QPIRI", reply[1:-3].decode()).values)


def test_pi30_settings_are_range_checked_nakd_as_configured_and_shown_after_a_delay(
    frozen_plant: Plant,
) -> None:
    name, settings = parse_profile("pi30;nak=POP02,MUCHGC;apply_delay=50", time_scale=0.1)
    assert name == "pi30" and settings.apply_delay == pytest.approx(5.0)
    session = Pi30Session(frozen_plant, Faults(), time_scale=0.0, settings=settings)
    assert ask(session, pi30.build_request("POP02")) == pi30.NAK  # configured refusal
    assert ask(session, pi30.build_request("MUCHGC010")) == pi30.NAK  # a refused prefix
    assert ask(session, pi30.build_request("PBCV52.0")) == pi30.NAK  # out of range (48 V)
    assert ask(session, pi30.build_request("POPM1")) == pi30.NAK  # not a setter it knows
    assert ask(session, pi30.build_request("POP00")) == pi30.ACK
    assert ask(session, pi30.build_request("PBCV46.0")) == pi30.ACK
    assert _qpiri(session, 4.0)["output_source_priority"] == "sbu_first"  # not yet
    shown = _qpiri(session, 5.5)
    assert shown["output_source_priority"] == "utility_first"
    assert shown["battery_recharge_voltage"] == 46.0
    # the sessions of one simulator share the settings (a reconnect keeps them)
    again = Pi30Session(frozen_plant, Faults(), time_scale=0.0, settings=settings)
    assert _qpiri(again, 6.0)["output_source_priority"] == "utility_first"


def test_pi30_profile_options_are_checked() -> None:
    with pytest.raises(ValueError, match="option 'colour'"):
        parse_profile("pi30;colour=blue", time_scale=1.0)
    with pytest.raises(ValueError, match="unknown PI30 profile"):
        parse_profile("pi31", time_scale=1.0)
    assert parse_profile("max;grid=1", time_scale=1.0)[1].grid is True


def test_pi30_sbu_goes_to_grid_below_the_back_to_grid_voltage(frozen_plant: Plant) -> None:
    _, settings = parse_profile("pi30;grid=1;apply_delay=0", time_scale=0.0)
    session = Pi30Session(frozen_plant, Faults(), time_scale=0.0, settings=settings)
    battery = frozen_plant.state().battery_voltage  # about 49 V
    assert battery > 47.0
    assert ask(session, pi30.build_request("QMOD")) == pi30.build_response("B")
    # SBU with a back-to-grid voltage above the battery's: the load is on utility
    session.receive(pi30.build_request("PBCV51.0"), 1.0)
    assert session.due(2.0) == [pi30.ACK]
    session.receive(pi30.build_request("QMOD"), 3.0)
    assert session.due(4.0) == [pi30.build_response("L")]
