"""Scaling helpers of the field tables: ``raw * 10**exp`` and back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.protocols.base import from_raw, to_raw


@pytest.mark.parametrize(("raw", "exp", "value"), [
    (12650, -3, 12.65), (5, 0, 5), (7, 2, 700), (-3250, -3, -3.25), (1, -1, 0.1),
])
def test_from_raw(raw: int, exp: int, value: float) -> None:
    assert from_raw(raw, exp) == value
    assert isinstance(from_raw(raw, exp), int if exp >= 0 else float)


@given(st.integers(-(2**31), 2**31), st.integers(-4, 3))
def test_to_raw_inverts_from_raw(raw: int, exp: int) -> None:
    assert to_raw(from_raw(raw, exp), exp) == raw


def test_to_raw_rounds_to_nearest() -> None:
    assert to_raw(12.6549, -2) == 1265
    assert to_raw(749, 2) == 7
