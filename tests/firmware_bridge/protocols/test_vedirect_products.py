"""VE.Direct product ids -> names (the PID list of VE.Direct Protocol 3.33)."""

from __future__ import annotations

from firmware_bridge.protocols.vedirect_products import VEDIRECT_PRODUCTS


def test_known_products() -> None:
    assert VEDIRECT_PRODUCTS[0x0204] == "BMV-702"
    assert VEDIRECT_PRODUCTS[0xA053] == "SmartSolar MPPT 75|15"


def test_names_are_clean() -> None:
    assert VEDIRECT_PRODUCTS
    for pid, name in VEDIRECT_PRODUCTS.items():
        assert 0 < pid <= 0xFFFF
        assert name == name.strip() and "*" not in name and name
