"""``helio-monitor run`` as a process: store, heartbeat timeout alarm, clean exit."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.trainer.monitor.conftest import Pub, Sub, reading, status, wait_for
from tests.trainer.monitor.sql_helpers import sql
from trainer.monitor.fleet import OfflineWatch
from trainer.monitor.ingest import parse_message
from trainer.monitor.store import Store

REPO = Path(__file__).resolve().parents[3]
T0 = 1_780_000_000.0


@pytest.mark.slow
@pytest.mark.broker
def test_run_command_stores_and_raises_silent_gateway_alarm(mosquitto, tmp_path: Path) -> None:
    db = tmp_path / "m.sqlite"
    alerts = Sub(mosquitto.port, "helio/+/monitor/alerts")
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainer.monitor", "run", "--port", str(mosquitto.port),
         "--store", str(db), "--client-id", "cli-test", "--duration", "8",
         "--tasks-every", "0.5", "--offline-after", "2", "--sites", str(REPO / "configs/sites")],
        cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        pub = Pub(mosquitto.port)
        pub.send(*status("abuja-01", "gateway", time.time()), retain=True)
        pub.flush()
        # the retained status arrives as soon as the monitor has subscribed
        wait_for(lambda: _has_status(db), timeout=60, what="monitor subscribed")
        for n in range(1, 11):
            pub.send(*reading("abuja-01", "mppt", n, T0 + n, pv_power=5.0))
        pub.close()
        # no heartbeat follows: after 2 s the gateway is silent and an alarm goes out
        wait_for(lambda: any(b["code"] == "offline" for _t, b in alerts.messages), timeout=15,
                 what="offline alarm")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        alerts.close()
    store = Store(db)
    (row,) = [r for r in store.stream_stats("abuja-01") if r.stream == "reading"]
    assert (row.received, row.lost) == (10, 0)
    (alarm,) = store.alerts("abuja-01", open_only=True)
    assert (alarm.code, alarm.data["state"]) == ("offline", "silent")
    err = proc.stderr.read()
    assert "stopped:" in err and "0 duplicates, 0 rejected" in err


def _has_status(db: Path) -> bool:
    if not db.exists():
        return False
    try:
        return bool(sql(db, "SELECT 1 FROM status"))
    except Exception:  # schema not created yet
        return False


def test_offline_watch_raises_once_and_clears(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.sqlite")
    watch = OfflineWatch(store, offline_after_s=60)
    msg = parse_message(*status("s1", "gw", T0), T0)
    store.write_batch([msg])
    assert watch(T0 + 10) == []
    (raised,) = watch(T0 + 100)
    assert (raised.code, raised.data["state"], raised.cleared) == ("offline", "silent", False)
    assert watch(T0 + 110) == []  # still open: not raised again
    store.write_batch([parse_message(*status("s1", "gw", T0 + 120), T0 + 120)])
    (cleared,) = watch(T0 + 121)
    assert cleared.cleared and store.alerts("s1", open_only=True) == []
