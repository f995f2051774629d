"""A clean stop stores the readings still in memory (the polls in flight included)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from edge.testkit.agent_rig import Rig
from edge.testkit.fakes import ScriptedDevice


class SlowDevice(ScriptedDevice):
    """Each poll takes 0.3 s, and one in flight at stop ends 0.5 s later (a slow serial read
    completing after the agent loop has ended)."""

    def __init__(self, base: ScriptedDevice, stop: Any) -> None:
        super().__init__(base.device_id, base.clock, base.values)
        self.stop = stop

    def poll(self) -> Any:
        if self.stop.wait(0.3):
            time.sleep(0.5)
        return super().poll()


def test_clean_stop_drains_readings_into_the_outbox(tmp_path: Path) -> None:
    """Before: the reading of the poll in flight at stop (one per device) was dropped."""
    rig = Rig(tmp_path)
    slow = SlowDevice(rig.inverter, rig.stop)
    rig.agent.pollers["inverter"].device = slow
    rig.start()
    rig.wait(lambda: len(rig.messages("/inverter/reading")) >= 2, what="readings")
    rig.close()
    produced = slow.stats.frames_good
    stored = rig.messages("/inverter/reading")
    assert [m["seq"] for m in stored] == list(range(1, produced + 1))
    assert len(rig.messages("/mppt/reading")) == rig.mppt.stats.frames_good
    stopping = [e for e in rig.messages("/events") if e["code"] == "agent_stopping"]
    assert stopping and stopping[-1]["data"]["drained"] >= 1
    rig.outbox.close()
