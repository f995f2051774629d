"""The protocol registry is complete: every registered protocol has every part.

The checklist in :mod:`firmware_bridge.protocols` lists the parts of a protocol;
these tests hold each entry of ``PROTOCOLS`` to it, so a half-added protocol
fails here rather than on a device.
"""

from __future__ import annotations

import pytest

from edge.simulation.plant import Plant
from firmware_bridge.drivers import ModbusDriver, Pi30Driver, VeDirectDriver, make_driver
from firmware_bridge.protocols import MODBUS_MAPS, PROTOCOLS, Framer, ProtocolSpec
from firmware_bridge.protocols.base import resolve
from firmware_bridge.simulators.faults import Faults
from firmware_bridge.simulators.runner import SIMULATED_PROTOCOLS, start_simulator
from tests.firmware_bridge.helpers import DATA, REPO

TESTS = REPO / "tests" / "firmware_bridge" / "protocols"
STREAMS = [name for name, spec in PROTOCOLS.items() if spec.kind != "modbus"]


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_entry_names_itself_a_manufacturer_and_resolvable_factories(name: str) -> None:
    spec = PROTOCOLS[name]
    assert spec.name == name
    assert spec.manufacturer.strip() and spec.description.strip()
    assert spec.baudrate > 0
    assert callable(spec.driver_factory())
    assert callable(spec.session_factory())


@pytest.mark.parametrize("name", STREAMS)
def test_stream_protocol_has_framer_decoder_encoders_captures_and_tests(name: str) -> None:
    spec = PROTOCOLS[name]
    assert spec.make_framer is not None
    framer = spec.make_framer()
    assert isinstance(framer, Framer)
    assert framer.feed(b"") == [] and framer.frames_ok == framer.frames_bad == 0
    assert callable(getattr(spec.module, "decode", None))
    captures = DATA / name
    assert (captures / "README.md").is_file()
    assert sorted(captures.glob("*.bin")), f"no captures in {captures}"
    assert (captures / "make_captures.py").is_file()
    assert (TESTS / f"test_{name}.py").is_file() or sorted((TESTS / name).glob("test_*.py"))


@pytest.mark.parametrize("name", sorted(MODBUS_MAPS))
def test_modbus_map_has_a_map_file_and_is_tested(name: str) -> None:
    spec = PROTOCOLS[name]
    assert spec.make_framer is None  # pymodbus frames RTU
    register_map = MODBUS_MAPS[name]
    assert register_map.path.is_file() and register_map.path.stem == name
    assert register_map.manufacturer == spec.manufacturer
    tested = (TESTS / "test_modbus_map.py").read_text() + "".join(
        p.read_text() for p in TESTS.glob(f"test_{name}.py"))
    assert f'"{name}"' in tested


@pytest.mark.parametrize(("name", "kind"), [
    ("vedirect", VeDirectDriver), ("pi30", Pi30Driver),
    *((m, ModbusDriver) for m in sorted(MODBUS_MAPS)),
])
def test_make_driver_is_the_spec_factory(name: str, kind: type) -> None:
    driver = make_driver(name, "/dev/null-no-such-port", timeout=0.1)
    assert isinstance(driver, kind)
    assert driver.url == "/dev/null-no-such-port"


def test_make_driver_uses_the_protocol_baudrate_unless_given() -> None:
    assert isinstance((d := make_driver("pi30", "x")), Pi30Driver) and d.baudrate == 2400
    assert isinstance((d := make_driver("pi30", "x", baudrate=9600)), Pi30Driver)
    assert d.baudrate == 9600
    modbus = make_driver("srne", "x", device_id=7)
    assert isinstance(modbus, ModbusDriver) and modbus.device_id == 7
    assert modbus.register_map is MODBUS_MAPS["srne"]


def test_unknown_protocol_raises() -> None:
    with pytest.raises(KeyError):
        make_driver("nope", "x")
    with pytest.raises(ValueError, match="no simulator for protocol 'nope'"):
        start_simulator("nope", plant=None)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_session_factory_makes_fresh_sessions(name: str, frozen_plant: Plant) -> None:
    spec = PROTOCOLS[name]
    make = spec.session_factory()(spec, frozen_plant, Faults(()), time_scale=0.1, profile=None)
    first, second = make(), make()
    assert first is not second
    assert hasattr(first, "receive") and hasattr(first, "due")


def test_every_registered_protocol_is_simulated() -> None:
    assert set(SIMULATED_PROTOCOLS) == set(PROTOCOLS)


@pytest.mark.parametrize("path", ["no_colon", ":attr", "module:", "firmware_bridge:nope"])
def test_resolve_rejects_bad_paths(path: str) -> None:
    with pytest.raises((ValueError, AttributeError)):
        resolve(path)


def test_resolve_imports_lazily() -> None:
    assert resolve("firmware_bridge.drivers:make_driver") is make_driver
    spec = PROTOCOLS["vedirect"]
    assert isinstance(spec, ProtocolSpec) and ":" in spec.driver and ":" in spec.simulator
