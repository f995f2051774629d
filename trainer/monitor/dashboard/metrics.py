"""``/metrics``: the fleet in Prometheus text format.

Responsible for: a ``prometheus_client`` collector that reads the store at
every scrape (so ``helio-monitor serve`` needs no state of its own and any
number of them can serve one store) and the exposition bytes.

Does NOT: serve HTTP (see :mod:`trainer.monitor.dashboard.server`).

Metric names (all prefixed ``helio_``):

* ``monitor_messages_stored_total{site,device,stream}``: messages stored;
* ``monitor_duplicates_total{site,device,stream}``: redelivered copies dropped;
* ``monitor_rejected_total``: messages refused (not the payload contract);
* ``monitor_messages_lost{site,device,stream}`` and ``monitor_loss_ratio{site}``:
  sequence gaps (a gauge: a late message filling a gap lowers it);
* ``gateways{state}``, ``gateways_online``, ``gateway_online{site,gateway}``,
  ``gateway_last_seen_timestamp_seconds{site,gateway}``;
* ``forecast_skill{site,gateway,horizon_min,shadow,model}`` and
  ``forecast_scored_periods{...}``: rolling 7-day skill of P50 PV power
  against smart persistence, by horizon, live and shadow;
* ``plan_soc_mae{site,gateway,horizon_min}`` (mean absolute error of P50 SOC [-]),
  ``plan_soc_coverage{...}`` (share of measured SOC inside P10-P90 [-]),
  ``plan_load_skill{...}`` (load P50 against persistence of yesterday [-]),
  ``plan_scored_horizons{...}`` and ``plan_load_scored_horizons{...}`` (the N behind
  them): rolling 7 days of the energy plans;
  ``plan_reserve_error_seconds{site,gateway,quantile}``: mean absolute time-to-reserve
  error (P10's and P50's reserve time against the measured), with
  ``plan_reserve_judged{site,gateway}`` plans behind it;
* ``alerts_open{site}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from trainer.monitor.dashboard import queries
from trainer.monitor.store import MonitorStore

__all__ = ["CONTENT_TYPE", "FleetCollector", "render"]

#: Content-Type of the text exposition format 0.0.4
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

STATES = ("online", "offline", "silent", "unknown")


class FleetCollector(Collector):
    """Collects fleet metrics from a store opened per scrape.

    Parameters
    ----------
    open_store : callable
        Returns a fresh (read-only) :class:`MonitorStore`; closed after the scrape.
    offline_after_s : float
        Heartbeat timeout of the gateway state. [s]
    """

    def __init__(self, open_store: Callable[[], MonitorStore], *, offline_after_s: float = 180.0):
        self.open_store = open_store
        self.offline_after_s = offline_after_s

    def collect(self) -> Iterator[Metric]:
        """The metric families (prometheus_client collector interface)."""
        store = self.open_store()
        try:
            yield from self._collect(store)
        finally:
            store.close()

    def _collect(self, store: MonitorStore) -> Iterator[Metric]:
        labels = ["site", "device", "stream"]
        stored = CounterMetricFamily("helio_monitor_messages_stored",
                                     "Messages stored by the monitor", labels=labels)
        dups = CounterMetricFamily("helio_monitor_duplicates",
                                   "Redelivered copies dropped as duplicates", labels=labels)
        lost = GaugeMetricFamily("helio_monitor_messages_lost",
                                 "Messages missing from sequence gaps", labels=labels)
        site_tot: dict[str, list[int]] = {}
        for row in queries.counters(store):
            key = [str(row["site"]), str(row["device"]), str(row["stream"])]
            stored.add_metric(key, row["received"])
            dups.add_metric(key, row["duplicates"])
            lost.add_metric(key, row["lost"])
            tot = site_tot.setdefault(str(row["site"]), [0, 0])
            tot[0] += int(row["received"])
            tot[1] += int(row["lost"])
        yield stored
        yield dups
        yield lost
        ratio = GaugeMetricFamily("helio_monitor_loss_ratio",
                                  "Lost / (stored + lost) over a site's sequenced streams",
                                  labels=["site"])
        for site, (rec, los) in sorted(site_tot.items()):
            ratio.add_metric([site], los / (rec + los) if rec + los else 0.0)
        yield ratio
        yield CounterMetricFamily("helio_monitor_rejected",
                                  "Messages refused by the monitor (payload contract)",
                                  value=queries.rejected_count(store))
        yield from self._gateways(store)
        yield from self._skill(store)
        yield from self._plans(store)

    def _gateways(self, store: MonitorStore) -> Iterator[Metric]:
        rows = queries.fleet(store, offline_after_s=self.offline_after_s)
        by_state = dict.fromkeys(STATES, 0)
        up = GaugeMetricFamily("helio_gateway_online", "1 when the gateway is online",
                               labels=["site", "gateway"])
        seen = GaugeMetricFamily("helio_gateway_last_seen_timestamp_seconds",
                                 "When the monitor last received anything from the gateway",
                                 labels=["site", "gateway"])
        alerts: dict[str, int] = {}
        for r in rows:
            by_state[r["state"]] = by_state.get(r["state"], 0) + 1
            up.add_metric([r["site"], r["gateway"]], 1.0 if r["state"] == "online" else 0.0)
            if r["last_seen"] is not None:
                seen.add_metric([r["site"], r["gateway"]], r["last_seen"])
            alerts[r["site"]] = alerts.get(r["site"], 0) + int(r["open_alerts"])
        states = GaugeMetricFamily("helio_gateways", "Gateways by state", labels=["state"])
        for state, n in sorted(by_state.items()):
            states.add_metric([state], n)
        yield states
        yield GaugeMetricFamily("helio_gateways_online", "Gateways online",
                                value=by_state["online"])
        yield up
        yield seen
        open_ = GaugeMetricFamily("helio_alerts_open", "Open alarms", labels=["site"])
        for site, n in sorted(alerts.items()):
            open_.add_metric([site], n)
        yield open_

    def _skill(self, store: MonitorStore) -> Iterator[Metric]:
        labels = ["site", "gateway", "horizon_min", "shadow", "model"]
        skill = GaugeMetricFamily(
            "helio_forecast_skill",
            "Rolling 7-day skill of P50 PV power against smart persistence", labels=labels)
        n = GaugeMetricFamily("helio_forecast_scored_periods",
                              "Daytime periods behind helio_forecast_skill", labels=labels)
        for m in queries.skill_by_horizon(store):
            key = [m["site"], m["gateway"], str(m["horizon_min"]),
                   "true" if m["shadow"] else "false", m["version"]]
            n.add_metric(key, m["n"])
            if m["skill"] is not None:
                skill.add_metric(key, m["skill"])
        yield skill
        yield n

    def _plans(self, store: MonitorStore) -> Iterator[Metric]:
        labels = ["site", "gateway", "horizon_min"]
        mae = GaugeMetricFamily("helio_plan_soc_mae",
                                "Rolling 7-day mean absolute error of the plan's P50 SOC [-]",
                                labels=labels)
        cov = GaugeMetricFamily("helio_plan_soc_coverage",
                                "Rolling 7-day share of measured SOC inside the plan's P10-P90",
                                labels=labels)
        skill = GaugeMetricFamily(
            "helio_plan_load_skill",
            "Rolling 7-day skill of the plan's P50 load against persistence of yesterday",
            labels=labels)
        n = GaugeMetricFamily("helio_plan_scored_horizons",
                              "Plan horizons with a measured SOC behind helio_plan_soc_*",
                              labels=labels)
        n_load = GaugeMetricFamily("helio_plan_load_scored_horizons",
                                   "Plan horizons behind helio_plan_load_skill", labels=labels)
        err = GaugeMetricFamily(
            "helio_plan_reserve_error_seconds",
            "Rolling mean absolute error of the plan's time to reserve [s]",
            labels=["site", "gateway", "quantile"])
        judged = GaugeMetricFamily("helio_plan_reserve_judged",
                                   "Plans whose time to reserve was judged",
                                   labels=["site", "gateway"])
        for site, w in queries.plan_window(store).items():
            for h in w["horizons"]:
                key = [site, h["gateway"], str(h["horizon_min"])]
                n.add_metric(key, h["n_soc"])
                n_load.add_metric(key, h["n_load"])
                for fam, value in ((mae, h["soc_mae"]), (cov, h["coverage"]),
                                   (skill, h["load_skill"])):
                    if value is not None:
                        fam.add_metric(key, value)
            for r in w["reserve"]:
                judged.add_metric([site, r["gateway"]], r["n"])
                for q, value in (("p10", r["mae_s"]), ("p50", r["mae_p50_s"])):
                    if value is not None:
                        err.add_metric([site, r["gateway"], q], value)
        yield from (mae, cov, skill, n, n_load, err, judged)


def render(collector: FleetCollector) -> bytes:
    """The text exposition of one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry)
