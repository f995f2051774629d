"""The plant's battery: SOC bookkeeping, terminal voltage, and the current that holds a
set point."""

from __future__ import annotations

import pytest

from edge.forecasting.site import BatteryConfig
from edge.simulation.battery import Battery

LEAD = BatteryConfig(nominal_voltage=48.0, capacity=200.0)
LFP = BatteryConfig(nominal_voltage=48.0, capacity=200.0, chemistry="lifepo4")


@pytest.mark.parametrize("cfg", [LEAD, LFP], ids=["lead_acid", "lifepo4"])
def test_open_circuit_voltage_rises_with_charge_and_drops_near_empty(cfg: BatteryConfig) -> None:
    ocv = [Battery(cfg, soc).ocv() for soc in (0.0, 0.02, 0.2, 0.5, 0.8, 1.0)]
    assert ocv == sorted(ocv)
    assert 40.0 < ocv[0] < ocv[-1] < 60.0


def test_voltage_scales_with_the_nominal_bank_voltage() -> None:
    small = Battery(BatteryConfig(nominal_voltage=12.0, capacity=100.0), 0.6)
    big = Battery(LEAD, 0.6)
    assert small.voltage(5.0) == pytest.approx(big.voltage(5.0 * 4) / 4, rel=0.05)


def test_charging_raises_and_discharging_lowers_the_terminal_voltage() -> None:
    b = Battery(LEAD, 0.5)
    assert b.voltage(-20.0) < b.ocv() < b.voltage(20.0)
    # a nearly full lead-acid bank gasses: the same current lifts it much more
    assert Battery(LEAD, 0.98).voltage(20.0) - Battery(LEAD, 0.98).ocv() > \
        2 * (b.voltage(20.0) - b.ocv())


def test_current_for_holds_the_set_point() -> None:
    full = Battery(LEAD, 0.97)
    i = full.current_for(LEAD.absorption_voltage, 60.0)
    assert 0.0 < i < 60.0
    assert full.voltage(i) == pytest.approx(LEAD.absorption_voltage, abs=0.01)
    assert Battery(LEAD, 0.3).current_for(LEAD.absorption_voltage, 60.0) == 60.0  # no limit hit
    # above the target at rest, the bank must give current to come down to it
    half = Battery(LEAD, 0.5)
    i = half.current_for(48.0, 60.0)
    assert i < 0.0 and half.voltage(i) == pytest.approx(48.0)


def test_integrate_counts_charge_with_lead_acid_efficiency_and_clips() -> None:
    b = Battery(LEAD, 0.5)
    b.integrate(20.0, 3600.0)  # 20 Ah into 200 Ah at 92 %
    assert b.soc == pytest.approx(0.5 + 0.92 * 0.1)
    b.integrate(-20.0, 3600.0)  # discharge counts fully
    assert b.soc == pytest.approx(0.5 + 0.92 * 0.1 - 0.1)
    b.integrate(1000.0, 3600.0)
    assert b.soc == 1.0
    b.integrate(-1000.0, 3600.0)
    assert b.soc == 0.0
    lfp = Battery(LFP, 0.5)
    lfp.integrate(20.0, 3600.0)
    assert lfp.soc == pytest.approx(0.6)
