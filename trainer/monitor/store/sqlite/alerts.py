"""Alarms in the SQLite store: raise once, clear, list.

Responsible for: the ``alerts`` table; an alarm is identified by (site,
device, code, key) and open until cleared, so raising an open one again is
a no-op (nothing is published twice).

Does NOT: decide when an alarm holds (scoring, drift and the offline watch
do) or publish it (the monitor does).
"""

from __future__ import annotations

import json
from typing import Any

from trainer.monitor.store.records import AlertRow
from trainer.monitor.store.sqlite.connection import SqliteConnection

__all__ = ["SqliteAlerts"]


class SqliteAlerts(SqliteConnection):
    """The alarm part of :class:`~trainer.monitor.store.sqlite.SqliteStore`."""

    def raise_alert(
        self, *, site: str, device: str, code: str, key: str, level: str, ts: float,
        message: str, data: dict[str, Any],
    ) -> bool:
        """Record an alarm unless the same one (site, device, code, key) is open.

        Returns True when it is new (and should be published).
        """
        with self.transaction() as db:
            open_ = db.execute(
                "SELECT 1 FROM alerts WHERE site=? AND device=? AND code=? AND key=?"
                " AND cleared IS NULL", (site, device, code, key)).fetchone()
            if open_:
                return False
            db.execute(
                "INSERT INTO alerts(site, device, code, key, level, raised, message, data)"
                " VALUES (?,?,?,?,?,?,?,?)",
                (site, device, code, key, level, ts, message, json.dumps(data)))
        return True

    def clear_alert(self, *, site: str, device: str, code: str, key: str, ts: float) -> bool:
        """Close the open alarm (site, device, code, key); True if there was one."""
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE alerts SET cleared=? WHERE site=? AND device=? AND code=? AND key=?"
                " AND cleared IS NULL", (ts, site, device, code, key))
        return cur.rowcount > 0

    def alerts(self, site: str | None = None, *, open_only: bool = False) -> list[AlertRow]:
        """Stored alarms, newest first."""
        where = []
        params: list[Any] = []
        if site:
            where.append("site=?")
            params.append(site)
        if open_only:
            where.append("cleared IS NULL")
        sql = ("SELECT site, device, code, key, level, raised, cleared, message, data FROM alerts"
               + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY raised DESC, id DESC")
        return [AlertRow(s, d, c, k, lvl, raised, cleared, msg, json.loads(data or "{}"))
                for s, d, c, k, lvl, raised, cleared, msg, data in self._read(sql, params)]

    def open_alert_counts(self) -> dict[tuple[str, str], int]:
        """(site, device) -> number of open alarms."""
        return {(s, d): int(n) for s, d, n in self._read(
            "SELECT site, device, count(*) FROM alerts WHERE cleared IS NULL"
            " GROUP BY site, device")}
