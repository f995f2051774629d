"""The agent's own commands through its command table: a report_status republishes the
status, a reload that the bundle check refuses keeps the running model, and a model swap
sets off the model message and a new schedule."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.forecasting.bundle import BundleError
from edge.forecasting.features import FeatureSpec
from edge.testkit.agent_rig import ManualRig
from edge.testkit.fakes import stub_bundle

CMD = "helio/abuja-01/gateway/cmd"
MODEL = "helio/abuja-01/gateway/model"


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[ManualRig]:
    r = ManualRig(tmp_path).start()
    yield r
    r.close()
    r.outbox.close()


def test_report_status_republishes_the_status(rig: ManualRig) -> None:
    n = len(rig.publisher.retained["helio/abuja-01/gateway/status"])
    out = rig.agent.commands.handle(CMD, b'{"command": "report_status"}')
    assert out.code == "command_ok"
    assert len(rig.publisher.retained["helio/abuja-01/gateway/status"]) == n + 1


def test_a_refused_reload_keeps_the_running_model(rig: ManualRig) -> None:
    def refuse() -> None:
        raise BundleError("signature does not verify")

    rig.holder.reload = refuse  # type: ignore[method-assign,assignment]
    n_model = len(rig.publisher.retained[MODEL])
    out = rig.agent.commands.handle(CMD, b'{"command": "reload_model"}')
    assert (out.code, out.level) == ("command_failed", "error")
    assert "keeping stub-1" in out.message and "signature" in out.message
    assert rig.holder.version == "stub-1" and len(rig.publisher.retained[MODEL]) == n_model


def test_activate_publishes_the_model_and_takes_its_step(rig: ManualRig) -> None:
    rig.agent.activate(stub_bundle(FeatureSpec(step_minutes=30, horizons_min=(30, 60),
                                               history_steps=2), version="stub-2"))
    assert json.loads(rig.publisher.retained[MODEL][-1])["version"] == "stub-2"
    assert rig.agent.forecaster.window.step_s == 1800
    assert rig.agent.forecaster.scheduler.next_issue % 1800 == 0
    rig.publisher.live.clear()
    rig.agent.commands.handle(CMD, b'{"command": "republish_discovery"}')
    assert "homeassistant/device/helio_abuja-01_gateway_gateway/config" in \
        [t for t, _ in rig.publisher.live]
