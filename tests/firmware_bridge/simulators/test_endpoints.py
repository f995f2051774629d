"""Simulator endpoints and the output queue: scheduled bytes, a pty link that comes and goes."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from edge.simulation.plant import Plant
from firmware_bridge.simulators.endpoints import OutputQueue
from firmware_bridge.simulators.faults import Faults
from firmware_bridge.simulators.runner import start_simulator


def test_output_queue_releases_bytes_in_time_order_and_fifo_at_equal_times() -> None:
    queue = OutputQueue()
    assert queue.next_time() == math.inf
    queue.put(2.0, b"late")
    queue.put(1.0, b"a")
    queue.put(1.0, b"b")
    queue.put(0.5, b"")  # nothing to send: not scheduled
    assert queue.next_time() == 1.0
    assert queue.pop_due(0.9) == []
    assert queue.pop_due(1.0) == [b"a", b"b"]
    assert queue.pop_due(5.0) == [b"late"]
    assert queue.next_time() == math.inf


def test_put_frame_without_faults_sends_the_whole_frame_at_once() -> None:
    queue = OutputQueue()
    queue.put_frame(1.0, b"(frame\r", Faults(()))
    assert queue.pop_due(1.0) == [b"(frame\r"]


@pytest.mark.pty
def test_pty_link_disappears_on_unplug_and_returns_on_replug(
    tmp_path: Path, frozen_plant: Plant
) -> None:
    link = tmp_path / "ttyUSB-sim"
    with start_simulator("vedirect", plant=frozen_plant, link=link, time_scale=0.1) as sim:
        assert sim.url == str(link) and link.is_symlink() and sim.plugged
        assert sim.pty_path is not None and os.path.realpath(link) == sim.pty_path
        sim.unplug()
        assert not link.exists() and not sim.plugged
        sim.replug()
        assert link.is_symlink() and sim.plugged
    assert not link.exists()


@pytest.mark.pty
def test_tcp_endpoint_url_and_no_pty(frozen_plant: Plant) -> None:
    with start_simulator("pi30", plant=frozen_plant, listen="127.0.0.1:0") as sim:
        assert sim.url.startswith("socket://127.0.0.1:")
        assert int(sim.url.rpartition(":")[2]) > 0
        assert sim.pty_path is None
