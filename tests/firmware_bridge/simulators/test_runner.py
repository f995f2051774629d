"""start_simulator's inputs: listen addresses and the protocols it serves."""

from __future__ import annotations

import pytest

from firmware_bridge.protocols import PROTOCOLS
from firmware_bridge.simulators.runner import SIMULATED_PROTOCOLS, parse_listen


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:5000", ("127.0.0.1", 5000)), (":0", ("127.0.0.1", 0)),
    ("0.0.0.0:65535", ("0.0.0.0", 65535)), ("[::1]:80", ("[::1]", 80)),
])
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["5000", "host:", "host:x", "host:65536", "host:-1"])
def test_parse_listen_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_listen(text)


def test_every_protocol_is_served_in_registry_order() -> None:
    assert tuple(PROTOCOLS) == SIMULATED_PROTOCOLS
    assert SIMULATED_PROTOCOLS[:2] == ("vedirect", "pi30")
