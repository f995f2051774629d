"""Forecast timing on a manual clock: issue times on the step, the grace after a step,
the wall clock going back, and holding forecasts until the clock is synchronised."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from edge.runtime.scheduling import ClockSync, ForecastScheduler
from edge.testkit.agent_rig import START, ManualClock

STEP = 900


def ts(hh: int, mm: int, ss: int = 0) -> float:
    return datetime(2026, 6, 21, hh, mm, ss, tzinfo=UTC).timestamp()


class Events:
    def __init__(self) -> None:
        self.got: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, level: str, code: str, message: str, /, **data: Any) -> None:
        self.got.append((level, code, data))


def test_the_first_forecast_is_for_the_next_step_after_a_grace() -> None:
    sched = ForecastScheduler(lambda: STEP)
    sched.reset(ts(9, 59))
    assert sched.next_issue == ts(10, 0)
    assert sched.grace == 10.0  # 5 % of 15 min is 45 s; at most 10 s
    assert not sched.due(ts(10, 0, 9))  # the step's last readings may still arrive
    assert sched.due(ts(10, 0, 10))
    assert sched.take(ts(10, 0, 10)) == ts(10, 0)
    assert sched.next_issue == ts(10, 15) and not sched.due(ts(10, 0, 11))


def test_a_late_pass_issues_for_the_step_it_is_in() -> None:
    sched = ForecastScheduler(lambda: STEP)
    sched.reset(ts(9, 59))
    assert sched.due(ts(10, 40))  # the loop was held up for two steps
    assert sched.take(ts(10, 40)) == ts(10, 30)
    assert sched.next_issue == ts(10, 45)


def test_the_wall_clock_going_back_reschedules() -> None:
    """A Pi without RTC: NTP may set the clock back; forecasts must not stop for a day."""
    sched = ForecastScheduler(lambda: STEP)
    sched.reset(ts(10, 1))
    back = ts(10, 1) - 86400
    assert not sched.due(back)
    assert sched.next_issue == ts(10, 15) - 86400
    # a small step back (less than two steps) keeps the schedule
    sched.reset(ts(10, 1))
    assert not sched.due(ts(10, 1) - 600) and sched.next_issue == ts(10, 15)


def test_the_step_follows_the_active_model() -> None:
    step = {"s": STEP}
    sched = ForecastScheduler(lambda: step["s"])
    step["s"] = 1800
    assert sched.issue_time(ts(10, 40)) == ts(10, 30)
    assert sched.grace == 10.0
    step["s"] = 60
    assert sched.grace == 3.0


def test_clock_sync_is_asked_at_most_once_a_second_and_reports_changes() -> None:
    clock, events = ManualClock(START), Events()
    answers = {"synced": False, "asked": 0}

    def time_synced() -> bool:
        answers["asked"] += 1
        return bool(answers["synced"])

    sync = ClockSync(clock, time_synced, events)
    assert not sync.ok() and not sync.ok()
    assert answers["asked"] == 1
    assert [e[1] for e in events.got] == ["clock_unsynchronised"]
    sync.hold()
    sync.hold()
    answers["synced"] = True
    assert not sync.ok()  # the last answer holds for a second
    clock.sleep(1.0)
    assert sync.ok() and answers["asked"] == 2
    assert events.got[-1] == ("info", "clock_synchronised", {"held": 2})
    clock.sleep(timedelta(hours=1).total_seconds())
    assert sync.ok() and len(events.got) == 2  # no news, no event


def test_clock_sync_without_a_source_never_asks() -> None:
    events = Events()
    sync = ClockSync(ManualClock(START), None, events)
    assert sync.ok() and events.got == [] and sync.held == 0


def test_a_clock_synchronised_from_the_start_is_no_news() -> None:
    events = Events()
    sync = ClockSync(ManualClock(START), lambda: True, events)
    assert sync.ok() and events.got == []
