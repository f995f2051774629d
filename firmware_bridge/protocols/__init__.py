"""Registry of device protocols: ``PROTOCOLS[name] -> ProtocolSpec``.

Responsible for: naming the protocols the bridge speaks and pointing at each
one's sans-IO module (field tables, framer, decoders, encoders).
Does NOT: do I/O; the device layer (:mod:`firmware_bridge.device`) and the
simulators use these modules. Must not import: ``edge``, ``trainer``, or any
I/O module of the bridge (``transport``, ``device``, ``drivers``).

Per protocol (all pure, no I/O)
-------------------------------
``vedirect`` (streaming, 19200 baud)
    ``VeDirectFramer().feed(bytes) -> list[TextBlock]`` (+ ``take_hex_frames()``),
    ``decode(block) -> Values``; encoders ``encode_block(values, labels)``,
    ``encode_fields``, ``build_block``, ``build_async_frame``, ``build_hex_frame``.
``pi30`` (request-response, 2400 baud; a package: ``framer``, ``tables``, ``decoder``,
``encoder``)
    ``build_request(cmd) -> bytes``, ``Pi30Framer().feed(bytes) -> list[Pi30Reply]``,
    ``decode(cmd, reply) -> Decoded(values, unknown)`` (``ProtocolError`` on NAK),
    ``COMMANDS``, ``POLL_COMMANDS``;
    for simulators ``RequestFramer``, ``parse_request(bytes) -> cmd``,
    ``encode_payload(cmd, values)``, ``build_response(payload, raw_zero_crc=,
    trailing_lf=)``, ``NAK``, ``NAK_NO_CRC``, ``ACK``.
Modbus devices (pymodbus does RTU): one entry per map file
    ``maps/<name>.toml`` (:mod:`.modbus_map`): ``epever`` (EPEver Tracer),
    ``srne`` (SRNE ML/MC charge controllers), ``growatt_spf`` (Growatt SPF
    off-grid inverters), ``deye`` (Deye/Sunsynk single-phase hybrids).
    ``MODBUS_MAPS[name]`` has ``read_blocks()``, ``decode({address: word})``
    and ``encode(values)``; one generic driver and one generic simulator serve
    them all.

Adding a Modbus device is one map file plus its test
----------------------------------------------------
Write ``firmware_bridge/protocols/maps/<name>.toml`` (format in
:mod:`.modbus_map`; cite the vendor document, or where the figures come from,
in its header, and name the ``manufacturer``; canonical names only, new ones go
into ``readings.QUANTITIES`` first) and its tests in
``tests/firmware_bridge/protocols/test_modbus_map.py`` (a vendor example or
hand-made register snapshot decoded, an encode/decode round trip). The
registry below picks the file up with the generic driver
(:func:`firmware_bridge.drivers.modbus_driver`) and the generic simulator
(:func:`firmware_bridge.simulators.modbus.session_factory`), so
``helio-bridge read --protocol <name>`` reads it and
``start_simulator("<name>", ...)`` serves it.

Adding another kind of protocol: these six parts, nothing else
--------------------------------------------------------------
1. ``firmware_bridge/protocols/<name>.py`` (or a package): frozen field tables
   (vendor label -> canonical name in :data:`firmware_bridge.readings.QUANTITIES`,
   scale to SI; new names go there first), a framer with
   ``feed(bytes) -> list[frame]``, ``reset()`` and the ``frames_ok`` /
   ``frames_bad`` counters (see :class:`.base.Framer`), a decoder returning
   ``{canonical name: SI value}``, and encoders built from the same tables.
2. A driver class and its factory in :mod:`firmware_bridge.drivers`
   (``<name>_driver(spec, url, *, baudrate, timeout, monotonic, **_)``).
3. ``firmware_bridge/simulators/<name>.py``: a session driven by the module's
   encoders (so the simulator and the decoder cannot drift apart) and its
   ``session_factory(spec, plant, faults, *, time_scale, profile)``.
4. One :class:`ProtocolSpec` in :data:`PROTOCOLS` below: module, framer,
   manufacturer, and the import paths of the driver and session factories
   (strings, resolved on first use, so this package stays sans-IO).
5. ``tests/data/<name>/``: captures with a ``README.md`` recording provenance
   (and the ``make_captures.py`` that writes the synthetic ones).
6. ``tests/firmware_bridge/protocols/test_<name>.py`` (for a package, one test module
   per module under ``tests/firmware_bridge/protocols/<name>/``): whole, split at every
   offset, in garbage, hypothesis noise; plus a test that decoders only emit
   known names.

``tests/firmware_bridge/protocols/test_registry.py`` checks that every entry
has every part. Optional: a ``helio-bridge decode`` reader for raw captures in
:mod:`firmware_bridge.commands.decode` (VE.Direct and PI30 have one).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from firmware_bridge.protocols import epever, modbus_map, pi30, vedirect
from firmware_bridge.protocols.base import Framer, ProtocolSpec, Values

__all__ = [
    "MODBUS_MAPS",
    "PROTOCOLS",
    "Framer",
    "ProtocolSpec",
    "Values",
    "epever",
    "modbus_map",
    "pi30",
    "vedirect",
]


#: Modbus protocol name -> its register map (every ``maps/*.toml``).
MODBUS_MAPS: Mapping[str, modbus_map.RegisterMap] = MappingProxyType({
    **modbus_map.load_maps(),
    "epever": epever.MAP,  # the same object the epever module decodes with
})


#: Modbus maps with a simulator of their own (the rest use the generic one)
_MODBUS_SIMULATORS: Mapping[str, str] = MappingProxyType({
    "epever": "firmware_bridge.simulators.epever:session_factory",
})


def _modbus_specs() -> dict[str, ProtocolSpec]:
    return {
        name: ProtocolSpec(
            name=name, baudrate=m.baudrate, kind="modbus", module=modbus_map, make_framer=None,
            description=m.description, manufacturer=m.manufacturer,
            driver="firmware_bridge.drivers:modbus_driver",
            simulator=_MODBUS_SIMULATORS.get(
                name, "firmware_bridge.simulators.modbus:session_factory"),
        )
        for name, m in MODBUS_MAPS.items()
    }


PROTOCOLS: Mapping[str, ProtocolSpec] = MappingProxyType({
    "vedirect": ProtocolSpec(
        name="vedirect", baudrate=vedirect.BAUDRATE, kind="streaming", module=vedirect,
        make_framer=vedirect.VeDirectFramer,
        description="Victron VE.Direct text protocol (MPPT chargers, Phoenix inverters)",
        manufacturer="Victron Energy",
        driver="firmware_bridge.drivers:vedirect_driver",
        simulator="firmware_bridge.simulators.vedirect:session_factory",
    ),
    "pi30": ProtocolSpec(
        name="pi30", baudrate=pi30.BAUDRATE, kind="request-response", module=pi30,
        make_framer=pi30.Pi30Framer,
        description="Voltronic PI30 (Axpert, MPP Solar and rebrands)",
        manufacturer="Voltronic Power (PI30 protocol)",
        driver="firmware_bridge.drivers:pi30_driver",
        simulator="firmware_bridge.simulators.pi30:session_factory",
    ),
    **_modbus_specs(),
})
