"""What the agent says at start about the state it found: damage repaired, a crash noticed.

Responsible for: turning the outbox's findings at open (a damaged database
moved aside, :attr:`edge.runtime.outbox.Outbox.recovered`; a previous run
that never closed it, :attr:`edge.runtime.outbox.Outbox.unclean`) into the
events the agent publishes once at start, with what was lost stated: for a
crash, how long nothing was stored, how many forecast periods and device
readings that is, and that up to one commit window of readings before it
was lost with its sequence numbers given again.

Does NOT: repair anything (the outbox and :mod:`edge.runtime.statefile` do)
or publish (the agent does).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from edge.runtime.config import AgentConfig
from edge.runtime.outbox import Outbox
from firmware_bridge.timestamps import isoformat_z

__all__ = ["Finding", "startup_findings"]

#: (level, code, message, data) of one event
Finding = tuple[str, str, str, dict[str, Any]]


def startup_findings(outbox: Outbox, config: AgentConfig, step_s: float,
                     now: float) -> list[Finding]:
    """The events to publish at start about the outbox as it was found.

    Parameters
    ----------
    outbox : Outbox
        Just opened.
    config : AgentConfig
        Devices (poll intervals) and the outbox's commit window.
    step_s : float
        The model's forecast period. [s]
    now : float
        UTC epoch of this start. [s]
    """
    out: list[Finding] = []
    recovered = outbox.recovered
    if recovered is not None:
        out.append(("error", "outbox_recovered",
                    "outbox database unreadable; moved aside, new outbox and epoch started"
                    f" ({recovered.salvaged} queued messages carried over)",
                    {"moved_to": recovered.moved_to, "error": recovered.error,
                     "salvaged": recovered.salvaged}))
    unclean = outbox.unclean
    if unclean is not None:
        down_s = max(now - unclean.last_commit_utc, 0.0)
        window = config.outbox.commit_window_s
        missing = {d.id: int(down_s // d.poll_interval) for d in config.devices
                   if d.poll_interval > 0}
        out.append(("warning", "unclean_stop",
                    "the previous run did not stop cleanly (crash, kill -9 or power cut): "
                    f"nothing was stored for {down_s:.0f} s before this start, and the readings "
                    f"of up to {window:g} s before that were lost (their sequence numbers are "
                    "given again)",
                    {"last_commit": isoformat_z(datetime.fromtimestamp(
                        unclean.last_commit_utc, UTC)),
                     "down_s": round(down_s, 1), "commit_window_s": window,
                     "missing_periods": int(down_s // step_s) if step_s > 0 else 0,
                     "missing_readings": missing}))
    return out
