"""An unsynchronised clock is detected, data is marked, forecasts held."""

from __future__ import annotations

import json
from pathlib import Path

from edge.runtime.timesync import clock_synchronized, kernel_synchronized
from edge.testkit.agent_rig import Rig


def test_kernel_answer_and_timesyncd_flag(tmp_path: Path) -> None:
    kernel = kernel_synchronized()  # a real adjtimex(2) call on Linux
    assert kernel in (True, False)
    flag = tmp_path / "synchronized"
    assert clock_synchronized(flag) is kernel
    flag.touch()  # what systemd-timesyncd writes once it has synchronised
    assert clock_synchronized(flag) is True


def test_agent_holds_forecasts_and_marks_readings_until_synced(tmp_path: Path) -> None:
    synced = {"now": False}
    rig = Rig(tmp_path, time_synced=lambda: synced["now"])
    rig.start()
    rig.wait(lambda: len(rig.messages("/mppt/reading")) >= 5, what="readings")
    rig.wait(lambda: rig.agent.sync.held >= 2, what="two steps held")
    assert rig.messages("/forecast") == []  # a forecast for the wrong date is worse than none
    assert all(m["clock_synced"] is False for m in rig.messages("/mppt/reading"))
    status = json.loads(rig.publisher.retained["helio/abuja-01/gateway/status"][-1])
    assert status["clock_synced"] is False
    n_unsynced = len(rig.messages("/mppt/reading"))
    synced["now"] = True  # NTP has synchronised
    rig.wait(lambda: len(rig.messages("/forecast")) >= 2, what="forecasts after sync")
    rig.close()
    later = rig.messages("/mppt/reading")[n_unsynced + 20:]
    assert later and all("clock_synced" not in m for m in later)
    codes = [e["code"] for e in rig.messages("/events")]
    assert "clock_unsynchronised" in codes and "clock_synchronised" in codes
    rig.outbox.close()
