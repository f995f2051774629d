"""The fleet dashboard: ``helio-monitor serve`` (web pages, JSON, server-sent events, /metrics).

Modules: :mod:`~trainer.monitor.dashboard.queries` (what is shown, read from
the store), :mod:`~trainer.monitor.dashboard.metrics` (Prometheus text) and
:mod:`~trainer.monitor.dashboard.server` (HTTP and authentication). The
pages in ``static/`` are package data: no CDN, works without internet.

Must not import: ``edge.deploy``, ``edge.demo`` or ``edge.simulation`` (the
trainer rule), and nothing writes the store from here: the pages read it
through :mod:`~trainer.monitor.dashboard.queries` only.
"""

from trainer.monitor.dashboard.server import AuthConfig, AuthError, DashboardServer

__all__ = ["AuthConfig", "AuthError", "DashboardServer"]
