"""``plan_drift`` on the real store: raised when the 12-h SOC error of recent plans is much
worse than the plan's own earlier error or the P10-P90 band stops covering 0.8 of the
outcomes, cleared when they recover, not judged on too few plans."""

from __future__ import annotations

from pathlib import Path

from trainer.monitor.plan_drift import PlanDriftConfig, PlanDriftWatch
from trainer.monitor.store import PlanScoreRow, Store

T0 = 1_780_000_000.0 // 900 * 900
DAY = 86400.0


def _scores(store: Store, start: float, days: float, *, error: float,
            inside: float = 0.8, horizons: tuple[int, ...] = (720,)) -> None:
    """Plans every 15 min over ``days`` from ``start``: P50 SOC off the measured SOC by
    ``error``, the measured SOC inside a 0.1-wide band for the share ``inside`` of them."""
    rows = []
    n = int(days * 96)
    for i in range(n):
        issued = start + 900.0 * i
        inband = (i % 10) < round(10 * inside)
        for h in horizons:
            actual = 0.5
            p50 = actual + error
            lo, hi = (actual - 0.05, actual + 0.05) if inband else (actual + 0.01, actual + 0.1)
            rows.append(PlanScoreRow("s1", "gateway", issued, h, issued + 60 * h, lo, p50, hi,
                                     actual, None, None, None))
    store.write_plan_scores(rows, [])


def test_a_12_h_error_much_worse_than_its_own_history_raises_then_clears(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.sqlite")
    _scores(store, T0, 14, error=0.03)  # the reference fortnight
    _scores(store, T0 + 14 * DAY, 3, error=0.04)  # worse, within 1.5 x 0.03 + 0.02
    watch = PlanDriftWatch(store, PlanDriftConfig(every_s=0))
    assert watch(T0 + 18 * DAY) == []
    _scores(store, T0 + 17 * DAY, 3, error=0.08)  # recent window now all 0.08 > 0.065
    (alert,) = watch(T0 + 21 * DAY)
    assert (alert.code, alert.device, alert.cleared) == ("plan_drift", "gateway", False)
    assert abs(alert.data["soc_mae"] - 0.08) < 1e-9
    assert {a.code for a in store.alerts("s1", open_only=True)} == {"plan_drift"}
    assert watch(T0 + 21 * DAY + 1) == []  # still open: not raised twice
    _scores(store, T0 + 20 * DAY, 3, error=0.03)
    (cleared,) = watch(T0 + 24 * DAY)
    assert cleared.cleared and store.alerts("s1", open_only=True) == []


def test_too_few_plans_are_not_judged(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.sqlite")
    _scores(store, T0, 14, error=0.01)
    # the gateway was away for 3 days: its recent window holds 48 plans < the 96 needed
    _scores(store, T0 + 17 * DAY, 0.5, error=0.2)
    assert PlanDriftWatch(store, PlanDriftConfig(every_s=0))(T0 + 18 * DAY) == []
    # a short history is no reference either: 1.5 days of it < twice 96 plans
    other = Store(tmp_path / "n.sqlite")
    _scores(other, T0, 1.5, error=0.01)
    _scores(other, T0 + 1.5 * DAY, 3, error=0.2)
    assert PlanDriftWatch(other, PlanDriftConfig(every_s=0))(T0 + 5 * DAY) == []


def test_a_band_that_covers_far_from_0_8_raises(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.sqlite")
    hz = (60, 180, 720, 1440)
    _scores(store, T0, 3, error=0.02, inside=0.7, horizons=hz)  # 0.7: within 0.15
    watch = PlanDriftWatch(store, PlanDriftConfig(every_s=0))
    assert watch(T0 + 4 * DAY) == []
    _scores(store, T0 + 3 * DAY, 3, error=0.02, inside=0.5, horizons=hz)
    (alert,) = watch(T0 + 7 * DAY)
    assert alert.code == "plan_drift" and abs(alert.data["coverage"] - 0.5) < 1e-9
    assert [a.key for a in store.alerts("s1", open_only=True)] == ["coverage"]
