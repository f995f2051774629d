"""Alarms in the SQLite store: raised once while open, cleared, listed newest first."""

from __future__ import annotations

from pathlib import Path

from trainer.monitor.store import Store

BASE = {"site": "s1", "device": "gw", "code": "offline", "key": ""}


def test_an_open_alarm_is_not_raised_twice_and_can_be_raised_again_once_cleared(
        tmp_path: Path) -> None:
    store = Store(tmp_path / "m.sqlite")
    assert store.raise_alert(**BASE, level="warning", ts=10.0, message="down", data={"n": 1})
    assert not store.raise_alert(**BASE, level="warning", ts=20.0, message="down", data={})
    assert store.open_alert_counts() == {("s1", "gw"): 1}
    assert store.clear_alert(**BASE, ts=30.0)
    assert not store.clear_alert(**BASE, ts=31.0)  # nothing open any more
    assert store.open_alert_counts() == {}
    assert store.raise_alert(**BASE, level="warning", ts=40.0, message="down again", data={})
    newest, oldest = store.alerts("s1")
    assert (newest.raised, newest.cleared, newest.message) == (40.0, None, "down again")
    assert (oldest.raised, oldest.cleared, oldest.data) == (10.0, 30.0, {"n": 1})
    assert [a.raised for a in store.alerts(open_only=True)] == [40.0]
    assert store.alerts("other") == []


def test_alarms_differ_by_key(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.sqlite")
    for key in ("pv_power/h15", "pv_power/h60"):
        assert store.raise_alert(site="s1", device="gw", code="rmse_drift", key=key,
                                 level="warning", ts=1.0, message=key, data={})
    assert store.open_alert_counts() == {("s1", "gw"): 2}
    assert store.clear_alert(site="s1", device="gw", code="rmse_drift", key="pv_power/h15",
                             ts=2.0)
    assert [a.key for a in store.alerts(open_only=True)] == ["pv_power/h60"]
