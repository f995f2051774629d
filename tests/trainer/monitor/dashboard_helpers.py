"""Helpers for the dashboard tests: a headless Debian chromium driven by Selenium,
and a live fleet (the agent on the simulators, a monitor, two more gateways) on a
real mosquitto."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.trainer.monitor.conftest import Pub, offline, status, wait_for
from tests.trainer.monitor.sql_helpers import sql
from trainer.monitor.ingest import Monitor, MonitorConfig
from trainer.monitor.store import Store

REPO = Path(__file__).resolve().parents[3]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or (
    "/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None)
#: flags from the brief: no network of its own, nothing that phones home
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-dev-shm-usage")
#: where screenshots go when HELIO_UPDATE_SCREENSHOTS=1 (else only the test's tmp dir)
SCREENSHOTS = REPO / "docs" / "img"


def need_browser() -> None:
    """Skip unless chromium, chromedriver and selenium are installed."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("needs Debian chromium and chromium-driver (apt-get install chromium"
                    " chromium-driver)")
    pytest.importorskip("selenium")


@contextlib.contextmanager
def chrome(width: int = 1280, height: int = 900, *, phone: bool = False) -> Iterator[Any]:
    """A headless chromium (fresh profile) under Selenium; ``phone`` emulates a 390x844 phone."""
    from selenium import webdriver  # noqa: PLC0415
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    need_browser()
    profile = tempfile.mkdtemp(prefix="helio-chrome-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in (*CHROME_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        opts.add_argument(flag)
    if phone:
        opts.add_experimental_option("mobileEmulation", {
            "deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 2.0, "touch": True},
            "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36"
                         " (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"})
    driver = webdriver.Chrome(options=opts, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_js(driver: Any, expr: str, timeout: float = 20.0, what: str = "") -> Any:
    """Poll ``return <expr>`` in the page until truthy; its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(f"return {expr}")
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or expr}")
        time.sleep(0.1)


def loaded(driver: Any, page: str, after: int = 0, timeout: float = 20.0) -> int:
    """Wait until the app has rendered ``page`` more than ``after`` times; the count."""
    return int(wait_js(driver, f"document.body.dataset.page === '{page}' &&"
                       f" Number(document.body.dataset.loaded || 0) > {after}"
                       " && Number(document.body.dataset.loaded)", timeout, f"{page} page"))


def screenshot(driver: Any, out_dir: Path, name: str, *, full: bool = True) -> Path:
    """Save a PNG (full page height) to ``out_dir`` and, when asked, to docs/img."""
    if full:
        h = int(driver.execute_script("return document.documentElement.scrollHeight"))
        w = int(driver.execute_script("return window.outerWidth"))
        driver.set_window_size(w, min(max(h + 140, 600), 4000))
        time.sleep(0.5)  # charts redraw on resize
    path = out_dir / name
    driver.save_screenshot(str(path))
    if os.environ.get("HELIO_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOTS / name)
    return path


@dataclass
class LiveFleet:
    """A running fleet: the agent on simulators plus two scripted gateways, and a monitor."""

    store_path: Path
    port: int
    site: str
    monitor: Monitor
    bundle_version: str
    stop: Callable[[], None]

    def store(self) -> Store:
        return Store(self.store_path)


def start_live_fleet(tmp: Path, port: int, *, speed: float = 600.0,
                     start: datetime, warmup_s: float = 50.0) -> LiveFleet:
    """Run the Abuja agent (real serial code, real int8 model) on the VE.Direct MPPT,
    PI30 inverter and VE.Direct battery monitor simulators (the demo's three),
    time-accelerated, into a monitor on ``port``; add gateway ``lagos-01`` (one
    heartbeat, then silence) and ``kano-01`` (its Last Will: offline).

    Waits until forecasts have been scored and a plan has arrived; returns with
    everything still running. ``start`` must lie far enough back that the simulated
    time stays behind the wall clock for the whole run (the monitor refuses readings
    stamped more than 10 minutes ahead of their arrival).
    """
    from edge.commands.run import build, load_holder  # noqa: PLC0415
    from edge.demo.runner import SITE_FILE, PlantClock, demo_config  # noqa: PLC0415
    from edge.forecasting.site import load_site  # noqa: PLC0415
    from edge.simulation import simulate_device  # noqa: PLC0415
    from edge.simulation.plant import Plant  # noqa: PLC0415
    from trainer.monitor.commands.run import load_sites  # noqa: PLC0415
    from trainer.monitor.plan_scoring import PlanScorer  # noqa: PLC0415
    from trainer.monitor.scoring import Scorer, ScoringConfig  # noqa: PLC0415

    site = load_site(SITE_FILE)
    db = tmp / "fleet.sqlite"
    store = Store(db)
    # max_ahead_s=0: the accelerated plant's clock runs ahead of the wall clock
    monitor = Monitor(MonitorConfig(port=port, client_id="dash-mon", flush_s=0.02,
                                    tasks_every_s=2.0, max_ahead_s=0.0), store,
                      tasks=[Scorer(store, load_sites([str(SITE_FILE)]),
                                    ScoringConfig(grace_s=300.0)),
                             PlanScorer(store, grace_s=300.0)])
    monitor.start()
    monitor.wait_connected()

    now = time.time()
    lagos = Pub(port, client_id="lagos-gw")
    lagos.send(*status("lagos-01", "gateway", now, version="abuja-1.0.0"), retain=True)
    lagos.close()
    kano = Pub(port, client_id="kano-gw", will=("helio/kano-01/gateway/status",
                                                offline("kano-01", "gateway")))
    kano.send(*status("kano-01", "gateway", now, version="abuja-1.0.0"), retain=True)
    kano.crash()  # the broker publishes the Will

    plant = Plant(site, seed=11, start=start, speed=speed)
    sims = {"mppt": simulate_device("vedirect", site=site, plant=plant),
            "inverter": simulate_device("pi30", site=site, plant=plant),
            "battery": simulate_device("vedirect", site=site, plant=plant, profile="bmv")}
    cfg = demo_config(tmp / "agent", port, {k: s.url for k, s in sims.items()}, speed)
    (tmp / "agent").mkdir(exist_ok=True)
    rt = build(cfg, site, load_holder(cfg), clock=PlantClock(plant))
    stop_ev = threading.Event()
    rt.publisher.start()
    agent = threading.Thread(target=rt.agent.run, args=(stop_ev,), name="agent", daemon=True)
    agent.start()

    def stop() -> None:
        stop_ev.set()
        agent.join(15)
        rt.close()
        for s in sims.values():
            s.stop()
        monitor.stop()
        store.close()

    def scored() -> bool:
        rows = sql(store, "SELECT count(*) FROM scores WHERE site=?", [site.site.id])
        return bool(rows[0][0] >= 10)

    def planned() -> bool:
        return store.latest_plan(site.site.id) is not None

    try:
        time.sleep(warmup_s)
        wait_for(scored, timeout=120, what="scored forecasts in the monitor")
        wait_for(planned, timeout=60, what="an energy plan in the monitor")
    except BaseException:
        stop()
        raise
    version = json.loads(sql(store,
        "SELECT payload FROM models WHERE site=?", [site.site.id])[0][0])["version"]
    return LiveFleet(db, port, site.site.id, monitor, version, stop)
